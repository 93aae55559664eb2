//! The node table: every node this node knows of, in caller-provided fixed storage.
//!
//! Entries are kept sorted by node id (binary search, O(log n) lookup, O(n) insert/remove).
//! Departed nodes (left or expired) stay as *tombstones* so that a replayed old message
//! cannot bring them back; tombstones are evicted, oldest first, only when a live node
//! needs the slot. Two live entries may share a node id (a collision between two hosts);
//! the engine marks all but the one with the lowest address as *shadowed*, only unshadowed
//! live entries are members of the map, and [`NodeTable::conflicts`] lists the others.
//!
//! The table lives in caller-provided [`TableStorage`]: an array (`[NodeEntry::VACANT; 256]`,
//! const-generic capacity, can live in a `static`) on a microcontroller, a boxed slice, or
//! storage that the frontend grows as nodes come (the Linux daemon's, up to `--max-nodes`).
//! The core never allocates: it asks the storage for more slots only when every slot is in
//! use, and the table is full at the storage's [`capacity`](TableStorage::capacity), which
//! never changes.

use core::fmt;
use core::net::IpAddr;
use core::num::NonZeroU32;

use crate::addr::{contains_ip, lowest_ip, shares_address, AddrList, AddrRole, IfaceId, NodeAddr};
use crate::config::Config;
use crate::detector::{Detector, LossEstimate};
use crate::id::NodeId;
use crate::time::{Duration, Instant};
use crate::wire::Message;

/// Whether an entry is this node, another live node, or a departed one (tombstone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeState {
    /// A node that left or expired; kept so replays of its old messages are refused.
    /// (First, so that an unused slot is all zero bytes.)
    Departed,
    /// This node itself.
    Local,
    /// A node heard from recently enough.
    Alive,
}

/// One known node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeEntry {
    /// The node id as a number; 0 only in unused slots, so that [`NodeEntry::VACANT`] is
    /// all zero bytes and a `static` table lands in `.bss`, not in flash.
    pub(crate) id: u16,
    pub(crate) addrs: AddrList,
    pub(crate) incarnation: u64,
    pub(crate) sequence: u32,
    /// The advertised interval in milliseconds (at most a day, as on the wire; 4 bytes
    /// instead of a [`Duration`]'s 8 keep the entry at 160 bytes).
    interval_ms: u32,
    pub(crate) last_seen: Instant,
    pub(crate) iface: IfaceId,
    pub(crate) via: Option<NodeId>,
    pub(crate) hops: u8,
    pub(crate) gateway: bool,
    pub(crate) state: NodeState,
    pub(crate) shadowed: bool,
    /// For a live entry: when its current (shortest) path was last confirmed.
    pub(crate) path_seen: Instant,
    /// One of two things, by state, in four bytes (so the entry stays at 160):
    /// for a live entry, how many of its rounds are lost on the way here (a
    /// [`LossEstimate`], packed); for a tombstone, when this node last answered a replay of
    /// it, as milliseconds after its departure plus one (0: never), saturating after 49
    /// days — longer than a tombstone lives
    /// ([`MAX_TOMBSTONE_LIFETIME`](crate::config::MAX_TOMBSTONE_LIFETIME)). Zero is both
    /// "nothing lost" and "never answered".
    by_state: u32,
}

impl NodeEntry {
    /// An unused slot, to fill storage with: `[NodeEntry::VACANT; N]`. All zero bytes.
    pub const VACANT: NodeEntry = NodeEntry {
        id: 0,
        addrs: AddrList::new(),
        incarnation: 0,
        sequence: 0,
        interval_ms: 0,
        last_seen: Instant::ZERO,
        iface: IfaceId::FIRST,
        via: None,
        hops: 0,
        gateway: false,
        state: NodeState::Departed,
        shadowed: false,
        path_seen: Instant::ZERO,
        by_state: 0,
    };

