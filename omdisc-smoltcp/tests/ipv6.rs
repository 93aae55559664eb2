//! Two nodes on an IPv6 group (MLD join) discover each other.
#![cfg(feature = "ipv6")]

mod support;

use omdisc_smoltcp::Settings;
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpCidr, IpProtocol, Ipv6Address, Ipv6Cidr,
    Ipv6Packet,
};
use support::{mac_for, node, run_until, secs, Host, Hub};

#[test]
fn two_nodes_on_an_ipv6_group_discover_each_other() {
    let hub = Hub::new();
    let start = Instant::from_secs(0);
    let mut hosts: Vec<Host> = [0x11u16, 0x12]
        .into_iter()
        .map(|last| {
            let ip = Ipv6Address::new(0xfd00, 0x77, 0, 0, 0, 0, 0, last);
            let cidr = IpCidr::Ipv6(Ipv6Cidr::new(ip, 64));
            let mut settings =
                Settings::new(mac_for([0, 0, 0, last as u8]), cidr, 1, u64::from(last)).unwrap();
            settings.group = IpAddress::Ipv6(Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x4d));
            let mut port = Hub::port(&hub);
            let node = node(settings, &mut port, start);
            Host::new(node, port, start)
        })
        .collect();
    let converged = run_until(&mut hosts, start, start + secs(5.0), |h| {
        h.iter().all(|h| h.member_ids() == [0x11, 0x12])
    })
    .expect("the IPv6 nodes never listed each other");
    assert!(converged - start < secs(0.5));

    // The join went out as an MLD report (ICMPv6 behind a hop-by-hop header).
    let mld = hosts[0].port.sent().iter().any(|f| {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        eth.ethertype() == EthernetProtocol::Ipv6
            && Ipv6Packet::new_checked(eth.payload())
                .unwrap()
                .next_header()
                == IpProtocol::HopByHop
    });
    assert!(mld, "no MLD report sent");
}
