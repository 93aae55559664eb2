//! The protocol engine: a sans-IO state machine that turns received datagrams and the
//! passage of time into datagrams to send and membership events.
//!
//! The engine owns no socket, clock or entropy source. The caller drives it:
//!
//! | call | when |
//! |---|---|
//! | [`Engine::start`] | once, to announce (and ask for quick answers) |
//! | [`Engine::handle_datagram`] | for every datagram received on the group port |
//! | [`Engine::handle_timeout`] | whenever [`Engine::poll_timeout`] has passed (calling it early is harmless) |
//! | [`Engine::poll_transmit`] | after each of the above (at the latest every `RELAY_QUEUE` datagrams, [`RELAY_QUEUE_LEN`] by default), until it returns `None` |
//! | [`Engine::poll_event`] | likewise, to learn about membership changes |
//! | [`Engine::leave`] | on shutdown; then drain `poll_transmit` to send the LEAVE |

mod leave;
mod receive;
mod relay;
mod schedule;
mod stats;
mod sweep;
mod timer;
mod transmit;

pub use receive::{Received, RxError};
pub use stats::Stats;
pub use transmit::Transmit;

use crate::addr::{AddrList, IfaceId, NodeAddr, MAX_IFACES};
use crate::config::{Config, ConfigError, Forwarding, InterfaceSpec};
use crate::event::{Event, EventQueue};
use crate::id::NodeId;
use crate::rng::Rng;
use crate::table::{NodeEntry, NodeState, NodeTable};
use crate::time::Instant;
use crate::wire::Keyring;

use leave::LeaveBackoff;
use relay::{DuplicateCache, RelayQueue};
use schedule::{ReplyWindow, Scheduler};
use timer::{Timer, TimerTable};

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

/// Whether a node with the interfaces in bitmask `active` relays between them.
fn relays(forwarding: Forwarding, active: u8) -> bool {
    forwarding == Forwarding::Relay && active.count_ones() > 1
}

/// One pending round of this node's own messages.
#[derive(Clone, Copy, Debug)]
struct Round {
    sequence: u32,
    join: bool,
    pending: u8,
}

/// The discovery engine over node-table storage `S` (an array, boxed slice or `Vec` of
/// [`NodeEntry`]; see [`NodeTable`]).
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
    /// Addresses announced on each interface: its own as primary, the others as aliases.
    announce_addrs: heapless::Vec<AddrList, MAX_IFACES>,
    /// Bitmask of interfaces that send and receive.
    active: u8,
    table: NodeTable<S>,
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
    stats: Stats,
}

