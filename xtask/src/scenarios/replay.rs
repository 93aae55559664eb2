//! Replay (issue 5): authentic announcements, captured on the wire while the victim was a
//! member, are sent again after it left. They do not bring it back: sent from the
//! attacker's own address they are refused as spoofed, sent from the victim's address they
//! are refused as stale (the receivers keep a tombstone with the victim's last sequence).
//!
//! A receiver restarted after the victim left has no tombstone and would take the replay;
//! the peers that kept theirs answer each authentic replay with the victim's LEAVE, so it
//! drops the victim again at once. The scenario checks that the restarted receiver is clean
//! within [`ANSWERED_BOUND`] of the end of the replay and that the answers were sent.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::map_watch::never_listed;
use super::security::{give_keys, stop_all, FAST_ARGS, KEY_A, SETTLE};
use super::wire_tools::{Capture, Captured, GroupSender};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{ip, Cluster, NODE_IF};

/// Replayed announcements do not bring a departed node back.
pub(super) const REPLAY_AFTER_LEAVE: Scenario = Scenario {
    name: "replay-after-leave",
    about: "captured announcements replayed after the victim left do not bring it back",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: replay_after_leave,
};

/// How long the attacker records the victim's announcements.
const RECORD: Duration = Duration::from_secs(2);
/// How long each replay goes on.
const REPLAY: Duration = Duration::from_millis(1500);
/// Pause between two replayed datagrams.
const REPLAY_GAP: Duration = Duration::from_millis(5);
/// Expiry of a silent node with `FAST_ARGS`: 3 × the advertised 1.23 × 0.5 s, plus 1 s.
const EXPIRY_BOUND: Duration = Duration::from_millis(2_850);

/// The restarted receiver must not list the victim longer than this after the replay ends
/// (the peers' answers arrive one delivery after each replayed datagram).
const ANSWERED_BOUND: Duration = Duration::from_millis(500);

/// Message kind byte of an ANNOUNCE (docs/protocol.md).
const ANNOUNCE: u8 = 1;

fn replay_after_leave(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    // Hosts 0-2 run keyed daemons; host 3 is the attacker's namespace on the same segment.
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 51], 4, FAST_ARGS)?;
    let (members, victim, attacker) = ([0, 1, 2], 2, 3);
    let observers = [0, 1];
    give_keys(&mut cluster, dir, &members, &[KEY_A])?;
    let victim_ip = Ipv4Addr::new(10, 77, 51, 13);
    let attacker_ip = Ipv4Addr::new(10, 77, 51, 14);
    let victim_id = cluster.id(victim);

    let capture = Capture::start(
        cluster.namespace(attacker),
        attacker_ip,
        Duration::from_secs(30),
    )?;
    for i in members {
        cluster.start(i)?;
    }
    cluster.wait_for_maps(&members, &members, SETTLE)?;
    std::thread::sleep(RECORD);
    cluster.signal(victim, Signal::SIGTERM)?;
    let gone = cluster.wait_for_maps(&observers, &observers, SETTLE)?;
    step("victim left (SIGTERM, LEAVE)", gone);
    let heard = capture.finish();
    let replayed: Vec<Captured> = heard
        .into_iter()
        .filter(|c| c.source.ip() == victim_ip && c.bytes.get(3) == Some(&ANNOUNCE))
        .collect();
    if replayed.len() < 3 {
        return Err(format!(
            "the capture holds only {} announcements of the victim",
            replayed.len()
        ));
    }
    step(
        &format!(
            "captured {} authentic announcements of the victim",
            replayed.len()
        ),
        RECORD,
    );

    // From the attacker's own address: the source does not match what they claim.
    let own = GroupSender::open(cluster.namespace(attacker), attacker_ip)?;
    let sent_own = replay(&mut cluster, &own, &replayed, &observers, victim_id)?;
    step(
        &format!("{sent_own} replayed from the attacker's address: victim stays out"),
        REPLAY,
    );

    // From the victim's address, which the attacker takes over.
    let ns = cluster.namespace(attacker).to_string();
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{victim_ip}/24"),
        "dev",
        NODE_IF,
    ])?;
    let spoofed = GroupSender::open(&ns, victim_ip)?;
    let sent_spoofed = replay(&mut cluster, &spoofed, &replayed, &observers, victim_id)?;
    step(
        &format!("{sent_spoofed} replayed from the victim's address: victim stays out"),
        REPLAY,
    );

    // The residual risk: a receiver restarted since the victim left has no tombstone.
    let restarted = 1;
    cluster.signal(restarted, Signal::SIGTERM)?;
    cluster
        .wait_exit(restarted, Duration::from_secs(5))
        .ok_or("a SIGTERM'd daemon did not exit")?;
    let second = cluster.counters(restarted)?;
    cluster.start(restarted)?;
    cluster.wait_for_maps(&observers, &observers, SETTLE)?;
    let residual = restarted_receiver(&mut cluster, &spoofed, &replayed, restarted, victim_id)?;

    stop_all(&mut cluster, &[0])?;
    let first = cluster.counters(0)?;
    let mut report = Vec::new();
    for (label, counters) in [("n1", &first), ("n2", &second)] {
        let (spoofed, stale) = (
            counters.get("refused-spoofed")?,
            counters.get("refused-stale")?,
        );
        if spoofed == 0 || stale == 0 {
            return Err(format!(
                "{label} counted {spoofed} spoofed and {stale} stale datagrams; the replays should show in both"
            ));
        }
        report.push(format!("{label} refused {spoofed} spoofed, {stale} stale"));
    }
    let answered = first.get("replays-answered")?;
    if answered == 0 {
        return Err("n1 answered no replay with the victim's LEAVE".into());
    }
    report.push(format!(
        "n1 answered {answered} replays with the victim's LEAVE"
    ));
    step(&report.join("; "), Duration::ZERO);
    Ok(format!(
        "{} replays kept out; {}; {residual}",
        sent_own + sent_spoofed,
        report.join(", ")
    ))
}

