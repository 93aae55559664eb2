//! A boot image's node ([`BootNode`]) from boot arguments: two of them on one segment list
//! each other, and each writes its map between the marker lines after the change.

mod support;

use std::mem::MaybeUninit;

use omdisc_core::NodeEntry;
use omdisc_smoltcp::boot::{cluster_keys, BootConfig, BootNode, TextMap, MAP_END, MAP_START};
use smoltcp::time::{Duration, Instant};
use support::{mac_for, storage, Hub, HubPort};

const DEFAULTS: &str = "group=239.255.77.77 port=7477 interval=0.5 dead_after=3";

fn boot_node(args: &str, port: &mut HubPort) -> BootNode<'static, 64> {
    let config = BootConfig::parse(DEFAULTS, args).unwrap();
    let keys = cluster_keys(DEFAULTS, args).unwrap();
    let mac = mac_for(config.address.address().octets());
    let settings = config.settings(mac, keys, 1000, 7).unwrap();
    let table = Box::leak(Box::new([NodeEntry::VACANT; 64]));
    let slot = Box::leak(Box::new(MaybeUninit::uninit()));
    BootNode::setup(
        slot,
        settings,
        port,
        Instant::ZERO,
        storage::<4, 4>(),
        table,
    )
    .unwrap()
}

#[test]
fn two_boot_nodes_list_each_other_and_write_the_map() {
    let hub = Hub::new();
    let (mut port_a, mut port_b) = (Hub::port(&hub), Hub::port(&hub));
    let mut a = boot_node("ip=10.77.1.11/24", &mut port_a);
    let mut b = boot_node("ip=10.77.1.12/24", &mut port_b);
    let mut maps_of_a: Vec<Vec<String>> = Vec::new();
    let mut now = Instant::ZERO;
    let max_sleep = Duration::from_secs(1);
    while now < Instant::from_millis(600) {
        let mut lines = Vec::new();
        let mut map = TextMap(|l: &str| lines.push(l.to_string()));
        let delay = a.step(|| now, &mut port_a, max_sleep, &mut map);
        assert!(delay <= max_sleep);
        if !lines.is_empty() {
            maps_of_a.push(lines);
        }
        let _ = b.step(|| now, &mut port_b, max_sleep, &mut TextMap(|_: &str| {}));
        now += Duration::from_millis(10);
    }
    let ids = |n: &BootNode<'static, 64>| -> Vec<u16> {
        n.node().engine().members().map(|e| e.id().get()).collect()
    };
    assert_eq!(ids(&a), [267, 268]);
    assert_eq!(ids(&b), [267, 268]);
    let last = maps_of_a.last().expect("a wrote its map");
    assert_eq!(
        last.first().map(String::as_str),
        Some("=== map: 2 members ===")
    );
    assert!(last[0].starts_with(MAP_START));
    assert_eq!(last.last().map(String::as_str), Some(MAP_END));
    assert!(last.iter().any(|l| l == "267 10.77.1.11 2"), "{last:?}");
}

#[test]
fn a_boot_node_with_a_key_ignores_one_without() {
    let hub = Hub::new();
    let (mut port_a, mut port_b) = (Hub::port(&hub), Hub::port(&hub));
    let key = "key=00112233445566778899aabbccddeeff";
    let mut a = boot_node(&format!("ip=10.77.1.11/24 {key}"), &mut port_a);
    let mut b = boot_node("ip=10.77.1.12/24", &mut port_b);
    let mut now = Instant::ZERO;
    while now < Instant::from_secs(2) {
        let _ = a.step(
            || now,
            &mut port_a,
            Duration::from_secs(1),
            &mut TextMap(|_: &str| {}),
        );
        let _ = b.step(
            || now,
            &mut port_b,
            Duration::from_secs(1),
            &mut TextMap(|_: &str| {}),
        );
        now += Duration::from_millis(10);
    }
    let members: Vec<u16> = a.node().engine().members().map(|e| e.id().get()).collect();
    assert_eq!(members, [267]);
    assert!(a.node().counters().rx_datagrams > 0, "datagrams did arrive");
}
