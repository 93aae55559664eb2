//! Test support: an in-memory Ethernet hub for smoltcp devices, hand-made UDP frames, and
//! nodes driven over a simulated clock that jumps to the next deadline.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;

use omdisc_core::AddrList;
use omdisc_core::{
    Duration as CoreDuration, Event, IfaceId, Message, MessageKind, NodeAddr, NodeEntry, NodeId,
    MAX_DATAGRAM_LEN,
};
use omdisc_smoltcp::{Node, NodeStorage, Settings};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpCidr, IpProtocol,
    Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// A shared medium: every frame a port sends reaches every other port (a hub, or a bridge
/// without snooping). Every frame is also kept, for inspection.
#[derive(Default)]
pub struct Hub {
    inboxes: Vec<VecDeque<Vec<u8>>>,
    /// Every frame sent, with the sending port.
    pub log: Vec<(usize, Vec<u8>)>,
    /// Ports whose transmit is blocked (their frames are not taken).
    blocked: Vec<bool>,
}

/// A port on a [`Hub`]: a smoltcp Ethernet device.
#[derive(Clone)]
pub struct HubPort {
    hub: Rc<RefCell<Hub>>,
    index: usize,
}

impl Hub {
    /// A hub with no ports.
    pub fn new() -> Rc<RefCell<Hub>> {
        Rc::new(RefCell::new(Hub::default()))
    }

    /// Adds a port.
    pub fn port(hub: &Rc<RefCell<Hub>>) -> HubPort {
        let mut h = hub.borrow_mut();
        h.inboxes.push(VecDeque::new());
        h.blocked.push(false);
        HubPort {
            hub: hub.clone(),
            index: h.inboxes.len() - 1,
        }
    }
}

impl HubPort {
    /// Frames waiting for this port.
    pub fn pending(&self) -> usize {
        self.hub.borrow().inboxes[self.index].len()
    }

    /// Puts a frame in this port's inbox, as if another host had sent it.
    pub fn inject(&self, frame: Vec<u8>) {
        self.hub.borrow_mut().inboxes[self.index].push_back(frame);
    }

    /// Blocks or unblocks this port's transmit side.
    pub fn set_blocked(&self, blocked: bool) {
        self.hub.borrow_mut().blocked[self.index] = blocked;
    }

    /// Frames this port sent.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.hub
            .borrow()
            .log
            .iter()
            .filter(|(from, _)| *from == self.index)
            .map(|(_, f)| f.clone())
            .collect()
    }

    fn send(&self, frame: Vec<u8>) {
        let mut hub = self.hub.borrow_mut();
        for (i, inbox) in hub.inboxes.iter_mut().enumerate() {
            if i != self.index {
                inbox.push_back(frame.clone());
            }
        }
        hub.log.push((self.index, frame));
    }
}

pub struct RxToken(Vec<u8>);
pub struct TxToken(HubPort);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.send(frame);
        result
    }
}

