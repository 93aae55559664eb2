//! The omdisc discovery engine (`omdisc-core`) over a smoltcp interface and one UDP socket
//! bound to the group port, generic over any `smoltcp::phy::Device`.
//!
//! One [`EngineNode::poll`] does all due work — frames in, datagrams to the engine, the
//! engine's timers, its datagrams out, repeated IGMP reports — and says when it next needs
//! to run: the earliest of smoltcp's `poll_at`, the engine's `poll_timeout` and the next
//! IGMP report. Membership changes set a flag that [`PollOutcome::map_changed`] reports, and
//! [`EngineNode::render_map`] writes the map in `setpe` format.
//!
//! Time: smoltcp counts microseconds, the engine milliseconds; the conversion stays here.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};

use omdisc_core::map::setpe::{self, RenderError, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::{
    ArrayEngine, Config, ConfigError, Event, IfaceId, InterfaceSpec, Keyring, NodeEntry, NodeId,
    NodeIdError, MAX_DATAGRAM_LEN,
};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::boot_config::BootConfig;
use crate::igmp_report::ReportSchedule;

/// Node-table capacity of the image: members, shadowed contenders and tombstones.
pub const NODE_CAPACITY: usize = 64;
/// Datagrams queued per direction in the UDP socket (smoltcp takes in every waiting frame
/// per poll, so the receive queue is sized for a cluster answering a join at once).
pub const UDP_QUEUE_LEN: usize = 64;
/// Payload bytes per direction in the UDP socket.
pub const UDP_BUFFER_LEN: usize = 32 * 1024;
/// Unsolicited IGMP reports after the one smoltcp sends on joining.
pub const IGMP_REPORTS: u8 = 3;
/// Spacing of the repeated IGMP reports.
pub const IGMP_REPORT_SPACING: Duration = Duration::from_millis(500);

/// The engine this image runs.
pub type NodeEngine = ArrayEngine<NODE_CAPACITY>;

/// Socket storage for [`EngineNode`], normally a `static`.
pub struct SocketStorageSet {
    sockets: [SocketStorage<'static>; 1],
    rx_meta: [udp::PacketMetadata; UDP_QUEUE_LEN],
    tx_meta: [udp::PacketMetadata; UDP_QUEUE_LEN],
}

impl SocketStorageSet {
    /// Empty storage (const, so it can initialise a `static`).
    pub const fn new() -> Self {
        Self {
            sockets: [SocketStorage::EMPTY],
            rx_meta: [udp::PacketMetadata::EMPTY; UDP_QUEUE_LEN],
            tx_meta: [udp::PacketMetadata::EMPTY; UDP_QUEUE_LEN],
        }
    }
}

impl Default for SocketStorageSet {
    fn default() -> Self {
        Self::new()
    }
}

/// The UDP socket's payload buffers, receive and transmit (all-zero: they land in `.bss`).
pub type SocketPayloads = [[u8; UDP_BUFFER_LEN]; 2];

/// Why the node could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    /// The address gives no valid node id (last two octets zero).
    NodeId(NodeIdError),
    /// The engine refused the configuration.
    Config(ConfigError),
    /// The UDP socket could not bind the group port.
    Bind(udp::BindError),
    /// smoltcp refused the multicast group.
    Join(smoltcp::iface::MulticastError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeId(e) => write!(f, "no node id: {e}"),
            Self::Config(e) => write!(f, "engine configuration: {e}"),
            Self::Bind(e) => write!(f, "cannot bind the UDP port: {e}"),
            Self::Join(e) => write!(f, "cannot join the multicast group: {e}"),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    /// When to poll again at the latest (earlier if a frame arrives).
    pub next: Instant,
    /// Membership changed since the last poll: time to show the map.
    pub map_changed: bool,
}

/// Counters of the node's own work, beside the engine's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCounters {
    /// Datagrams the engine refused (malformed, unauthenticated, stale, ...).
    pub rejected: u64,
    /// Datagrams the engine produced that the socket could not queue.
    pub send_failures: u64,
}

/// The engine on a smoltcp interface.
pub struct EngineNode {
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    engine: NodeEngine,
    mac: EthernetAddress,
    config: BootConfig,
    reports: ReportSchedule,
    datagram: [u8; MAX_DATAGRAM_LEN],
    first_send_at: Option<Instant>,
    counters: NodeCounters,
}

impl EngineNode {
    /// Brings the interface up with `config`'s address, binds the group port, joins the
    /// group and starts the engine (its first announcement goes out on the first poll).
    /// `incarnation` must grow from one boot to the next (wall-clock milliseconds).
    #[allow(clippy::too_many_arguments)]
    pub fn new<D: Device + ?Sized>(
        device: &mut D,
        mac: EthernetAddress,
        config: BootConfig,
        keys: Option<Keyring>,
        incarnation: u64,
        random_seed: u64,
        now: Instant,
        storage: &'static mut SocketStorageSet,
        payloads: &'static mut SocketPayloads,
    ) -> Result<Self, SetupError> {
        let own_ip = IpAddr::V4(config.address.address());
        let mut engine_config = Config::new(
            NodeId::from_ip(own_ip).map_err(SetupError::NodeId)?,
            incarnation,
        );
        engine_config.interval = omdisc_core::Duration::from_millis(u64::from(config.interval_ms));
        engine_config.dead_after = config.dead_after;
        let interfaces = [InterfaceSpec::with_address(own_ip)];
        let mut engine = NodeEngine::new(
            engine_config,
            &interfaces,
            [NodeEntry::VACANT; NODE_CAPACITY],
            random_seed,
        )
        .map_err(SetupError::Config)?;
        engine.set_keyring(keys);

        let mut iface_config = IfaceConfig::new(HardwareAddress::Ethernet(mac));
        iface_config.random_seed = random_seed;
        let mut iface = Interface::new(iface_config, device, now);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for at least one address.
            let _ = addrs.push(IpCidr::Ipv4(config.address));
        });
        iface
            .join_multicast_group(config.group)
            .map_err(SetupError::Join)?;

        let [rx_payload, tx_payload] = payloads;
        let rx = udp::PacketBuffer::new(&mut storage.rx_meta[..], &mut rx_payload[..]);
        let tx = udp::PacketBuffer::new(&mut storage.tx_meta[..], &mut tx_payload[..]);
        let mut sockets = SocketSet::new(&mut storage.sockets[..]);
        let udp = sockets.add(udp::Socket::new(rx, tx));
        sockets
            .get_mut::<udp::Socket>(udp)
            .bind(config.port)
            .map_err(SetupError::Bind)?;

        engine.start(engine_time(now));
        Ok(Self {
            iface,
            sockets,
            udp,
            engine,
            mac,
            config,
            // smoltcp sends the first report itself on the first poll.
            reports: ReportSchedule::new(
                now + IGMP_REPORT_SPACING,
                IGMP_REPORTS,
                IGMP_REPORT_SPACING,
            ),
            datagram: [0; MAX_DATAGRAM_LEN],
            first_send_at: None,
            counters: NodeCounters::default(),
        })
    }

    /// The engine (members, statistics, phase).
    pub fn engine(&self) -> &NodeEngine {
        &self.engine
    }

    /// When the first announcement was handed to smoltcp.
    pub fn first_send_at(&self) -> Option<Instant> {
        self.first_send_at
    }

    /// The node's own counters.
    pub fn counters(&self) -> NodeCounters {
        self.counters
    }

    /// Does all due work at `now` and says when to poll again.
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> PollOutcome {
        let core_now = engine_time(now);
        self.iface.poll(now, device, &mut self.sockets);
        self.deliver_datagrams(core_now);
        self.engine.handle_timeout(core_now);
        self.send_datagrams(now, core_now);
        self.iface.poll(now, device, &mut self.sockets);
        let source = self.config.address.address();
        self.reports
            .poll(now, device, self.mac, source, self.config.group);

        let mut map_changed = false;
        while let Some(event) = self.engine.poll_event() {
            log_event(&event);
            map_changed |= event.changes_map();
        }

        let mut next = self.iface.poll_at(now, &self.sockets);
        for deadline in [
            self.engine.poll_timeout().map(smoltcp_time),
            self.reports.deadline(),
        ] {
            next = match (next, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        PollOutcome {
            // Nothing pending at all only happens once the engine stopped.
            next: next.unwrap_or(now + Duration::from_secs(3600)),
            map_changed,
        }
    }

    /// Begins a graceful stop: LEAVE goes out on the following polls.
    pub fn leave(&mut self, now: Instant) {
        self.engine.leave(engine_time(now));
    }

    /// Writes the map (members in `setpe` format, with `#` comments) to `out`.
    pub fn render_map<W: fmt::Write>(&self, out: &mut W) -> Result<usize, RenderError> {
        let mut nodes: heapless::Vec<MapNode, NODE_CAPACITY> = heapless::Vec::new();
        for entry in self.engine.members() {
            // Members never outnumber the table's capacity, which is the Vec's.
            if nodes.push(MapNode::from_entry(entry)).is_err() {
                return Err(RenderError::Write);
            }
        }
        let options = RenderOptions {
            comments: true,
            own_id: Some(self.engine.node_id()),
        };
        setpe::render(nodes.iter(), options, out)
    }

    fn deliver_datagrams(&mut self, now: omdisc_core::Instant) {
        let own = IpAddress::Ipv4(self.config.address.address());
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        while let Ok((payload, meta)) = socket.recv() {
            if meta.endpoint.addr == own {
                continue;
            }
            let source = match meta.endpoint.addr {
                IpAddress::Ipv4(v4) => IpAddr::V4(Ipv4Addr::from(v4.octets())),
            };
            if let Err(e) = self
                .engine
                .handle_datagram(now, IfaceId::FIRST, source, payload)
            {
                self.counters.rejected += 1;
                log::debug!("datagram from {source} refused: {e}");
            }
        }
    }

    fn send_datagrams(&mut self, now: Instant, core_now: omdisc_core::Instant) {
        let group = IpEndpoint::new(IpAddress::Ipv4(self.config.group), self.config.port);
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        while let Some(transmit) = self.engine.poll_transmit(core_now, &mut self.datagram) {
            let Some(bytes) = self.datagram.get(..transmit.len) else {
                continue;
            };
            match socket.send_slice(bytes, group) {
                Ok(()) => {
                    self.first_send_at.get_or_insert(now);
                }
                Err(e) => {
                    self.counters.send_failures += 1;
                    log::warn!("datagram not queued: {e}");
                }
            }
        }
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Joined(id) => log::info!("node {id} joined"),
        Event::Changed(id) => log::info!("node {id} changed"),
        Event::Left(id) => log::info!("node {id} left"),
        Event::Expired(id) => log::info!("node {id} expired"),
        Event::Conflict {
            id,
            winner,
            loser,
            local_lost,
        } => log::warn!(
            "node id {id} claimed twice: {winner} keeps it, {loser} loses it{}",
            if *local_lost { " (this node)" } else { "" }
        ),
        Event::TableFull(id) => {
            log::warn!("node {id} left out: table full ({NODE_CAPACITY} entries)")
        }
        Event::Overflow => log::warn!("membership events were dropped; map re-read"),
    }
}

fn engine_time(now: Instant) -> omdisc_core::Instant {
    omdisc_core::Instant::from_millis(u64::try_from(now.total_millis()).unwrap_or(0))
}

fn smoltcp_time(at: omdisc_core::Instant) -> Instant {
    Instant::from_millis(i64::try_from(at.total_millis()).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::vec::Vec;

    use smoltcp::phy::{DeviceCapabilities, Medium};
    use smoltcp::wire::Ipv4Cidr;

    type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

    /// One end of a two-host Ethernet segment held in memory.
    struct SegmentEnd {
        inbox: Queue,
        outbox: Queue,
    }

    fn segment() -> (SegmentEnd, SegmentEnd) {
        let (a, b) = (Queue::default(), Queue::default());
        (
            SegmentEnd {
                inbox: a.clone(),
                outbox: b.clone(),
            },
            SegmentEnd {
                inbox: b,
                outbox: a,
            },
        )
    }

    struct Rx(Vec<u8>);
    struct Tx(Queue);

    impl smoltcp::phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl smoltcp::phy::TxToken for Tx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = std::vec![0; len];
            let result = f(&mut frame);
            self.0.borrow_mut().push_back(frame);
            result
        }
    }

    impl Device for SegmentEnd {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx;

        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx)> {
            let frame = self.inbox.borrow_mut().pop_front()?;
            Some((Rx(frame), Tx(self.outbox.clone())))
        }

        fn transmit(&mut self, _: Instant) -> Option<Tx> {
            Some(Tx(self.outbox.clone()))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    fn config(host: u8) -> BootConfig {
        BootConfig {
            address: Ipv4Cidr::new(smoltcp::wire::Ipv4Address::new(10, 77, 1, host), 24),
            group: smoltcp::wire::Ipv4Address::new(239, 255, 77, 77),
            port: 7477,
            interval_ms: 500,
            dead_after: 3,
        }
    }

    fn node(device: &mut SegmentEnd, host: u8, keys: Option<Keyring>) -> EngineNode {
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, host]);
        let storage = Box::leak(Box::new(SocketStorageSet::new()));
        let payloads = Box::leak(Box::new([[0; UDP_BUFFER_LEN]; 2]));
        EngineNode::new(
            device,
            mac,
            config(host),
            keys,
            1000 + u64::from(host),
            u64::from(host),
            Instant::ZERO,
            storage,
            payloads,
        )
        .unwrap()
    }

    /// Runs both nodes on the segment until `until`, jumping to the next deadline.
    fn run(
        nodes: &mut [(&mut EngineNode, &mut SegmentEnd); 2],
        from: Instant,
        until: Instant,
    ) -> [bool; 2] {
        let mut now = from;
        let mut map_changed = [false; 2];
        let mut steps = 0;
        while now < until && steps < 10_000 {
            steps += 1;
            let mut next = until;
            for (i, (node, device)) in nodes.iter_mut().enumerate() {
                let outcome = node.poll(now, *device);
                map_changed[i] |= outcome.map_changed;
                next = next.min(outcome.next);
            }
            let frames_waiting = nodes.iter().any(|(_, d)| !d.inbox.borrow().is_empty());
            now = if frames_waiting {
                now
            } else {
                next.max(now + Duration::from_millis(1))
            };
        }
        map_changed
    }

    fn members(node: &EngineNode) -> Vec<u16> {
        node.engine().members().map(|e| e.id().get()).collect()
    }

    #[test]
    fn two_nodes_on_one_segment_list_each_other_and_expire_a_silent_one() {
        let (mut wire_a, mut wire_b) = segment();
        let mut a = node(&mut wire_a, 11, None);
        let mut b = node(&mut wire_b, 12, None);
        let start = Instant::ZERO;
        let changed = run(
            &mut [(&mut a, &mut wire_a), (&mut b, &mut wire_b)],
            start,
            start + Duration::from_millis(300),
        );
        assert_eq!(changed, [true, true]);
        assert_eq!(members(&a), [267, 268]);
        assert_eq!(members(&b), [267, 268]);
        let mut map = std::string::String::new();
        a.render_map(&mut map).unwrap();
        assert!(map.lines().any(|l| l == "267 10.77.1.11 2"), "{map}");
        assert!(a.first_send_at().is_some());

        // b falls silent (its frames are dropped): a expires it after 3 intervals.
        let later = start + Duration::from_millis(300);
        let mut now = later;
        while now < later + Duration::from_secs(3) {
            a.poll(now, &mut wire_a);
            b.poll(now, &mut wire_b);
            wire_a.inbox.borrow_mut().clear();
            now += Duration::from_millis(50);
        }
        assert_eq!(members(&a), [267]);
    }

    #[test]
    fn nodes_with_different_keys_do_not_list_each_other() {
        let key = |hex: &str| {
            Some(Keyring::new(
                omdisc_core::ClusterKey::from_hex(hex).unwrap(),
            ))
        };
        let (mut wire_a, mut wire_b) = segment();
        let mut a = node(&mut wire_a, 11, key("00112233445566778899aabbccddeeff"));
        let mut b = node(&mut wire_b, 12, key("ffeeddccbbaa99887766554433221100"));
        let start = Instant::ZERO;
        run(
            &mut [(&mut a, &mut wire_a), (&mut b, &mut wire_b)],
            start,
            start + Duration::from_secs(2),
        );
        assert_eq!(members(&a), [267]);
        assert_eq!(members(&b), [268]);
        assert!(a.counters().rejected > 0);
    }

    #[test]
    fn every_igmp_report_is_sent() {
        let (mut wire_a, _wire_b) = segment();
        let mut a = node(&mut wire_a, 11, None);
        let mut now = Instant::ZERO;
        while now < Instant::from_secs(3) {
            a.poll(now, &mut wire_a);
            now += Duration::from_millis(100);
        }
        let reports = wire_a
            .outbox
            .borrow()
            .iter()
            .filter(|f| f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 2)
            .count();
        // One from smoltcp on joining, then the repeated ones.
        assert_eq!(reports, 1 + usize::from(IGMP_REPORTS));
    }
}
