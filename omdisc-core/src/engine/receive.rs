//! Handling one received datagram: validation, replay and spoofing checks, table update,
//! collision resolution, join answers and relaying.

use core::cmp::Ordering;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use super::gossip::Spread;
use super::relay::{MessageKey, RelayJob};
use super::timer::Timer;
use super::{schedule, Engine, Phase};
use crate::addr::{contains_ip, IfaceId, NodeAddr};
use crate::event::Event;
use crate::table::{NodeEntry, NodeState, TableStorage};
use crate::time::Instant;
use crate::wire::{
    Gossip, MemberState, Message, MessageKind, Packet, RelayBody, Verified, WireError,
};

/// What a datagram that was not refused did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Received {
    /// New information: a new node, a newer announcement, or a leave.
    Updated,
    /// A copy of something already known (another path or a duplicate).
    Duplicate,
    /// This node's own message, heard back.
    Own,
}

/// Why a datagram was refused. No node's membership, addresses, path or high-water mark
/// changed (a tombstone may note that a replay of its node was answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RxError {
    /// The engine is not running.
    NotRunning,
    /// The interface does not send or receive (with multicast routing only the first does).
    InactiveInterface(IfaceId),
    /// Malformed or not authentic.
    Wire(WireError),
    /// Relayed more often than the hop limit allows.
    HopLimit(u8),
    /// Sent directly (hop count 0) from an address the message does not claim.
    SpoofedSource,
    /// Older than what is known about the node: reordering or a replay.
    Stale,
    /// A new node that does not fit in the full table.
    TableFull,
}

impl From<WireError> for RxError {
    fn from(e: WireError) -> Self {
        RxError::Wire(e)
    }
}

impl fmt::Display for RxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RxError::NotRunning => f.write_str("engine is not running"),
            RxError::InactiveInterface(i) => write!(f, "interface {i} is not active"),
            RxError::Wire(e) => write!(f, "{e}"),
            RxError::HopLimit(h) => write!(f, "relayed {h} times, over the hop limit"),
            RxError::SpoofedSource => {
                f.write_str("source address is not among the addresses the message claims")
            }
            RxError::Stale => f.write_str("older than what is known (reordered or replayed)"),
            RxError::TableFull => f.write_str("node table is full"),
        }
    }
}

