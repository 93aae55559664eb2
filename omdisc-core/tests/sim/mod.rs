//! A deterministic network simulator for behaviour tests: real engines, an in-memory
//! network of segments (multicast domains), a virtual clock that jumps to the next
//! deadline, and seeded loss, delay and reordering. Modelled on quinn-proto's test pairs.

#![allow(dead_code)] // each test file uses a different part of the simulator

mod schedule;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use schedule::Schedule;

use omdisc_core::testing::Rng;
use omdisc_core::{
    Config, Destination, Engine, Event, IfaceId, Instant, InterfaceSpec, Keyring, Message,
    NodeEntry, NodeId, MAX_DATAGRAM_LEN,
};

/// Missed intervals after which the simulated hosts expire a silent node (unless a test
/// sets another value).
pub const SIM_DEAD_AFTER: u16 = 3;

/// Index of a segment (one multicast domain, like a bridge).
pub type SegmentId = usize;
/// Index of a simulated host.
pub type HostId = usize;

/// The segment of an interface whose link is down: nobody else is on it.
pub const LINK_DOWN: SegmentId = usize::MAX - 1;

/// Link behaviour of the whole network.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// Probability (per mille) that a receiver misses a datagram.
    pub loss_per_mille: u64,
    /// Fixed delay in ms.
    pub delay_ms: u64,
    /// Extra uniform random delay in ms (reorders datagrams).
    pub jitter_ms: u64,
}

impl Link {
    pub const PERFECT: Link = Link {
        loss_per_mille: 0,
        delay_ms: 1,
        jitter_ms: 0,
    };

    /// 1 ms plus up to `jitter_ms`, each datagram lost with `loss_per_mille` / 1000.
    pub const fn lossy(loss_per_mille: u64, jitter_ms: u64) -> Link {
        Link {
            loss_per_mille,
            delay_ms: 1,
            jitter_ms,
        }
    }
}

pub struct Host {
    pub engine: Engine<Vec<NodeEntry>>,
    /// Segment of each interface, by interface index.
    pub segments: Vec<SegmentId>,
    /// Source address of each interface (its first address); `None` while it has none,
    /// when what the engine sends there is lost (the kernel has no source to send it from).
    pub addrs: Vec<Option<IpAddr>>,
    pub events: Vec<(Instant, Event)>,
    pub running: bool,
}

/// The simulated network.
pub struct Sim {
    pub now: Instant,
    pub hosts: Vec<Host>,
    pub link: Link,
    rng: Rng,
    schedule: Schedule,
    /// Datagrams sent onto each segment.
    pub sent_per_segment: BTreeMap<SegmentId, u64>,
    /// Bytes sent onto each segment.
    pub bytes_per_segment: BTreeMap<SegmentId, u64>,
    /// How many times each (origin, incarnation, sequence, kind) crossed onto each segment.
    pub copies: BTreeMap<(u16, u64, u32, u8, SegmentId), u64>,
    /// Total datagrams delivered.
    pub delivered: u64,
    /// Datagrams an engine handed out for an interface without an address (lost).
    pub unsendable: u64,
    /// Node-table capacity of hosts added from now on.
    pub capacity: usize,
    /// When `Some`, every datagram put on a segment (or sent by unicast to a host on it)
    /// is recorded here as
    /// `(segment, source, bytes)`, like a capture on the wire (for replay tests).
    pub recorded: Option<Vec<(SegmentId, IpAddr, Vec<u8>)>>,
    /// Segments whose switches drop multicast (unicast still passes).
    pub no_multicast: BTreeSet<SegmentId>,
    /// Segments no router joins to the others: unicast between one of them and another
    /// segment is lost (by default the network routes unicast between all segments).
    pub no_router: BTreeSet<SegmentId>,
    /// Where unicast to an address goes: (host, interface).
    routes: HashMap<IpAddr, (HostId, usize)>,
    /// Unicast datagrams sent, and their bytes.
    pub unicast_sent: u64,
    pub unicast_bytes: u64,
    /// Datagrams and bytes each host sent (group and unicast), by host.
    pub sent_by_host: Vec<(u64, u64)>,
    /// Unicast datagrams to an address no host has (lost).
    pub unroutable: u64,
    /// Pairs of addresses that cannot reach each other by unicast (a firewall between two
    /// hosts), each pair in both orders.
    pub blocked: BTreeSet<(IpAddr, IpAddr)>,
}

