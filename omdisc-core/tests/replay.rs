//! Replay protection with a cluster key: authentic datagrams recorded on the wire and sent
//! again later never bring back a node that left or expired, never roll back a node's
//! addresses, and a forged datagram cannot move the (incarnation, sequence) high-water
//! mark. A receiver without the tombstone (restarted since the node left) takes a replay
//! for one delivery only: peers that kept the tombstone answer it with the node's LEAVE.
//! The residual risk of docs/security.md is pinned down too: after the tombstone lifetime
//! nobody remembers, and a replay is taken until the replayed node expires.

mod sim;

use std::net::IpAddr;

use omdisc_core::wire::MAC_LEN;
use omdisc_core::{ClusterKey, Config, Duration, Event, Keyring, NodeId};
use sim::{addr, HostId, Link, Sim};

const KEY: &str = "7265706c61792074657374206b6579202d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d";
const OTHER_KEY: &str = "616e6f74686572206b6579202d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d";
/// Message kind byte of an ANNOUNCE (docs/protocol.md).
const ANNOUNCE: u8 = 1;
/// Byte range of incarnation and sequence in the header.
const INCARNATION_AND_SEQUENCE: std::ops::Range<usize> = 12..24;

fn ring(hex: &str) -> Keyring {
    Keyring::new(ClusterKey::from_hex(hex).unwrap())
}

fn fast(c: &mut Config) {
    c.interval = Duration::from_millis(500);
}

/// Expiry of a silent node: 3 missed advertised intervals (1.23 × 500 ms), plus slack for
/// the sweep.
const EXPIRY_MS: u64 = 3 * 615 + 50;

/// `n` keyed hosts on segment 1, recorded from their first datagram, converged.
fn keyed_cluster(seed: u64, n: usize, tweak: impl Fn(&mut Config)) -> Sim {
    let mut sim = Sim::new(seed, Link::PERFECT);
    sim.recorded = Some(Vec::new());
    for i in 0..n {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            fast(c);
            tweak(c);
        });
        sim.set_keyring(h, Some(ring(KEY)));
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim
}

/// Everything recorded from `src` so far (announcements only, if `announcements_only`).
fn recorded_from(sim: &Sim, src: IpAddr, announcements_only: bool) -> Vec<Vec<u8>> {
    sim.recorded
        .as_ref()
        .unwrap()
        .iter()
        .filter(|(_, s, bytes)| *s == src && (!announcements_only || bytes[3] == ANNOUNCE))
        .map(|(_, _, bytes)| bytes.clone())
        .collect()
}

fn replay(sim: &mut Sim, src: IpAddr, datagrams: &[Vec<u8>]) {
    for bytes in datagrams {
        sim.inject(1, src, bytes);
        sim.run_for(2);
    }
}

fn stale(sim: &Sim, host: HostId) -> u64 {
    sim.hosts[host].engine.stats().rx_stale
}

fn id_of(sim: &Sim, host: HostId) -> u16 {
    sim.hosts[host].engine.node_id().get()
}

#[test]
fn replayed_announcements_do_not_bring_back_a_node_that_left() {
    let mut sim = keyed_cluster(21, 4, |_| {});
    sim.run_for(3_000);
    let victim = 3;
    let id = id_of(&sim, victim);
    sim.leave(victim);
    sim.run_for(10);
    assert!(sim.nobody_knows(id));

    let captured = recorded_from(&sim, addr(1, victim), false);
    assert!(captured.len() >= 5, "{} datagrams recorded", captured.len());
    let before: Vec<u64> = (0..3).map(|h| stale(&sim, h)).collect();
    let joined_before: Vec<usize> = (0..3).map(|h| sim.hosts[h].events.len()).collect();
    replay(&mut sim, addr(1, victim), &captured);
    sim.run_for(2_000);

    assert!(sim.nobody_knows(id));
    for h in 0..3 {
        // Every replayed datagram, the LEAVE included, was refused as stale (and so were
        // the peers' answers to the replayed announcements)...
        assert!(
            stale(&sim, h) - before[h] >= captured.len() as u64,
            "host {h}"
        );
        // ...and no membership event followed.
        assert_eq!(sim.hosts[h].events.len(), joined_before[h], "host {h}");
    }
}