impl<S: AsRef<[NodeEntry]> + AsMut<[NodeEntry]>> Engine<S> {
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
    S: AsRef<[NodeEntry]> + AsMut<[NodeEntry]>,
{
    /// As [`Engine::new`], with a relay queue of `RELAY_QUEUE` messages and a duplicate
    /// cache of `DUPLICATES` keys (both at least 1), e.g. the few bytes a node on one
    /// interface needs: `Engine::<_, 2, 1>::with_relay_sizes(..)`.
    pub fn with_relay_sizes(
        config: Config,
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
        let mut total = 0usize;
        for (i, spec) in interfaces.iter().enumerate() {
            if spec.addrs.is_empty() {
                return Err(ConfigError::InterfaceWithoutAddress(i));
            }
            if let Some(bad) = spec
                .addrs
                .iter()
                .find(|ip| !crate::addr::is_node_address(**ip))
            {
                return Err(ConfigError::BadAddress(*bad));
            }
            total += spec.addrs.len();
        }
        if total > crate::addr::MAX_ADDRS {
            return Err(ConfigError::TooManyAddresses(total));
        }
        let active = match config.forwarding {
            Forwarding::Routed => 1,
            Forwarding::Relay | Forwarding::Isolated => ((1u16 << interfaces.len()) - 1) as u8,
        };
        let gateway = relays(config.forwarding, active);
        let mut announce_addrs = heapless::Vec::new();
        for (i, _) in interfaces.iter().enumerate() {
            let list = addresses_announced_on(interfaces, i);
            announce_addrs
                .push(list)
                .map_err(|_| ConfigError::TooManyInterfaces(interfaces.len()))?;
        }

        let mut table = NodeTable::new(storage);
        if table.capacity() == 0 {
            return Err(ConfigError::NoStorage);
        }
        let initial_size = announce_addrs.first().map_or(0, |l| {
            let payload =
                crate::wire::HEADER_LEN + l.iter().map(crate::wire::address_len).sum::<usize>();
            schedule::wire_size(payload, l.first().map(|a| a.ip))
        });
        let local = NodeEntry::local(
            &config,
            announce_addrs.first().cloned().unwrap_or_default(),
            gateway,
        );
        table.insert(local).map_err(|_| ConfigError::NoStorage)?;
        // Built where it is returned, not in a local first: the engine is kilobytes, and a
        // microcontroller's stack should not hold copies of it.
        Ok(Engine {
            keys: None,
            announce_addrs,
            active,
            table,
            rng: Rng::new(seed ^ config.incarnation ^ u64::from(config.node_id.get())),
            phase: Phase::Idle,
            now: Instant::ZERO,
            sequence: 0,
            timers: TimerTable::default(),
            own_round: None,
            leave_round: None,
            replies: ReplyWindow::default(),
            sched: Scheduler::new(initial_size),
            live: 1,
            advertised: schedule::advertised_interval(config.interval),
            leave_backoff: None,
            relay_queue: RelayQueue::new(),
            duplicates: DuplicateCache::new(),
            events: EventQueue::new(),
            last_table_full: None,
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

    /// Starts announcing: the first announcement (with the join flag) goes out on the next
    /// [`poll_transmit`](Self::poll_transmit). Calling it again does nothing.
    pub fn start(&mut self, now: Instant) {
        if self.phase != Phase::Idle {
            return;
        }
        self.now = now;
        self.phase = Phase::Running;
        if let Some(local) = self.local_entry_mut() {
            local.last_seen = now;
        }
        self.begin_round(self.active, true);
        self.sched.last_sent = Some(now);
        let td = self.sched.deterministic(&self.config, self.live);
        self.advertised = schedule::advertised_interval(td);
        let first = now + schedule::randomized(td, &mut self.rng);
        self.timers.set(Timer::Announce, first);
        core_log!(
            info,
            "node {} starting (incarnation {})",
            self.config.node_id.get(),
            self.config.incarnation
        );
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
        self.timers.next()
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
            let ifaces = self.replies.take();
            self.begin_round(ifaces, false);
        }
        if self.timers.is_due(Timer::Sweep, now) {
            self.sweep(now);
        }
    }

    /// The periodic announce timer fired: announce, or — if the membership grew so that the
    /// interval since the last announcement is not over yet — reschedule (forward
    /// reconsideration).
    fn announce_timer(&mut self, now: Instant) {
        let td = self.sched.deterministic(&self.config, self.live);
        let t = schedule::randomized(td, &mut self.rng);
        if let Some(last) = self.sched.last_sent {
            if last + t > now {
                self.timers.set(Timer::Announce, last + t);
                return;
            }
        }
        self.advertised = schedule::advertised_interval(td);
        self.begin_round(self.active, false);
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

    /// The node table (members, shadowed contenders and tombstones).
    pub fn table(&self) -> &NodeTable<S> {
        &self.table
    }

    /// The map's members (this node included), sorted by node id.
    pub fn members(&self) -> impl Iterator<Item = &NodeEntry> + Clone {
        self.table.members()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The configuration.
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
    /// several active interfaces and [`Forwarding::Relay`].
    pub fn is_gateway(&self) -> bool {
        relays(self.config.forwarding, self.active)
    }

    /// Whether `iface` sends and receives.
    pub fn is_active(&self, iface: IfaceId) -> bool {
        self.active & iface.bit() != 0
    }

    /// The addresses this node announces on `iface`.
    pub fn announced_addresses(&self, iface: IfaceId) -> &[NodeAddr] {
        self.announce_addrs
            .get(iface.index())
            .map_or(&[], |l| l.as_slice())
    }

    fn local_entry_mut(&mut self) -> Option<&mut NodeEntry> {
        let addrs = self.announce_addrs.first()?;
        let index = self.table.find(self.config.node_id, addrs)?;
        self.table
            .get_mut(index)
            .filter(|e| e.state == NodeState::Local)
    }

    /// Queues one round of own announcements on the interfaces in `mask`.
    fn begin_round(&mut self, mask: u8, join: bool) {
        if mask == 0 {
            return;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        if let Some(local) = self.local_entry_mut() {
            local.sequence = sequence;
        }
        let round = match self.own_round {
            Some(r) => Round {
                sequence,
                join: r.join || join,
                pending: r.pending | mask,
            },
            None => Round {
                sequence,
                join,
                pending: mask,
            },
        };
        self.own_round = Some(round);
    }
}

/// The address list announced on interface `index`: its addresses as primary, then the
/// other interfaces' as aliases.
fn addresses_announced_on(interfaces: &[InterfaceSpec], index: usize) -> AddrList {
    let mut list = AddrList::new();
    let own = interfaces.get(index).into_iter().map(|s| (index, s, true));
    let others = interfaces
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(i, s)| (i, s, false));
    for (i, spec, primary) in own.chain(others) {
        let Some(iface) = IfaceId::new(i) else {
            continue;
        };
        for ip in &spec.addrs {
            let addr = if primary {
                NodeAddr::primary(*ip, iface)
            } else {
                NodeAddr::alias(*ip, iface)
            };
            if !list.iter().any(|a| a.ip == *ip) {
                // The caller checked the total against MAX_ADDRS.
                let _ = list.push(addr);
            }
        }
    }
    list
}

#[cfg(test)]
mod tests;
