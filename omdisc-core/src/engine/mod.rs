//! The protocol engine: a sans-IO state machine that turns received datagrams and the
//! passage of time into datagrams to send and membership events.
//!
//! The engine owns no socket, clock or entropy source. The caller drives it:
//!
//! | call | when |
//! |---|---|
//! | [`Engine::start`] | once, to announce (and ask for quick answers) |
//! | [`Engine::handle_datagram`] | for every datagram received on the group port, to the group or by unicast |
//! | [`Engine::set_seeds`] | at start and whenever the list of unicast seeds changes |
//! | [`Engine::handle_timeout`] | whenever [`Engine::poll_timeout`] has passed (calling it early is harmless) |
//! | [`Engine::poll_transmit`] | after each of the above (at the latest every `RELAY_QUEUE` datagrams, [`RELAY_QUEUE_LEN`] by default), until it returns `None` |
//! | [`Engine::poll_event`] | likewise, to learn about membership changes |
//! | [`Engine::set_addresses`] | whenever an interface's addresses change, it goes away (none) or comes back |
//! | [`Engine::interface_resumed`] | when an interface's link is up again after being down (same addresses) |
//! | [`Engine::leave`] | on shutdown; then drain `poll_transmit` to send the LEAVE |

mod gossip;
mod leave;
mod local;
mod push;
mod receive;
mod relay;
mod schedule;
mod seeds;
mod stats;
mod sweep;
mod swim;
mod sync;
mod timer;
mod transmit;
mod unicast;

pub use gossip::MAX_RUMORS;
pub use local::AddressError;
pub use push::PUSH_RESENDS;
pub use receive::{Received, RxError};
pub use seeds::{SeedError, MAX_SEEDS, SEED_RETRY_MAX, SEED_RETRY_MIN, SEED_UNREACHABLE_AFTER};
pub use stats::Stats;
pub use swim::MAX_SUSPECTS;
pub use transmit::{Destination, Transmit};
pub use unicast::UNICAST_QUEUE_LEN;

use crate::addr::{AddrList, IfaceId, MAX_IFACES};
use crate::config::{Config, ConfigError, Forwarding, InterfaceSpec};
use crate::detector::Detector;
use crate::event::{Event, EventQueue};
use crate::id::NodeId;
use crate::rng::Rng;
use crate::table::{NodeEntry, NodeState, NodeTable, TableStorage};
use crate::time::Instant;
use crate::wire::Keyring;

use leave::LeaveBackoff;
use relay::{DuplicateCache, RelayQueue};
use schedule::{ReplyWindow, Scheduler};
use seeds::Seeds;
use timer::{Timer, TimerTable};
use unicast::UnicastQueue;

pub use relay::{DUPLICATE_CACHE_LEN, RELAY_QUEUE_LEN};
pub use schedule::{advertised_interval, deterministic_interval, LEAVE_BACKOFF_MEMBERS};

/// Node-table capacity of [`ArrayEngine`]'s default and of small targets.
pub const DEFAULT_CAPACITY: usize = 256;

/// How many membership events wait for [`Engine::poll_event`] before
/// [`Event::Overflow`] is reported instead.
pub const EVENT_QUEUE_LEN: usize = 32;

/// An engine whose node table is an array of `N` entries (const-generic capacity).
pub type ArrayEngine<const N: usize = DEFAULT_CAPACITY> = Engine<[NodeEntry; N]>;

/// Where the engine is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Created, [`Engine::start`] not called yet: sends nothing.
    Idle,
    /// Announcing, answering, relaying.
    Running,
    /// [`Engine::leave`] was called; LEAVE messages are waiting in `poll_transmit`.
    Leaving,
    /// The LEAVE messages have been handed out; nothing more to do.
    Stopped,
}

/// Whether a node with the interfaces in bitmask `serving` relays between them.
fn relays(forwarding: Forwarding, serving: u8) -> bool {
    forwarding == Forwarding::Relay && serving.count_ones() > 1
}

/// One pending round of this node's own messages: one sequence number, sent on every
/// interface in `pending` (every serving one, so that a receiver that misses a sequence
/// number has missed a round: the loss detector counts on it).
#[derive(Clone, Copy, Debug)]
struct Round {
    sequence: u32,
    /// Interfaces whose copy asks for quick answers (JOIN): those that just began to serve.
    join: u8,
    pending: u8,
    /// Whether a datagram of it has been handed out.
    started: bool,
}