impl core::error::Error for RxError {}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Handles a datagram received at `now` on interface `iface` from source address and
    /// port `src`, whether it came to the group or by unicast (the frontend need not tell
    /// which). The port is where answers to it go; the spoofing check compares the address.
    ///
    /// Refused datagrams change nothing and are counted in [`stats`](Self::stats).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        iface: IfaceId,
        src: SocketAddr,
        datagram: &[u8],
    ) -> Result<Received, RxError> {
        self.now = self.now.max(now);
        self.retire_idle_probe_timeout(self.now);
        self.stats.rx_datagrams = self.stats.rx_datagrams.wrapping_add(1);
        let result = self.receive(iface, src, datagram);
        if matches!(result, Ok(Received::Updated | Received::Duplicate)) {
            if !self.seeds.is_empty() {
                self.seed_heard(src);
            }
            // A contact is answered by the announcement that adds (or refreshes) its node,
            // not by any datagram: a PING from an unknown node is what made it contacted.
            if cfg!(feature = "probes")
                && self.contacts_pending()
                && crate::wire::Packet::new_checked(datagram)
                    .is_ok_and(|p| p.kind() == MessageKind::Announce)
            {
                self.contact_answered(src);
            }
        }
        let counter = match &result {
            Ok(Received::Updated) => &mut self.stats.rx_accepted,
            Ok(Received::Duplicate) => &mut self.stats.rx_duplicate,
            Ok(Received::Own) => &mut self.stats.rx_own,
            Err(RxError::Wire(e)) if e.is_auth_failure() => &mut self.stats.rx_auth_failed,
            Err(RxError::Wire(_)) => &mut self.stats.rx_malformed,
            Err(RxError::Stale) => &mut self.stats.rx_stale,
            Err(RxError::SpoofedSource) => &mut self.stats.rx_spoofed,
            Err(RxError::HopLimit(_)) => &mut self.stats.rx_hop_limit,
            Err(RxError::TableFull) => &mut self.stats.rx_table_full,
            Err(RxError::InactiveInterface(_) | RxError::NotRunning) => {
                &mut self.stats.rx_inactive_iface
            }
        };
        *counter = counter.wrapping_add(1);
        result
    }

    fn receive(
        &mut self,
        iface: IfaceId,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Received, RxError> {
        let src = from.ip();
        if let Some(backoff) = self.leave_backoff.as_mut() {
            // Backing off before LEAVE: count the others leaving (RFC 3550 §6.3.7).
            let leave = Packet::new_checked(datagram).and_then(|p| p.verify(self.keys.as_ref()));
            if leave.is_ok_and(|p| p.kind() == MessageKind::Leave) {
                backoff.heard_leave();
            }
            return Err(RxError::NotRunning);
        }
        if self.phase != Phase::Running {
            return Err(RxError::NotRunning);
        }
        if !self.is_active(iface) {
            return Err(RxError::InactiveInterface(iface));
        }
        // Lengths and fields first: cheap, and nothing changes yet.
        let packet = Packet::new_checked(datagram)?;
        if self.keys.is_some() && !packet.is_authenticated() {
            return Err(RxError::Wire(WireError::MissingAuth));
        }
        if packet.hops() > self.config.hop_limit {
            return Err(RxError::HopLimit(packet.hops()));
        }
        if packet.relayer() == Some(self.config.node_id) {
            return Ok(Received::Own);
        }
        // This start's own message under an id it had before its addresses changed (it
        // came back by another path, or as a replay): not a peer's.
        if packet.incarnation() == self.config.incarnation
            && packet
                .addrs()
                .iter()
                .any(|a| contains_ip(&self.addrs, a.ip))
        {
            return Ok(Received::Own);
        }
        if packet.hops() == 0 && !source_matches(packet.addrs(), src) {
            return Err(RxError::SpoofedSource);
        }
        let index = self
            .table
            .find_node(packet.origin(), packet.incarnation(), packet.addrs());
        if let Some(i) = index {
            if self
                .table
                .get(i)
                .is_some_and(|e| e.state == NodeState::Local)
            {
                return Ok(Received::Own);
            }
        }
        if packet.kind().has_payload() {
            // Probes and gossip carry the sender's current round: an older one (or one of a
            // node that has left) is a replay. Then the MAC, then what they say.
            if let Some(entry) = index.and_then(|i| self.table.get(i)) {
                let order = (packet.incarnation(), packet.sequence())
                    .cmp(&(entry.incarnation, entry.sequence));
                let replayed = match entry.state {
                    NodeState::Departed => order != Ordering::Greater,
                    _ => order == Ordering::Less,
                };
                if replayed {
                    return Err(RxError::Stale);
                }
            }
            let packet = packet.verify(self.keys.as_ref())?;
            return Ok(self.receive_direct(index, &packet, from, iface));
        }
        // What cannot change anything (older, or a copy over a path that is no better) is
        // dropped before paying for the MAC: a replay flood costs a table lookup each.
        if let Some(unchanged) = self.without_effect(index, &packet, iface) {
            let join = packet.kind() == MessageKind::Announce && packet.join() && packet.unicast();
            if cfg!(feature = "probes") && join && matches!(unchanged, Ok(Received::Duplicate)) {
                // A unicast JOIN from a node known at this round: answer it (authentic only).
                if let Ok(verified) = packet.clone().verify(self.keys.as_ref()) {
                    let msg = Message::parse(&verified);
                    self.answer_join(&msg, from, iface);
                }
            }
            if matches!(unchanged, Err(RxError::Stale)) && packet.kind() == MessageKind::Announce {
                self.answer_replay(index, iface, packet);
            }
            return unchanged;
        }
        // The MAC, in constant time, before anything changes: no table slot, high-water mark
        // or statistic that steers the protocol is touched by a forged datagram.
        let packet = packet.verify(self.keys.as_ref())?;
        let msg = Message::parse(&packet);
        if msg.kind == MessageKind::Announce {
            self.sched
                .observe(schedule::wire_size(packet.len(), Some(src)));
        }
        let was_member = index
            .and_then(|i| self.table.get(i))
            .is_some_and(|e| e.state == NodeState::Alive);
        let received = match msg.kind {
            MessageKind::Announce => self.receive_announce(index, &msg, iface)?,
            MessageKind::Leave => self.receive_leave(index, &msg)?,
            // Handled above.
            MessageKind::Ping | MessageKind::Ack | MessageKind::PingReq | MessageKind::Gossip => {
                return Ok(Received::Duplicate)
            }
        };
        if received == Received::Updated {
            match msg.kind {
                MessageKind::Announce => {
                    // The entry is where it was found, unless the table moved it.
                    self.note_path(index, &msg);
                    if msg.join && !msg.unicast {
                        self.schedule_reply(iface);
                    }
                    if cfg!(feature = "probes") && msg.join && msg.unicast {
                        self.answer_join(&msg, from, iface);
                    }
                    if !was_member && msg.hops == 0 {
                        // A newcomer: pass it on (flooded if it came by unicast, else only
                        // piggybacked).
                        let how = if msg.unicast {
                            Spread::Flood
                        } else {
                            Spread::Piggyback
                        };
                        self.spread(news_of(&msg, MemberState::Alive, from), how);
                    }
                }
                MessageKind::Leave if msg.hops == 0 && was_member => {
                    // Flooded if it came by unicast, else to members reached by unicast only.
                    let how = if msg.unicast {
                        Spread::Flood
                    } else {
                        Spread::Bridge
                    };
                    self.spread(news_of(&msg, MemberState::Left, from), how);
                }
                _ => {}
            }
            if !msg.unicast {
                self.relay(&packet, &msg, iface);
            }
        }
        Ok(received)
    }

    /// Notes how the member of a direct announcement is reached: by unicast only or not.
    /// `hint`: where its entry may be (see [`crate::table::NodeTable::find_node_near`]).
    fn note_path(&mut self, hint: Option<usize>, msg: &Message) {
        if msg.hops != 0 {
            return;
        }
        let index = self
            .table
            .find_node_near(hint, msg.origin, msg.incarnation, &msg.addrs);
        if let Some(entry) = index.and_then(|i| self.table.get_mut(i)) {
            entry.set_unicast(msg.unicast);
        }
    }

    /// A unicast JOIN: answer with this node's announcement and a member digest.
    fn answer_join(&mut self, msg: &Message, from: SocketAddr, iface: IfaceId) {
        self.note_path(None, msg);
        self.send_to(
            from,
            iface,
            super::unicast::Unicast::Announce { join: false },
        );
        if !cfg!(feature = "probes") {
            return;
        }
        // The first JOINs of a probe interval get the whole map (up to
        // `FULL_DIGEST_PARTS` datagrams, from a random place in the table), so a node that
        // joins through this one needs no lap of piggybacked gossip to learn the members;
        // the rest (the members that a newcomer contacts answer it all at once) one part.
        let full = self.rumors.full_digests < super::gossip::FULL_DIGESTS_PER_INTERVAL;
        let len = self.table.len();
        let start = self.rng.below(len.max(1) as u64) as u32;
        let parts: heapless::Vec<Option<(u32, u8)>, { super::gossip::FULL_DIGEST_PARTS }> = if full
        {
            self.rumors.full_digests += 1;
            let count = len
                .div_ceil(crate::wire::MAX_GOSSIP_ENTRIES)
                .clamp(1, super::gossip::FULL_DIGEST_PARTS);
            (0..count as u8).map(|part| Some((start, part))).collect()
        } else {
            core::iter::once(None).collect()
        };
        for part in parts {
            self.send_to(
                from,
                iface,
                super::unicast::Unicast::Digest {
                    to: msg.origin,
                    part,
                },
            );
        }
    }

    /// A PING, ACK, PING-REQ or GOSSIP (verified): answer, pass on, and act on its gossip.
    fn receive_direct(
        &mut self,
        index: Option<usize>,
        packet: &Verified<'_>,
        from: SocketAddr,
        iface: IfaceId,
    ) -> Received {
        if !cfg!(feature = "probes") {
            // Without the probe protocol only PINGs are answered (members that probe keep
            // this node); what the others say is not taken.
            if packet.kind() == MessageKind::Ping {
                let nonce = packet.payload().nonce;
                self.send_to(from, iface, super::unicast::Unicast::Ack { nonce });
            }
            return Received::Duplicate;
        }
        let payload = packet.payload();
        let mut trusted = false;
        if let Some(entry) = index.and_then(|i| self.table.get_mut(i)) {
            if entry.state == NodeState::Alive && entry.incarnation == packet.incarnation() {
                // Heard from directly: alive, and maybe a newer round (no gap is counted:
                // direct datagrams carry the current round's number).
                trusted = true;
                if packet.sequence() > entry.sequence {
                    entry.sequence = packet.sequence();
                }
                // Heard: its expiry starts again (an expiry only suspects a member the
                // probes reach, and a suspect that answers is not suspected again at once).
                entry.last_seen = entry.last_seen.max(self.now);
                let expiry = entry.expires_at(&self.detector);
                let id = entry.id();
                self.swim.clear(id);
                self.sweep_by(expiry);
                let digest = packet.kind() == MessageKind::Gossip
                    && payload.nonce == 0
                    && payload.sync.is_none()
                    && !payload.entries.is_empty();
                let sync = payload.sync.as_ref();
                self.sync_heard(id, from, iface, payload.members, sync, digest);
            }
        }
        if !trusted {
            // A node this one does not know (yet) knows it: contact it, so that its own
            // announcement adds it.
            self.stats.rx_not_member = self.stats.rx_not_member.wrapping_add(1);
            self.contact(from);
        }
        match packet.kind() {
            MessageKind::Ping => self.send_to(
                from,
                iface,
                super::unicast::Unicast::Ack {
                    nonce: payload.nonce,
                },
            ),
            MessageKind::Ack if !self.ack_received(payload.nonce) => {
                self.stats.rx_unexpected_ack = self.stats.rx_unexpected_ack.wrapping_add(1);
            }
            MessageKind::PingReq => {
                if let Some(target) = payload.target {
                    self.ping_req_received(from, iface, payload.nonce, target);
                }
            }
            // A reliable push: acknowledge it.
            MessageKind::Gossip if payload.nonce != 0 => self.send_to(
                from,
                iface,
                super::unicast::Unicast::Ack {
                    nonce: payload.nonce,
                },
            ),
            _ => {}
        }
        self.receive_gossip(&payload.entries, trusted, packet.unicast());
        Received::Updated
    }

    /// `Some` outcome if `packet` cannot change anything: older than what is known (or
    /// than a tombstone), or the same round over a path that is neither shorter nor the
    /// current one. Reads the table only.
    fn without_effect(
        &self,
        index: Option<usize>,
        packet: &Packet<'_>,
        iface: IfaceId,
    ) -> Option<Result<Received, RxError>> {
        let entry = self.table.get(index?)?;
        let order =
            (packet.incarnation(), packet.sequence()).cmp(&(entry.incarnation, entry.sequence));
        match (entry.state, packet.kind(), order) {
            (_, _, Ordering::Greater) => None,
            (NodeState::Alive, MessageKind::Announce, Ordering::Equal) => {
                if packet.hops() < entry.hops || same_path(entry, packet.relayer(), iface) {
                    None
                } else {
                    Some(Ok(Received::Duplicate))
                }
            }
            _ => Some(Err(RxError::Stale)),
        }
    }

    /// An announcement of a departed node that is not newer than its tombstone is a replay
    /// (or badly late). Receivers that restarted since the node left have no tombstone and
    /// would take it: answer, on the interface it came in on, with the node's LEAVE as this
    /// node remembers it (relayed form, re-signed), at most once per advertised interval per
    /// node, and only for an authentic replay. The LEAVE is newer than anything recorded
    /// before the node left, so those receivers drop it at once; everyone else finds it stale.
    fn answer_replay(&mut self, index: Option<usize>, iface: IfaceId, packet: Packet<'_>) {
        let now = self.now;
        let Some(entry) = index.and_then(|i| self.table.get(i)) else {
            return;
        };
        // A departed contender for this node's own id cannot be answered: the LEAVE's
        // relayer would equal its origin, which receivers refuse.
        if entry.state != NodeState::Departed
            || self.config.hop_limit == 0
            || entry.id() == self.config.node_id
            || entry
                .replay_answered()
                .is_some_and(|t| now < t + entry.interval())
        {
            return;
        }
        // Answer only what is authentic: forged stale datagrams must not make us send.
        if packet.verify(self.keys.as_ref()).is_err() {
            return;
        }
        let message = Message {
            kind: MessageKind::Leave,
            join: false,
            unicast: false,
            gateway: false,
            hops: 1,
            relayer: Some(self.config.node_id),
            origin: entry.id(),
            incarnation: entry.incarnation,
            sequence: entry.sequence,
            interval: entry.interval(),
            addrs: entry.addrs.clone(),
        };
        let id = message.origin.get();
        let queued = RelayBody::of_message(&message).ok().and_then(|body| {
            let job = RelayJob {
                body,
                pending: iface.bit(),
            };
            self.relay_queue.push_back(job).ok()
        });
        if queued.is_none() {
            self.stats.relay_dropped = self.stats.relay_dropped.wrapping_add(1);
            return;
        }
        if let Some(entry) = index.and_then(|i| self.table.get_mut(i)) {
            entry.set_replay_answered(now);
        }
        self.stats.replays_answered = self.stats.replays_answered.wrapping_add(1);
        core_log!(
            info,
            "answered a replay of departed node {} with its LEAVE",
            id
        );
    }

    fn receive_announce(
        &mut self,
        index: Option<usize>,
        msg: &Message,
        iface: IfaceId,
    ) -> Result<Received, RxError> {
        let now = self.now;
        let Some(index) = index else {
            return self.add_node(msg, iface);
        };
        let Some(entry) = self.table.get_mut(index) else {
            return self.add_node(msg, iface);
        };
        let order = (msg.incarnation, msg.sequence).cmp(&(entry.incarnation, entry.sequence));
        if entry.state == NodeState::Departed {
            if order != Ordering::Greater {
                return Err(RxError::Stale);
            }
            // Back after expiring, or restarted after leaving.
            *entry = NodeEntry::heard(msg, iface, now);
            let id = entry.id();
            let expiry = entry.expires_at(&self.detector);
            self.live = self.live.saturating_add(1);
            self.addresses_announced(index, id, Some(Event::Joined(id)));
            self.sweep_by(expiry);
            return Ok(Received::Updated);
        }
        match order {
            Ordering::Less => Err(RxError::Stale),
            Ordering::Equal => {
                // The same round over another path: keep the shortest path, and note that
                // the current path still works when its copy arrives second.
                if msg.hops < entry.hops {
                    let changed = entry.addrs != msg.addrs || entry.via != msg.relayer;
                    take_path(entry, msg, iface, now);
                    if changed {
                        // New addresses may settle or start a collision.
                        let id = entry.id();
                        self.addresses_announced(index, id, Some(Event::Changed(id)));
                    }
                } else if same_path(entry, msg.relayer, iface) {
                    entry.path_seen = now;
                }
                Ok(Received::Duplicate)
            }
            Ordering::Greater => {
                let restarted = msg.incarnation != entry.incarnation;
                let path_stale =
                    now.saturating_since(entry.path_seen) > entry.interval().saturating_mul(2);
                // Keep the current path unless this copy's is shorter, is the current one,
                // or the current one has gone quiet: two equal gateways must not make the
                // path (and the map) flip every round.
                let take = msg.hops < entry.hops
                    || same_path(entry, msg.relayer, iface)
                    || path_stale
                    || restarted
                    || !same_ips(&entry.addrs, &msg.addrs);
                // What the map shows changes (compared before writing, without copies).
                let changed = entry.gateway != msg.gateway
                    || (take && (entry.addrs != msg.addrs || entry.via != msg.relayer));
                if take {
                    take_path(entry, msg, iface, now);
                }
                if !restarted {
                    // Every round goes out on every interface with the next sequence
                    // number: the ones in between were lost on the way here.
                    let missed = msg.sequence.wrapping_sub(entry.sequence).wrapping_sub(1);
                    entry.record_rounds(missed);
                    self.detector.record(missed);
                }
                entry.incarnation = msg.incarnation;
                entry.sequence = msg.sequence;
                entry.set_interval(msg.interval);
                entry.gateway = msg.gateway;
                entry.last_seen = now;
                let id = entry.id();
                let expiry = entry.expires_at(&self.detector);
                let member = entry.is_member();
                self.sweep_by(expiry);
                if restarted {
                    core_log!(debug, "node {} restarted", id.get());
                }
                if changed {
                    // New addresses may settle or start a collision.
                    self.addresses_announced(index, id, member.then_some(Event::Changed(id)));
                }
                Ok(Received::Updated)
            }
        }
    }

    /// The entry at `index` (node `id`) announced its addresses: an address another live
    /// entry of `id` held moves to it (one host, one entry), then `id`'s holder is
    /// re-decided ([`after_membership_change`](Self::after_membership_change)).
    fn addresses_announced(&mut self, index: usize, id: crate::id::NodeId, event: Option<Event>) {
        let (removed, ended) = self.table.claim_addresses(index);
        self.live = self.live.saturating_sub(removed);
        if let Some(loser) = ended {
            self.events.push(Event::ConflictEnded {
                id,
                loser,
                local: false,
            });
        }
        self.after_membership_change(id, event);
    }

    fn add_node(&mut self, msg: &Message, iface: IfaceId) -> Result<Received, RxError> {
        let now = self.now;
        let entry = NodeEntry::heard(msg, iface, now);
        let id = entry.id();
        let expiry = entry.expires_at(&self.detector);
        if self.table.insert_evicting(entry).is_err() {
            let key = (msg.origin, msg.incarnation);
            if self.last_table_full != Some(key) {
                self.last_table_full = Some(key);
                self.events.push(Event::TableFull(msg.origin));
                core_log!(
                    warn,
                    "node table full ({} entries): node {} not added",
                    self.table.capacity(),
                    msg.origin.get()
                );
            }
            return Err(RxError::TableFull);
        }
        core_log!(debug, "node {} joined", id.get());
        self.live = self.live.saturating_add(1);
        self.after_membership_change(id, Some(Event::Joined(id)));
        self.sweep_by(expiry);
        Ok(Received::Updated)
    }

    fn receive_leave(&mut self, index: Option<usize>, msg: &Message) -> Result<Received, RxError> {
        let now = self.now;
        let index = index.or_else(|| {
            // A leave without addresses names the member with that id.
            if msg.addrs.is_empty() {
                let first = self
                    .table
                    .entries()
                    .partition_point(|e| e.id < msg.origin.get());
                self.table
                    .entries()
                    .iter()
                    .skip(first)
                    .take_while(|e| e.id == msg.origin.get())
                    .position(|e| e.is_member() && e.state == NodeState::Alive)
                    .map(|p| first + p)
            } else {
                None
            }
        });
        let Some(entry) = index.and_then(|i| self.table.get_mut(i)) else {
            // Unknown node: remember the departure so older announcements cannot revive it.
            if !msg.addrs.is_empty() {
                let mut tomb = NodeEntry::heard(msg, crate::addr::IfaceId::FIRST, now);
                tomb.depart(now);
                let _ = self.table.insert_evicting(tomb);
            }
            return Ok(Received::Updated);
        };
        let order = (msg.incarnation, msg.sequence).cmp(&(entry.incarnation, entry.sequence));
        if order != Ordering::Greater {
            return Err(RxError::Stale);
        }
        entry.incarnation = msg.incarnation;
        entry.sequence = msg.sequence;
        if entry.state == NodeState::Departed {
            return Ok(Received::Updated);
        }
        let was_member = entry.is_member();
        entry.depart(now);
        let id = entry.id();
        self.stats.left = self.stats.left.wrapping_add(1);
        self.live = self.live.saturating_sub(1);
        core_log!(debug, "node {} left", id.get());
        self.after_membership_change(id, was_member.then_some(Event::Left(id)));
        self.members_dropped();
        Ok(Received::Updated)
    }

    /// Re-decides who holds `id` after an entry with that id changed, emitting `event`
    /// first and then any end or start of a conflict, or change of holder.
    pub(super) fn after_membership_change(&mut self, id: crate::id::NodeId, event: Option<Event>) {
        self.table.drop_superseded_tombstones(id);
        let holder_before = self.table.member(id).map(map_view);
        let resolution = self.table.resolve_collision(id);
        let holder_after = self.table.member(id).map(map_view);
        match (event, resolution.started) {
            (Some(Event::Joined(_)), Some(_)) if holder_after == holder_before => {
                // The new entry lost the id at once: only the conflict is news.
            }
            (Some(e), _) => self.events.push(e),
            (None, _) => {}
        }
        if let Some((loser, local)) = resolution.ended {
            core_log!(info, "node id {} conflict over", id.get());
            self.events.push(Event::ConflictEnded { id, loser, local });
        }
        if let Some(c) = resolution.started {
            let local_lost = self
                .table
                .same_id(id)
                .iter()
                .any(|e| e.state == NodeState::Local && e.shadowed);
            // Every frontend logs the Conflict event with both addresses: debug here, so
            // that one conflict is one warning.
            core_log!(debug, "node id {} claimed by two hosts", id.get());
            self.events.push(Event::Conflict {
                id,
                winner: c.winner,
                loser: c.loser,
                local_lost,
            });
        } else if event.is_none() && holder_after != holder_before && holder_after.is_some() {
            // A shadowed contender took the id over.
            self.events.push(Event::Changed(id));
        }
    }

    fn schedule_reply(&mut self, iface: IfaceId) {
        self.replies.owe(iface);
        if self.timers.get(Timer::Reply).is_none() {
            let td = self.sched.deterministic(&self.config, self.live);
            let delay = schedule::reply_delay(&self.config, td, &mut self.rng);
            let at = self.now + delay;
            // No need to answer separately if the periodic round comes first.
            if self.timers.get(Timer::Announce).is_none_or(|t| at < t) {
                self.timers.set(Timer::Reply, at);
            }
        }
    }

    /// Queues `packet` (`msg` parsed) to be relayed out of the other active interfaces:
    /// the received bytes with one more hop and this node as the relayer, re-signed.
    fn relay(&mut self, packet: &Verified<'_>, msg: &Message, ingress: IfaceId) {
        // A message about this node's own id (an id-collision contender, or a forgery)
        // cannot be relayed: its relayer would equal its origin, which receivers refuse.
        if !self.is_gateway()
            || msg.hops >= self.config.hop_limit
            || msg.origin == self.config.node_id
        {
            return;
        }
        let targets = self.serving() & !ingress.bit();
        if targets == 0 || !self.duplicates.insert(MessageKey::of(msg)) {
            return;
        }
        let queued = RelayBody::relayed(packet, self.config.node_id).and_then(|body| {
            let job = RelayJob {
                body,
                pending: targets,
            };
            self.relay_queue.push_back(job).ok()
        });
        if queued.is_none() {
            self.stats.relay_dropped = self.stats.relay_dropped.wrapping_add(1);
            core_log!(
                warn,
                "relay queue full: message of node {} not relayed",
                msg.origin.get()
            );
        }
    }
}

