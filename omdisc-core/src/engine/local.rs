//! This node's own identity while the network changes under it: its addresses on each
//! interface, its id (fixed, or derived from the address), whether it is in the cluster,
//! and what it sends when any of that changes.
//!
//! | change ([`Engine::set_addresses`]) | what the engine sends | what peers see |
//! |---|---|---|
//! | other addresses, same id | an announcement at once on every serving interface | [`Event::Changed`]: they match it by id and incarnation |
//! | a new id (derived from a new address) | LEAVE of the old identity, then an announcement of the new one | [`Event::Left`] of the old id, [`Event::Joined`] of the new one |
//! | no address left | LEAVE on the interfaces that served | [`Event::Left`] (if the LEAVE gets out), or expiry |
//! | an address again | an announcement with JOIN (and, if the id changed meanwhile, the old identity's LEAVE again) | [`Event::Joined`] |
//! | an interface gone or back | an announcement on the others (their alias lists changed), with JOIN on one that came back | [`Event::Changed`] |
//! | an interface's link back up, addresses unchanged ([`Engine::interface_resumed`]) | an announcement at once, with JOIN on it (at most one per interval) | [`Event::Joined`] where it had expired, and quick answers |
//!
//! This node's own frontend gets [`Event::LocalChanged`] for each of these. The LEAVE of a
//! retired identity lists the sending interface's current address too, so that receivers'
//! source check (a message sent directly must come from an address it lists) passes after
//! the old address is gone. Retired identities stay in the table as tombstones, so replays
//! of their old messages are refused here too.

use core::fmt;
use core::net::IpAddr;

use super::relay::take_lowest_iface;
use super::timer::Timer;
use super::{Engine, Phase};
use crate::addr::{
    contains_ip, is_node_address, shares_address, AddrList, IfaceId, NodeAddr, MAX_ADDRS,
};
use crate::config::{Config, IdSource};
use crate::event::Event;
use crate::id::NodeId;
use crate::table::{NodeEntry, NodeState, NodeTable, TableStorage};
use crate::wire::{Message, MessageKind};

/// Why [`Engine::set_addresses`] refused a change. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AddressError {
    /// The engine was configured with fewer interfaces.
    NoSuchInterface(IfaceId),
    /// An address that cannot be a node's (unspecified, multicast, broadcast).
    BadAddress(IpAddr),
    /// All interfaces together would have this many addresses, more than [`MAX_ADDRS`].
    TooManyAddresses(usize),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::NoSuchInterface(i) => write!(f, "no interface {i}"),
            AddressError::BadAddress(ip) => write!(f, "{ip} cannot be a node address"),
            AddressError::TooManyAddresses(n) => write!(
                f,
                "{n} addresses to announce; at most {MAX_ADDRS} fit in a message"
            ),
        }
    }
}

impl core::error::Error for AddressError {}

/// The LEAVE owed for an identity this node no longer has (its id changed, or it lost its
/// last address). Its addresses are in the identity's tombstone in the table.
#[derive(Clone, Copy, Debug)]
pub(super) struct Farewell {
    id: NodeId,
    sequence: u32,
    pending: u8,
}

/// Appends `ips` to `list` as addresses of `iface`, skipping those already listed.
pub(super) fn add_interface_addresses(
    list: &mut AddrList,
    iface: IfaceId,
    ips: &[IpAddr],
) -> Result<(), AddressError> {
    if let Some(bad) = ips.iter().find(|ip| !is_node_address(**ip)) {
        return Err(AddressError::BadAddress(*bad));
    }
    for ip in ips {
        if contains_ip(list, *ip) {
            continue;
        }
        let wanted = list.len() + ips.iter().filter(|ip| !contains_ip(list, **ip)).count();
        list.push(NodeAddr::primary(*ip, iface))
            .map_err(|_| AddressError::TooManyAddresses(wanted))?;
    }
    Ok(())
}

/// The list announced on `iface`: its addresses as primary, then the other interfaces' as
/// aliases (in interface order).
pub(super) fn announced_on(addrs: &AddrList, iface: IfaceId) -> AddrList {
    let own = addrs
        .iter()
        .filter(|a| a.iface == iface)
        .map(|a| NodeAddr::primary(a.ip, a.iface));
    let others = addrs
        .iter()
        .filter(|a| a.iface != iface)
        .map(|a| NodeAddr::alias(a.ip, a.iface));
    // Both come from `addrs`, which holds at most MAX_ADDRS.
    own.chain(others).take(MAX_ADDRS).collect()
}