    /// A live entry for the node `msg` is about, heard at `now` on `iface`.
    pub(crate) fn heard(msg: &Message, iface: IfaceId, now: Instant) -> NodeEntry {
        let mut entry = NodeEntry {
            id: msg.origin.get(),
            addrs: msg.addrs.clone(),
            incarnation: msg.incarnation,
            sequence: msg.sequence,
            last_seen: now,
            iface,
            via: msg.relayer,
            hops: msg.hops,
            gateway: msg.gateway,
            state: NodeState::Alive,
            path_seen: now,
            ..NodeEntry::VACANT
        };
        entry.set_interval(msg.interval);
        entry
    }

    /// This node's own entry: its id, incarnation and first interface's addresses.
    pub(crate) fn local(config: &Config, addrs: AddrList, gateway: bool) -> NodeEntry {
        let mut entry = NodeEntry {
            id: config.node_id.get(),
            addrs,
            incarnation: config.incarnation,
            gateway,
            state: NodeState::Local,
            ..NodeEntry::VACANT
        };
        entry.set_interval(config.interval);
        entry
    }

    /// The node id.
    pub fn id(&self) -> NodeId {
        NodeId::new(self.id).unwrap_or(NodeId::MIN)
    }
    /// The node's addresses, as last announced on the best path.
    pub fn addrs(&self) -> &[NodeAddr] {
        &self.addrs
    }
    /// The incarnation (start) of the node last heard.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
    /// The highest sequence number heard from this incarnation.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }
    /// The announce interval the node advertises.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }
    pub(crate) fn set_interval(&mut self, interval: Duration) {
        // Intervals on the wire and this node's own are at most a day.
        self.interval_ms = u32::try_from(interval.total_millis()).unwrap_or(u32::MAX);
    }
    /// When the node was last heard (or, for a tombstone, when it departed).
    pub fn last_seen(&self) -> Instant {
        self.last_seen
    }
    /// The interface of *this* node it was heard on.
    pub fn iface(&self) -> IfaceId {
        self.iface
    }
    /// The gateway it was heard through, if relayed.
    pub fn via(&self) -> Option<NodeId> {
        self.via
    }
    /// How many gateways its messages crossed on the best path.
    pub fn hops(&self) -> u8 {
        self.hops
    }
    /// Whether the node relays between networks.
    pub fn is_gateway(&self) -> bool {
        self.gateway
    }
    /// Local, alive or departed.
    pub fn state(&self) -> NodeState {
        self.state
    }
    /// Whether it lost a node-id collision (kept out of the map).
    pub fn is_shadowed(&self) -> bool {
        self.shadowed
    }
    /// Turns the entry into a tombstone at `now` (no replay of it answered yet).
    pub(crate) fn depart(&mut self, now: Instant) {
        self.state = NodeState::Departed;
        self.last_seen = now;
        self.by_state = 0;
    }
    /// For a tombstone: when a replay of it was last answered, if ever.
    pub(crate) fn replay_answered(&self) -> Option<Instant> {
        if self.state != NodeState::Departed {
            return None;
        }
        let after = NonZeroU32::new(self.by_state)?.get() - 1;
        Some(self.last_seen + Duration::from_millis(u64::from(after)))
    }
    /// For a tombstone: a replay of it was answered at `now`.
    pub(crate) fn set_replay_answered(&mut self, now: Instant) {
        if self.state != NodeState::Departed {
            return;
        }
        let after = now.saturating_since(self.last_seen).total_millis();
        self.by_state = u32::try_from(after.saturating_add(1)).unwrap_or(u32::MAX);
    }
    /// For a live entry: the measured loss of its rounds on the way here (none for this
    /// node and for tombstones).
    pub fn loss(&self) -> LossEstimate {
        match self.state {
            NodeState::Alive => LossEstimate::from_bits(self.by_state & !UNICAST_BIT),
            NodeState::Local | NodeState::Departed => LossEstimate::NONE,
        }
    }
    /// For a live entry: a round arrived after `missed` rounds that did not.
    pub(crate) fn record_rounds(&mut self, missed: u32) {
        if self.state == NodeState::Alive {
            let mut loss = self.loss();
            loss.record(missed);
            self.by_state = loss.to_bits() | (self.by_state & UNICAST_BIT);
        }
    }
    /// Whether it belongs in the map: alive or local, and not shadowed.
    pub fn is_member(&self) -> bool {
        self.state != NodeState::Departed && !self.shadowed
    }
    /// Whether it is reached by unicast only (its last announcement came by unicast, not
    /// to the group): `showmap --json` may say so.
    pub fn is_unicast(&self) -> bool {
        self.state == NodeState::Alive && self.by_state & UNICAST_BIT != 0
    }
    /// For a live entry: whether its last announcement came by unicast only (not on this
    /// node's multicast network: its silence says nothing, the probe protocol decides).
    pub(crate) fn set_unicast(&mut self, unicast: bool) {
        if self.state == NodeState::Alive {
            self.by_state = (self.by_state & !UNICAST_BIT) | if unicast { UNICAST_BIT } else { 0 };
        }
    }
    /// The instant after which `detector` expires it if not heard again:
    /// `last_seen + interval × k`, `k` = [`Detector::dead_after`] of its loss; never for a
    /// member reached by unicast only (the probe protocol removes it).
    pub fn expires_at(&self, detector: &Detector) -> Instant {
        if self.is_unicast() {
            // Reached by unicast only: the probe protocol decides.
            return Instant::from_millis(u64::MAX);
        }
        let k = detector.dead_after(self.loss());
        self.last_seen + self.interval().saturating_mul(u64::from(k))
    }
}

