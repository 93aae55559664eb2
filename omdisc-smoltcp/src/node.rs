//! [`Node`]: the omdisc engine over a smoltcp [`Interface`] and a UDP socket on the group
//! port (with feature `probes`, also the direct-datagram sockets of
//! [`crate::unicast`]), driven by [`Node::poll`] with any `smoltcp::phy::Device`.

use core::convert::Infallible;
use core::mem::MaybeUninit;
use core::net::{IpAddr, SocketAddr};

use omdisc_core::{
    Destination, Engine, Event, IfaceId, InterfaceSpec, Keyring, NodeId, Phase, Received, RxError,
    TableStorage, MAX_DATAGRAM_LEN,
};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{Device, Medium};
use smoltcp::socket::udp::{self, SendError};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpEndpoint};

use crate::error::SetupError;
use crate::igmp::ReportSchedule;
#[cfg(feature = "probes")]
use crate::neighbours::{arp_reply, Learner, Neighbour, OneFrame};
use crate::settings::Settings;
use crate::storage::NodeStorage;
use crate::time;
#[cfg(feature = "probes")]
use crate::unicast::UnicastSockets;
#[cfg(feature = "probes")]
use smoltcp::phy::DeviceCapabilities;

/// Ethernet header length.
const ETHERNET_HEADER_LEN: usize = 14;
/// UDP header length.
const UDP_HEADER_LEN: usize = 8;
/// Most `poll_egress` rounds in one call (each sends what is queued; a few always suffice).
const EGRESS_ROUNDS: usize = 16;

/// Relay-queue slots of a node's engine. A node has one interface and never relays: the
/// queue only holds the LEAVEs that answer replays of departed nodes until the same poll
/// sends them (more in one poll are counted in the engine's `relay_dropped`).
pub const NODE_RELAY_QUEUE: usize = 4;

/// The engine a [`Node`] runs: its relay queue is [`NODE_RELAY_QUEUE`] slots and its
/// duplicate cache (which only a gateway consults) one, about 6 KiB less than a gateway's.
pub type NodeEngine<S> = Engine<S, NODE_RELAY_QUEUE, 1>;

/// Counters of the smoltcp side (the engine keeps its own: [`Engine::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Frames taken in from the device.
    pub rx_frames: u64,
    /// Datagrams handed to the engine.
    pub rx_datagrams: u64,
    /// Datagrams the engine produced but the socket could not take (dropped, logged).
    pub tx_dropped: u64,
    /// Extra IGMP membership reports sent.
    pub igmp_reports: u64,
    /// Direct datagrams dropped because every direct-datagram socket was busy (feature
    /// `probes`).
    #[cfg(feature = "probes")]
    pub unicast_dropped: u64,
    /// Direct datagrams dropped after waiting
    /// [`Settings::unicast_wait`](crate::Settings::unicast_wait) for their next hop to
    /// answer ARP or neighbour solicitation, e.g. to a crashed member (feature `probes`).
    #[cfg(feature = "probes")]
    pub unicast_stuck: u64,
}

/// An omdisc node on a smoltcp interface.
///
/// `S` is the engine's node-table storage (e.g. `[NodeEntry; 256]`, or a boxed slice on a
/// host). The node owns the smoltcp [`Interface`] and its socket set; the device stays with
/// the caller and is lent to every call that moves frames.
pub struct Node<'a, S> {
    iface: Interface,
    sockets: SocketSet<'a>,
    udp: SocketHandle,
    #[cfg(feature = "probes")]
    unicast: UnicastSockets,
    engine: NodeEngine<S>,
    group: IpEndpoint,
    mac: EthernetAddress,
    reports: Option<ReportSchedule>,
    ingress_budget: usize,
    transmit_buffer: [u8; MAX_DATAGRAM_LEN],
    /// Length and destination of a datagram in `transmit_buffer` that the socket could not
    /// take yet.
    pending: Option<(usize, IpEndpoint)>,
    left_group: bool,
    counters: NodeCounters,
}

/// The smoltcp side of a node being set up (small: the engine travels apart).
struct Parts<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    udp: SocketHandle,
    #[cfg(feature = "probes")]
    unicast: UnicastSockets,
    reports: Option<ReportSchedule>,
}

