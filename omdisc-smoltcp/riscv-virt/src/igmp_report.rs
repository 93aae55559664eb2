//! Repeated IGMPv2 membership reports.
//!
//! smoltcp reports a joined group once, when it joins. A snooping bridge that
//! misses that single frame (a port still in learning state, a switch that
//! came up later) keeps the group's traffic away from us until a querier
//! asks, which may be never on a small segment. Like Linux (which sends an
//! unsolicited report two or three times), the node repeats the report a few
//! times; this module builds that frame and hands it to any
//! `smoltcp::phy::Device`.

use smoltcp::phy::{ChecksumCapabilities, Device, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IgmpPacket, IgmpRepr,
    IgmpVersion, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
};

const ETHERNET_HEADER_LEN: usize = 14;
const IPV4_HEADER_LEN: usize = 20;
const IGMP_LEN: usize = 8;

/// Length of a report frame: Ethernet, IPv4 without options, IGMPv2.
pub const REPORT_FRAME_LEN: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + IGMP_LEN;

/// The Ethernet multicast address an IPv4 group maps to (RFC 1112 §6.4).
pub fn group_mac(group: Ipv4Address) -> EthernetAddress {
    let [_, b, c, d] = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, b & 0x7f, c, d])
}

/// Writes an IGMPv2 membership report for `group` from `source`/`mac` into
/// `frame`, which must be [`REPORT_FRAME_LEN`] bytes long.
pub fn emit_report(
    frame: &mut [u8],
    mac: EthernetAddress,
    source: Ipv4Address,
    group: Ipv4Address,
) {
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
    let mut eth_frame = EthernetFrame::new_unchecked(&mut *frame);
    ethernet.emit(&mut eth_frame);
    let mut ip_packet = Ipv4Packet::new_unchecked(eth_frame.payload_mut());
    ip.emit(&mut ip_packet, &ChecksumCapabilities::default());
    igmp.emit(&mut IgmpPacket::new_unchecked(ip_packet.payload_mut()));
}

/// Sends one report through `device`; `false` when the device has no room
/// to transmit right now (try again on the next poll).
pub fn send_report<D: Device + ?Sized>(
    device: &mut D,
    now: Instant,
    mac: EthernetAddress,
    source: Ipv4Address,
    group: Ipv4Address,
) -> bool {
    match device.transmit(now) {
        Some(token) => {
            token.consume(REPORT_FRAME_LEN, |frame| {
                emit_report(frame, mac, source, group)
            });
            true
        }
        None => false,
    }
}

/// When to repeat the report: `count` times after the join, `spacing` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSchedule {
    remaining: u8,
    next: Instant,
    spacing: smoltcp::time::Duration,
}

impl ReportSchedule {
    /// `count` reports, the first at `start`, then every `spacing`.
    pub fn new(start: Instant, count: u8, spacing: smoltcp::time::Duration) -> Self {
        Self {
            remaining: count,
            next: start,
            spacing,
        }
    }

    /// When the next report is due, or `None` once all were sent.
    pub fn deadline(&self) -> Option<Instant> {
        (self.remaining > 0).then_some(self.next)
    }

    /// Sends the report if it is due; returns whether one was sent.
    pub fn poll<D: Device + ?Sized>(
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
        if !send_report(device, now, mac, source, group) {
            return false;
        }
        self.remaining -= 1;
        self.next = now + self.spacing;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_frame_matches_a_linux_igmpv2_report() {
        let mut frame = [0u8; REPORT_FRAME_LEN];
        emit_report(
            &mut frame,
            EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            Ipv4Address::new(10, 77, 1, 60),
            Ipv4Address::new(239, 255, 77, 77),
        );
        let expected: [u8; REPORT_FRAME_LEN] = [
            // Ethernet: 01:00:5e:7f:4d:4d <- 52:54:00:12:34:56, IPv4
            0x01, 0x00, 0x5e, 0x7f, 0x4d, 0x4d, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
            // IPv4: 20-byte header, total 28, TTL 1, protocol 2 (IGMP)
            0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0x00, 0x00, 10, 77, 1, 60,
            239, 255, 77, 77, // IGMPv2 membership report (0x16), group 239.255.77.77
            0x16, 0x00, 0x00, 0x00, 239, 255, 77, 77,
        ];
        // Checksums are checked by parsing, not by literal bytes.
        let mut without_checksums = frame;
        without_checksums[24..26].fill(0);
        without_checksums[36..38].fill(0);
        assert_eq!(without_checksums, expected);
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        let igmp = IgmpPacket::new_checked(ip.payload()).unwrap();
        assert!(igmp.verify_checksum());
    }

    #[test]
    fn group_mac_keeps_the_low_23_bits() {
        assert_eq!(
            group_mac(Ipv4Address::new(239, 129, 2, 3)),
            EthernetAddress([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03])
        );
    }
}