#[test]
fn replayed_announcements_do_not_bring_back_a_node_that_expired() {
    let mut sim = keyed_cluster(22, 4, |_| {});
    sim.run_for(3_000);
    let victim = 2;
    let id = id_of(&sim, victim);
    sim.kill(victim);
    sim.run_until_cond(EXPIRY_MS + 1_000, |s| s.nobody_knows(id))
        .expect("the crashed node expires");

    let captured = recorded_from(&sim, addr(1, victim), true);
    replay(&mut sim, addr(1, victim), &captured);
    sim.run_for(2_000);
    assert!(sim.nobody_knows(id));
    for h in [0, 1, 3] {
        let expired = Event::Expired(NodeId::new(id).unwrap());
        let after_expiry = sim.hosts[h]
            .events
            .iter()
            .skip_while(|(_, e)| *e != expired)
            .skip(1)
            .count();
        assert_eq!(after_expiry, 0, "host {h} saw events after the expiry");
    }
}

#[test]
fn a_replay_of_an_older_incarnation_does_not_roll_back_addresses() {
    let mut sim = Sim::new(23, Link::PERFECT);
    sim.recorded = Some(Vec::new());
    // A gateway on segments 1 and 2, then restarted with only its segment-1 leg.
    let gateway = sim.add_host(&[(1, addr(1, 0)), (2, addr(2, 0))], fast);
    let observer = sim.add_host(&[(1, addr(1, 1))], fast);
    for h in [gateway, observer] {
        sim.set_keyring(h, Some(ring(KEY)));
        sim.start(h);
    }
    sim.run_for(3_000);
    let id = NodeId::from_ip(addr(1, 0)).unwrap();
    let entry = sim.hosts[observer].engine.table().member(id).unwrap();
    assert_eq!(entry.addrs().len(), 2, "announced with its alias");

    sim.kill(gateway);
    let mut config = Config::new(id, 5_000);
    fast(&mut config);
    let restarted = sim.add_host_with(&[(1, addr(1, 0))], config);
    sim.set_keyring(restarted, Some(ring(KEY)));
    sim.start(restarted);
    sim.run_for(1_000);
    assert_eq!(
        sim.hosts[observer]
            .engine
            .table()
            .member(id)
            .unwrap()
            .addrs()
            .len(),
        1
    );

    let old = recorded_from(&sim, addr(1, 0), true)
        .into_iter()
        .filter(|bytes| bytes[12..20] != 5_000u64.to_be_bytes())
        .collect::<Vec<_>>();
    assert!(!old.is_empty());
    let before = stale(&sim, observer);
    replay(&mut sim, addr(1, 0), &old);
    let entry = sim.hosts[observer].engine.table().member(id).unwrap();
    assert_eq!(entry.incarnation(), 5_000);
    assert_eq!(entry.addrs().len(), 1, "the old alias came back");
    assert_eq!(stale(&sim, observer) - before, old.len() as u64);
}

/// keepalived's old AH code advanced its replay counter before checking the MAC: one
/// forged packet with a huge counter locked out the real sender. Here the MAC comes first.
#[test]
fn a_forged_high_sequence_does_not_lock_out_the_real_node() {
    let mut sim = keyed_cluster(24, 3, |_| {});
    sim.run_for(1_000);
    let real = 0;
    let id = NodeId::new(id_of(&sim, real)).unwrap();
    let authentic = recorded_from(&sim, addr(1, real), true).pop().unwrap();

    // Highest incarnation and sequence: once not re-signed, once re-signed with a key the
    // cluster does not have.
    let mut forged = authentic.clone();
    forged[INCARNATION_AND_SEQUENCE].fill(0xff);
    let mut resigned = forged.clone();
    let other = ring(OTHER_KEY);
    let mac_at = resigned.len() - MAC_LEN;
    resigned[mac_at - 1] = other.signing_key().id();
    let mac = other.mac(&resigned[..mac_at]);
    resigned[mac_at..].copy_from_slice(&mac);

    let auth_failed = sim.hosts[1].engine.stats().rx_auth_failed;
    for bytes in [&forged, &resigned] {
        sim.inject(1, addr(1, real), bytes);
        sim.run_for(2);
    }
    assert_eq!(sim.hosts[1].engine.stats().rx_auth_failed - auth_failed, 2);
    let incarnation = sim.hosts[1]
        .engine
        .table()
        .member(id)
        .unwrap()
        .incarnation();
    assert_ne!(incarnation, u64::MAX);

    // The real node's next announcements are still taken, and it never expires.
    let sequence = sim.hosts[1].engine.table().member(id).unwrap().sequence();
    let stale_before = stale(&sim, 1);
    sim.run_for(5_000);
    let entry = sim.hosts[1]
        .engine
        .table()
        .member(id)
        .expect("still a member");
    assert!(entry.sequence() > sequence);
    assert_eq!(stale(&sim, 1), stale_before);
}