/// For a live entry, the bit of `by_state` above the loss estimate's 24 that says it is
/// reached by unicast only.
const UNICAST_BIT: u32 = 1 << 31;

/// The table is full; the entry that did not fit is handed back and nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableFull(pub(crate) NodeEntry);

/// A node-id collision: two hosts claim one id, the one whose lowest address is lowest
/// keeps it (on every node alike) and the other is left out of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Collision {
    /// The contested id.
    pub id: NodeId,
    /// Lowest address of the entry that keeps the id.
    pub winner: IpAddr,
    /// Lowest address of the entry left out.
    pub loser: IpAddr,
}

/// What [`NodeTable::resolve_collision`] changed for one id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolution {
    /// An entry that was just left out (the first, if several were).
    pub(crate) started: Option<Collision>,
    /// An entry that was left out and no longer is (it departed, or it holds the id now):
    /// its lowest address, and whether it is this node.
    pub(crate) ended: Option<(IpAddr, bool)>,
}

/// The memory a [`NodeTable`] keeps its entries in: the slots there are now, and how many
/// there may ever be.
///
/// Fixed storage — an array, a boxed slice, `&mut [NodeEntry]`, anything that is
/// `AsRef<[NodeEntry]> + AsMut<[NodeEntry]>` — implements it as it is: its length is its
/// capacity and it never grows. A frontend with an allocator implements it to grow in steps
/// (omdisc-std's `GrowingTable`), so that a table for the whole id space costs memory only
/// for the nodes that come.
pub trait TableStorage {
    /// The slots there are now: the table's entries first, then vacant ones.
    fn slots(&self) -> &[NodeEntry];

    /// The slots there are now, to write.
    fn slots_mut(&mut self) -> &mut [NodeEntry];

    /// The most slots there will ever be: the table is full when that many are in use.
    /// Never changes; fixed storage: the number of slots.
    fn capacity(&self) -> usize {
        self.slots().len()
    }

    /// Makes at least `min` slots (new ones vacant, after those there are; the ones there
    /// are keep their contents), but never more than [`capacity`](Self::capacity). Returns
    /// whether there are at least `min` slots now. Fixed storage cannot grow.
    fn grow(&mut self, min: usize) -> bool {
        self.slots().len() >= min
    }
}

impl<T: AsRef<[NodeEntry]> + AsMut<[NodeEntry]>> TableStorage for T {
    fn slots(&self) -> &[NodeEntry] {
        self.as_ref()
    }

    fn slots_mut(&mut self) -> &mut [NodeEntry] {
        self.as_mut()
    }
}

/// The node table over storage `S` (see the module docs): read-only outside the engine
/// ([`Engine::table`](crate::Engine::table)).
pub struct NodeTable<S> {
    slots: S,
    len: usize,
}