/// The discovery engine over node-table storage `S` (an array or boxed slice of
/// [`NodeEntry`], or storage the frontend grows: see [`TableStorage`]).
///
/// `RELAY_QUEUE` and `DUPLICATES` size the gateway's relay queue and duplicate cache (at
/// least 1 each; the defaults suit a gateway, [`RELAY_QUEUE_LEN`] and
/// [`DUPLICATE_CACHE_LEN`]). A node on one interface never relays: it needs only a few
/// relay slots, for the LEAVEs that answer replays of departed nodes, and one duplicate
/// slot — about 6 KiB less (for thumbv7em, the engine without its table is 3.2 KiB
/// instead of 9.1 KiB).
pub struct Engine<
    S,
    const RELAY_QUEUE: usize = RELAY_QUEUE_LEN,
    const DUPLICATES: usize = DUPLICATE_CACHE_LEN,
> {
    config: Config,
    keys: Option<Keyring>,
    /// This node's addresses, each tagged with its interface (roles are given per
    /// announcement: see [`Engine::announced_addresses`]).
    addrs: AddrList,
    /// How many interfaces the engine was configured with.
    interfaces: u8,
    /// Bitmask of interfaces that may send and receive (all, or with multicast routing the
    /// first); of those, the ones with an address serve.
    active: u8,
    /// Whether this node is in the cluster: it has an interface that serves and a valid id,
    /// and its own entry is in the table.
    present: bool,
    /// Whether a round of the current identity has been handed out (so peers may know it,
    /// and it owes them a LEAVE when it ends).
    announced: bool,
    /// The LEAVE of this node's previous identity, owed after its id changed.
    farewell: Option<local::Farewell>,
    /// When [`Engine::interface_resumed`] last announced (it does at most once an interval).
    resumed_at: Option<Instant>,
    table: NodeTable<S>,
    /// When silent nodes are removed (loss-aware).
    detector: Detector,
    rng: Rng,
    phase: Phase,
    now: Instant,
    sequence: u32,
    /// Every deadline: announce, reply, sweep, leave.
    timers: TimerTable,
    own_round: Option<Round>,
    leave_round: Option<Round>,
    /// Answers owed to joining nodes, sent when [`Timer::Reply`] fires.
    replies: ReplyWindow,
    /// Bandwidth-scaled announce scheduling (RFC 3550 style).
    sched: Scheduler,
    /// Entries that are not departed (this node, alive and shadowed ones): the group size
    /// the bandwidth budget is shared by.
    live: usize,
    /// The interval advertised in this node's announcements.
    advertised: crate::time::Duration,
    /// LEAVE back-off in a large cluster, while it lasts ([`Timer::Leave`] says when to
    /// reconsider).
    leave_backoff: Option<LeaveBackoff>,
    relay_queue: RelayQueue<RELAY_QUEUE>,
    duplicates: DuplicateCache<DUPLICATES>,
    events: EventQueue<EVENT_QUEUE_LEN>,
    last_table_full: Option<(NodeId, u64)>,
    /// Unicast addresses to start from ([`Engine::set_seeds`]).
    seeds: Seeds,
    /// This node's unicast datagrams waiting for `poll_transmit`.
    unicast_queue: UnicastQueue,
    /// The probe protocol.
    swim: swim::Swim,
    /// News being passed on, and addresses contacted recently.
    rumors: gossip::Rumors,
    /// News pushed and waiting for ACKs, and news to send to the group again.
    pushes: push::Pushes,
    /// Member counts compared, and the syncs being sent.
    sync: sync::SyncState,
    stats: Stats,
}

