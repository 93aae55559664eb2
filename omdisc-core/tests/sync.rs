//! Anti-entropy (issue 15): a node whose member count has been quiet for ten seconds and
//! that hears a member say it holds more asks it for a sync (a GOSSIP with the sync flag
//! and a summary of its map), at most once per back-off; the member sends the members of
//! the buckets whose sums differ from its own, in parts, a bounded number a probe interval,
//! two syncs at a time, and only to a member.

mod one_node;

use std::collections::BTreeSet;
use std::net::IpAddr;

use omdisc_core::{
    Destination, Gossip, IfaceId, Instant, MemberState, MessageKind, NodeId, Payload, SyncSummary,
};
use one_node::{bytes, drain, from, message, node_with_members, run, TestEngine};

/// Runs `e` until `until`, every member answering its PINGs (so none is suspected); returns
/// what it sent that was not a PING.
fn run_answering(e: &mut TestEngine, until: Instant) -> Vec<(Instant, Destination, Payload)> {
    let mut sent = Vec::new();
    run(e, until, |e, at, out| {
        for (to, kind, payload) in out {
            let Destination::Peer(peer) = to else {
                continue;
            };
            if kind == MessageKind::Ping {
                let IpAddr::V4(v4) = peer.ip() else { continue };
                let ack = message(v4.octets()[3], MessageKind::Ack, 1);
                let answer = Payload {
                    nonce: payload.nonce,
                    ..Payload::EMPTY
                };
                let _ = e.handle_datagram(at, IfaceId::FIRST, peer, &bytes(&ack, &answer));
            } else {
                sent.push((at, to, payload));
            }
        }
    });
    sent
}

/// Member `d` PINGs `e` at `at`, saying it holds `members` members (and, with `sync`,
/// asking for a sync with that summary of its map); returns what `e` sends at once.
fn ping_from(
    e: &mut TestEngine,
    at: Instant,
    d: u8,
    members: u16,
    sync: Option<SyncSummary>,
) -> Vec<(Destination, MessageKind, Payload)> {
    let ping = message(d, MessageKind::Ping, 1);
    let payload = Payload {
        nonce: 77,
        members,
        sync,
        ..Payload::EMPTY
    };
    e.handle_datagram(at, IfaceId::FIRST, from(d), &bytes(&ping, &payload))
        .unwrap();
    drain(e, at)
}

fn sync_requests(sent: &[(Destination, MessageKind, Payload)]) -> usize {
    sent.iter()
        .filter(|(_, kind, p)| *kind == MessageKind::Gossip && p.sync.is_some())
        .count()
}

#[test]
fn every_direct_datagram_says_how_many_members_its_sender_holds() {
    let mut e = node_with_members(5);
    run_answering(&mut e, Instant::from_secs(2));
    let sent = ping_from(&mut e, Instant::from_secs(2), 3, 5, None);
    let ack = sent
        .iter()
        .find(|(_, kind, _)| *kind == MessageKind::Ack)
        .expect("the PING is answered");
    assert_eq!(ack.2.members, 5);
}

#[test]
fn a_member_that_holds_more_is_asked_for_a_sync_once_the_count_is_quiet_and_then_with_back_off() {
    let mut e = node_with_members(5);
    // Not while the count has been the same for less than ten seconds.
    run_answering(&mut e, Instant::from_secs(5));
    assert_eq!(
        sync_requests(&ping_from(&mut e, Instant::from_secs(5), 3, 9, None)),
        0
    );
    // Never of a member that holds as many or fewer.
    run_answering(&mut e, Instant::from_secs(12));
    for members in [0, 3, 5] {
        assert_eq!(
            sync_requests(&ping_from(&mut e, Instant::from_secs(12), 3, members, None)),
            0
        );
    }
    // Of one that holds more: asked, to that member, with a summary of this node's map
    // (itself at incarnation 7, members 2 to 5 at incarnation 1) and nothing else.
    let sent = ping_from(&mut e, Instant::from_secs(12), 3, 9, None);
    assert_eq!(sync_requests(&sent), 1, "{sent:?}");
    let (to, _, request) = sent.iter().find(|(_, _, p)| p.sync.is_some()).unwrap();
    assert_eq!(*to, Destination::Peer(from(3)));
    assert!(request.entries.is_empty());
    let summary = request.sync.unwrap();
    assert_eq!(summary, summary_of(summary.salt, 5, &[]));
    // No member serves: each ask is made again of the next member that says it holds more
    // within two probe intervals, three times in a row; then every three seconds, five
    // times, then with doubling waits.
    assert_eq!(
        asks_after_12_s(&mut e, false),
        [14, 16, 18, 21, 24, 27, 30, 33, 39, 51]
    );
    assert_eq!(e.stats().syncs_asked, 11);
}

