//! A node-id collision across networks (issue 4): `10.1.5.7` on one network and `10.2.5.7`
//! on another, joined by a gateway, both derive node id 1287. Every node resolves it the
//! same way — the lower address keeps the id — every `omdiscd` logs the conflict and every
//! `showmap` reports it (a `# CONFLICT:` line, `conflicts` in the JSON). The loser hands its
//! kernel an empty map while it is left out (its own id would name the winner's address).
//! When the loser stops, the report goes away; when the winner stops, the other host takes
//! the id.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::gateways::{start_all, GRACE};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{addr_of, node_id_in, wait_until, Leg, Topology};

/// The contested id: 5 × 256 + 7.
const CONTESTED: u16 = 1287;
const WINNER: &str = "10.1.5.7/16";
const LOSER: &str = "10.2.5.7/16";
const OTHER_A: &str = "10.1.0.11/16";
const OTHER_B: &str = "10.2.0.21/16";
const GATEWAY: [&str; 2] = ["10.1.0.99/16", "10.2.0.99/16"];
/// Everyone agrees within this time of the last start or stop.
const AGREE_BOUND: Duration = Duration::from_secs(2);

/// Cross-network id collision.
pub(super) const COLLISION_ACROSS: Scenario = Scenario {
    name: "collision-across",
    about: "10.1.5.7 and 10.2.5.7 behind a gateway: all keep 1287 for the lower, omdiscd and showmap report it",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: collision_across,
};

/// What every observer should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    /// Who holds the contested id.
    holder: Ipv4Addr,
    /// Whether the conflict is reported.
    conflict: bool,
    /// The host that lost the id: it hands its kernel an empty map (and reports why).
    left_out: Option<usize>,
}

/// Whether host `h`'s map shows `expect`: ids, the holder of 1287 in the setpe text, and
/// the conflict in both the text and the JSON. `Err` says what differs.
fn shows(topo: &Topology, h: usize, ids: &BTreeSet<u16>, expect: Expect) -> Result<(), String> {
    let label = topo.label(h);
    let text = topo.map_text(h)?;
    let map = crate::testbed::Membership::parse(&text).map_err(|w| format!("{label}: {w}"))?;
    let json = topo.map_json(h)?;
    let empty = BTreeSet::new();
    let left_out = expect.left_out == Some(h);
    let ids = if left_out { &empty } else { ids };
    if json.ids() != *ids {
        return Err(format!("{label} lists {:?}, not {ids:?}", json.ids()));
    }
    let holder = map.get(CONTESTED).and_then(|e| e.primary);
    if !left_out && holder != Some(expect.holder) {
        return Err(format!(
            "{label} has node {CONTESTED} at {holder:?}, not {}:\n{text}",
            expect.holder
        ));
    }
    let line = format!(
        "# CONFLICT: node id {CONTESTED} is claimed by two hosts: {} keeps it, {} is left out",
        addr_of::<Ipv4Addr>(WINNER),
        addr_of::<Ipv4Addr>(LOSER)
    );
    let in_text = text.lines().any(|l| l.starts_with(&line));
    let conflicts = json.raw["conflicts"]
        .as_array()
        .ok_or(format!("{label}: showmap --json has no conflicts array"))?;
    let in_json = conflicts.len() == 1
        && conflicts[0]["id"] == CONTESTED
        && conflicts[0]["winner"] == addr_of::<Ipv4Addr>(WINNER).to_string()
        && conflicts[0]["loser"] == addr_of::<Ipv4Addr>(LOSER).to_string();
    let stray = !expect.conflict && !conflicts.is_empty();
    if in_text != expect.conflict || in_json != expect.conflict || stray {
        return Err(format!(
            "{label}: conflict expected {}, text says {in_text}, JSON has {conflicts:?}:\n{text}",
            expect.conflict
        ));
    }
    Ok(())
}

/// Waits until every host in `observers` shows `expect`; the time it took.
fn agree(
    topo: &mut Topology,
    observers: &[usize],
    ids: &BTreeSet<u16>,
    expect: Expect,
    what: &str,
) -> Result<Duration, String> {
    let mut last = String::new();
    let outcome = wait_until(
        AGREE_BOUND + GRACE,
        Duration::from_millis(25),
        || match observers
            .iter()
            .try_for_each(|&h| shows(topo, h, ids, expect))
        {
            Ok(()) => true,
            Err(why) => {
                last = why;
                false
            }
        },
    );
    topo.check_running(observers)?;
    let took = outcome
        .map_err(|waited| format!("{what}: not after {:.2}s: {last}", waited.as_secs_f64()))?;
    step(what, took);
    if took > AGREE_BOUND {
        return Err(format!(
            "{what} took {:.2}s (bound {AGREE_BOUND:?})",
            took.as_secs_f64()
        ));
    }
    Ok(took)
}