impl<S: TableStorage> Engine<S> {
    /// A new engine for this node, with its interfaces (index 0 first), table storage
    /// (capacity = its length, at least 1) and a seed for timer jitter (use a different seed
    /// on every node, e.g. from the address and the clock). Its relay queue and duplicate
    /// cache have the default sizes; see [`Engine::with_relay_sizes`] for others.
    pub fn new(
        config: Config,
        interfaces: &[InterfaceSpec],
        storage: S,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        Self::with_relay_sizes(config, interfaces, storage, seed)
    }
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// As [`Engine::new`], with a relay queue of `RELAY_QUEUE` messages and a duplicate
    /// cache of `DUPLICATES` keys (both at least 1), e.g. the few bytes a node on one
    /// interface needs: `Engine::<_, 2, 1>::with_relay_sizes(..)`.
    pub fn with_relay_sizes(
        mut config: Config,
        interfaces: &[InterfaceSpec],
        storage: S,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if interfaces.is_empty() {
            return Err(ConfigError::NoInterfaces);
        }
        if interfaces.len() > MAX_IFACES {
            return Err(ConfigError::TooManyInterfaces(interfaces.len()));
        }
        let mut addrs = AddrList::new();
        for (i, spec) in interfaces.iter().enumerate() {
            let iface = IfaceId::new(i).ok_or(ConfigError::TooManyInterfaces(interfaces.len()))?;
            local::add_interface_addresses(&mut addrs, iface, &spec.addrs).map_err(
                |e| match e {
                    AddressError::BadAddress(ip) => ConfigError::BadAddress(ip),
                    _ => ConfigError::TooManyAddresses(
                        interfaces.iter().map(|s| s.addrs.len()).sum(),
                    ),
                },
            )?;
        }
        let active = match config.forwarding {
            Forwarding::Routed => 1,
            Forwarding::Relay | Forwarding::Isolated => ((1u16 << interfaces.len()) - 1) as u8,
        };
        let table = NodeTable::new(storage);
        if table.capacity() == 0 {
            return Err(ConfigError::NoStorage);
        }
        let first = local::announced_on(&addrs, IfaceId::FIRST);
        let initial_size = schedule::wire_size(
            crate::wire::HEADER_LEN + first.iter().map(crate::wire::address_len).sum::<usize>(),
            first.first().map(|a| a.ip),
        );
        let mut table = table;
        let present =
            local::enter_at_start(&mut table, &mut config, &addrs, active, interfaces.len());
        // Built where it is returned, not in a local first: the engine is kilobytes, and a
        // microcontroller's stack should not hold copies of it.
        Ok(Engine {
            keys: None,
            addrs,
            interfaces: interfaces.len() as u8,
            active,
            present,
            announced: false,
            farewell: None,
            resumed_at: None,
            table,
            detector: Detector::new(config.dead_after_limits()),
            rng: Rng::new(seed ^ config.incarnation ^ u64::from(config.node_id.get())),
            phase: Phase::Idle,
            now: Instant::ZERO,
            sequence: 0,
            timers: TimerTable::default(),
            own_round: None,
            leave_round: None,
            replies: ReplyWindow::default(),
            sched: Scheduler::new(initial_size),
            live: usize::from(present),
            advertised: schedule::advertised_interval(config.interval),
            leave_backoff: None,
            relay_queue: RelayQueue::new(),
            duplicates: DuplicateCache::new(),
            events: EventQueue::new(),
            last_table_full: None,
            seeds: Seeds::default(),
            unicast_queue: UnicastQueue::new(),
            swim: swim::Swim::default(),
            rumors: gossip::Rumors::default(),
            pushes: push::Pushes::default(),
            sync: sync::SyncState::default(),
            stats: Stats::default(),
            config,
        })
    }

    /// Authenticate with `keys` from now on (sign everything sent, accept only datagrams
    /// that verify), or, with `None`, run unauthenticated. Use it to load or rotate keys.
    pub fn set_keyring(&mut self, keys: Option<Keyring>) {
        self.keys = keys;
    }