impl Device for HubPort {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken)> {
        let frame = self.hub.borrow_mut().inboxes[self.index].pop_front()?;
        Some((RxToken(frame), TxToken(self.clone())))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken> {
        if self.hub.borrow().blocked[self.index] {
            return None;
        }
        Some(TxToken(self.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// The node type of the tests: a 256-entry table on the heap.
pub type TestNode = Node<'static, Vec<NodeEntry>>;

/// A fresh, leaked (so `'static`) storage with `RX` receive and `TX` send slots.
pub fn storage<const RX: usize, const TX: usize>() -> &'static mut NodeStorage<'static, RX, TX> {
    Box::leak(Box::new(NodeStorage::new()))
}

/// An empty 256-node table.
pub fn table() -> Vec<NodeEntry> {
    vec![NodeEntry::VACANT; 256]
}

/// A locally administered MAC derived from the last IPv4 octets.
pub fn mac_for(ip: [u8; 4]) -> EthernetAddress {
    EthernetAddress([0x02, 0x6f, 0x6d, ip[1], ip[2], ip[3]])
}

/// Settings for `ip/24` with a 1 s interval and the defaults otherwise.
pub fn settings_v4(ip: [u8; 4], seed: u64) -> Settings {
    let cidr = IpCidr::Ipv4(Ipv4Cidr::new(ip.into(), 24));
    Settings::new(mac_for(ip), cidr, 1_000 + seed, seed).unwrap()
}

/// A node on `port` with `settings`, created at `now`.
pub fn node(settings: Settings, port: &mut HubPort, now: Instant) -> TestNode {
    Node::new(settings, port, now, storage::<4, 4>(), table()).unwrap()
}

/// A node with its device and what it has reported.
pub struct Host {
    pub node: TestNode,
    pub port: HubPort,
    pub events: Vec<(Instant, Event)>,
    pub next: Option<Instant>,
    /// Whether it is still driven (a crashed host is not).
    pub running: bool,
}

impl Host {
    pub fn new(node: TestNode, port: HubPort, now: Instant) -> Host {
        Host {
            node,
            port,
            events: Vec::new(),
            next: Some(now),
            running: true,
        }
    }

    /// Polls at `now` and collects events.
    pub fn poll(&mut self, now: Instant) {
        let delay = self.node.poll(now, &mut self.port);
        self.next = delay.map(|d| now + d);
        while let Some(event) = self.node.poll_event() {
            self.events.push((now, event));
        }
    }

    /// Member ids, sorted.
    pub fn member_ids(&self) -> Vec<u16> {
        self.node.engine().members().map(|e| e.id().get()).collect()
    }
}

/// Drives `hosts` until `done` holds or simulated time reaches `until`; returns the time
/// `done` first held, or `None`. Time jumps to the earliest deadline, or stays put while
/// frames are waiting.
pub fn run_until(
    hosts: &mut [Host],
    mut now: Instant,
    until: Instant,
    mut done: impl FnMut(&[Host]) -> bool,
) -> Option<Instant> {
    for _ in 0..100_000 {
        for host in hosts.iter_mut().filter(|h| h.running) {
            if host.next.is_some_and(|t| t <= now) || host.port.pending() > 0 {
                host.poll(now);
            }
        }
        if done(hosts) {
            return Some(now);
        }
        let frames_waiting = hosts.iter().any(|h| h.running && h.port.pending() > 0);
        if frames_waiting {
            continue;
        }
        let next = hosts
            .iter()
            .filter(|h| h.running)
            .filter_map(|h| h.next)
            .min()?;
        now = next.max(now);
        if now > until {
            return None;
        }
    }
    panic!("simulation did not settle in 100 000 steps");
}

/// An announcement of node `origin` at `ip` (join flag set), unauthenticated.
pub fn announcement(origin: u16, ip: IpAddr, incarnation: u64) -> Vec<u8> {
    let mut addrs = AddrList::new();
    addrs.push(NodeAddr::primary(ip, IfaceId::FIRST)).unwrap();
    let message = Message {
        kind: MessageKind::Announce,
        join: true,
        unicast: false,
        gateway: false,
        hops: 0,
        relayer: None,
        origin: NodeId::new(origin).unwrap(),
        incarnation,
        sequence: 1,
        interval: CoreDuration::from_secs(1),
        addrs,
    };
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let len = message.emit(&mut buf, None).unwrap();
    buf[..len].to_vec()
}

/// An Ethernet frame carrying `payload` in UDP from `src` (port 7477) to `group`:`port`.
pub fn udp_frame(src: IpAddr, group: IpAddress, port: u16, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: 7477,
        dst_port: port,
    };
    let udp_len = 8 + payload.len();
    let src_mac = EthernetAddress([0x02, 0, 0, 0, 0x99, 0x99]);
    let caps = ChecksumCapabilities::default();
    match (src, group) {
        (IpAddr::V4(src), IpAddress::Ipv4(dst)) => {
            let mut frame = vec![0u8; 14 + 20 + udp_len];
            let [_, b, c, d] = dst.octets();
            EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress([0x01, 0, 0x5e, b & 0x7f, c, d]),
                ethertype: EthernetProtocol::Ipv4,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
            let ip = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Udp,
                payload_len: udp_len,
                hop_limit: 1,
            };
            let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
            ip.emit(&mut packet, &caps);
            udp.emit(
                &mut UdpPacket::new_unchecked(packet.payload_mut()),
                &IpAddress::Ipv4(src),
                &IpAddress::Ipv4(dst),
                payload.len(),
                |buf| buf.copy_from_slice(payload),
                &caps,
            );
            frame
        }
        (IpAddr::V6(src), IpAddress::Ipv6(dst)) => {
            use smoltcp::wire::{Ipv6Packet, Ipv6Repr};
            let mut frame = vec![0u8; 14 + 40 + udp_len];
            let o = dst.octets();
            EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]]),
                ethertype: EthernetProtocol::Ipv6,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
            let ip = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Udp,
                payload_len: udp_len,
                hop_limit: 1,
            };
            let mut packet = Ipv6Packet::new_unchecked(&mut frame[14..]);
            ip.emit(&mut packet);
            udp.emit(
                &mut UdpPacket::new_unchecked(packet.payload_mut()),
                &IpAddress::Ipv6(src),
                &IpAddress::Ipv6(dst),
                payload.len(),
                |buf| buf.copy_from_slice(payload),
                &caps,
            );
            frame
        }
        _ => panic!("source {src} and group {group} are of different families"),
    }
}

/// The UDP payloads to `port` among `frames` (IPv4 only).
pub fn udp_payloads(frames: &[Vec<u8>], port: u16) -> Vec<Vec<u8>> {
    udp_datagrams(frames, port)
        .into_iter()
        .map(|(_, payload)| payload)
        .collect()
}

/// `secs` seconds as smoltcp's duration.
pub fn secs(secs: f64) -> Duration {
    Duration::from_micros((secs * 1e6) as u64)
}

/// The UDP datagrams to `port` among `frames` (IPv4 only), with their destination address.
pub fn udp_datagrams(frames: &[Vec<u8>], port: u16) -> Vec<(Ipv4Address, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            if eth.ethertype() != EthernetProtocol::Ipv4 {
                return None;
            }
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if ip.next_header() != IpProtocol::Udp {
                return None;
            }
            let udp = UdpPacket::new_checked(ip.payload()).ok()?;
            (udp.dst_port() == port).then(|| (ip.dst_addr(), udp.payload().to_vec()))
        })
        .collect()
}

/// The targets of the ARP requests among `frames`.
pub fn arp_requests(frames: &[Vec<u8>]) -> Vec<Ipv4Address> {
    use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr};
    frames
        .iter()
        .filter_map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            if eth.ethertype() != EthernetProtocol::Arp {
                return None;
            }
            match ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()? {
                ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    target_protocol_addr,
                    ..
                } => Some(target_protocol_addr),
                _ => None,
            }
        })
        .collect()
}
