//! Unicast: this node's datagrams to one peer (contacts of seeds, answers to them), queued
//! in a bounded queue that reports what it drops, and the seed contact timer.

use core::net::SocketAddr;

use super::timer::Timer;
use super::transmit::Destination;
use super::{Engine, Phase, Transmit};
use crate::addr::IfaceId;
use crate::event::Event;
use crate::table::TableStorage;
use crate::time::Instant;
use crate::wire::{MessageKind, MAX_DATAGRAM_LEN};

/// How many unicast datagrams wait for [`Engine::poll_transmit`] at most; more are dropped
/// and counted ([`Stats::unicast_dropped`](crate::Stats::unicast_dropped)).
pub const UNICAST_QUEUE_LEN: usize = 16;

/// What one queued unicast datagram says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unicast {
    /// This node's announcement, with the join flag (asking for an answer) or not.
    Announce {
        /// Ask for an answer.
        join: bool,
    },
}

/// One queued unicast datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct UnicastJob {
    pub(super) to: SocketAddr,
    pub(super) iface: IfaceId,
    pub(super) what: Unicast,
}

/// The bounded queue of unicast datagrams.
pub(super) type UnicastQueue = heapless::Deque<UnicastJob, UNICAST_QUEUE_LEN>;

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Queues `what` to `to`, from the first serving interface (the kernel routes it);
    /// counted and dropped when the queue is full or no interface serves.
    pub(super) fn send_unicast(&mut self, to: SocketAddr, what: Unicast) {
        let Some(iface) = super::relay::take_lowest_iface(&mut self.serving()) else {
            return;
        };
        if self
            .unicast_queue
            .push_back(UnicastJob { to, iface, what })
            .is_err()
        {
            self.stats.unicast_dropped = self.stats.unicast_dropped.wrapping_add(1);
        }
    }

    /// The next queued unicast datagram, written into `buf`.
    pub(super) fn next_unicast(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        loop {
            let job = self.unicast_queue.pop_front()?;
            if self.serving() & job.iface.bit() == 0 {
                continue;
            }
            let msg = match job.what {
                Unicast::Announce { join } => {
                    // The current round's number: a unicast copy is not a new round, so
                    // receivers of the group count no gap.
                    self.own_message(MessageKind::Announce, job.iface, self.sequence, join)
                }
            };
            if let Some(mut transmit) = self.encode(&msg, job.iface, buf) {
                transmit.to = Destination::Peer(job.to);
                return Some(transmit);
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
            self.send_unicast(to, Unicast::Announce { join: true });
        }
        self.arm_seed_timer();
    }

    /// Sets the seed timer to the next contact due (or stops it).
    pub(super) fn arm_seed_timer(&mut self) {
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