/// Sends the captured datagrams again, in order and over and over, for [`REPLAY`], while
/// checking that no observer lists the victim. Returns how many were sent.
fn replay(
    cluster: &mut Cluster,
    sender: &GroupSender,
    captured: &[Captured],
    observers: &[usize],
    victim: u16,
) -> Result<usize, String> {
    let sent = replay_in_background(sender, captured, REPLAY, || {
        never_listed(
            cluster,
            observers,
            victim,
            REPLAY + Duration::from_millis(500),
        )
    })?;
    Ok(sent)
}

/// Replays on a scoped thread while `watch` runs on this one.
fn replay_in_background(
    sender: &GroupSender,
    captured: &[Captured],
    period: Duration,
    watch: impl FnOnce() -> Result<u32, String>,
) -> Result<usize, String> {
    std::thread::scope(|scope| {
        let sending = scope.spawn(|| {
            let started = Instant::now();
            let mut sent = 0;
            'replay: while started.elapsed() < period {
                for datagram in captured {
                    if started.elapsed() >= period {
                        break 'replay;
                    }
                    if sender.send(&datagram.bytes) {
                        sent += 1;
                    }
                    std::thread::sleep(REPLAY_GAP);
                }
            }
            sent
        });
        let watched = watch();
        let sent = sending
            .join()
            .map_err(|_| "the replay thread panicked".to_string())?;
        watched.map(|_| sent)
    })
}

/// Replays to a cluster where `restarted` lost its tombstones: `n1` must still refuse, and
/// whatever the restarted receiver took must be gone within [`ANSWERED_BOUND`] of the end of
/// the replay. Returns what happened, for the report.
fn restarted_receiver(
    cluster: &mut Cluster,
    sender: &GroupSender,
    captured: &[Captured],
    restarted: usize,
    victim: u16,
) -> Result<String, String> {
    let mut listed_at = None;
    let started = Instant::now();
    replay_in_background(sender, captured, REPLAY, || {
        let polls = never_listed(cluster, &[0], victim, Duration::ZERO)?;
        let deadline = Instant::now() + REPLAY;
        while Instant::now() < deadline {
            never_listed(cluster, &[0], victim, Duration::ZERO)?;
            if listed_at.is_none() && cluster.map(restarted)?.contains(victim) {
                listed_at = Some(started.elapsed());
            }
            std::thread::sleep(super::map_watch::WATCH_POLL);
        }
        Ok(polls)
    })?;
    let replay_ended = Instant::now();
    let gone = cluster
        .wait_for_maps(&[restarted], &[0, restarted], EXPIRY_BOUND + SETTLE)
        .map(|_| replay_ended.elapsed())?;
    never_listed(cluster, &[0], victim, Duration::ZERO)?;
    if gone > ANSWERED_BOUND {
        return Err(format!(
            "the restarted receiver listed the replayed victim {:.2}s after the replay ended (bound {ANSWERED_BOUND:?}: the peers answer replays)",
            gone.as_secs_f64()
        ));
    }
    let what = match listed_at {
        Some(at) => format!(
            "restarted receiver listed the replay for a moment at {:.2}s (peers answered with the LEAVE) and was clean {:.2}s after it ended",
            at.as_secs_f64(),
            gone.as_secs_f64()
        ),
        None => "restarted receiver refused the replay too".to_string(),
    };
    step(&what, Duration::ZERO);
    Ok(what)
}