    /// The keyring in use, if any.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keys.as_ref()
    }

    /// Uses `seeds` (at most [`MAX_SEEDS`], duplicates ignored) as the unicast addresses
    /// to start from, replacing the previous list; call it at any time (e.g. when a peers
    /// file is re-read). New seeds are contacted at once; one that does not answer is
    /// retried with back-off (from [`SEED_RETRY_MIN`] to [`SEED_RETRY_MAX`]) and reported
    /// once by [`Event::SeedUnreachable`]. On an error nothing changed.
    pub fn set_seeds(
        &mut self,
        now: Instant,
        seeds: &[core::net::SocketAddr],
    ) -> Result<(), SeedError> {
        self.now = self.now.max(now);
        self.seeds.replace(self.now, seeds)?;
        if self.phase == Phase::Running {
            self.arm_seed_timer();
        }
        Ok(())
    }

    /// The seeds in use, in the order given.
    pub fn seeds(&self) -> impl Iterator<Item = core::net::SocketAddr> + '_ {
        self.seeds.iter().map(|s| s.addr)
    }

    /// Starts announcing: the first announcement (with the join flag) goes out on the next
    /// [`poll_transmit`](Self::poll_transmit). Calling it again does nothing.
    pub fn start(&mut self, now: Instant) {
        if self.phase != Phase::Idle {
            return;
        }
        self.now = now;
        self.phase = Phase::Running;
        if self.present {
            core_log!(
                info,
                "node {} starting (incarnation {})",
                self.config.node_id.get(),
                self.config.incarnation
            );
            self.announce_now(self.serving());
            self.arm_seed_timer();
            self.arm_probe_timer();
        } else {
            core_log!(
                info,
                "starting without an address (incarnation {}): joining once one comes",
                self.config.incarnation
            );
        }
    }

    /// Announces at once on every serving interface (asking for quick answers on those in
    /// `join`), and restarts the periodic announcements from now.
    fn announce_now(&mut self, join: u8) {
        let now = self.now;
        if let Some(local) = self.local_entry_mut() {
            local.last_seen = now;
        }
        self.begin_round(self.serving(), join);
        self.sched.last_sent = Some(now);
        let td = self.stretched_interval();
        self.advertised = schedule::advertised_interval(td);
        let next = now + schedule::randomized(td, &mut self.rng);
        self.timers.set(Timer::Announce, next);
    }

    /// When the engine next needs [`handle_timeout`](Self::handle_timeout) (or, if datagrams
    /// are waiting in [`poll_transmit`](Self::poll_transmit), the last `now` it saw).
    /// `None` when stopped or idle.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Idle | Phase::Stopped) {
            return None;
        }
        if self.has_pending_transmit() {
            return Some(self.now);
        }
        if self.probe_timeout_idle() {
            // Every probe of the interval was answered and nothing waits for a resend: the
            // timeout has nothing to do, and an idle node does not wake for it (it is
            // retired when its moment has passed, see `handle_datagram`).
            return self.timers.next_except(Timer::ProbeTimeout);
        }
        self.timers.next()
    }

    /// Whether the deadline [`poll_timeout`](Self::poll_timeout) returns may be met a little
    /// late without changing anything the protocol promises: it belongs only to the
    /// periodic timers (the next announcement, which is randomised anyway, or a probe tick
    /// while no member is suspected). A frontend that wants to share wakes (omdiscd gives
    /// such a deadline a tenth of its period, 50 ms at most) keeps every other deadline
    /// exact: expiry, a probe's wait for its answer, a suspicion, answers to joins, LEAVE.
    #[must_use]
    pub fn poll_timeout_is_periodic(&self) -> bool {
        let Some(next) = self.poll_timeout() else {
            return false;
        };
        if next <= self.now {
            return false;
        }
        let at = |timer: Timer| self.timers.get(timer) == Some(next);
        let strict = [
            Timer::Reply,
            Timer::Sweep,
            Timer::Leave,
            Timer::Seed,
            Timer::ProbeTimeout,
        ];
        if strict
            .into_iter()
            .any(|timer| at(timer) && !self.is_idle_timeout(timer))
        {
            return false;
        }
        at(Timer::Announce) || (at(Timer::Probe) && self.swim.suspects.is_empty())
    }

    /// Whether `timer` is the probe timeout that `poll_timeout` leaves out (it has nothing
    /// to do).
    fn is_idle_timeout(&self, timer: Timer) -> bool {
        timer == Timer::ProbeTimeout && self.probe_timeout_idle()
    }

    /// Runs the timers due at `now`: periodic announcements, answers to joining nodes,
    /// expiry of silent nodes. Harmless to call early or often.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        if self.phase == Phase::Leaving {
            self.leave_timer(now);
            return;
        }
        if self.phase != Phase::Running {
            return;
        }
        if self.timers.is_due(Timer::Announce, now) {
            self.announce_timer(now);
        }
        if self.timers.is_due(Timer::Reply, now) {
            self.timers.stop(Timer::Reply);
            // One round on every serving interface answers them all (and keeps every
            // round on every interface, for the receivers' loss estimates).
            if self.replies.take() != 0 {
                self.begin_round(self.serving(), 0);
            }
        }
        if self.timers.is_due(Timer::Sweep, now) {
            self.sweep(now);
        }
        if !cfg!(feature = "probes") {
            return;
        }
        if self.timers.is_due(Timer::Seed, now) {
            self.seed_timer(now);
        }
        if self.timers.is_due(Timer::ProbeTimeout, now) {
            self.probe_timeout_timer();
        }
        if self.timers.is_due(Timer::Probe, now) {
            self.probe_timer(now);
        } else {
            self.arm_probe_timer();
        }
    }

    /// The periodic announce timer fired: announce, or — if the membership grew so that the
    /// interval since the last announcement is not over yet — reschedule (forward
    /// reconsideration).
    fn announce_timer(&mut self, now: Instant) {
        if !self.present {
            self.timers.stop(Timer::Announce);
            return;
        }
        let td = self.stretched_interval();
        let t = schedule::randomized(td, &mut self.rng);
        if let Some(last) = self.sched.last_sent {
            // Joins waiting for this round (their own answer was dropped because this round
            // was due first) are not kept waiting by reconsideration, and no round comes
            // later than the last one advertised: receivers expire by that.
            let due = (last + t).min(last + self.advertised);
            if due > now && !self.replies.is_owed() {
                self.timers.set(Timer::Announce, due);
                return;
            }
        }
        self.advertised = schedule::advertised_interval(td);
        self.begin_round(self.serving(), 0);
        self.sched.last_sent = Some(now);
        self.sched.pmembers = self.live;
        let next = now + schedule::randomized(td, &mut self.rng);
        self.timers.set(Timer::Announce, next);
        let advertised = self.advertised;
        if let Some(local) = self.local_entry_mut() {
            local.last_seen = now;
            local.set_interval(advertised);
        }
        // A periodic round answers pending joins too.
        self.timers.stop(Timer::Reply);
        self.replies.clear();
    }

    /// `Td` for the next round: the bandwidth-scaled interval, stretched at most to
    /// [`schedule::stretch_limit`] of what the last round advertised.
    fn stretched_interval(&self) -> crate::time::Duration {
        let td = self.sched.deterministic(&self.config, self.live);
        td.min(schedule::stretch_limit(self.advertised))
    }

    /// Members left or expired: pull the timers in proportionally (reverse
    /// reconsideration, RFC 3550 §6.3.4).
    fn members_dropped(&mut self) {
        let (members, pmembers) = (self.live as u64, self.sched.pmembers as u64);
        if members >= pmembers || pmembers == 0 {
            return;
        }
        let now = self.now;
        if let Some(next) = self.timers.get(Timer::Announce) {
            let pulled_in = now + (next - now).mul_ratio(members, pmembers);
            self.timers.set(Timer::Announce, pulled_in);
        }
        if let Some(last) = self.sched.last_sent {
            let back = (now - last).mul_ratio(members, pmembers);
            self.sched.last_sent = Some(Instant::from_millis(
                now.total_millis().saturating_sub(back.total_millis()),
            ));
        }
        self.sched.pmembers = self.live;
    }

    /// How many nodes share the bandwidth budget (this one, alive and shadowed ones).
    pub fn group_size(&self) -> usize {
        self.live
    }

    /// The interval this node advertises (the longest gap between its announcements).
    pub fn advertised_interval(&self) -> crate::time::Duration {
        self.advertised
    }

    /// The bandwidth-scaled announce interval now, `Td = max(interval, group size × average
    /// announcement size × 8 / bandwidth)` (RFC 3550 §6.2): each round is randomised around
    /// it (between 0.41 and 1.23 times it), and `group size × average size / Td` is the
    /// cluster's announce traffic the budget allows for.
    pub fn announce_interval(&self) -> crate::time::Duration {
        self.sched.deterministic(&self.config, self.live)
    }

    /// The average announcement size on the wire (UDP/IP headers included), in bytes.
    pub fn average_announce_size(&self) -> u32 {
        self.sched.avg_size()
    }

    /// The next membership event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The failure detector: when each silent node is removed ([`NodeEntry::expires_at`]).
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The node table (members, shadowed contenders and tombstones).
    pub fn table(&self) -> &NodeTable<S> {
        &self.table
    }

    /// The map's members (this node included), sorted by node id.
    pub fn members(&self) -> impl Iterator<Item = &NodeEntry> + Clone {
        self.table.members()
    }

    /// This node's id: the current one, or while it is out of the cluster (no address) the
    /// last one (see [`local_id`](Self::local_id)).
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// This node's id while it is in the cluster; `None` while it has no interface that
    /// serves (no address), or its address-derived id would be 0. [`Event::LocalChanged`]
    /// says when this changes.
    pub fn local_id(&self) -> Option<NodeId> {
        self.present.then_some(self.config.node_id)
    }

    /// The configuration (with the current [`node_id`](Self::node_id)).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How many events were dropped because nobody pulled them.
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Where the engine is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The node-id collisions now: for every host left out of the map, who keeps its id
    /// (see [`NodeTable::conflicts`]). [`Event::Conflict`] and [`Event::ConflictEnded`]
    /// say when this changes.
    pub fn conflicts(&self) -> impl Iterator<Item = crate::table::Collision> + '_ {
        self.table.conflicts()
    }

    /// Whether this node lost a node-id collision: another host with a lower address claims
    /// the same id, so every node (this one included) keeps this node out of the map.
    pub fn lost_id_collision(&self) -> bool {
        let id = self.config.node_id;
        self.table
            .same_id(id)
            .iter()
            .any(|e| e.state == NodeState::Local && e.shadowed)
    }

    /// Whether this node relays between interfaces (and says so in its announcements):
    /// more than one interface serves, and [`Forwarding::Relay`].
    pub fn is_gateway(&self) -> bool {
        relays(self.config.forwarding, self.serving())
    }

    /// Whether `iface` serves: it may send and receive, and it has an address.
    pub fn is_active(&self, iface: IfaceId) -> bool {
        self.serving() & iface.bit() != 0
    }

    /// The addresses this node announces on `iface`: that interface's as primary, the
    /// others' as aliases.
    pub fn announced_addresses(&self, iface: IfaceId) -> AddrList {
        local::announced_on(&self.addrs, iface)
    }

    /// Bitmask of the interfaces that serve: active, and with an address, while this node
    /// is in the cluster.
    fn serving(&self) -> u8 {
        if !self.present {
            return 0;
        }
        self.with_address() & self.active
    }

    /// Bitmask of the interfaces that have an address.
    fn with_address(&self) -> u8 {
        self.addrs.iter().fold(0, |mask, a| mask | a.iface.bit())
    }

    /// This node's own entry in the table, while it is in the cluster.
    fn local_entry_mut(&mut self) -> Option<&mut NodeEntry> {
        let index = self.local_index()?;
        self.table.get_mut(index)
    }

    fn local_index(&self) -> Option<usize> {
        let first = self
            .table
            .entries()
            .partition_point(|e| e.id < self.config.node_id.get());
        self.table
            .same_id(self.config.node_id)
            .iter()
            .position(|e| e.state == NodeState::Local)
            .map(|p| first + p)
    }

    /// Queues one round of own announcements on the interfaces in `mask` (with the join
    /// flag on those in `join`).
    fn begin_round(&mut self, mask: u8, join: u8) {
        if mask == 0 {
            return;
        }
        let join = join & mask;
        let round = match self.own_round {
            // Not sent anywhere yet: the new round joins it under its number, so that no
            // sequence number goes unsent (receivers count a missing one as a lost round).
            Some(r) if !r.started => Round {
                join: r.join | join,
                pending: r.pending | mask,
                ..r
            },
            Some(r) => Round {
                sequence: self.next_sequence(),
                join: r.join | join,
                pending: r.pending | mask,
                started: false,
            },
            None => Round {
                sequence: self.next_sequence(),
                join,
                pending: mask,
                started: false,
            },
        };
        let sequence = round.sequence;
        if let Some(local) = self.local_entry_mut() {
            local.sequence = sequence;
        }
        self.own_round = Some(round);
    }
}

#[cfg(test)]
mod tests;
