//! Leaving: LEAVE on every active interface, and in a large cluster the back-off of RFC 3550
//! §6.3.7 first, so that a mass shutdown stays within the bandwidth budget.

use super::timer::Timer;
use super::unicast::Unicast;
use super::{schedule, Engine, Phase, Round, LEAVE_BACKOFF_MEMBERS};
use crate::table::TableStorage;
use crate::time::Instant;

/// A leaving node's back-off in a large cluster: it starts as if alone, counts the LEAVEs it
/// hears, and reconsiders when [`Timer::Leave`] fires.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeaveBackoff {
    /// When [`Engine::leave`] was called.
    started: Instant,
    /// Other nodes' LEAVEs heard since.
    leaves_heard: usize,
}

impl LeaveBackoff {
    /// Notes another node's LEAVE.
    pub(super) fn heard_leave(&mut self) {
        self.leaves_heard = self.leaves_heard.saturating_add(1);
    }
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Begins a graceful stop: LEAVE goes out on every active interface through
    /// [`poll_transmit`](Self::poll_transmit), after which the phase is [`Phase::Stopped`].
    /// Pending announcements, answers and relays are dropped, and silent nodes no longer
    /// expire. In a cluster of more than [`LEAVE_BACKOFF_MEMBERS`] the LEAVE waits its turn
    /// (at most [`Config::max_leave_delay`](crate::Config::max_leave_delay)).
    pub fn leave(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Leaving | Phase::Stopped) {
            return;
        }
        self.now = now;
        if self.phase == Phase::Idle || !self.present {
            // Never started, or out of the cluster (no address): nobody to tell.
            self.phase = Phase::Stopped;
            self.farewell = None;
            return;
        }
        self.phase = Phase::Leaving;
        self.own_round = None;
        self.replies.clear();
        self.relay_queue.clear();
        self.unicast_queue.clear();
        for timer in [
            Timer::Announce,
            Timer::Reply,
            Timer::Sweep,
            Timer::Seed,
            Timer::Probe,
            Timer::ProbeTimeout,
        ] {
            self.timers.stop(timer);
        }
        if self.live > LEAVE_BACKOFF_MEMBERS {
            // RFC 3550 §6.3.7: start as if alone, count the LEAVEs heard, reconsider.
            self.leave_backoff = Some(LeaveBackoff {
                started: now,
                leaves_heard: 0,
            });
            let td = self.sched.deterministic(&self.config, 1);
            let at = now + schedule::randomized(td, &mut self.rng);
            self.timers.set(Timer::Leave, at);
            core_log!(
                info,
                "node {} leaving a cluster of {} nodes: backing off",
                self.config.node_id.get(),
                self.live
            );
        } else {
            self.send_leave();
        }
    }

    fn send_leave(&mut self) {
        self.end_backoff();
        let sequence = self.next_sequence();
        self.leave_round = Some(Round {
            sequence,
            join: 0,
            pending: self.serving(),
            started: false,
        });
        // Members reached by unicast only hear it directly from a few, who pass it on.
        let multicast = self.config.multicast;
        for _ in 0..self.config.gossip_fanout.saturating_mul(2) {
            let target = self.random_target(|_| true);
            let Some(target) = target else { break };
            let reached_by_group = multicast
                && self
                    .table
                    .same_id(target.id)
                    .iter()
                    .any(|e| e.incarnation == target.incarnation && !e.is_unicast());
            if !reached_by_group {
                self.send_to(target.addr, target.iface, Unicast::Leave);
            }
        }
        core_log!(info, "node {} leaving", self.config.node_id.get());
    }

    fn end_backoff(&mut self) {
        self.leave_backoff = None;
        self.timers.stop(Timer::Leave);
    }

    /// The LEAVE back-off timer fired: send now, wait longer, or give up.
    pub(super) fn leave_timer(&mut self, now: Instant) {
        let Some(backoff) = self.leave_backoff else {
            return;
        };
        if !self.timers.is_due(Timer::Leave, now) {
            return;
        }
        let td = self
            .sched
            .deterministic(&self.config, 1usize.saturating_add(backoff.leaves_heard));
        let t = schedule::randomized(td, &mut self.rng);
        let due = backoff.started + t;
        if due > backoff.started + self.config.max_leave_delay {
            self.end_backoff();
            self.phase = Phase::Stopped;
            self.stats.left_silently = true;
            core_log!(
                info,
                "node {} stops without LEAVE ({} nodes leaving at once); the others will expire it",
                self.config.node_id.get(),
                backoff.leaves_heard
            );
        } else if due > now {
            self.timers.set(Timer::Leave, due);
        } else {
            self.send_leave();
        }
    }
}
