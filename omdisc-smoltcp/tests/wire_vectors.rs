//! The shared wire test vectors, sent as UDP frames through a node's smoltcp receive path:
//! valid ones reach the engine and change its table as they say, invalid ones are refused
//! without changing anything.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use omdisc_core::testing::vectors::{self, Expected, Vector, WIRE_VECTORS};
use omdisc_core::{Keyring, MessageKind};
use omdisc_smoltcp::{Node, Settings, DEFAULT_PORT};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Cidr, Ipv6Cidr};
use support::{mac_for, storage, table, udp_frame, Hub};

/// The receiving node: id 65534, in no vector.
const NODE_V4: Ipv4Addr = Ipv4Addr::new(10, 250, 255, 254);
const NODE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xfe, 0, 0, 0, 0, 0, 0xfffe);
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x4d);
/// Source of datagrams whose addresses say nothing (errors, relayed messages).
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 9);

/// The address a vector's datagram comes from: its first address when sent directly (the
/// engine refuses spoofed sources), else any host.
fn source_of(vector: &Vector<'_>) -> IpAddr {
    match &vector.expected {
        Expected::Message(m) if m.hops == 0 => m.addrs.first().map_or(OTHER_V4.into(), |a| a.ip),
        Expected::Message(m) => match m.addrs.first().map(|a| a.ip) {
            Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::new(0xfd00, 0xfe, 0, 0, 0, 0, 0, 9)),
            _ => OTHER_V4.into(),
        },
        Expected::Error(_) => OTHER_V4.into(),
    }
}

#[test]
fn every_shared_vector_is_accepted_or_refused_through_smoltcp() {
    let mut checked = 0;
    for vector in vectors::parse(WIRE_VECTORS) {
        let vector = vector.unwrap_or_else(|e| panic!("{e}"));
        let source = source_of(&vector);
        let (cidr, group) = match source {
            IpAddr::V4(_) => (
                IpCidr::Ipv4(Ipv4Cidr::new(NODE_V4, 8)),
                IpAddress::Ipv4(GROUP_V4),
            ),
            IpAddr::V6(_) => (
                IpCidr::Ipv6(Ipv6Cidr::new(NODE_V6, 16)),
                IpAddress::Ipv6(GROUP_V6),
            ),
        };
        let mut settings = Settings::new(mac_for([10, 250, 255, 254]), cidr, 1, 1).unwrap();
        settings.group = group;
        settings.keyring = vector.key.clone().map(Keyring::new);
        let hub = Hub::new();
        let mut port = Hub::port(&hub);
        let now = Instant::from_secs(10);
        let mut node = Node::new(settings, &mut port, now, storage::<4, 4>(), table()).unwrap();
        let _ = node.poll(now, &mut port);
        port.inject(udp_frame(source, group, DEFAULT_PORT, &vector.bytes));
        let _ = node.poll(now, &mut port);

        let stats = node.engine().stats();
        assert_eq!(node.counters().rx_datagrams, 1, "vector {}", vector.name);
        assert_eq!(stats.rx_datagrams, 1, "vector {}", vector.name);
        // Every way of being refused (a forged datagram from an unclaimed source address is
        // refused as spoofed before its MAC is checked).
        let refused = stats.rx_malformed
            + stats.rx_auth_failed
            + stats.rx_spoofed
            + stats.rx_stale
            + stats.rx_hop_limit;
        match &vector.expected {
            Expected::Error(name) => {
                assert_eq!(
                    refused, 1,
                    "vector {} ({name}) was not refused",
                    vector.name
                );
                assert_eq!(node.engine().members().count(), 1, "vector {}", vector.name);
            }
            Expected::Message(message) => {
                assert_eq!(refused, 0, "vector {} was refused", vector.name);
                assert_eq!(stats.rx_spoofed, 0, "vector {}", vector.name);
                if message.kind == MessageKind::Announce {
                    let entry = node
                        .engine()
                        .members()
                        .find(|e| e.id() == message.origin)
                        .unwrap_or_else(|| panic!("vector {}: node not in the map", vector.name));
                    assert_eq!(entry.addrs(), &message.addrs[..], "vector {}", vector.name);
                    assert_eq!(entry.incarnation(), message.incarnation);
                    assert_eq!(entry.via(), message.relayer, "vector {}", vector.name);
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} vectors");
}
