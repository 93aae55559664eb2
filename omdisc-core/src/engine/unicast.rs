//! Direct datagrams: this node's datagrams to one peer (contacts of seeds and of members
//! learned by gossip, answers to them, probes, gossip) and its gossip to the group, in a
//! bounded queue that reports what it drops; and the seed contact timer.

use core::net::SocketAddr;

use super::swim::Target;
use super::timer::Timer;
use super::transmit::Destination;
use super::{Engine, Phase, Transmit};
use crate::addr::IfaceId;
use crate::event::Event;
use crate::table::TableStorage;
use crate::time::Instant;
use crate::wire::{Gossip, GossipList, MessageKind, Payload, MAX_DATAGRAM_LEN};

/// How many direct datagrams wait for [`Engine::poll_transmit`] at most; more are dropped
/// and counted ([`Stats::unicast_dropped`](crate::Stats::unicast_dropped)). A join of 1 000
/// unicast-only members at once at 25 % loss dropped 15 000 datagrams a second across the
/// cluster with 32 slots, and 12 000 in its first 6 s with 64 (resent contacts filling the
/// queue before the probes), among them ACKs: the false suspicions and removals that
/// followed never let the cluster converge. 128 dropped none.
pub const UNICAST_QUEUE_LEN: usize = 128;

/// What one queued direct datagram says; its payload is filled when it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unicast {
    /// This node's announcement (the current round's number), with the join flag (asking
    /// for an answer: its announcement and a member digest) or not.
    Announce {
        /// Ask for an answer.
        join: bool,
    },
    /// A member digest, answering a unicast JOIN of node `to`.
    Digest {
        /// The node it goes to (left out of the digest).
        to: crate::id::NodeId,
        /// Of a full digest: where in the table it starts, and which part this is; `None`:
        /// random members.
        part: Option<(u32, u8)>,
    },
    /// A request for the members this node lacks (a GOSSIP with the sync flag and a summary
    /// of this node's map under `salt`, made when it is sent).
    SyncRequest {
        /// The summary's salt.
        salt: u32,
    },
    /// A part of a sync this node serves: the members of the buckets in `mask` (under
    /// `salt`) from table position `from` on, as many as one datagram takes.
    SyncPart {
        /// The node it goes to (left out).
        to: crate::id::NodeId,
        /// The asker's salt.
        salt: u32,
        /// The buckets whose sums differ, a bit each.
        mask: u32,
        /// Where in the table the part starts.
        from: u32,
    },
    /// A probe.
    Ping {
        /// The probe number.
        nonce: u32,
        /// The member probed, if it is a member (to tell it it is suspected).
        about: Option<Target>,
    },
    /// The answer to a PING.
    Ack {
        /// The probe number answered.
        nonce: u32,
    },
    /// A request to probe `target`.
    PingReq {
        /// The probe number the ACK must carry.
        nonce: u32,
        /// The member to probe.
        target: SocketAddr,
    },
    /// Gossip: this news first, then what is piggybacked.
    Gossip {
        /// The news.
        news: Option<Gossip>,
        /// Non-zero: the receiver ACKs it with this number (a reliable push).
        nonce: u32,
    },
    /// This node's LEAVE, to a member reached by unicast only.
    Leave,
}

/// One queued direct datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct UnicastJob {
    pub(super) to: Destination,
    pub(super) iface: IfaceId,
    pub(super) what: Unicast,
}

/// The bounded queue of direct datagrams.
/// Without the `probes` feature only announcements, LEAVEs and ACKs are queued: 8 slots.
pub(super) type UnicastQueue = heapless::Deque<
    UnicastJob,
    {
        if cfg!(feature = "probes") {
            UNICAST_QUEUE_LEN
        } else {
            8
        }
    },