/// An IPv4 address on segment `seg` for host number `n`: 10.seg.(n/250).(n%250+1).
pub fn addr(seg: SegmentId, n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        seg as u8,
        (n / 250) as u8,
        (n % 250 + 1) as u8,
    ))
}

impl Sim {
    pub fn new(seed: u64, link: Link) -> Sim {
        Sim {
            now: Instant::from_millis(1_000),
            hosts: Vec::new(),
            link,
            rng: Rng::new(seed),
            schedule: Schedule::default(),
            sent_per_segment: BTreeMap::new(),
            bytes_per_segment: BTreeMap::new(),
            copies: BTreeMap::new(),
            delivered: 0,
            unsendable: 0,
            capacity: 256,
            recorded: None,
            no_multicast: BTreeSet::new(),
            no_router: BTreeSet::new(),
            routes: HashMap::new(),
            unicast_sent: 0,
            unicast_bytes: 0,
            sent_by_host: Vec::new(),
            unroutable: 0,
            blocked: BTreeSet::new(),
        }
    }

    /// Unicast between `a` and `b` is lost (`block`) or passes again.
    pub fn block_pair(&mut self, a: IpAddr, b: IpAddr, block: bool) {
        for pair in [(a, b), (b, a)] {
            if block {
                self.blocked.insert(pair);
            } else {
                self.blocked.remove(&pair);
            }
        }
    }

    /// Adds a host with one interface per `(segment, address)`; not started yet.
    pub fn add_host_with(&mut self, legs: &[(SegmentId, IpAddr)], config: Config) -> HostId {
        let legs: Vec<(SegmentId, &[IpAddr])> = legs
            .iter()
            .map(|(segment, ip)| (*segment, std::slice::from_ref(ip)))
            .collect();
        self.push_host(&legs, config)
    }

    /// Adds a host with `config` and interface `i` on segment `legs[i].0` with the addresses
    /// `legs[i].1` (possibly none); not started yet.
    fn push_host(&mut self, legs: &[(SegmentId, &[IpAddr])], config: Config) -> HostId {
        let specs: Vec<InterfaceSpec> = legs
            .iter()
            .map(|(_, ips)| InterfaceSpec {
                addrs: ips.iter().copied().collect(),
            })
            .collect();
        let storage = vec![NodeEntry::VACANT; self.capacity];
        let seed = self.rng.next_u64();
        let engine = Engine::new(config, &specs, storage, seed).expect("valid config");
        self.hosts.push(Host {
            engine,
            segments: legs.iter().map(|(s, _)| *s).collect(),
            addrs: legs.iter().map(|(_, ips)| ips.first().copied()).collect(),
            events: Vec::new(),
            running: false,
        });
        let host = self.hosts.len() - 1;
        for (iface, (_, ips)) in legs.iter().enumerate() {
            for ip in *ips {
                self.routes.insert(*ip, (host, iface));
            }
        }
        self.sent_by_host.push((0, 0));
        host
    }

    /// Adds host number `n` of `segment` (at [`addr`]`(segment, n)`) with defaults adjusted by
    /// `tweak`, seeded with the nodes at `seeds` (at the default port, as `--peer` names
    /// them), and starts it.
    pub fn start_host(
        &mut self,
        segment: SegmentId,
        n: usize,
        seeds: &[IpAddr],
        tweak: impl FnOnce(&mut Config),
    ) -> HostId {
        let host = self.add_host(&[(segment, addr(segment, n))], tweak);
        if !seeds.is_empty() {
            self.set_seeds(host, seeds);
        }
        self.start(host);
        host
    }

