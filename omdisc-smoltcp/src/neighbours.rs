//! Neighbours learned from the cluster's own traffic (feature `probes`): every member's
//! announcements reach the node, and each names its sender's Ethernet and IPv4 addresses.
//!
//! smoltcp fills its neighbour cache from ARP only, and asks for one unknown neighbour a
//! second at most (for all of them together); its entries last 60 s. A node that probes
//! members in turn would otherwise wait seconds for ARP at start and every minute after,
//! and a PING that waits misses its 200 ms probe timeout: live members would be suspected.
//! So [`Learner`] notes the sender of each received omdisc datagram (UDP to the cluster
//! port, IPv4), and the node hands smoltcp an ARP reply from it ([`arp_reply`]) right after
//! that frame. smoltcp takes it like any ARP packet aimed at the node: only for a sender on
//! the node's own network (one behind a router is left to ARP), no more trusted than any
//! ARP on the link.

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet, UdpPacket,
};

/// Length of the ARP frame handed to smoltcp (Ethernet header and ARP for IPv4).
pub(crate) const ARP_FRAME_LEN: usize = 14 + 28;

/// The sender of an omdisc datagram: its Ethernet and IPv4 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Neighbour {
    mac: EthernetAddress,
    ip: Ipv4Address,
}

/// The caller's device, seen through by the node: frames pass unchanged, and the sender
/// of the last omdisc datagram received is noted in `seen`.
pub(crate) struct Learner<'a, D: ?Sized> {
    pub(crate) device: &'a mut D,
    pub(crate) port: u16,
    pub(crate) seen: &'a mut Option<Neighbour>,
}

/// A received frame's token that notes its sender before smoltcp reads it.
pub(crate) struct LearnerRx<'a, T> {
    inner: T,
    port: u16,
    seen: &'a mut Option<Neighbour>,
}

impl<T: phy::RxToken> phy::RxToken for LearnerRx<'_, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let LearnerRx { inner, port, seen } = self;
        inner.consume(|frame| {
            if let Some(neighbour) = sender(frame, port) {
                *seen = Some(neighbour);
            }
            f(frame)
        })
    }
}

impl<D: Device + ?Sized> Device for Learner<'_, D> {
    type RxToken<'b>
        = LearnerRx<'b, D::RxToken<'b>>
    where
        Self: 'b;
    type TxToken<'b>
        = D::TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let port = self.port;
        let (rx, tx) = self.device.receive(timestamp)?;
        let rx = LearnerRx {
            inner: rx,
            port,
            seen: self.seen,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.device.capabilities()
    }
}

/// The sender of `frame` if it carries a UDP datagram to `port` over IPv4 from a unicast
/// Ethernet and IP address.
fn sender(frame: &[u8], port: u16) -> Option<Neighbour> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Ipv4 || !ethernet.src_addr().is_unicast() {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    let source = ip.src_addr();
    if ip.next_header() != IpProtocol::Udp
        || source.is_multicast()
        || source.is_broadcast()
        || source.is_unspecified()
    {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    (udp.dst_port() == port).then_some(Neighbour {
        mac: ethernet.src_addr(),
        ip: source,
    })
}

/// An ARP reply from `neighbour` to this node (`mac`, `ip`), as a frame.
pub(crate) fn arp_reply(
    neighbour: Neighbour,
    mac: EthernetAddress,
    ip: Ipv4Address,
) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0; ARP_FRAME_LEN];
    let mut ethernet = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: neighbour.mac,
        dst_addr: mac,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut ethernet);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: neighbour.mac,
        source_protocol_addr: neighbour.ip,
        target_hardware_addr: mac,
        target_protocol_addr: ip,
    }
    .emit(&mut ArpPacket::new_unchecked(ethernet.payload_mut()));
    frame
}

/// A device that has one ARP frame to receive and sends nothing (smoltcp answers no ARP
/// reply).
pub(crate) struct OneFrame {
    pub(crate) frame: Option<[u8; ARP_FRAME_LEN]>,
    /// The node's device's capabilities.
    pub(crate) caps: DeviceCapabilities,
}

/// The token of [`OneFrame`]'s frame.
pub(crate) struct FrameRx([u8; ARP_FRAME_LEN]);

/// A token that sends nothing.
pub(crate) struct NoTx;

impl phy::RxToken for FrameRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for NoTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // Never called: smoltcp sends nothing in answer to an ARP reply.
        let mut buffer = [0; ARP_FRAME_LEN];
        f(buffer.get_mut(..len).unwrap_or(&mut []))
    }
}

impl Device for OneFrame {
    type RxToken<'a> = FrameRx;
    type TxToken<'a> = NoTx;

    fn receive(&mut self, _: Instant) -> Option<(FrameRx, NoTx)> {
        self.frame.take().map(|frame| (FrameRx(frame), NoTx))
    }

    fn transmit(&mut self, _: Instant) -> Option<NoTx> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