>;

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Queues `what` to `to`, from interface `iface` (from the first serving one if `iface`
    /// does not serve); counted and dropped when the queue is full or no interface serves.
    pub(super) fn send_to(&mut self, to: SocketAddr, iface: IfaceId, what: Unicast) {
        self.queue_direct(Destination::Peer(to), iface, what);
    }

    pub(super) fn queue_direct(&mut self, to: Destination, iface: IfaceId, what: Unicast) {
        let serving = self.serving();
        let iface = if serving & iface.bit() != 0 {
            iface
        } else {
            let Some(first) = super::relay::take_lowest_iface(&mut serving.clone()) else {
                return;
            };
            first
        };
        if self
            .unicast_queue
            .push_back(UnicastJob { to, iface, what })
            .is_err()
        {
            self.stats.unicast_dropped = self.stats.unicast_dropped.wrapping_add(1);
        }
    }

    /// How many resends (of news, of contacts) may be queued now: half the free slots, so
    /// that a burst of resends leaves room for the probes and answers (the rest waits for
    /// the next tick). A full queue drops ACKs, and dropped ACKs are false suspicions.
    pub(super) fn room_for_resends(&self) -> usize {
        self.unicast_queue
            .capacity()
            .saturating_sub(self.unicast_queue.len())
            / 2
    }

    /// The next queued direct datagram, written into `buf`.
    pub(super) fn next_unicast(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        loop {
            let job = self.unicast_queue.pop_front()?;
            if self.serving() & job.iface.bit() == 0 {
                continue;
            }
            if !cfg!(feature = "probes")
                && !matches!(
                    job.what,
                    Unicast::Announce { .. } | Unicast::Leave | Unicast::Ack { .. }
                )
            {
                // Never queued without the probe protocol.
                continue;
            }
            let sequence = self.sequence;
            let (kind, join) = match job.what {
                Unicast::Announce { join } => (MessageKind::Announce, join),
                Unicast::Leave => (MessageKind::Leave, false),
                Unicast::Ping { .. } => (MessageKind::Ping, false),
                Unicast::Ack { .. } => (MessageKind::Ack, false),
                Unicast::PingReq { .. } => (MessageKind::PingReq, false),
                Unicast::Gossip { .. }
                | Unicast::Digest { .. }
                | Unicast::SyncRequest { .. }
                | Unicast::SyncPart { .. } => (MessageKind::Gossip, false),
            };
            // The current round's number: a direct copy is not a new round, so receivers
            // of the group count no gap.
            let mut msg = self.own_message(kind, job.iface, sequence, join);
            msg.unicast = job.to != Destination::Group;
            let mut payload = Payload::EMPTY;
            if kind.has_payload() {
                payload.members = self.sync.members;
            }
            match job.what {
                Unicast::Announce { .. } | Unicast::Leave => {}
                Unicast::SyncRequest { salt } => payload.sync = Some(self.sync_summary(salt)),
                Unicast::SyncPart {
                    to,
                    salt,
                    mask,
                    from,
                } => {
                    let entries = &mut payload.entries;
                    self.sync_part(job.iface, to, salt, mask, from, |t| entries.push(t).is_ok());
                }
                Unicast::Digest { to, part } => {
                    self.digest(job.iface, Some(to), part, &mut payload.entries)
                }
                Unicast::Ping { nonce, about } => {
                    payload.nonce = nonce;
                    self.piggyback(job.iface, about, &mut payload.entries);
                }
                Unicast::Ack { nonce } => {
                    payload.nonce = nonce;
                    self.piggyback(job.iface, None, &mut payload.entries);
                }
                Unicast::PingReq { nonce, target } => {
                    payload.nonce = nonce;
                    payload.target = Some(target);
                    self.piggyback(job.iface, None, &mut payload.entries);
                }
                Unicast::Gossip { news, nonce } => {
                    payload.nonce = nonce;
                    let mut entries = GossipList::new();
                    if let Some(news) = news {
                        let _ = entries.push(news);
                    }
                    // A push (and its resends) carries its news alone: what is piggybacked
                    // is counted down per datagram, and a burst of pushes would spend it
                    // before the probes carry it to random members.
                    if nonce == 0 {
                        self.piggyback(job.iface, None, &mut entries);
                    }
                    payload.entries = entries;
                }
            }
            match msg.emit_with(&payload, buf, self.keys.as_ref()) {
                Ok(len) => {
                    return Some(Transmit {
                        iface: job.iface,
                        len,
                        to: job.to,
                    })
                }
                Err(_e) => core_log!(warn, "could not encode a direct datagram"),
            }
        }
    }

    /// Contacts the seeds that are due with a unicast JOIN announcement, reports those that
    /// stay silent, and sets the seed timer to the next contact.
    pub(super) fn seed_timer(&mut self, now: Instant) {
        if self.phase != Phase::Running || !self.present || self.sequence == 0 {
            self.timers.stop(Timer::Seed);
            return;
        }
        let mut due: heapless::Vec<SocketAddr, { super::seeds::MAX_SEEDS }> = heapless::Vec::new();
        for seed in self.seeds.iter_mut() {
            if seed.next_contact.is_some_and(|t| t <= now) {
                seed.unanswered = seed.unanswered.saturating_add(1);
                seed.next_contact = Some(now + super::seeds::Seed::backoff(seed.unanswered));
                if seed.unanswered > super::seeds::SEED_UNREACHABLE_AFTER
                    && !seed.reported_unreachable
                {
                    seed.reported_unreachable = true;
                    self.events.push(Event::SeedUnreachable(seed.addr));
                    core_log!(warn, "seed {} does not answer; retrying", seed.addr);
                }
                let _ = due.push(seed.addr);
            }
        }
        for to in due {
            self.stats.seed_contacts = self.stats.seed_contacts.wrapping_add(1);
            if let Some(iface) = super::relay::take_lowest_iface(&mut self.serving()) {
                self.send_to(to, iface, Unicast::Announce { join: true });
            }
        }
        self.arm_seed_timer();
    }

    /// Sets the seed timer to the next contact due (or stops it).
    pub(super) fn arm_seed_timer(&mut self) {
        if !cfg!(feature = "probes") {
            // Seeds are not contacted without the probe protocol.
            return;
        }
        match self.seeds.next_contact() {
            Some(at) => self.timers.set(Timer::Seed, at),
            None => self.timers.stop(Timer::Seed),
        }
    }

    /// A message from `src` was accepted: if it is a seed's, the seed answered.
    pub(super) fn seed_heard(&mut self, src: SocketAddr) {
        for seed in self.seeds.iter_mut() {
            if seed.addr.ip() != src.ip() || seed.next_contact.is_none() {
                continue;
            }
            if !seed.reached || seed.reported_unreachable {
                self.events.push(Event::SeedReached(seed.addr));
            }
            seed.reached = true;
            seed.reported_unreachable = false;
            seed.unanswered = 0;
            seed.next_contact = None;
        }
        self.arm_seed_timer();
    }
}