#[test]
fn a_served_sync_that_adds_nothing_is_asked_again_every_three_seconds_then_less_often() {
    let mut e = node_with_members(5);
    run_answering(&mut e, Instant::from_secs(12));
    assert_eq!(
        sync_requests(&ping_from(&mut e, Instant::from_secs(12), 3, 9, None)),
        1
    );
    digest_from(&mut e, Instant::from_secs(12), 3);
    // Served each time, adding nothing (no member answers a contact): five waits of three
    // seconds, then doubling ones.
    assert_eq!(
        asks_after_12_s(&mut e, true),
        [15, 18, 21, 24, 27, 33, 45, 69]
    );
}

/// Member `d` sends `e` a member digest (naming member 2), as a sync does.
fn digest_from(e: &mut TestEngine, at: Instant, d: u8) {
    let gossip = message(d, MessageKind::Gossip, 1);
    let mut payload = Payload {
        members: 9,
        ..Payload::EMPTY
    };
    payload
        .entries
        .push(Gossip {
            state: MemberState::Alive,
            node: NodeId::new(2).unwrap(),
            incarnation: 1,
            sequence: 1,
            addr: from(2),
        })
        .unwrap();
    e.handle_datagram(at, IfaceId::FIRST, from(d), &bytes(&gossip, &payload))
        .unwrap();
    drain(e, at);
}

/// From 13 s to 70 s, a member that says it holds 9 members PINGs `e` every second; the
/// seconds at which `e` asked for a sync (of that member; with `serve`, it answers with a
/// digest).
fn asks_after_12_s(e: &mut TestEngine, serve: bool) -> Vec<u64> {
    let mut asked = Vec::new();
    for s in 13..=70 {
        let at = Instant::from_secs(s);
        run_answering(e, at);
        if sync_requests(&ping_from(e, at, 4, 9, None)) > 0 {
            asked.push(s);
            if serve {
                digest_from(e, at, 4);
            }
        }
    }
    asked
}

/// The summary under `salt` of node 1's map (itself at incarnation 7) with members 2 to
/// `last` (incarnation 1), except those in `lacking`.
fn summary_of(salt: u32, last: u16, lacking: &[u16]) -> SyncSummary {
    let mut summary = SyncSummary::new(salt);
    summary.add(NodeId::new(1).unwrap(), 7);
    for n in (2..=last).filter(|n| !lacking.contains(n)) {
        summary.add(NodeId::new(n).unwrap(), 1);
    }
    summary
}

/// The sync parts `e` sent to member `d`: the GOSSIPs with entries and no nonce.
fn parts_to(
    sent: &[(Instant, Destination, Payload)],
    d: u8,
) -> Vec<&(Instant, Destination, Payload)> {
    sent.iter()
        .filter(|(_, to, p)| *to == Destination::Peer(from(d)) && p.nonce == 0 && p.sync.is_none())
        .collect()
}

