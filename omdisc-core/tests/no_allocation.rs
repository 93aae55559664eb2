//! The core never allocates: receiving, timers, transmitting, events and map rendering on
//! a 1 000-member cluster are run under a counting global allocator that must see nothing.
//! (The setup allocates — the table storage, the datagrams — outside the counted calls.)

#[path = "../benches/common/mod.rs"]
mod common;

use common::{allocations_during, PEERS};
use omdisc_core::map::{binary, setpe};
use omdisc_core::{IfaceId, Instant, Message, MAX_DATAGRAM_LEN};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

#[test]
fn receive_timers_transmit_and_render_never_allocate() {
    let keys = common::keyring();
    let (mut engine, mut now) = common::cluster_engine(Some(keys.clone()));
    let mut buf = [0u8; MAX_DATAGRAM_LEN];

    // Refreshes, duplicates and a replay of every peer.
    let refreshes: Vec<Vec<u8>> = (0..PEERS)
        .map(|k| common::datagram(k, 2, Some(&keys)))
        .collect();
    let (accepted, n) = allocations_during(|| {
        let mut accepted = 0;
        for (k, bytes) in refreshes.iter().enumerate() {
            for _ in 0..2 {
                let ip = common::peer_ip(k);
                accepted += usize::from(
                    engine
                        .handle_datagram(
                            now,
                            IfaceId::FIRST,
                            core::net::SocketAddr::new(ip, 7477),
                            bytes,
                        )
                        .is_ok(),
                );
            }
        }
        accepted
    });
    assert_eq!(
        accepted,
        2 * PEERS,
        "refreshes and their duplicates are taken in"
    );
    assert_eq!(n, 0, "handle_datagram allocated {n} times");

    // A datagram that fails its MAC.
    let mut forged = common::datagram(3, 9, Some(&keys));
    forged[30] ^= 1;
    let (result, n) = allocations_during(|| {
        engine.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(common::peer_ip(3), 7477),
            &forged,
        )
    });
    assert!(result.is_err());
    assert_eq!(n, 0, "refusing a forged datagram allocated {n} times");

    // A new node joins (table insert, answer scheduled), then leaves.
    let mut join = common::announcement(PEERS, 1);
    join.join = true;
    let mut join_bytes = [0u8; MAX_DATAGRAM_LEN];
    let join_len = join.emit(&mut join_bytes, Some(&keys)).unwrap();
    let mut leave = common::announcement(PEERS, 2);
    leave.kind = omdisc_core::MessageKind::Leave;
    let mut leave_bytes = [0u8; MAX_DATAGRAM_LEN];
    let leave_len = leave.emit(&mut leave_bytes, Some(&keys)).unwrap();
    let newcomer = common::peer_ip(PEERS);
    let (events, n) = allocations_during(|| {
        let joined = engine.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(newcomer, 7477),
            &join_bytes[..join_len],
        );
        let mut events = 0;
        while engine.poll_event().is_some() {
            events += 1;
        }
        let left = engine.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(newcomer, 7477),
            &leave_bytes[..leave_len],
        );
        while engine.poll_event().is_some() {
            events += 1;
        }
        assert!(joined.is_ok() && left.is_ok());
        events
    });
    assert_eq!(events, 2, "joined, then left");
    assert_eq!(n, 0, "a join and a leave allocated {n} times");

    // Timers: run to the next deadlines for 8 s (the peers, heard at the start, expire
    // after 3 × 4.8 s) and send what they queue.
    let until = Instant::from_millis(now.total_millis() + 8_000);
    let (sent, n) = allocations_during(|| {
        let mut sent = 0;
        while now < until {
            now = engine.poll_timeout().unwrap_or(until).max(now).min(until);
            engine.handle_timeout(now);
            while engine.poll_transmit(now, &mut buf).is_some() {
                sent += 1;
            }
            while engine.poll_event().is_some() {}
            now = Instant::from_millis(now.total_millis() + 1);
        }
        sent
    });
    assert!(sent >= 1, "the announce timer fired");
    assert_eq!(n, 0, "timers and poll_transmit allocated {n} times");

    // The wire codec on its own.
    let message = common::announcement(5, 77);
    let (parsed, n) = allocations_during(|| {
        let len = message.emit(&mut buf, Some(&keys)).unwrap();
        Message::decode(&buf[..len], Some(&keys))
    });
    assert_eq!(parsed, Ok(message));
    assert_eq!(n, 0, "emit and parse allocated {n} times");

    // Map rendering into caller buffers.
    let nodes = common::map_nodes(&engine);
    let mut text = common::FixedText::<32_768>::new();
    let mut config = vec![0u8; binary::config_len(&nodes)];
    let options = setpe::RenderOptions {
        comments: true,
        own_id: Some(engine.node_id()),
    };
    let ((lines, written), n) = allocations_during(|| {
        (
            setpe::render(&nodes, options, &mut text),
            binary::write_config(&nodes, &mut config),
        )
    });
    // 250 runs of peers, and this node.
    assert_eq!(lines, Ok(251));
    assert_eq!(written, Ok(config.len()));
    assert!(text.as_str().contains("# omdisc map"));
    assert_eq!(n, 0, "map rendering allocated {n} times");
}

#[test]
fn the_counter_sees_allocations() {
    // The check above can fail: an allocation is counted.
    let (v, n) = allocations_during(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(n >= 1);
}
