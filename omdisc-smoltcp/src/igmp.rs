//! Repeated IGMPv2 membership reports for the node's IPv4 group.
//!
//! smoltcp reports a group once, when it joins. A snooping bridge that misses that one frame
//! (a port still learning, a switch that came up later) keeps the group's traffic from the
//! node until a querier asks, which on a small segment may be never. Linux repeats its
//! unsolicited report; so does the node: [`ReportSchedule`] sends a few more, spaced apart,
//! straight through the device.

use smoltcp::phy::{ChecksumCapabilities, Device, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IgmpPacket, IgmpRepr,
    IgmpVersion, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
};

/// Ethernet header, IPv4 header without options, IGMPv2 message.
pub(crate) const REPORT_FRAME_LEN: usize = 14 + 20 + 8;

/// The Ethernet address an IPv4 group is sent to (RFC 1112 §6.4: its low 23 bits), e.g. to
/// open a NIC's multicast filter for it.
pub fn group_mac(group: Ipv4Address) -> EthernetAddress {
    let [_, b, c, d] = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, b & 0x7f, c, d])
}

/// Writes a report for `group` from `mac`/`source` into `frame` ([`REPORT_FRAME_LEN`]
/// bytes; smoltcp's emitters fill exactly that).
fn emit_report(frame: &mut [u8], mac: EthernetAddress, source: Ipv4Address, group: Ipv4Address) {
    let igmp = IgmpRepr::MembershipReport {
        group_addr: group,
        version: IgmpVersion::Version2,
    };
    let ip = Ipv4Repr {
        src_addr: source,
        dst_addr: group,
        next_header: IpProtocol::Igmp,
        payload_len: igmp.buffer_len(),
        hop_limit: 1,
    };
    let ethernet = EthernetRepr {
        src_addr: mac,
        dst_addr: group_mac(group),
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut eth_frame = EthernetFrame::new_unchecked(frame);
    ethernet.emit(&mut eth_frame);
    let mut ip_packet = Ipv4Packet::new_unchecked(eth_frame.payload_mut());
    ip.emit(&mut ip_packet, &ChecksumCapabilities::default());
    igmp.emit(&mut IgmpPacket::new_unchecked(ip_packet.payload_mut()));
}

/// The extra reports still to send and when the next one is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportSchedule {
    remaining: u8,
    next: Instant,
    spacing: Duration,
}

impl ReportSchedule {
    /// `count` reports, the first one `spacing` after `now`.
    pub(crate) fn new(now: Instant, count: u8, spacing: Duration) -> Self {
        ReportSchedule {
            remaining: count,
            next: now + spacing,
            spacing,
        }
    }

    /// When the next report is due; `None` once all were sent.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        (self.remaining > 0).then_some(self.next)
    }

    /// Sends the next report through `device` if it is due and the device has room.
    /// Returns whether one was sent.
    pub(crate) fn poll<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        mac: EthernetAddress,
        source: Ipv4Address,
        group: Ipv4Address,
    ) -> bool {
        if self.remaining == 0 || now < self.next {
            return false;
        }
        let Some(token) = device.transmit(now) else {
            return false;
        };
        token.consume(REPORT_FRAME_LEN, |frame| {
            emit_report(frame, mac, source, group)
        });
        self.remaining -= 1;
        self.next = now + self.spacing;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_device::MemoryDevice;

    #[test]
    fn report_frame_parses_back_as_an_igmpv2_report() {
        let mut frame = [0u8; REPORT_FRAME_LEN];
        let mac = EthernetAddress([0x02, 0x6f, 0x6d, 0x01, 0x02, 0x03]);
        let source = Ipv4Address::new(10, 77, 1, 50);
        let group = Ipv4Address::new(239, 255, 77, 77);
        emit_report(&mut frame, mac, source, group);

        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress([1, 0, 0x5e, 0x7f, 77, 77]));
        assert_eq!(eth.src_addr(), mac);
        assert_eq!(eth.ethertype(), EthernetProtocol::Ipv4);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), source);
        assert_eq!(ip.dst_addr(), group);
        assert_eq!(ip.hop_limit(), 1);
        assert_eq!(ip.next_header(), IpProtocol::Igmp);
        let igmp = IgmpPacket::new_checked(ip.payload()).unwrap();
        assert!(igmp.verify_checksum());
        assert_eq!(
            IgmpRepr::parse(&igmp).unwrap(),
            IgmpRepr::MembershipReport {
                group_addr: group,
                version: IgmpVersion::Version2
            }
        );
    }

    #[test]
    fn group_mac_keeps_the_low_23_bits() {
        assert_eq!(
            group_mac(Ipv4Address::new(239, 129, 2, 3)),
            EthernetAddress([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03])
        );
    }

    #[test]
    fn schedule_counts_down_and_spaces_reports() {
        let spacing = Duration::from_millis(500);
        let mut schedule = ReportSchedule::new(Instant::from_millis(0), 2, spacing);
        assert_eq!(schedule.deadline(), Some(Instant::from_millis(500)));
        let mut device = MemoryDevice::new();
        device.tx_room = 0;
        let (mac, src, group) = (
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            Ipv4Address::new(10, 0, 0, 1),
            Ipv4Address::new(239, 1, 1, 1),
        );
        // Not due yet, then due but the device is full: nothing is counted.
        assert!(!schedule.poll(Instant::from_millis(499), &mut device, mac, src, group));
        assert!(!schedule.poll(Instant::from_millis(500), &mut device, mac, src, group));
        assert_eq!(schedule.deadline(), Some(Instant::from_millis(500)));
        device.tx_room = usize::MAX;
        assert!(schedule.poll(Instant::from_millis(600), &mut device, mac, src, group));
        assert_eq!(schedule.deadline(), Some(Instant::from_millis(1100)));
        assert!(!schedule.poll(Instant::from_millis(1099), &mut device, mac, src, group));
        assert!(schedule.poll(Instant::from_millis(1100), &mut device, mac, src, group));
        assert_eq!(schedule.deadline(), None);
        assert!(!schedule.poll(Instant::from_millis(9999), &mut device, mac, src, group));
        assert_eq!(device.sent.len(), 2);
        assert!(device.sent.iter().all(|f| f.len() == REPORT_FRAME_LEN));
    }
}
