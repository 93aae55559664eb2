//! With a cluster key, smoltcp nodes sharing it see each other; a node with another key or
//! none never enters their maps (what an unkeyed node accepts is its own business).

mod support;

use omdisc_core::{ClusterKey, Keyring};
use smoltcp::time::Instant;
use support::{node, run_until, secs, settings_v4, Host, Hub};

fn keyring(hex: &str) -> Option<Keyring> {
    Some(Keyring::new(ClusterKey::from_hex(hex).unwrap()))
}

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

#[test]
fn only_nodes_with_the_cluster_key_enter_the_map() {
    let hub = Hub::new();
    let start = Instant::from_secs(0);
    let keys = [keyring(KEY), keyring(KEY), keyring(OTHER_KEY), None];
    let mut hosts: Vec<Host> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut settings = settings_v4([10, 77, 1, 11 + i as u8], i as u64 + 1);
            settings.keyring = key;
            let mut port = Hub::port(&hub);
            let node = node(settings, &mut port, start);
            Host::new(node, port, start)
        })
        .collect();
    run_until(&mut hosts, start, start + secs(5.0), |_| false);
    assert_eq!(hosts[0].member_ids(), [267, 268]);
    assert_eq!(hosts[1].member_ids(), [267, 268]);
    assert_eq!(hosts[2].member_ids(), [269]);
    assert!(hosts[0].node.engine().stats().rx_auth_failed > 0);
}
