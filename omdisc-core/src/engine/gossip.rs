//! Dissemination: news (a death, a departure, a member learned by unicast) pushed to a few
//! random members at once (reliably: see the `push` module) and piggybacked on the next
//! probes, and what a received gossip entry does; contacts of members learned by gossip,
//! sent again until they answer. No entry ever adds a node: an `Alive` entry only makes this node contact
//! the address (a unicast JOIN announcement), and the node is added when its own signed
//! announcement answers.

use core::cmp::Ordering;
use core::net::SocketAddr;

use super::swim::Target;
use super::unicast::Unicast;
use super::Engine;
use crate::addr::IfaceId;
use crate::event::Event;
use crate::table::{NodeState, TableStorage};
use crate::time::{Duration, Instant};
use crate::wire::{Gossip, GossipList, MemberState, MAX_GOSSIP_ENTRIES};

/// Most pieces of news waiting to be piggybacked.
pub const MAX_RUMORS: usize = 16;
/// Addresses contacted recently (not contacted again within [`CONTACT_HOLDOFF`]).
const RECENT_CONTACTS: usize = 256;
/// How long an address contacted is not contacted again.
const CONTACT_HOLDOFF: Duration = Duration::from_secs(1);
/// Resends of a contact that is not answered.
const CONTACT_RESENDS: u8 = 5;
/// How many JOINs a probe interval are answered with the whole map rather than one digest.
pub(super) const FULL_DIGESTS_PER_INTERVAL: u8 = 2;
/// Most datagrams of one such answer (`MAX_GOSSIP_ENTRIES` members each: 48 members; a
/// larger map is sent from a random place, and the rest comes with the gossip).
pub(super) const FULL_DIGEST_PARTS: usize = 8;

/// An address contacted recently.
#[derive(Clone, Copy, Debug)]
struct Contact {
    addr: SocketAddr,
    /// When it was first contacted (it is not contacted anew within [`CONTACT_HOLDOFF`]).
    first: Instant,
    /// When it was last contacted.
    last: Instant,
    /// Resends left while it does not answer.
    left: u8,
}

/// How far news goes at once (it is piggybacked in every case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Spread {
    /// Learned by unicast or made here: to the group (if multicast is on) and to
    /// `gossip_fanout` random members.
    Flood,
    /// Learned from the group (every member there has it): to `gossip_fanout` random
    /// members reached by unicast only.
    Bridge,
    /// Only piggybacked.
    Piggyback,
}

/// News being piggybacked, and how many more datagrams carry it.
#[derive(Clone, Copy, Debug)]
struct Rumor {
    gossip: Gossip,
    left: u8,
}