/// Whether a directly received message comes from an address it claims. IPv6 link-local
/// sources are accepted (multicast to a link-local group is sent from one).
fn source_matches(addrs: &[NodeAddr], src: IpAddr) -> bool {
    if contains_ip(addrs, src) {
        return true;
    }
    match src {
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    }
}

/// News about the sender of `msg`, heard from `from`.
fn news_of(msg: &Message, state: MemberState, from: SocketAddr) -> Gossip {
    Gossip {
        state,
        node: msg.origin,
        incarnation: msg.incarnation,
        sequence: msg.sequence,
        addr: from,
    }
}

/// What of an entry shows in the map.
type MapView = (crate::addr::AddrList, bool, Option<crate::id::NodeId>);

fn map_view(entry: &NodeEntry) -> MapView {
    (entry.addrs.clone(), entry.gateway, entry.via)
}

/// Whether a message relayed by `relayer` (`None`: direct) that came in on `iface` came
/// over the entry's current path: same interface, same last gateway.
fn same_path(entry: &NodeEntry, relayer: Option<crate::id::NodeId>, iface: IfaceId) -> bool {
    entry.iface == iface && entry.via == relayer
}

/// Whether two address lists hold the same addresses (roles aside).
fn same_ips(a: &[crate::addr::NodeAddr], b: &[crate::addr::NodeAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|x| contains_ip(b, x.ip))
}

fn take_path(entry: &mut NodeEntry, msg: &Message, iface: IfaceId, now: Instant) {
    if entry.addrs != msg.addrs {
        entry.addrs = msg.addrs.clone();
    }
    entry.iface = iface;
    entry.hops = msg.hops;
    entry.via = msg.relayer;
    entry.path_seen = now;
}
