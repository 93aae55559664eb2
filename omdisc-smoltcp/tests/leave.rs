//! `Node::leave` is non-blocking: `WouldBlock` until the LEAVE datagram is on the wire,
//! then `Ok`, with an IGMP leave after it; the node stays quiet afterwards.

mod support;

use omdisc_core::{Message, MessageKind, Phase};
use omdisc_smoltcp::DEFAULT_PORT;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetFrame, IgmpPacket, IgmpRepr, IpProtocol, Ipv4Packet};
use support::{node, secs, settings_v4, udp_payloads, Hub};

fn igmp_messages(frames: &[Vec<u8>]) -> Vec<IgmpRepr> {
    frames
        .iter()
        .filter_map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            (ip.next_header() == IpProtocol::Igmp).then_some(())?;
            IgmpRepr::parse(&IgmpPacket::new_checked(ip.payload()).ok()?).ok()
        })
        .collect()
}

#[test]
fn leave_would_block_until_the_device_takes_the_leave_datagram() {
    let hub = Hub::new();
    let mut port = Hub::port(&hub);
    let start = Instant::from_secs(5);
    let mut node = node(settings_v4([10, 77, 1, 50], 1), &mut port, start);
    let _ = node.poll(start, &mut port);

    port.set_blocked(true);
    let later = start + secs(0.1);
    for _ in 0..3 {
        assert_eq!(node.leave(later, &mut port), Err(nb::Error::WouldBlock));
    }
    port.set_blocked(false);
    assert_eq!(node.leave(later, &mut port), Ok(()));
    assert_eq!(node.engine().phase(), Phase::Stopped);

    let payloads = udp_payloads(&port.sent(), DEFAULT_PORT);
    let last = Message::decode(payloads.last().unwrap(), None).unwrap();
    assert_eq!(last.kind, MessageKind::Leave);
    assert_eq!(last.origin, node.node_id());
    assert_eq!(
        payloads
            .iter()
            .filter(|p| Message::decode(p, None).unwrap().kind == MessageKind::Leave)
            .count(),
        1,
        "exactly one LEAVE"
    );
    assert!(matches!(
        igmp_messages(&port.sent()).last(),
        Some(IgmpRepr::LeaveGroup { .. })
    ));

    // Stopped: nothing more is sent, and nothing is scheduled by the engine.
    let sent = port.sent().len();
    let _ = node.poll(later + secs(10.0), &mut port);
    assert_eq!(port.sent().len(), sent);
    assert_eq!(node.leave(later + secs(11.0), &mut port), Ok(()));
}

#[test]
fn the_join_report_is_repeated_twice_half_a_second_apart() {
    let hub = Hub::new();
    let mut port = Hub::port(&hub);
    let start = Instant::from_secs(0);
    let mut node = node(settings_v4([10, 77, 1, 50], 1), &mut port, start);
    let mut now = start;
    for _ in 0..50 {
        let delay = node.poll(now, &mut port).unwrap();
        now += delay;
        if now > start + secs(3.0) {
            break;
        }
    }
    let reports: Vec<_> = igmp_messages(&port.sent())
        .into_iter()
        .filter(|m| matches!(m, IgmpRepr::MembershipReport { .. }))
        .collect();
    assert_eq!(
        reports.len(),
        3,
        "smoltcp's report and two repeats: {reports:?}"
    );
    assert_eq!(node.counters().igmp_reports, 2);
}