impl<S: TableStorage> NodeTable<S> {
    /// An empty table using `storage` (its contents are overwritten as entries come).
    pub(crate) fn new(storage: S) -> Self {
        NodeTable {
            slots: storage,
            len: 0,
        }
    }

    /// How many entries fit: the storage's [`capacity`](TableStorage::capacity).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// How many slots the storage has now (at most [`capacity`](Self::capacity); less while
    /// growing storage has not been asked for more).
    pub fn slots_in_use(&self) -> usize {
        self.slots.slots().len()
    }

    /// How many entries are in use, tombstones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All entries in use, sorted by node id.
    pub fn entries(&self) -> &[NodeEntry] {
        self.slots.slots().get(..self.len).unwrap_or(&[])
    }

    fn entries_mut(&mut self) -> &mut [NodeEntry] {
        let len = self.len;
        self.slots.slots_mut().get_mut(..len).unwrap_or(&mut [])
    }

    /// The members of the map (local and alive, not shadowed), sorted by node id.
    pub fn members(&self) -> impl Iterator<Item = &NodeEntry> + Clone {
        self.entries().iter().filter(|e| e.is_member())
    }

    /// How many members the map has. O(n).
    pub fn member_count(&self) -> usize {
        self.members().count()
    }

    /// The member with node id `id`, if any. O(log n).
    pub fn member(&self, id: NodeId) -> Option<&NodeEntry> {
        self.same_id(id).iter().find(|e| e.is_member())
    }

    /// Index range of the entries with node id `id`.
    fn id_range(&self, id: NodeId) -> core::ops::Range<usize> {
        let entries = self.entries();
        let id = id.get();
        // One binary search; entries sharing an id (collisions) are rare and adjacent.
        let start = entries.partition_point(|e| e.id < id);
        let same = entries
            .get(start..)
            .map_or(0, |rest| rest.iter().take_while(|e| e.id == id).count());
        start..start + same
    }

    /// [`id_range`](Self::id_range) found from `hint`, an index that may hold an entry of
    /// `id` (where one was a moment ago): when it does, the range is found around it in
    /// O(k) for the `k` entries of `id` without a search; otherwise by the search.
    fn id_range_near(&self, hint: Option<usize>, id: NodeId) -> core::ops::Range<usize> {
        let entries = self.entries();
        let raw = id.get();
        let Some(at) = hint.filter(|&i| entries.get(i).is_some_and(|e| e.id == raw)) else {
            return self.id_range(id);
        };
        let before = entries
            .get(..at)
            .map_or(0, |s| s.iter().rev().take_while(|e| e.id == raw).count());
        let from_at = entries
            .get(at..)
            .map_or(0, |s| s.iter().take_while(|e| e.id == raw).count());
        at - before..at + from_at
    }

    /// Every entry (members, shadowed and tombstones) with node id `id`.
    pub fn same_id(&self, id: NodeId) -> &[NodeEntry] {
        let range = self.id_range(id);
        self.entries().get(range).unwrap_or(&[])
    }

    /// Index of the entry with node id `id` that shares an address with `addrs` (the same
    /// host), if any. When several do (an address moved between contenders of a collision):
    /// this node's own entry, else the one holding the first primary address of `addrs` (the
    /// sender's), else the first.
    pub fn find(&self, id: NodeId, addrs: &[NodeAddr]) -> Option<usize> {
        self.find_in(self.id_range(id), addrs)
    }

    /// [`find`](Self::find) among the entries of one id, at `range`.
    fn find_in(&self, range: core::ops::Range<usize>, addrs: &[NodeAddr]) -> Option<usize> {
        let start = range.start;
        let same = self.entries().get(range)?;
        let primary = addrs.iter().find(|a| a.role == AddrRole::Primary);
        same.iter()
            .position(|e| e.state == NodeState::Local && shares_address(&e.addrs, addrs))
            .or_else(|| {
                same.iter()
                    .position(|e| primary.is_some_and(|p| contains_ip(&e.addrs, p.ip)))
            })
            .or_else(|| same.iter().position(|e| shares_address(&e.addrs, addrs)))
            .map(|i| start + i)
    }