/// Dissemination state.
#[derive(Clone, Debug, Default)]
pub(super) struct Rumors {
    rumors: heapless::Vec<Rumor, { super::swim::slots(MAX_RUMORS) }>,
    contacts: heapless::Vec<Contact, { super::swim::slots(RECENT_CONTACTS) }>,
    /// JOINs answered with the whole map in this probe interval.
    pub(super) full_digests: u8,
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Passes `news` on as `how` says, and piggybacks it on the next probes and answers.
    pub(super) fn spread(&mut self, news: Gossip, how: Spread) {
        if !cfg!(feature = "probes") {
            return;
        }
        if how == Spread::Flood && self.config.multicast {
            self.send_group_gossip(news);
            // A death or departure is sent to the group again as the loss needs; a newcomer
            // is not (every member that misses it learns it from the pushes and probes).
            if news.state != MemberState::Alive {
                let copies = super::push::group_copies(self.swim.miss, self.live);
                self.repeat_to_group(news, copies);
            }
        }
        // A death or a departure goes to about ln n more members, so that (nearly) every
        // member has it at once; a newcomer to `gossip_fanout` (each member it reaches
        // contacts it, and passes it on when it answers: the news is everywhere within a
        // few hops, and its piggybacked copies reach the last few).
        let fanout = match how {
            Spread::Piggyback => 0,
            _ if news.state == MemberState::Alive => self.config.gossip_fanout,
            _ => super::push::fanout(self.config.gossip_fanout, self.live),
        };
        let mut chosen: heapless::Vec<crate::id::NodeId, { super::push::MAX_FANOUT as usize }> =
            heapless::Vec::new();
        for _ in 0..fanout {
            let pick = if how == Spread::Flood {
                self.random_target(|t| t.id != news.node && !chosen.contains(&t.id))
            } else {
                self.random_unicast_target(news.node, &chosen)
            };
            let Some(to) = pick else { break };
            let _ = chosen.push(to.id);
            self.push(news, to.addr, to.iface);
        }
        // Piggybacked about log2(members) + 2 times.
        let members = self.live.max(2) as u32;
        let left = (u32::BITS - members.leading_zeros() + 2).min(u32::from(u8::MAX)) as u8;
        let rumor = Rumor { gossip: news, left };
        let rumors = &mut self.rumors.rumors;
        rumors.retain(|r| r.gossip.node != news.node);
        if rumors.is_full() {
            // The most-sent one makes room.
            if let Some(i) = rumors
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| r.left)
                .map(|(i, _)| i)
            {
                rumors.swap_remove(i);
            }
        }
        let _ = rumors.push(rumor);
        rumors.sort_unstable_by_key(|r| core::cmp::Reverse(r.left));
    }

    pub(super) fn send_group_gossip(&mut self, news: Gossip) {
        let serving = self.serving();
        for index in 0..crate::addr::MAX_IFACES {
            let Some(iface) = IfaceId::new(index) else {
                break;
            };
            if serving & iface.bit() != 0 {
                self.stats.gossip_sent = self.stats.gossip_sent.wrapping_add(1);
                self.queue_direct(
                    super::transmit::Destination::Group,
                    iface,
                    Unicast::Gossip {
                        news: Some(news),
                        nonce: 0,
                    },
                );
            }
        }
    }

    fn random_unicast_target(
        &mut self,
        not: crate::id::NodeId,
        chosen: &[crate::id::NodeId],
    ) -> Option<Target> {
        let port = self.config.port;
        let len = self.table.len();
        for _ in 0..8 {
            let index = self.rng.below(len as u64) as usize;
            let entry = self.table.get(index)?;
            if entry.is_unicast() && entry.id() != not && !chosen.contains(&entry.id()) {
                if let Some(t) = Target::of(entry, port) {
                    return Some(t);
                }
            }
        }
        None
    }

    /// Fills `entries` for a datagram out of `iface`: what its receiver should know about
    /// itself (a suspicion, so it refutes), news, then one random member (a digest entry).
    /// Members are named only to the network they were heard on (`Alive` entries about
    /// members heard on another interface would join networks a node keeps apart).
    pub(super) fn piggyback(
        &mut self,
        iface: IfaceId,
        about: Option<Target>,
        entries: &mut GossipList,
    ) {
        if !cfg!(feature = "probes") {
            return;
        }
        if let Some(target) = about {
            if self.swim.suspicion(target.id).is_some() {
                let _ = entries.push(target.gossip(MemberState::Suspect));
            }
        }
        let table = &self.table;
        for rumor in self.rumors.rumors.iter_mut() {
            if entries.is_full() {
                break;
            }
            if rumor.gossip.state == MemberState::Alive {
                let elsewhere = table
                    .same_id(rumor.gossip.node)
                    .iter()
                    .any(|e| e.state == NodeState::Alive && e.iface != iface);
                if elsewhere || about.is_some_and(|t| t.id == rumor.gossip.node) {
                    continue;
                }
            }
            if entries.push(rumor.gossip).is_ok() {
                rumor.left = rumor.left.saturating_sub(1);
            }
        }
        self.rumors.rumors.retain(|r| r.left > 0);
        // The least-sent first next time (fresh news is not held up behind old news).
        self.rumors
            .rumors
            .sort_unstable_by_key(|r| core::cmp::Reverse(r.left));
        if !entries.is_full() {
            if let Some(t) =
                self.random_target(|t| t.iface == iface && about.is_none_or(|a| a.id != t.id))
            {
                let _ = entries.push(t.gossip(MemberState::Alive));
            }
        }
    }

    /// A member digest for a node that just contacted this one: part `part` of a full one
    /// (the members at table positions `start + part × MAX_GOSSIP_ENTRIES` on, that many
    /// positions), or, `None`, up to [`MAX_GOSSIP_ENTRIES`] random members.
    pub(super) fn digest(
        &mut self,
        iface: IfaceId,
        not: Option<crate::id::NodeId>,
        part: Option<(u32, u8)>,
        entries: &mut GossipList,
    ) {
        if !cfg!(feature = "probes") {
            return;
        }
        if let Some((start, part)) = part {
            let len = self.table.len();
            let port = self.config.port;
            let first = start as usize + usize::from(part) * MAX_GOSSIP_ENTRIES;
            for i in first..first + MAX_GOSSIP_ENTRIES {
                let target = self
                    .table
                    .get(i % len.max(1))
                    .and_then(|e| super::swim::Target::of(e, port))
                    .filter(|t| t.iface == iface && Some(t.id) != not);
                if let Some(t) = target {
                    let _ = entries.push(t.gossip(MemberState::Alive));
                }
            }
            return;
        }
        for _ in 0..MAX_GOSSIP_ENTRIES * 2 {
            if entries.is_full() {
                break;
            }
            let Some(t) = self.random_target(|t| t.iface == iface && Some(t.id) != not) else {
                break;
            };
            if !entries.iter().any(|e| e.node == t.id) {
                let _ = entries.push(t.gossip(MemberState::Alive));
            }
        }
    }

    /// Contacts `addr` with a unicast JOIN announcement (its answer adds it), unless it was
    /// contacted within the last second; sent again (on the probe ticks, at most
    /// [`CONTACT_RESENDS`] times) until `addr` answers.
    pub(super) fn contact(&mut self, addr: SocketAddr) {
        if !cfg!(feature = "probes") {
            return;
        }
        let now = self.now;
        let recent = &mut self.rumors.contacts;
        recent.retain(|c| c.left > 0 || now.saturating_since(c.first) < CONTACT_HOLDOFF);
        if recent.iter().any(|c| c.addr == addr) {
            return;
        }
        if recent.is_full() {
            // The oldest makes room, one that was answered if there is one.
            if let Some(i) = recent
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| (c.left > 0, c.first))
                .map(|(i, _)| i)
            {
                recent.swap_remove(i);
            }
        }
        let _ = recent.push(Contact {
            addr,
            first: now,
            last: now,
            left: CONTACT_RESENDS,
        });
        self.send_contact(addr);
    }

    fn send_contact(&mut self, addr: SocketAddr) {
        let Some(iface) = super::relay::take_lowest_iface(&mut self.serving()) else {
            return;
        };
        self.send_to(addr, iface, Unicast::Announce { join: true });
    }

    /// Whether a contact waits for its answer.
    pub(super) fn contacts_pending(&self) -> bool {
        self.rumors.contacts.iter().any(|c| c.left > 0)
    }

    /// A datagram from `src` was accepted: a contact of it is answered.
    pub(super) fn contact_answered(&mut self, src: SocketAddr) {
        for c in self.rumors.contacts.iter_mut() {
            if c.addr.ip() == src.ip() {
                c.left = 0;
            }
        }
    }

    /// Contacts again the addresses that have not answered for
    /// [`RESEND_AFTER`](super::push::RESEND_AFTER).
    pub(super) fn resend_contacts(&mut self) {
        let now = self.now;
        let room = self.room_for_resends();
        let mut due: heapless::Vec<SocketAddr, { super::swim::slots(RECENT_CONTACTS) }> =
            heapless::Vec::new();
        for c in self.rumors.contacts.iter_mut() {
            if due.len() < room
                && c.left > 0
                && now.saturating_since(c.last) >= super::push::RESEND_AFTER
            {
                c.left -= 1;
                c.last = now;
                let _ = due.push(c.addr);
            }
        }
        for addr in due {
            self.send_contact(addr);
        }
    }

    /// What the gossip `entries` of a datagram from a member (`trusted`) or from a node this
    /// one does not know say.
    pub(super) fn receive_gossip(
        &mut self,
        entries: &GossipList,
        trusted: bool,
        from_unicast: bool,
    ) {
        if !cfg!(feature = "probes") {
            return;
        }
        for entry in entries {
            self.receive_entry(entry, trusted, from_unicast);
        }
    }

    fn receive_entry(&mut self, entry: &Gossip, trusted: bool, from_unicast: bool) {
        let own = entry.node == self.config.node_id && entry.incarnation == self.config.incarnation;
        if own {
            if entry.state != MemberState::Alive && entry.sequence >= self.sequence && self.present
            {
                // Suspected or declared dead at our current round: refute with a new one.
                self.stats.refutations = self.stats.refutations.wrapping_add(1);
                self.begin_round(self.serving(), 0);
                if entry.state != MemberState::Suspect {
                    if let Some(me) = self.own_gossip() {
                        self.spread(me, Spread::Flood);
                    }
                }
            }
            return;
        }
        let known = self
            .table
            .same_id(entry.node)
            .iter()
            .filter(|e| e.state != NodeState::Local)
            .map(|e| (e.incarnation, e.sequence, e.state))
            .max_by_key(|(i, s, _)| (*i, *s));
        let order = known.map(|(i, s, _)| (entry.incarnation, entry.sequence).cmp(&(i, s)));
        match entry.state {
            MemberState::Alive => {
                let news = match (known, order) {
                    (None, _) => true,
                    (Some((_, _, NodeState::Departed)), Some(Ordering::Greater)) => true,
                    (Some((i, _, NodeState::Alive)), _) => entry.incarnation > i,
                    _ => false,
                };
                if news {
                    self.contact(entry.addr);
                }
            }
            MemberState::Suspect => {}
            MemberState::Dead | MemberState::Left => {
                if !trusted {
                    return;
                }
                let alive = matches!(known, Some((_, _, NodeState::Alive)));
                if !alive || entry.state == MemberState::Left && order == Some(Ordering::Less) {
                    return;
                }
                if order == Some(Ordering::Less) {
                    // This node heard a newer round of it than the notice names: it does not
                    // take the word of another, it probes the member itself (a replayed
                    // notice only causes probes).
                    self.suspect(entry);
                } else if self.remove_member(entry) {
                    let how = if from_unicast {
                        Spread::Flood
                    } else {
                        Spread::Bridge
                    };
                    self.spread(*entry, how);
                }
            }
        }
    }

    /// Removes the alive member `news` is about (same incarnation, no newer sequence known),
    /// as dead (expired) or left. Whether it was removed.
    pub(super) fn remove_member(&mut self, news: &Gossip) -> bool {
        let now = self.now;
        let first = self
            .table
            .entries()
            .partition_point(|e| e.id < news.node.get());
        let Some(index) = self
            .table
            .entries()
            .iter()
            .skip(first)
            .take_while(|e| e.id == news.node.get())
            .position(|e| {
                e.state == NodeState::Alive
                    && e.incarnation == news.incarnation
                    && e.sequence <= news.sequence
            })
            .map(|p| first + p)
        else {
            return false;
        };
        let Some(entry) = self.table.get_mut(index) else {
            return false;
        };
        let was_member = entry.is_member();
        entry.depart(now);
        let id = entry.id();
        self.live = self.live.saturating_sub(1);
        self.swim.clear(id);
        let event = if news.state == MemberState::Left {
            self.stats.left = self.stats.left.wrapping_add(1);
            Event::Left(id)
        } else {
            self.stats.expired = self.stats.expired.wrapping_add(1);
            Event::Expired(id)
        };
        self.after_membership_change(id, was_member.then_some(event));
        self.members_dropped();
        true
    }

    /// This node as a gossip entry: its first address and [`Config::port`](crate::Config::port).
    pub(super) fn own_gossip(&self) -> Option<Gossip> {
        let addr = self.addrs.first()?;
        let port = self.config.port;
        Some(Gossip {
            state: MemberState::Alive,
            node: self.config.node_id,
            incarnation: self.config.incarnation,
            sequence: self.sequence,
            addr: SocketAddr::new(addr.ip, port),
        })
    }
}