#[test]
fn a_sync_sends_only_the_buckets_whose_sums_differ() {
    let last = 100;
    let mut e = node_with_members(last);
    run_answering(&mut e, Instant::from_secs(1));
    let at = Instant::from_secs(1);
    // Member 2 lacks members 50 and 77: it gets the members of their buckets, all of them,
    // six a datagram, and none of the other buckets.
    let salt = 0x5eed;
    let asked = summary_of(salt, u16::from(last), &[50, 77]);
    ping_from(&mut e, at, 2, 98, Some(asked));
    let sent = run_answering(&mut e, Instant::from_secs(4));
    let parts = parts_to(&sent, 2);
    let bucket = |n: u16, inc| SyncSummary::place(salt, NodeId::new(n).unwrap(), inc).0;
    let buckets = [bucket(50, 1), bucket(77, 1)];
    let want: BTreeSet<u16> = (3..=u16::from(last))
        .filter(|n| buckets.contains(&bucket(*n, 1)))
        .collect();
    let named: BTreeSet<u16> = parts
        .iter()
        .flat_map(|(_, _, p)| p.entries.iter().map(|g| g.node.get()))
        .collect();
    assert_eq!(named, want);
    assert!(
        want.contains(&50) && want.contains(&77) && want.len() < 20,
        "{want:?}"
    );
    assert_eq!(parts.len(), want.len().div_ceil(6));
    assert_eq!(e.stats().syncs_served, 1);
    // A member whose map is the same gets nothing (and is not counted as served).
    ping_from(
        &mut e,
        Instant::from_secs(4),
        3,
        100,
        Some(summary_of(9, u16::from(last), &[])),
    );
    let sent = run_answering(&mut e, Instant::from_secs(6));
    assert!(parts_to(&sent, 3).is_empty(), "{sent:?}");
    assert_eq!(e.stats().syncs_served, 1);
}

#[test]
fn a_sync_that_knows_nothing_streams_the_whole_map_a_bounded_number_of_parts_an_interval() {
    let last = 100;
    let mut e = node_with_members(last);
    run_answering(&mut e, Instant::from_secs(1));
    let at = Instant::from_secs(1);
    // Summaries of nothing: every bucket differs.
    ping_from(&mut e, at, 2, 50, Some(SyncSummary::new(1)));
    // A second request is served at the same time, a third while both are being sent is
    // not.
    ping_from(&mut e, at, 3, 50, Some(SyncSummary::new(2)));
    ping_from(&mut e, at, 4, 50, Some(SyncSummary::new(3)));
    let sent = run_answering(&mut e, Instant::from_secs(4));
    let parts = parts_to(&sent, 2);
    assert!(sent
        .iter()
        .all(|(_, to, p)| *to != Destination::Peer(from(4)) || p.entries.len() < 6));
    // 100 members, six a datagram: 17 parts, at most 8 a probe interval.
    assert_eq!(parts.len(), 17);
    let mut per_interval = std::collections::BTreeMap::<u64, usize>::new();
    for (at, _, _) in &parts {
        *per_interval.entry(at.total_millis()).or_default() += 1;
    }
    assert!(per_interval.values().all(|&n| n <= 8), "{per_interval:?}");
    let named: BTreeSet<u16> = parts
        .iter()
        .flat_map(|(_, _, p)| p.entries.iter().map(|g| g.node.get()))
        .collect();
    let want: BTreeSet<u16> = (3..=u16::from(last)).collect();
    assert!(
        want.is_subset(&named),
        "missing {:?}",
        want.difference(&named)
    );
    assert!(!named.contains(&2), "the asker is left out of its own sync");
    assert_eq!(e.stats().syncs_served, 2);
    assert_eq!(e.stats().sync_parts_sent, 2 * 17);
}

#[test]
fn a_node_that_is_not_a_member_gets_no_sync() {
    let mut e = node_with_members(20);
    run_answering(&mut e, Instant::from_secs(1));
    // Node 99 is unknown: it is contacted (its own announcement would add it), not served.
    ping_from(
        &mut e,
        Instant::from_secs(1),
        99,
        50,
        Some(SyncSummary::new(1)),
    );
    let sent = run_answering(&mut e, Instant::from_secs(4));
    assert!(
        sent.iter()
            .all(|(_, to, p)| *to != Destination::Peer(from(99)) || p.entries.is_empty()),
        "{sent:?}"
    );
    assert_eq!(e.stats().syncs_served, 0);
}