/// The first address of the first interface that would serve: active (bit in `active`) and
/// with an address.
fn first_serving_address(addrs: &AddrList, active: u8, interfaces: usize) -> Option<NodeAddr> {
    (0..interfaces)
        .filter_map(IfaceId::new)
        .filter(|i| active & i.bit() != 0)
        .find_map(|i| addrs.iter().find(|a| a.iface == i).copied())
}

/// The id `addrs` give a node configured with `config`: `None` if no interface would serve,
/// or if the address-derived id is 0.
fn wanted_id(config: &Config, addrs: &AddrList, active: u8, interfaces: usize) -> Option<NodeId> {
    let first = first_serving_address(addrs, active, interfaces)?;
    match config.id_source {
        IdSource::Fixed => Some(config.node_id),
        IdSource::Address => NodeId::from_ip(first.ip).ok(),
    }
}

/// At construction: puts this node's entry in `table` if its addresses put it in the
/// cluster (setting `config.node_id` to a derived id); whether it did.
pub(super) fn enter_at_start<S: TableStorage>(
    table: &mut NodeTable<S>,
    config: &mut Config,
    addrs: &AddrList,
    active: u8,
    interfaces: usize,
) -> bool {
    let Some(id) = wanted_id(config, addrs, active, interfaces) else {
        log_absent(first_serving_address(addrs, active, interfaces));
        return false;
    };
    config.node_id = id;
    let first = first_serving_address(addrs, active, interfaces);
    let local_addrs = first
        .map(|f| announced_on(addrs, f.iface))
        .unwrap_or_default();
    let gateway = super::relays(config.forwarding, addrs_serving(addrs, active));
    table
        .insert(NodeEntry::local(config, local_addrs, gateway))
        .is_ok()
}

/// Bitmask of the interfaces in `active` that have an address.
fn addrs_serving(addrs: &AddrList, active: u8) -> u8 {
    addrs.iter().fold(0, |mask, a| mask | a.iface.bit()) & active
}

