//! Unicast with a cluster key (issue 15): three keyed unicast-only nodes (`n2` and `n3`
//! seeded on `n1`, every host dropping multicast).
//!
//! - A keyless node that names `n1` as its seed is never added to any map (and lists only
//!   itself).
//! - The datagrams `n1` sent `n3` when it joined (its announcement and the member list that
//!   named `n2`), captured on `n3`'s host and replayed from `n1`'s address after `n2` left,
//!   change nothing: `n2` never comes back into a map. A member list never adds a node; it
//!   only makes the receiver contact the listed addresses, and `n2` no longer answers.

use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::map_watch::{maps_hold, never_listed};
use super::packet_capture::UnicastCapture;
use super::security::KEY_A;
use super::unicast_setup::{converged, unicast_only, CONVERGE_BOUND, UNICAST_ARGS};
use super::wire_tools::{write_key_file, PORT};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{in_namespace, Cluster, DaemonHosts};

/// How long the keyless node is watched: six announce intervals.
const WATCH: Duration = Duration::from_secs(3);
/// How long the captured datagrams are replayed.
const REPLAY: Duration = Duration::from_millis(1500);
/// Pause between two replayed datagrams.
const REPLAY_GAP: Duration = Duration::from_millis(10);
/// Time for a start or a LEAVE to show (not the bound under test).
const SETTLE: Duration = Duration::from_secs(5);

/// A keyless seed user and a replayed member list.
pub(super) const UNICAST_KEYED: Scenario = Scenario {
    name: "unicast-keyed",
    about: "with a key: a keyless node seeded on a member is never added; a replayed member list changes nothing",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: unicast_keyed,
};

fn unicast_keyed(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 157], 4, UNICAST_ARGS)?;
    let (n1, n2, n3, keyless) = (0, 1, 2, 3);
    let seed = cluster.address(n1).to_string();
    for i in [n1, n2, n3, keyless] {
        let mut args = Vec::new();
        if i != n1 {
            args.extend(["--peer".to_string(), seed.clone()]);
        }
        if i != keyless {
            let key = write_key_file(&dir.join(format!("{}.key", cluster.label(i))), &[KEY_A])?;
            args.extend(["--key-file".to_string(), key.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        unicast_only(&mut cluster, i, &args)?;
    }
    cluster.start(n1)?;
    cluster.start(n2)?;
    cluster.wait_for_maps(&[n1, n2], &[n1, n2], SETTLE)?;

    // What n1 sends n3 while n3 joins: its announcement and the member list naming n2.
    let to_n3 = SocketAddrV4::new(cluster.address(n3), PORT);
    let capture = UnicastCapture::start(
        cluster.namespace(n3),
        cluster.address(n1),
        to_n3,
        Duration::from_secs(30),
    )?;
    cluster.start(n3)?;
    let members = [n1, n2, n3];
    converged(
        &mut cluster,
        &members,
        CONVERGE_BOUND,
        "keyed n3 seeded on n1 listed by all 3",
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let captured = capture.finish();
    if captured.is_empty() {
        return Err("captured nothing n1 sent n3 by unicast".into());
    }
    step(
        &format!(
            "captured {} datagrams n1 sent n3 by unicast",
            captured.len()
        ),
        Duration::ZERO,
    );

    // A keyless node seeded on n1 stays out, and learns nobody.
    cluster.start(keyless)?;
    let keyless_id = cluster.id(keyless);
    never_listed(&mut cluster, &members, keyless_id, WATCH)?;
    let own = cluster.map(keyless)?;
    if own.ids() != [keyless_id] {
        return Err(format!("the keyless node's map is {own}, not itself alone"));
    }
    step(
        "keyless node seeded on n1: in no map, its own lists itself",
        WATCH,
    );

    // n2 leaves; n1's captured datagrams, replayed from n1's address, do not bring it back.
    cluster.signal(n2, Signal::SIGTERM)?;
    cluster.wait_for_maps(&[n1, n3], &[n1, n3], SETTLE)?;
    let n2_id = cluster.id(n2);
    let source = cluster.address(n1);
    let sender = in_namespace(cluster.namespace(n1), move || {
        UdpSocket::bind((source, 0)).map_err(|e| format!("cannot bind {source}: {e}"))
    })?;
    let started = Instant::now();
    let sent = std::thread::scope(|scope| {
        let sending = scope.spawn(|| {
            let mut sent = 0;
            'replay: while started.elapsed() < REPLAY {
                for datagram in &captured {
                    if started.elapsed() >= REPLAY {
                        break 'replay;
                    }
                    if sender.send_to(datagram, to_n3).is_ok() {
                        sent += 1;
                    }
                    std::thread::sleep(REPLAY_GAP);
                }
            }
            sent
        });
        let watched = never_listed(&mut cluster, &[n1, n3], n2_id, REPLAY + SETTLE / 5);
        let sent = sending.join().map_err(|_| "the replay thread panicked")?;
        watched.map(|_| sent)
    })?;
    maps_hold(
        &mut cluster,
        &[n1, n3],
        &[n1, n3],
        Duration::from_millis(500),
    )?;
    step(
        &format!("{sent} replayed from n1's address after n2 left: n2 stays out, maps unchanged"),
        started.elapsed(),
    );
    Ok(format!(
        "keyless seed user kept out for {}s; {sent} replayed datagrams changed nothing",
        WATCH.as_secs()
    ))
}