    /// The entry at `index` announced its addresses: they are its host's now (one host, one
    /// entry), so the other live peers of its id lose them, and one left without an address
    /// is removed. Returns how many entries were removed, and the lowest address of a
    /// shadowed one among them (its conflict is over).
    pub(crate) fn claim_addresses(&mut self, index: usize) -> (usize, Option<IpAddr>) {
        let Some(entry) = self.get(index) else {
            return (0, None);
        };
        let addrs = entry.addrs.clone();
        let range = self.id_range(entry.id());
        let (mut index, mut removed, mut ended) = (index, 0, None);
        let (mut i, mut end) = (range.start, range.end);
        while i < end {
            let Some(other) = self.get_mut(i).filter(|e| e.state == NodeState::Alive) else {
                i += 1;
                continue;
            };
            if i == index || !shares_address(&other.addrs, &addrs) {
                i += 1;
                continue;
            }
            let lowest = lowest_ip(&other.addrs);
            other.addrs.retain(|a| !contains_ip(&addrs, a.ip));
            if !other.addrs.is_empty() {
                i += 1;
                continue;
            }
            if other.shadowed {
                ended = ended.or(lowest);
            }
            self.remove(i);
            removed += 1;
            end -= 1;
            if index > i {
                index -= 1;
            }
        }
        (removed, ended)
    }

    /// Index of the entry for the node that sent a message with node id `id`, incarnation
    /// `incarnation` and addresses `addrs`: the entry with that id that shares an address
    /// with it (the same host), or else the one with that id and incarnation (the same
    /// start of the same node, whose addresses changed). O(log n).
    pub fn find_node(&self, id: NodeId, incarnation: u64, addrs: &[NodeAddr]) -> Option<usize> {
        self.find_node_near(None, id, incarnation, addrs)
    }

    /// [`find_node`](Self::find_node) with a `hint`: an index that may hold an entry of
    /// `id`, e.g. where the same node was found before the table changed. The answer is
    /// the same as without the hint; a good hint saves the search (O(k) for the `k`
    /// entries of `id`), a wrong one costs one comparison.
    pub(crate) fn find_node_near(
        &self,
        hint: Option<usize>,
        id: NodeId,
        incarnation: u64,
        addrs: &[NodeAddr],
    ) -> Option<usize> {
        let range = self.id_range_near(hint, id);
        let start = range.start;
        self.find_in(range.clone(), addrs).or_else(|| {
            self.entries()
                .get(range)?
                .iter()
                .position(|e| e.incarnation == incarnation)
                .map(|i| start + i)
        })
    }