fn log_absent(first: Option<NodeAddr>) {
    match first {
        None => core_log!(info, "no address yet: out of the cluster until one comes"),
        Some(_a) => core_log!(
            warn,
            "the node id derived from {} is 0: out of the cluster until another address comes",
            _a.ip
        ),
    }
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Interface `iface` now has the addresses `addrs` (its primary first; none: it has
    /// no address left, went down for good or was deleted). The engine decides what to send:
    /// see the [module docs](self). Call it with the whole new list after every change; a
    /// list equal to the current one costs a comparison and sends nothing, so a storm of
    /// changes that ends where it began costs nothing on the wire.
    ///
    /// An interface serves (sends, receives, relays) while it has an address. A node
    /// without an interface that serves, or whose address-derived id would be 0, is out of
    /// the cluster ([`local_id`](Self::local_id) is `None`) until an address comes.
    /// Before [`start`](Self::start) and after [`leave`](Self::leave) the addresses are
    /// taken and nothing is sent.
    pub fn set_addresses(
        &mut self,
        now: crate::time::Instant,
        iface: IfaceId,
        addrs: &[IpAddr],
    ) -> Result<(), AddressError> {
        if iface.index() >= usize::from(self.interfaces) {
            return Err(AddressError::NoSuchInterface(iface));
        }
        let mut next = AddrList::new();
        let before = self.addrs.iter().filter(|a| a.iface < iface);
        let after = self.addrs.iter().filter(|a| a.iface > iface);
        let others = self.addrs.iter().filter(|a| a.iface != iface).count();
        for a in before {
            // Fits: it came from a list of the same capacity.
            let _ = next.push(*a);
        }
        add_interface_addresses(&mut next, iface, addrs).map_err(|e| match e {
            AddressError::TooManyAddresses(_) => {
                AddressError::TooManyAddresses(others + addrs.len())
            }
            other => other,
        })?;
        for a in after {
            if !contains_ip(&next, a.ip) {
                next.push(*a)
                    .map_err(|_| AddressError::TooManyAddresses(others + addrs.len()))?;
            }
        }
        if next == self.addrs {
            return Ok(());
        }
        self.now = self.now.max(now);
        let serving_before = self.serving();
        self.addrs = next;
        self.identity_changed(serving_before);
        Ok(())
    }

    /// Interface `iface`'s link is back after being down, with the addresses it had (if
    /// they changed, call [`set_addresses`](Self::set_addresses) instead). While it was
    /// down its peers may have expired this node, and this node them: it announces at once
    /// on every serving interface, asking those on `iface` for quick answers (JOIN), so it
    /// is back in their maps and has them back in its own within the reply window instead
    /// of after their next rounds.
    ///
    /// A link that flaps costs at most one such round per [`Config::interval`]: a call
    /// sooner after the last one that announced sends nothing (the periodic rounds go on).
    /// Nothing is sent either for an interface that does not serve (no address), before
    /// [`start`](Self::start) or after [`leave`](Self::leave).
    pub fn interface_resumed(&mut self, now: crate::time::Instant, iface: IfaceId) {
        self.now = self.now.max(now);
        if self.phase != Phase::Running || !self.is_active(iface) {
            return;
        }
        let now = self.now;
        if self
            .resumed_at
            .is_some_and(|last| now < last + self.config.interval)
        {
            return;
        }
        self.resumed_at = Some(now);
        core_log!(debug, "link of interface {} back: announcing", iface);
        self.announce_now(iface.bit());
    }

    fn wanted_id(&self) -> Option<NodeId> {
        wanted_id(
            &self.config,
            &self.addrs,
            self.active,
            usize::from(self.interfaces),
        )
    }

    fn first_serving_address(&self) -> Option<NodeAddr> {
        first_serving_address(&self.addrs, self.active, usize::from(self.interfaces))
    }

    /// What this node's own entry lists: the first serving interface's view.
    fn local_addresses(&self) -> AddrList {
        self.first_serving_address()
            .map(|first| announced_on(&self.addrs, first.iface))
            .unwrap_or_default()
    }

    fn log_absent(&self) {
        log_absent(self.first_serving_address());
    }

    /// Puts this node's entry in the table as `config.node_id` (reviving the tombstone of
    /// an earlier identity of this start with that id). `false` if the table has no room.
    fn enter(&mut self) -> bool {
        let id = self.config.node_id;
        let gateway = super::relays(
            self.config.forwarding,
            addrs_serving(&self.addrs, self.active),
        );
        let mut entry = NodeEntry::local(&self.config, self.local_addresses(), gateway);
        entry.sequence = self.sequence;
        entry.last_seen = self.now;
        self.forget_stale_claims(id, &entry.addrs);
        let incarnation = self.config.incarnation;
        let first = self.table.entries().partition_point(|e| e.id < id.get());
        let own_tombstone = self
            .table
            .same_id(id)
            .iter()
            .position(|e| e.state == NodeState::Departed && e.incarnation == incarnation)
            .map(|p| first + p);
        let placed = match own_tombstone.and_then(|i| self.table.get_mut(i)) {
            Some(slot) => {
                *slot = entry;
                true
            }
            None => self.table.insert_evicting(entry).is_ok(),
        };
        if !placed {
            core_log!(
                warn,
                "node table full: node {} cannot take part until a slot frees",
                id.get()
            );
            return false;
        }
        self.present = true;
        self.live = self.live.saturating_add(1);
        if self.farewell.is_some_and(|f| f.id == id) {
            // Back as the identity that was about to say goodbye: nothing to say.
            self.farewell = None;
        }
        self.after_membership_change(id, None);
        true
    }

    /// An address this node now has is no one else's: an entry of `id` that still lists
    /// one of `addrs` is a host that had the address before (it went without a LEAVE, or
    /// left and its tombstone remains) and this host was then given it, so the entry is
    /// stale and goes; this node's own entry takes the id (its map line is unchanged or
    /// says the new address).
    fn forget_stale_claims(&mut self, id: NodeId, addrs: &AddrList) {
        let first = self.table.entries().partition_point(|e| e.id < id.get());
        while let Some(offset) = self
            .table
            .same_id(id)
            .iter()
            .position(|e| e.state != NodeState::Local && shares_address(&e.addrs, addrs))
        {
            if let Some(stale) = self.table.remove(first + offset) {
                if stale.state == NodeState::Alive {
                    self.live = self.live.saturating_sub(1);
                }
                core_log!(
                    debug,
                    "node {}: the entry at this node's new address is stale, dropped",
                    id.get()
                );
            }
        }
    }

    /// Takes this node's entry out of the table, leaving a tombstone that holds its last
    /// addresses and, if it was heard (`owe_leave`), a LEAVE to send for it on `ifaces`.
    fn retire(&mut self, ifaces: u8) {
        let id = self.config.node_id;
        let now = self.now;
        let announced = self.announced;
        let owe_leave = announced && self.phase == Phase::Running && ifaces != 0;
        let sequence = if owe_leave {
            self.next_sequence()
        } else {
            self.sequence
        };
        if let Some(entry) = self.local_entry_mut() {
            entry.sequence = sequence;
            entry.depart(now);
        }
        // The tombstone is purged after its lifetime like any other.
        self.sweep_by(now + self.config.tombstone_lifetime);
        self.present = false;
        self.announced = false;
        self.live = self.live.saturating_sub(1);
        self.own_round = None;
        self.replies.clear();
        self.timers.stop(Timer::Announce);
        self.timers.stop(Timer::Reply);
        if owe_leave {
            self.farewell = Some(Farewell {
                id,
                sequence,
                pending: ifaces,
            });
        }
        self.after_membership_change(id, None);
        self.members_dropped();
    }

    /// The addresses changed: settle this node's identity and announce what changed.
    fn identity_changed(&mut self, serving_before: u8) {
        let was_present = self.present;
        let old_id = self.config.node_id;
        let old_view = self.local_entry_mut().map(|e| (e.addrs.clone(), e.gateway));
        let running = self.phase == Phase::Running;
        let wanted = self.wanted_id();
        match (was_present, wanted) {
            (true, Some(id)) if id == old_id => {
                let addrs = self.local_addresses();
                self.forget_stale_claims(id, &addrs);
                let gateway = self.is_gateway();
                if let Some(entry) = self.local_entry_mut() {
                    entry.addrs = addrs;
                    entry.gateway = gateway;
                }
                // Its lowest address, and so who keeps a contested id, may have changed.
                self.after_membership_change(id, None);
                if running {
                    self.announce_now(self.serving() & !serving_before);
                }
            }
            (true, wanted) => {
                // The old identity ends: its LEAVE goes where the new one is heard, or, if
                // there is none, where the old one was.
                let next_serving = self.with_address() & self.active;
                let ifaces = if wanted.is_some() {
                    next_serving
                } else {
                    serving_before
                };
                self.retire(ifaces);
                if let Some(id) = wanted {
                    self.config.node_id = id;
                    if self.enter() && running {
                        self.announce_now(0);
                    }
                }
            }
            (false, Some(id)) => {
                let retired = old_id;
                self.config.node_id = id;
                if self.enter() && running {
                    if retired != id {
                        self.say_farewell_again(retired);
                    }
                    self.announce_now(self.serving());
                }
            }
            (false, None) => {}
        }
        let new_view = self.local_entry_mut().map(|e| (e.addrs.clone(), e.gateway));
        if was_present != self.present || old_id != self.config.node_id || old_view != new_view {
            match (self.local_id(), self.first_serving_address()) {
                (Some(id), Some(first)) => {
                    core_log!(info, "this node is now node {} at {}", id.get(), first.ip)
                }
                _ => self.log_absent(),
            }
            self.events.push(Event::LocalChanged);
        }
    }

    /// Back in the cluster with another id than the one it left as: the old identity's
    /// LEAVE may not have got out (it had to be sent after its address was gone), so send
    /// it again, from the new address.
    fn say_farewell_again(&mut self, retired: NodeId) {
        let incarnation = self.config.incarnation;
        let known = self
            .table
            .same_id(retired)
            .iter()
            .any(|e| e.state == NodeState::Departed && e.incarnation == incarnation);
        if !known {
            return;
        }
        let sequence = self.next_sequence();
        self.farewell = Some(Farewell {
            id: retired,
            sequence,
            pending: self.serving(),
        });
    }

    /// The next sequence number of this node (all its identities share one counter).
    pub(super) fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// The next datagram of a pending farewell: the retired identity's LEAVE, as its
    /// tombstone remembers it, with this interface's current address added so that it
    /// passes the receivers' source check.
    pub(super) fn next_farewell(&mut self) -> Option<(Message, IfaceId)> {
        loop {
            let mut farewell = self.farewell?;
            let Some(iface) = take_lowest_iface(&mut farewell.pending) else {
                self.farewell = None;
                return None;
            };
            self.farewell = (farewell.pending != 0).then_some(farewell);
            if let Some(msg) = self.farewell_message(farewell, iface) {
                return Some((msg, iface));
            }
        }
    }

    fn farewell_message(&self, farewell: Farewell, iface: IfaceId) -> Option<Message> {
        let incarnation = self.config.incarnation;
        let tombstone = self
            .table
            .same_id(farewell.id)
            .iter()
            .find(|e| e.state == NodeState::Departed && e.incarnation == incarnation)?;
        let mut addrs = tombstone.addrs.clone();
        if let Some(source) = self.addrs.iter().find(|a| a.iface == iface) {
            if !contains_ip(&addrs, source.ip) {
                if addrs.is_full() {
                    addrs.pop();
                }
                let _ = addrs.push(NodeAddr::alias(source.ip, iface));
            }
        }
        Some(Message {
            kind: MessageKind::Leave,
            join: false,
            unicast: false,
            gateway: false,
            hops: 0,
            relayer: None,
            origin: farewell.id,
            incarnation,
            sequence: farewell.sequence,
            interval: self.advertised,
            addrs,
        })
    }
}