    /// Seeds `host` with the nodes at `ips`, at the default port.
    pub fn set_seeds(&mut self, host: HostId, ips: &[IpAddr]) {
        let now = self.now;
        let seeds: Vec<SocketAddr> = ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, omdisc_core::DEFAULT_PORT))
            .collect();
        self.hosts[host]
            .engine
            .set_seeds(now, &seeds)
            .expect("seeds accepted");
        self.flush(host);
    }

    /// Adds a host on `legs` with defaults adjusted by `tweak`; the id comes from the first address.
    pub fn add_host(
        &mut self,
        legs: &[(SegmentId, IpAddr)],
        tweak: impl FnOnce(&mut Config),
    ) -> HostId {
        let id = NodeId::from_ip(legs[0].1).expect("non-zero id");
        let mut config = Config::new(id, 1_000 + self.hosts.len() as u64);
        // The behaviour tests' timing bounds were set for expiry after 3 missed intervals.
        config.dead_after = SIM_DEAD_AFTER;
        tweak(&mut config);
        self.add_host_with(legs, config)
    }

    pub fn set_keyring(&mut self, host: HostId, keys: Option<Keyring>) {
        self.hosts[host].engine.set_keyring(keys);
    }

    pub fn start(&mut self, host: HostId) {
        let now = self.now;
        let h = &mut self.hosts[host];
        h.running = true;
        h.engine.start(now);
        self.flush(host);
    }

    /// Graceful stop: the host sends LEAVE and stops.
    pub fn leave(&mut self, host: HostId) {
        let now = self.now;
        self.hosts[host].engine.leave(now);
        self.flush(host);
        self.hosts[host].running = false;
    }

    /// Interface `iface` of `host` now has the addresses `ips` (none: it lost them, or it
    /// is gone); the engine is told at once, as a frontend watching the kernel would.
    pub fn set_addresses(&mut self, host: HostId, iface: usize, ips: &[IpAddr]) {
        let now = self.now;
        for ip in ips {
            self.routes.insert(*ip, (host, iface));
        }
        let h = &mut self.hosts[host];
        h.addrs[iface] = ips.first().copied();
        h.engine
            .set_addresses(now, IfaceId::new(iface).expect("iface"), ips)
            .expect("addresses accepted");
        self.flush(host);
    }

    /// Takes the link of `host`'s interface `iface` down: what it sends there reaches
    /// nobody and it hears nothing there (its addresses stay, as the kernel keeps them).
    /// Returns the segment to give [`Sim::resume_link`].
    pub fn set_link_down(&mut self, host: HostId, iface: usize) -> SegmentId {
        std::mem::replace(&mut self.hosts[host].segments[iface], LINK_DOWN)
    }

    /// Puts `host`'s interface `iface` back on `segment` and tells the engine its link is
    /// back, as a frontend watching the kernel would.
    pub fn resume_link(&mut self, host: HostId, iface: usize, segment: SegmentId) {
        let now = self.now;
        let h = &mut self.hosts[host];
        h.segments[iface] = segment;
        h.engine
            .interface_resumed(now, IfaceId::new(iface).expect("iface"));
        self.flush(host);
    }

    /// Adds a host whose id is derived from its address by the engine
    /// ([`Config::from_address`]), with `legs[i].1` the addresses of interface `i` (possibly
    /// none); not started yet.
    pub fn add_host_from_address(
        &mut self,
        legs: &[(SegmentId, &[IpAddr])],
        tweak: impl FnOnce(&mut Config),
    ) -> HostId {
        let mut config = Config::from_address(1_000 + self.hosts.len() as u64);
        config.dead_after = SIM_DEAD_AFTER;
        tweak(&mut config);
        self.push_host(legs, config)
    }

    /// Crash: the host stops without a word.
    pub fn kill(&mut self, host: HostId) {
        self.hosts[host].running = false;
    }

    /// Puts a datagram on `segment` as if sent by `src` (for replay and forgery tests).
    pub fn inject(&mut self, segment: SegmentId, src: IpAddr, bytes: &[u8]) {
        self.broadcast(usize::MAX, segment, src, bytes);
    }

    /// Drains the host's transmit queue onto its segments, and its events into `events`.
    fn flush(&mut self, host: HostId) {
        let now = self.now;
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        loop {
            let h = &mut self.hosts[host];
            let Some(tx) = h.engine.poll_transmit(now, &mut buf) else {
                break;
            };
            let segment = h.segments[tx.iface.index()];
            let Some(src) = h.addrs[tx.iface.index()] else {
                self.unsendable += 1;
                continue;
            };
            let bytes = &buf[..tx.len];
            let counter = &mut self.sent_by_host[host];
            counter.0 += 1;
            counter.1 += tx.len as u64 + 28;
            if let Destination::Peer(to) = tx.to {
                self.unicast(segment, src, to, bytes);
                continue;
            }
            if self.no_multicast.contains(&segment) {
                continue;
            }
            if let Ok(msg) = Message::decode(bytes, None) {
                let kind = match msg.kind {
                    omdisc_core::MessageKind::Announce => 1,
                    omdisc_core::MessageKind::Leave => 2,
                    _ => 3,
                };
                *self
                    .copies
                    .entry((
                        msg.origin.get(),
                        msg.incarnation,
                        msg.sequence,
                        kind,
                        segment,
                    ))
                    .or_default() += 1;
            }
            self.broadcast(host, segment, src, bytes);
        }
        let h = &mut self.hosts[host];
        while let Some(e) = h.engine.poll_event() {
            h.events.push((now, e));
        }
        let deadline = h.engine.poll_timeout().filter(|_| h.running);
        self.schedule.set_deadline(host, deadline);
    }

    /// Takes every host's deadline from its engine again (a test may have changed an
    /// engine, or stopped or restarted a host, between runs).
    fn resync_deadlines(&mut self) {
        for (host, h) in self.hosts.iter().enumerate() {
            let deadline = h.engine.poll_timeout().filter(|_| h.running);
            self.schedule.set_deadline(host, deadline);
        }
    }

    /// Routes a unicast datagram sent on `segment` to the host that has `to`'s address (on
    /// any segment, unless a segment without a router is in between), with the link's
    /// loss and delay.
    fn unicast(&mut self, segment: SegmentId, src: IpAddr, to: SocketAddr, bytes: &[u8]) {
        self.unicast_sent += 1;
        self.unicast_bytes += bytes.len() as u64 + 28;
        let Some(&(host, iface)) = self.routes.get(&to.ip()) else {
            self.unroutable += 1;
            return;
        };
        let dest = self.hosts[host].segments[iface];
        if dest != segment && (self.no_router.contains(&segment) || self.no_router.contains(&dest))
        {
            self.unroutable += 1;
            return;
        }
        if let Some(recorded) = &mut self.recorded {
            recorded.push((self.hosts[host].segments[iface], src, bytes.to_vec()));
        }
        if self.hosts[host].segments[iface] == LINK_DOWN || self.blocked.contains(&(src, to.ip())) {
            return;
        }
        if self.link.loss_per_mille > 0 && self.rng.below(1000) < self.link.loss_per_mille {
            return;
        }
        let delay = self.link.delay_ms + self.rng.below(self.link.jitter_ms + 1);
        let at = self.now + omdisc_core::Duration::from_millis(delay);
        self.schedule
            .deliver(at, vec![(host, iface)], src, Rc::from(bytes));
    }

    /// Puts a datagram on `segment`: every other host there gets it (one copy of the bytes
    /// shared by all), each with the link's loss and delay.
    fn broadcast(&mut self, from: HostId, segment: SegmentId, src: IpAddr, bytes: &[u8]) {
        if let Some(recorded) = &mut self.recorded {
            recorded.push((segment, src, bytes.to_vec()));
        }
        let bytes: Rc<[u8]> = Rc::from(bytes);
        // Receivers by delay (delay_ms + 0..=jitter_ms), in host order.
        let mut by_delay: Vec<Vec<(HostId, usize)>> =
            vec![Vec::new(); self.link.jitter_ms as usize + 1];
        *self.sent_per_segment.entry(segment).or_default() += 1;
        *self.bytes_per_segment.entry(segment).or_default() += bytes.len() as u64;
        for (to, h) in self.hosts.iter().enumerate() {
            if to == from {
                continue;
            }
            for (iface, seg) in h.segments.iter().enumerate() {
                if *seg != segment {
                    continue;
                }
                if self.link.loss_per_mille > 0 && self.rng.below(1000) < self.link.loss_per_mille {
                    continue;
                }
                let extra = self.rng.below(self.link.jitter_ms + 1);
                by_delay[extra as usize].push((to, iface));
            }
        }
        for (extra, to) in by_delay.into_iter().enumerate() {
            let delay = self.link.delay_ms + extra as u64;
            let at = self.now + omdisc_core::Duration::from_millis(delay);
            self.schedule.deliver(at, to, src, bytes.clone());
        }
    }

    /// Runs until `until` (virtual time).
    pub fn run_until(&mut self, until: Instant) {
        self.resync_deadlines();
        while let Some(next) = self.schedule.next() {
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` virtual milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + omdisc_core::Duration::from_millis(ms);
        self.run_until(until);
    }

    /// Runs until `done` holds (checked after every step) or `max_ms` pass; returns the
    /// virtual time it took, or `None`.
    pub fn run_until_cond(&mut self, max_ms: u64, done: impl FnMut(&Sim) -> bool) -> Option<u64> {
        self.run_until_cond_every(max_ms, 0, done)
    }

    /// Like [`Sim::run_until_cond`], but checks `done` at most every `every_ms` of virtual
    /// time (for conditions that are costly on large clusters).
    pub fn run_until_cond_every(
        &mut self,
        max_ms: u64,
        every_ms: u64,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<u64> {
        let start = self.now;
        let mut last_check = start;
        let limit = start + omdisc_core::Duration::from_millis(max_ms);
        if done(self) {
            return Some(0);
        }
        self.resync_deadlines();
        while let Some(next) = self.schedule.next() {
            if next > limit {
                break;
            }
            self.now = self.now.max(next);
            self.step();
            if (self.now - last_check).total_millis() < every_ms {
                continue;
            }
            last_check = self.now;
            if done(self) {
                return Some((self.now - start).total_millis());
            }
        }
        None
    }

    /// Delivers the datagrams due now, then runs the timers of the hosts due now (in host
    /// order).
    fn step(&mut self) {
        let now = self.now;
        while let Some(d) = self.schedule.due_delivery(now) {
            let from = SocketAddr::new(d.src, 7477);
            for &(to, iface) in &d.to {
                if !self.hosts[to].running {
                    continue;
                }
                self.delivered += 1;
                let iface = IfaceId::new(iface).expect("iface");
                let _ = self.hosts[to]
                    .engine
                    .handle_datagram(now, iface, from, &d.bytes);
                self.flush(to);
            }
        }
        for host in self.schedule.due_hosts(now) {
            if !self.hosts[host].running {
                continue;
            }
            self.hosts[host].engine.handle_timeout(now);
            self.flush(host);
        }
    }

    /// The events `host` reported at or after `since`.
    pub fn events_since(&self, host: HostId, since: Instant) -> Vec<Event> {
        self.hosts[host]
            .events
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, e)| *e)
            .collect()
    }

    /// The ids in `host`'s map.
    pub fn map_of(&self, host: HostId) -> Vec<u16> {
        self.hosts[host]
            .engine
            .members()
            .map(|e| e.id().get())
            .collect()
    }

    /// The ids of all running hosts, sorted.
    pub fn running_ids(&self) -> Vec<u16> {
        let mut ids: Vec<u16> = self
            .hosts
            .iter()
            .filter(|h| h.running)
            .map(|h| h.engine.node_id().get())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether every running host's map holds exactly the running hosts.
    pub fn converged(&self) -> bool {
        let running = self.hosts.iter().filter(|h| h.running).count();
        // Cheap O(n) pre-check on the group sizes before the full comparison.
        if self
            .hosts
            .iter()
            .any(|h| h.running && h.engine.group_size() != running)
        {
            return false;
        }
        let want = self.running_ids();
        self.hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.running)
            .all(|(i, _)| self.map_of(i) == want)
    }

    /// Whether `host` has `id` in its map. O(log n).
    pub fn knows(&self, host: HostId, id: u16) -> bool {
        NodeId::new(id).is_some_and(|id| self.hosts[host].engine.table().member(id).is_some())
    }

    /// Whether no running host has `id` in its map.
    pub fn nobody_knows(&self, id: u16) -> bool {
        (0..self.hosts.len()).all(|h| !self.hosts[h].running || !self.knows(h, id))
    }
}