impl<'a> Parts<'a> {
    /// The interface on `device` with the settings' addresses, joined to the group, and the
    /// UDP sockets bound to the group port (the group socket first: it receives).
    fn connect<D: Device + ?Sized, const RX: usize, const TX: usize>(
        settings: &Settings,
        device: &mut D,
        now: Instant,
        storage: &'a mut NodeStorage<'a, RX, TX>,
    ) -> Result<Self, SetupError> {
        let mut config = Config::new(HardwareAddress::Ethernet(settings.mac));
        config.random_seed = settings.random_seed;
        let mut iface = Interface::new(config, device, now);
        iface.update_ip_addrs(|addrs| {
            for cidr in &settings.addresses {
                // Same capacity as `settings.addresses`.
                let _ = addrs.push(*cidr);
            }
        });
        iface
            .join_multicast_group(settings.group)
            .map_err(SetupError::Join)?;

        let (mut sockets, mut socket, unicast) = storage.split();
        socket.set_hop_limit(Some(settings.multicast_ttl));
        socket.bind(settings.port).map_err(SetupError::Bind)?;
        let udp = sockets.add(socket);
        #[cfg(feature = "probes")]
        let unicast = UnicastSockets::add(&mut sockets, unicast, settings)?;
        #[cfg(not(feature = "probes"))]
        let _ = unicast;

        let reports = match settings.group {
            IpAddress::Ipv4(_) if settings.igmp_repeats > 0 => Some(ReportSchedule::new(
                now,
                settings.igmp_repeats,
                settings.igmp_spacing,
            )),
            _ => None,
        };
        Ok(Parts {
            iface,
            sockets,
            udp,
            #[cfg(feature = "probes")]
            unicast,
            reports,
        })
    }
}

