//! Watching maps over a period: every poll, every observer's map must list exactly the
//! expected nodes (ids and primary addresses). Where `Cluster::wait_for_maps` waits for a
//! state to be reached, this checks that a state *holds* — through a key roll, a flood, a
//! replay.

use std::time::{Duration, Instant};

use crate::testbed::DaemonHosts;
use crate::testbed::{Cluster, Membership};

/// How often the watches look at the maps.
pub(super) const WATCH_POLL: Duration = Duration::from_millis(25);

/// Checks the maps of `observers` every [`WATCH_POLL`] for `period`: each must list exactly
/// `hosts`. Returns how many times the maps were checked; fails at the first deviation,
/// saying when and what, or if an observer's daemon exits.
pub(super) fn maps_hold(
    cluster: &mut Cluster,
    observers: &[usize],
    hosts: &[usize],
    period: Duration,
) -> Result<u32, String> {
    let expected = cluster.expected(hosts);
    watch(cluster, observers, period, |map| {
        (map.primaries() != expected.primaries()).then(|| format!("is {map}, not {expected}"))
    })
}

/// Checks the maps of `observers` every [`WATCH_POLL`] for `period`: none may list node id
/// `id`. Returns how many times the maps were checked.
pub(super) fn never_listed(
    cluster: &mut Cluster,
    observers: &[usize],
    id: u16,
    period: Duration,
) -> Result<u32, String> {
    watch(cluster, observers, period, |map| {
        map.contains(id).then(|| format!("lists node {id}: {map}"))
    })
}

/// Polls the maps of `observers` every [`WATCH_POLL`] for `period`; `wrong` says what is
/// wrong with a map (`None`: nothing). Returns the number of polls.
fn watch(
    cluster: &mut Cluster,
    observers: &[usize],
    period: Duration,
    wrong: impl Fn(&Membership) -> Option<String>,
) -> Result<u32, String> {
    let started = Instant::now();
    let mut polls = 0;
    loop {
        cluster.check_running(observers)?;
        for &o in observers {
            let map = cluster.map(o)?;
            if let Some(why) = wrong(&map) {
                return Err(format!(
                    "after {:.2}s {}'s map {why}",
                    started.elapsed().as_secs_f64(),
                    cluster.label(o)
                ));
            }
        }
        polls += 1;
        if started.elapsed() >= period {
            return Ok(polls);
        }
        std::thread::sleep(WATCH_POLL);
    }
}
