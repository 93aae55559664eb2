//! `Node::new` refuses what cannot work, with an error that says why.

mod support;

use omdisc_smoltcp::{Node, SetupError};
use smoltcp::phy::{Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};
use support::{settings_v4, storage, table, Hub, HubPort};

fn setup(settings: omdisc_smoltcp::Settings, device: &mut impl Device) -> SetupError {
    match Node::new(settings, device, Instant::ZERO, storage::<1, 1>(), table()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn a_unicast_group_is_refused() {
    let mut port = Hub::port(&Hub::new());
    let mut settings = settings_v4([10, 0, 0, 1], 1);
    settings.group = IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2));
    let error = setup(settings, &mut port);
    assert!(matches!(error, SetupError::NotMulticast(_)));
    assert_eq!(
        error.to_string(),
        "group 10.0.0.2 is not a multicast address"
    );
}

#[test]
fn an_ipv6_group_needs_an_ipv6_address() {
    let mut port = Hub::port(&Hub::new());
    let mut settings = settings_v4([10, 0, 0, 1], 1);
    settings.group = IpAddress::Ipv6(Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x4d));
    assert!(matches!(
        setup(settings, &mut port),
        SetupError::NoAddressForGroup(_)
    ));
}

#[test]
fn a_zero_interval_is_refused_by_the_engine() {
    let mut port = Hub::port(&Hub::new());
    let mut settings = settings_v4([10, 0, 0, 1], 1);
    settings.engine.interval = omdisc_core::Duration::ZERO;
    assert!(matches!(setup(settings, &mut port), SetupError::Engine(_)));
}

/// A hub port that reports a tiny MTU.
struct TinyMtu(HubPort);

impl Device for TinyMtu {
    type RxToken<'a> = <HubPort as Device>::RxToken<'a>;
    type TxToken<'a> = <HubPort as Device>::TxToken<'a>;
    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.0.receive(now)
    }
    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.0.transmit(now)
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.0.capabilities();
        caps.max_transmission_unit = 100;
        caps
    }
}

#[test]
fn an_mtu_too_small_for_the_largest_announcement_is_refused() {
    let mut device = TinyMtu(Hub::port(&Hub::new()));
    let error = setup(settings_v4([10, 0, 0, 1], 1), &mut device);
    assert!(
        matches!(error, SetupError::MtuTooSmall { mtu: 100, .. }),
        "{error}"
    );
}