impl<S> core::fmt::Debug for Node<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("group", &self.group)
            .field("mac", &self.mac)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<'a, S: TableStorage> Node<'a, S> {
    /// Sets up the interface on `device` with `settings`' addresses, binds the group port,
    /// joins the group (IGMP, or MLD for an IPv6 group) and starts the engine: the first
    /// announcement goes out on the first [`poll`](Self::poll).
    ///
    /// The node is returned by value, and its engine alone is several KiB (its relay queue
    /// and duplicate cache): where the stack is small, build it in its final place with
    /// [`new_in`](Self::new_in) instead.
    pub fn new<D: Device + ?Sized, const RX: usize, const TX: usize>(
        settings: Settings,
        device: &mut D,
        now: Instant,
        storage: &'a mut NodeStorage<'a, RX, TX>,
        table: S,
    ) -> Result<Self, SetupError> {
        let engine = Self::make_engine(&settings, device, table)?;
        let parts = Parts::connect(&settings, device, now, storage)?;
        let mut node = Self::from_parts(&settings, engine, parts);
        node.start(&settings, now);
        Ok(node)
    }

    /// Sets up the node as [`new`](Self::new) does, but writes it into `slot` (a `static`'s
    /// memory on a microcontroller) instead of returning it, and starts it there: the
    /// stack holds no copy of the node, only the engine while it is made. On an error
    /// `slot` is left as it was.
    pub fn new_in<'s, D: Device + ?Sized, const RX: usize, const TX: usize>(
        slot: &'s mut MaybeUninit<Self>,
        settings: Settings,
        device: &mut D,
        now: Instant,
        storage: &'a mut NodeStorage<'a, RX, TX>,
        table: S,
    ) -> Result<&'s mut Self, SetupError> {
        let engine = Self::make_engine(&settings, device, table)?;
        let parts = Parts::connect(&settings, device, now, storage)?;
        let node = slot.write(Self::from_parts(&settings, engine, parts));
        node.start(&settings, now);
        Ok(node)
    }

    /// Checks the settings and the device, and makes the engine (without keys, not started).
    /// A function of its own, never inlined: its stack frame is gone before the node is put
    /// together.
    #[inline(never)]
    fn make_engine<D: Device + ?Sized>(
        settings: &Settings,
        device: &D,
        table: S,
    ) -> Result<NodeEngine<S>, SetupError> {
        let primary = settings.addresses.first().ok_or(SetupError::NoAddress)?;
        let group = settings.group;
        if !group.is_multicast() {
            return Err(SetupError::NotMulticast(group));
        }
        if !settings
            .addresses
            .iter()
            .any(|cidr| same_family(cidr.address(), group))
        {
            return Err(SetupError::NoAddressForGroup(group));
        }
        let caps = device.capabilities();
        if caps.medium != Medium::Ethernet {
            return Err(SetupError::UnsupportedMedium(caps.medium));
        }
        let needed = frame_len(group, MAX_DATAGRAM_LEN);
        if caps.max_transmission_unit < needed {
            return Err(SetupError::MtuTooSmall {
                mtu: caps.max_transmission_unit,
                needed,
            });
        }

        let mut spec = InterfaceSpec::with_address(primary.address().into());
        for cidr in settings.addresses.iter().skip(1) {
            // Both lists hold at most MAX_NODE_ADDRESSES (2) <= MAX_ADDRS (6).
            let _ = spec.addrs.push(cidr.address().into());
        }
        let mut config = settings.engine.clone();
        // Members are probed at the group port, where this node listens too.
        config.port = settings.port;
        NodeEngine::with_relay_sizes(
            config,
            core::slice::from_ref(&spec),
            table,
            settings.random_seed,
        )
        .map_err(SetupError::Engine)
    }

    /// The node from its engine and its smoltcp side, written straight into its
    /// destination when inlined into it.
    #[inline(always)]
    fn from_parts(settings: &Settings, engine: NodeEngine<S>, parts: Parts<'a>) -> Self {
        Node {
            iface: parts.iface,
            sockets: parts.sockets,
            udp: parts.udp,
            #[cfg(feature = "probes")]
            unicast: parts.unicast,
            engine,
            group: IpEndpoint::new(settings.group, settings.port),
            mac: settings.mac,
            reports: parts.reports,
            ingress_budget: settings.ingress_budget.max(1),
            transmit_buffer: [0; MAX_DATAGRAM_LEN],
            pending: None,
            left_group: false,
            counters: NodeCounters::default(),
        }
    }

    /// Loads the settings' keys and starts the engine: the first announcement goes out on
    /// the first poll.
    fn start(&mut self, settings: &Settings, now: Instant) {
        self.engine.set_keyring(settings.keyring.clone());
        self.engine.start(time::to_core(now));
        node_log!(
            info,
            "node {} on smoltcp: group {}:{}",
            self.engine.node_id().get(),
            self.group.addr,
            self.group.port
        );
    }

    /// Does everything due at `now`: takes in received frames (at most the ingress budget)
    /// and hands each one's datagram to the engine before the next frame, runs the engine's
    /// timers, sends what the engine and smoltcp have queued.
    ///
    /// Returns how long the caller may wait before calling again if no frame arrives:
    /// the earliest of smoltcp's `poll_delay`, the engine's deadline and the next IGMP
    /// report. Zero means "call again at once" (frames left over the budget, or a full
    /// device). `None`: nothing is scheduled (after [`leave`](Self::leave) has finished);
    /// call again when a frame arrives. Calling early is harmless.
    ///
    /// Membership changes wait in [`poll_event`](Self::poll_event).
    #[must_use = "the delay says when to call poll again"]
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> Option<Duration> {
        let core_now = time::to_core(now);
        self.iface.poll_maintenance(now);
        let mut frames = 0;
        while frames < self.ingress_budget {
            #[cfg(feature = "probes")]
            let mut sender = None;
            #[cfg(feature = "probes")]
            let result = self.iface.poll_ingress_single(
                now,
                &mut Learner {
                    device: &mut *device,
                    port: self.group.port,
                    seen: &mut sender,
                },
                &mut self.sockets,
            );
            #[cfg(not(feature = "probes"))]
            let result = self
                .iface
                .poll_ingress_single(now, device, &mut self.sockets);
            match result {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed
                | PollIngressSingleResult::SocketStateChanged => {
                    frames += 1;
                    self.counters.rx_frames += 1;
                    let _accepted = self.receive(core_now);
                    #[cfg(feature = "probes")]
                    if let (true, Some(sender)) = (_accepted, sender) {
                        self.learn(now, sender, device.capabilities());
                    }
                }
            }
        }
        let budget_spent = frames >= self.ingress_budget;

        if self.engine.poll_timeout().is_some_and(|t| t <= core_now) {
            self.engine.handle_timeout(core_now);
        }
        self.transmit(now, device);
        self.egress(now, device);
        self.send_reports(now, device);
        #[cfg(feature = "probes")]
        {
            self.counters.unicast_stuck += self.unicast.reset_stuck(&mut self.sockets, now);
        }

        let mut delay = self.iface.poll_delay(now, &self.sockets);
        let mut sooner = |candidate: Option<Duration>| {
            if let Some(c) = candidate {
                delay = Some(delay.map_or(c, |d| d.min(c)));
            }
        };
        sooner(
            self.engine
                .poll_timeout()
                .map(|t| time::until(now, time::from_core(t))),
        );
        sooner(
            self.reports
                .and_then(|r| r.deadline())
                .map(|t| time::until(now, t)),
        );
        #[cfg(feature = "probes")]
        sooner(
            self.unicast
                .deadline(&self.sockets)
                .map(|t| time::until(now, t)),
        );
        if budget_spent || self.pending.is_some() {
            sooner(Some(Duration::ZERO));
        }
        delay
    }

    /// Leaves the cluster gracefully: the engine sends LEAVE (every other node drops this
    /// one from its map at once), then the node leaves the multicast group.
    ///
    /// Non-blocking: returns `Err(nb::Error::WouldBlock)` until the LEAVE datagram has been
    /// handed to the device; call it again (with a fresh `now`) until `Ok`. Bound the
    /// number of tries: a device that never has room to transmit never completes it.
    /// Afterwards the node stays quiet; [`poll`](Self::poll) only serves smoltcp. LEAVEs to
    /// members reached by unicast only (feature `probes`) are handed to the direct-datagram
    /// sockets, not waited for.
    pub fn leave<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
    ) -> nb::Result<(), Infallible> {
        self.engine.leave(time::to_core(now));
        let _ = self.poll(now, device);
        let socket = self.sockets.get::<udp::Socket>(self.udp);
        let sent = self.engine.phase() == Phase::Stopped
            && self.pending.is_none()
            && socket.send_queue() == 0;
        if !sent {
            return Err(nb::Error::WouldBlock);
        }
        if !self.left_group {
            // An IGMP leave / MLD report goes out with the next egress.
            let _ = self.iface.leave_multicast_group(self.group.addr);
            self.left_group = true;
            self.reports = None;
            self.egress(now, device);
        }
        Ok(())
    }

    /// The next membership event (joined, left, expired, ...), if any. Drain it after every
    /// [`poll`](Self::poll): the engine keeps a bounded queue and reports an overflow.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.engine.poll_event()
    }

    /// Authenticates with `keys` from now on, or runs unauthenticated with `None` (loading
    /// or rotating the cluster key).
    pub fn set_keyring(&mut self, keys: Option<Keyring>) {
        self.engine.set_keyring(keys);
    }

    /// The engine: members, statistics, phase.
    pub fn engine(&self) -> &NodeEngine<S> {
        &self.engine
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.engine.node_id()
    }

    /// The smoltcp interface (addresses, groups joined).
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The group endpoint announcements go to.
    pub fn group(&self) -> IpEndpoint {
        self.group
    }

    /// Counters of the smoltcp side.
    pub fn counters(&self) -> NodeCounters {
        self.counters
    }

    /// Hands every datagram waiting in the socket to the engine; whether it accepted one.
    fn receive(&mut self, now: omdisc_core::Instant) -> bool {
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        let mut accepted = false;
        while let Ok((payload, meta)) = socket.recv() {
            self.counters.rx_datagrams += 1;
            let source: IpAddr = meta.endpoint.addr.into();
            let source = SocketAddr::new(source, meta.endpoint.port);
            match self
                .engine
                .handle_datagram(now, IfaceId::FIRST, source, payload)
            {
                Ok(Received::Updated | Received::Duplicate) => accepted = true,
                Ok(Received::Own) => {}
                Err(error) => node_log!(
                    debug,
                    "refused a datagram from {}: {}",
                    meta.endpoint.addr,
                    rx_error_name(&error)
                ),
            }
        }
        accepted
    }

    /// Tells smoltcp's neighbour cache where `sender` (of a datagram the engine accepted)
    /// is, as an ARP reply would (see [`crate::neighbours`]).
    #[cfg(feature = "probes")]
    fn learn(&mut self, now: Instant, sender: Neighbour, caps: DeviceCapabilities) {
        let Some(ip) = self.iface.ipv4_addr() else {
            return;
        };
        let mut device = OneFrame {
            frame: Some(arp_reply(sender, self.mac, ip)),
            caps,
        };
        let _ = self
            .iface
            .poll_ingress_single(now, &mut device, &mut self.sockets);
    }

    /// Moves the engine's datagrams into the socket; keeps one back if the socket is full
    /// even after an egress round.
    fn transmit<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        let core_now = time::to_core(now);
        loop {
            let (len, to) = match self.pending {
                Some(pending) => pending,
                None => match self
                    .engine
                    .poll_transmit(core_now, &mut self.transmit_buffer)
                {
                    Some(transmit) => match self.endpoint(transmit.to) {
                        #[cfg(feature = "probes")]
                        Some(to) if transmit.to != Destination::Group => {
                            self.send_direct(transmit.len, to, now, device);
                            continue;
                        }
                        Some(to) => (transmit.len, to),
                        None => {
                            // An IPv6 peer without the `ipv6` feature: no route.
                            self.counters.tx_dropped += 1;
                            continue;
                        }
                    },
                    None => return,
                },
            };
            match self.send(len, to) {
                Ok(()) => self.pending = None,
                Err(SendError::BufferFull) => {
                    self.egress(now, device);
                    match self.send(len, to) {
                        Ok(()) => self.pending = None,
                        Err(SendError::BufferFull) => {
                            // The device has no room: try again on the next poll.
                            self.pending = Some((len, to));
                            return;
                        }
                        Err(SendError::Unaddressable) => self.drop_pending(to),
                    }
                }
                Err(SendError::Unaddressable) => self.drop_pending(to),
            }
        }
    }

    /// Where a transmit goes: the group, or one peer by unicast (`None`: an IPv6 peer in a
    /// build without IPv6).
    fn endpoint(&self, to: Destination) -> Option<IpEndpoint> {
        let peer = match to {
            Destination::Group => return Some(self.group),
            Destination::Peer(peer) => peer,
        };
        let addr = match peer.ip() {
            IpAddr::V4(v4) => IpAddress::Ipv4(v4),
            #[cfg(feature = "ipv6")]
            IpAddr::V6(v6) => IpAddress::Ipv6(v6),
            #[cfg(not(feature = "ipv6"))]
            IpAddr::V6(_) => return None,
        };
        Some(IpEndpoint::new(addr, peer.port()))
    }

    fn send(&mut self, len: usize, to: IpEndpoint) -> Result<(), SendError> {
        let payload = self.transmit_buffer.get(..len).unwrap_or(&[]);
        self.sockets
            .get_mut::<udp::Socket>(self.udp)
            .send_slice(payload, to)
    }

    /// Queues a direct datagram of `len` bytes in `transmit_buffer` on a direct-datagram
    /// socket, after an egress round if none is free; drops it (counted) if still none is:
    /// it never holds up the group socket.
    #[cfg(feature = "probes")]
    fn send_direct<D: Device + ?Sized>(
        &mut self,
        len: usize,
        to: IpEndpoint,
        now: Instant,
        device: &mut D,
    ) {
        let mut result = Err(SendError::BufferFull);
        for round in 0..2 {
            if round > 0 {
                self.egress(now, device);
            }
            let payload = self.transmit_buffer.get(..len).unwrap_or(&[]);
            result = self.unicast.send(&mut self.sockets, payload, to, now);
            if result != Err(SendError::BufferFull) {
                break;
            }
        }
        match result {
            Ok(()) => {}
            Err(SendError::BufferFull) => {
                self.counters.unicast_dropped += 1;
                node_log!(
                    debug,
                    "direct datagram to {} dropped: no socket free",
                    to.addr
                );
            }
            Err(SendError::Unaddressable) => {
                self.counters.tx_dropped += 1;
                node_log!(warn, "datagram to {} dropped: no route", to.addr);
            }
        }
    }

    fn drop_pending(&mut self, to: IpEndpoint) {
        self.pending = None;
        self.counters.tx_dropped += 1;
        node_log!(warn, "datagram to {} dropped: no route", to.addr);
    }

    /// Sends what smoltcp has queued (datagrams, IGMP/MLD joins and leaves).
    fn egress<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        for _ in 0..EGRESS_ROUNDS {
            if self.iface.poll_egress(now, device, &mut self.sockets) == PollResult::None {
                break;
            }
        }
    }

    fn send_reports<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        let (Some(reports), IpAddress::Ipv4(group)) = (self.reports.as_mut(), self.group.addr)
        else {
            return;
        };
        let Some(source) = self.iface.ipv4_addr() else {
            return;
        };
        if reports.poll(now, device, self.mac, source, group) {
            self.counters.igmp_reports += 1;
        }
    }
}

/// Whether `address` and `group` are of the same IP family.
fn same_family(address: IpAddress, group: IpAddress) -> bool {
    core::mem::discriminant(&address) == core::mem::discriminant(&group)
}

/// Length of the Ethernet frame carrying a datagram of `len` bytes to `group`.
fn frame_len(group: IpAddress, len: usize) -> usize {
    let ip_header = match group {
        IpAddress::Ipv4(_) => 20,
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(_) => 40,
    };
    ETHERNET_HEADER_LEN + ip_header + UDP_HEADER_LEN + len
}

/// A short name of why the engine refused a datagram (for either log backend).
fn rx_error_name(error: &RxError) -> &'static str {
    match error {
        RxError::NotRunning => "engine not running",
        RxError::InactiveInterface(_) => "inactive interface",
        RxError::Wire(e) => e.name(),
        RxError::HopLimit(_) => "over the hop limit",
        RxError::SpoofedSource => "spoofed source",
        RxError::Stale => "stale",
        RxError::TableFull => "table full",
        _ => "refused",
    }
}