    /// The entry at `index`.
    pub fn get(&self, index: usize) -> Option<&NodeEntry> {
        self.entries().get(index)
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut NodeEntry> {
        self.entries_mut().get_mut(index)
    }

    /// Inserts `entry` in id order; returns its index. A full table hands the entry back.
    #[allow(clippy::result_large_err)] // handing the entry back is the point (like heapless)
    pub(crate) fn insert(&mut self, entry: NodeEntry) -> Result<usize, TableFull> {
        if !self.make_room() {
            return Err(TableFull(entry));
        }
        let at = self.id_range(entry.id()).end;
        let len = self.len;
        let slots = self.slots.slots_mut();
        let Some(window) = slots.get_mut(at..=len) else {
            return Err(TableFull(entry));
        };
        window.rotate_right(1);
        if let Some(slot) = window.first_mut() {
            *slot = entry;
        }
        self.len += 1;
        Ok(at)
    }

    /// Drops the tombstones of `id` that share an address with an entry of `id` that has
    /// not departed: that address has a new holder under the same id (the departed host's
    /// address was given to another, or it came back under another incarnation), which now
    /// answers for it; a replay of the departed host's messages matches that entry by
    /// address. Keeps "one host, one entry" among the entries of an id. O(k²) in the `k`
    /// entries of `id` (one, or a few in a collision).
    pub(crate) fn drop_superseded_tombstones(&mut self, id: NodeId) {
        loop {
            let range = self.id_range(id);
            let start = range.start;
            let Some(same) = self.entries().get(range) else {
                return;
            };
            let superseded = same.iter().position(|tomb| {
                tomb.state == NodeState::Departed
                    && same.iter().any(|e| {
                        e.state != NodeState::Departed && shares_address(&e.addrs, &tomb.addrs)
                    })
            });
            match superseded {
                Some(offset) => {
                    self.remove(start + offset);
                }
                None => return,
            }
        }
    }

    /// Removes and returns the entry at `index`.
    pub(crate) fn remove(&mut self, index: usize) -> Option<NodeEntry> {
        if index >= self.len {
            return None;
        }
        let len = self.len;
        let window = self.slots.slots_mut().get_mut(index..len)?;
        window.rotate_left(1);
        let removed = window
            .last_mut()
            .map(|slot| core::mem::replace(slot, NodeEntry::VACANT));
        self.len -= 1;
        removed
    }

    /// Removes the tombstone that departed longest ago; `false` if there is none.
    pub(crate) fn evict_oldest_departed(&mut self) -> bool {
        let oldest = self
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state == NodeState::Departed)
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => self.remove(i).is_some(),
            None => false,
        }
    }

    /// Whether a slot is free for one more entry, growing the storage if it must (and can).
    fn make_room(&mut self) -> bool {
        let needed = self.len + 1;
        needed <= self.slots.slots().len() || (needed <= self.capacity() && self.slots.grow(needed))
    }

    /// Inserts `entry`, evicting the oldest tombstone if the table is full.
    #[allow(clippy::result_large_err)] // handing the entry back is the point (like heapless)
    pub(crate) fn insert_evicting(&mut self, entry: NodeEntry) -> Result<usize, TableFull> {
        if !self.make_room() && !self.evict_oldest_departed() {
            return Err(TableFull(entry));
        }
        self.insert(entry)
    }

    /// Removes tombstones that departed before `cutoff`; returns how many.
    pub(crate) fn purge_departed_before(&mut self, cutoff: Instant) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.len {
            let stale = self
                .get(i)
                .is_some_and(|e| e.state == NodeState::Departed && e.last_seen < cutoff);
            if stale {
                self.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }

    /// The node-id collisions in the table now: for every live entry left out of the map,
    /// who keeps its id. In id order; as the engine resolved them. O(n).
    pub fn conflicts(&self) -> impl Iterator<Item = Collision> + '_ {
        self.entries()
            .iter()
            .filter(|e| e.shadowed && e.state != NodeState::Departed)
            .filter_map(|loser| {
                let id = loser.id();
                let winner = self.member(id)?;
                Some(Collision {
                    id,
                    winner: lowest_ip(&winner.addrs)?,
                    loser: lowest_ip(&loser.addrs)?,
                })
            })
    }

    /// Decides which live entry keeps node id `id` — the one whose lowest address is
    /// lowest, so every node decides the same — and shadows the others. Reports the first
    /// entry newly left out and the first one no longer left out.
    pub(crate) fn resolve_collision(&mut self, id: NodeId) -> Resolution {
        let range = self.id_range(id);
        let mut resolution = Resolution::default();
        let Some(entries) = self.entries_mut().get_mut(range) else {
            return resolution;
        };
        let winner = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != NodeState::Departed)
            .min_by_key(|(_, e)| lowest_ip(&e.addrs))
            .map(|(i, e)| (i, lowest_ip(&e.addrs)));
        for (i, e) in entries.iter_mut().enumerate() {
            let shadow = e.state != NodeState::Departed && winner.is_some_and(|(w, _)| w != i);
            let lowest = lowest_ip(&e.addrs);
            if shadow && !e.shadowed && resolution.started.is_none() {
                if let (Some((_, Some(winner))), Some(loser)) = (winner, lowest) {
                    resolution.started = Some(Collision { id, winner, loser });
                }
            }
            if !shadow && e.shadowed && resolution.ended.is_none() {
                resolution.ended = lowest.map(|loser| (loser, e.state == NodeState::Local));
            }
            e.shadowed = shadow;
        }
        resolution
    }
}

impl<S: TableStorage> fmt::Debug for NodeTable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeTable")
            .field("len", &self.len)
            .field("slots", &self.slots_in_use())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests;