fn collision_across(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let a = topo.add_segment("swA")?;
    let b = topo.add_segment("swB")?;
    let winner = topo.add_host("x1", &[Leg::v4(a, "omdA", WINNER)])?;
    let loser = topo.add_host("x2", &[Leg::v4(b, "omdB", LOSER)])?;
    let other_a = topo.add_host("a1", &[Leg::v4(a, "omdA", OTHER_A)])?;
    let other_b = topo.add_host("b1", &[Leg::v4(b, "omdB", OTHER_B)])?;
    let gateway = topo.add_host(
        "gw",
        &[
            Leg::v4(a, "omdA", GATEWAY[0]),
            Leg::v4(b, "omdB", GATEWAY[1]),
        ],
    )?;
    let ids: BTreeSet<u16> = [OTHER_A, OTHER_B, GATEWAY[0], WINNER]
        .iter()
        .map(|a| node_id_in(a))
        .collect();
    if !ids.contains(&CONTESTED) || node_id_in(LOSER) != CONTESTED {
        return Err("the scenario's addresses do not collide".into());
    }
    start_all(
        &mut topo,
        &[
            (winner, "omdA"),
            (loser, "omdB"),
            (other_a, "omdA"),
            (other_b, "omdB"),
            (gateway, "omdA,omdB"),
        ],
    )?;
    let everyone = [winner, loser, other_a, other_b, gateway];
    let contested = Expect {
        holder: addr_of::<Ipv4Addr>(WINNER),
        conflict: true,
        left_out: Some(loser),
    };
    let took = agree(
        &mut topo,
        &everyone,
        &ids,
        contested,
        "4 maps give 1287 to 10.1.5.7, the loser's is empty, all report the conflict",
    )?;

    // Every omdiscd logged it plainly; the loser says it is the one left out.
    let logged = format!(
        "node id {CONTESTED} conflict: {} keeps it, {} is left out",
        addr_of::<Ipv4Addr>(WINNER),
        addr_of::<Ipv4Addr>(LOSER)
    );
    let own = format!(
        "node id {CONTESTED} conflict: {} keeps it, this node ({}) is left out",
        addr_of::<Ipv4Addr>(WINNER),
        addr_of::<Ipv4Addr>(LOSER)
    );
    for h in everyone {
        let needle = if h == loser { &own } else { &logged };
        let output = topo.daemon_output(h);
        let lines = conflict_lines(&output);
        if lines.len() != 1 || !lines.iter().any(|l| l.contains(needle.as_str())) {
            return Err(format!(
                "{} omdiscd logged the conflict in {} lines, not once as {needle:?}: {lines:?}",
                topo.label(h),
                lines.len()
            ));
        }
    }
    step(
        "every omdiscd logged the conflict in one line; the loser says it is left out",
        Duration::ZERO,
    );

    // The loser stops: the map does not change, the report goes away everywhere.
    topo.stop(loser)?;
    let rest = [winner, other_a, other_b, gateway];
    let settled = agree(
        &mut topo,
        &rest,
        &ids,
        Expect {
            holder: addr_of::<Ipv4Addr>(WINNER),
            conflict: false,
            left_out: None,
        },
        "the loser stopped: no conflict reported any more, 1287 unchanged",
    )?;

    // It comes back: the conflict is back, resolved the same way.
    start_all(&mut topo, &[(loser, "omdB")])?;
    agree(
        &mut topo,
        &everyone,
        &ids,
        contested,
        "the loser restarted: the same conflict, the same holder everywhere",
    )?;

    // The winner stops: the other host takes the id everywhere.
    topo.stop(winner)?;
    let remaining = [loser, other_a, other_b, gateway];
    let handed_over = agree(
        &mut topo,
        &remaining,
        &ids,
        Expect {
            holder: addr_of::<Ipv4Addr>(LOSER),
            conflict: false,
            left_out: None,
        },
        "the winner stopped: 10.2.5.7 holds 1287 everywhere, no conflict left",
    )?;
    Ok(format!(
        "agreed in {:.2}s; report cleared {:.2}s after the loser left; id handed over in {:.2}s",
        took.as_secs_f64(),
        settled.as_secs_f64(),
        handed_over.as_secs_f64()
    ))
}

/// The lines of a daemon's output about the contested id's conflict starting (the engine's
/// and the daemon's wording), not about it ending.
fn conflict_lines(output: &str) -> Vec<&str> {
    let id = format!("node id {CONTESTED} ");
    output
        .lines()
        .filter(|l| l.contains(&id))
        .filter(|l| l.contains("claimed by two hosts") || l.contains("conflict:"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn the_scenario_addresses_collide() {
        assert_eq!(node_id_in(WINNER), CONTESTED);
        assert_eq!(node_id_in(LOSER), CONTESTED);
        assert!(IpAddr::V4(addr_of::<Ipv4Addr>(WINNER)) < IpAddr::V4(addr_of::<Ipv4Addr>(LOSER)));
    }

    #[test]
    fn both_wordings_of_a_conflict_count_and_its_end_does_not() {
        let output = "warn: node id 1287 claimed by two hosts\n\
                      warn: node id 1287 conflict: 10.1.5.7 keeps it, 10.2.5.7 is left out\n\
                      info: node id 1287 conflict over: 10.2.5.7 is no longer left out\n\
                      info: node 1287 joined at 10.1.5.7\n";
        assert_eq!(conflict_lines(output).len(), 2);
    }
}