/// A receiver that restarted after the victim left has no tombstone and takes a replayed
/// announcement — but the peers that kept the tombstone answer the authentic replay with the
/// victim's LEAVE, and the restarted receiver drops it again at the next delivery.
#[test]
fn peers_answer_a_replay_so_a_restarted_receiver_drops_the_node_at_once() {
    let mut sim = keyed_cluster(25, 4, |_| {});
    sim.run_for(3_000);
    let (victim, receiver) = (3, 1);
    let id = id_of(&sim, victim);
    sim.leave(victim);
    sim.run_for(10);

    sim.kill(receiver);
    let mut config = Config::new(NodeId::from_ip(addr(1, receiver)).unwrap(), 9_000);
    fast(&mut config);
    let fresh = sim.add_host_with(&[(1, addr(1, receiver))], config);
    sim.set_keyring(fresh, Some(ring(KEY)));
    sim.start(fresh);
    sim.run_until_cond(2_000, Sim::converged)
        .expect("the restarted receiver rejoins");

    let captured = recorded_from(&sim, addr(1, victim), true);
    sim.inject(1, addr(1, victim), &captured[0]);
    sim.run_for(1);
    assert!(
        sim.knows(fresh, id),
        "the restarted receiver took the replay"
    );
    // One delivery later the peers' answers arrived.
    sim.run_for(1);
    assert!(sim.nobody_knows(id), "the answer removed the replayed node");
    let answered: u64 = [0, 2]
        .iter()
        .map(|h| sim.hosts[*h].engine.stats().replays_answered)
        .sum();
    assert!(answered >= 1);

    // The rest of the recording: every announcement is answered or refused; the restarted
    // receiver never keeps the node longer than one delivery, and the answers are rate
    // limited (at most one per peer per advertised interval).
    for datagram in &captured[1..] {
        replay(&mut sim, addr(1, victim), std::slice::from_ref(datagram));
        sim.run_for(2);
        assert!(sim.nobody_knows(id));
    }
    let answered_after: u64 = [0, 2]
        .iter()
        .map(|h| sim.hosts[*h].engine.stats().replays_answered)
        .sum();
    assert!(answered_after <= answered + 2 * captured.len() as u64);
}

/// Forged stale announcements (bad MAC) are never answered: no amplification.
#[test]
fn forged_replays_are_not_answered() {
    let mut sim = keyed_cluster(27, 3, |_| {});
    sim.run_for(2_000);
    let victim = 2;
    sim.leave(victim);
    sim.run_for(10);
    let mut captured = recorded_from(&sim, addr(1, victim), true);
    for datagram in &mut captured {
        let last = datagram.len() - 1;
        datagram[last] ^= 1;
    }
    replay(&mut sim, addr(1, victim), &captured);
    sim.run_for(10);
    assert_eq!(sim.hosts[0].engine.stats().replays_answered, 0);
    assert_eq!(sim.hosts[1].engine.stats().replays_answered, 0);
}

/// Residual risk (docs/security.md): tombstones are kept for `tombstone_lifetime`
/// (10 minutes by default); a replay after that is taken like one by a restarted
/// receiver, again only until the replayed node expires.
#[test]
fn after_the_tombstone_lifetime_a_replay_is_taken_until_it_expires() {
    let lifetime = Duration::from_secs(5);
    let mut sim = keyed_cluster(26, 3, |c| c.tombstone_lifetime = lifetime);
    sim.run_for(2_000);
    let victim = 2;
    let id = id_of(&sim, victim);
    sim.leave(victim);
    sim.run_for(10);
    let captured = recorded_from(&sim, addr(1, victim), true);

    // Within the lifetime: refused.
    replay(&mut sim, addr(1, victim), &captured);
    assert!(sim.nobody_knows(id));
    sim.run_for(lifetime.total_millis() + 1_000);
    assert_eq!(
        sim.hosts[0]
            .engine
            .table()
            .same_id(NodeId::new(id).unwrap())
            .len(),
        0,
        "the tombstone is gone"
    );

    // After it: taken, then expired.
    replay(&mut sim, addr(1, victim), &captured);
    assert!(sim.knows(0, id));
    sim.run_until_cond(EXPIRY_MS + 500, |s| s.nobody_knows(id))
        .expect("the replayed node expires");
}
