//! A burst of announcements larger than the socket's receive queue loses nothing: the node
//! hands each frame's datagram to the engine before it takes in the next frame.

mod support;

use std::net::{IpAddr, Ipv4Addr};

use omdisc_smoltcp::{Node, DEFAULT_GROUP, DEFAULT_INGRESS_BUDGET, DEFAULT_PORT};
use smoltcp::time::{Duration, Instant};
use support::{announcement, settings_v4, storage, table, udp_frame, Hub};

const BURST: usize = 200;

#[test]
fn a_200_datagram_burst_fits_through_a_two_slot_queue() {
    let hub = Hub::new();
    let mut port = Hub::port(&hub);
    let now = Instant::from_secs(1);
    let mut node = Node::new(
        settings_v4([10, 77, 1, 50], 9),
        &mut port,
        now,
        storage::<2, 2>(),
        table(),
    )
    .unwrap();

    for i in 0..BURST {
        let ip = Ipv4Addr::new(10, 77, 2 + (i / 200) as u8, 1 + (i % 200) as u8);
        let id = u16::from_be_bytes([ip.octets()[2], ip.octets()[3]]);
        let datagram = announcement(id, IpAddr::V4(ip), 7);
        port.inject(udp_frame(
            IpAddr::V4(ip),
            DEFAULT_GROUP,
            DEFAULT_PORT,
            &datagram,
        ));
    }

    // Each poll takes in at most the ingress budget and asks to be called again at once
    // while frames are left.
    let mut polls = 0;
    loop {
        let delay = node.poll(now, &mut port);
        polls += 1;
        if port.pending() == 0 {
            break;
        }
        assert_eq!(
            delay,
            Some(Duration::ZERO),
            "frames left but poll may sleep"
        );
        assert!(polls < 100);
    }
    assert_eq!(polls, BURST.div_ceil(DEFAULT_INGRESS_BUDGET));
    assert_eq!(node.counters().rx_datagrams, BURST as u64);
    assert_eq!(node.engine().stats().rx_accepted, BURST as u64);
    assert_eq!(node.engine().members().count(), BURST + 1);
}
