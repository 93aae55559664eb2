//! Expiry: removing nodes that stopped announcing, and forgetting old tombstones.

use super::swim::Target;
use super::timer::Timer;
use super::Engine;
use crate::event::Event;
use crate::table::{NodeState, TableStorage};
use crate::time::Instant;

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Expires every live node silent for `k` of its advertised intervals (`k` from
    /// `dead_after` up to `max_dead_after`, as the loss measured from it requires) — or,
    /// where the probe protocol runs and can reach it, suspects it and leaves the verdict to
    /// the probes (a live member whose announcements were lost answers them) — purges
    /// tombstones older than the tombstone lifetime, and schedules the next sweep. O(n).
    pub(super) fn sweep(&mut self, now: Instant) {
        let detector = self.detector;
        let port = self.config.port;
        let mut index = 0;
        while index < self.table.len() {
            let due = self
                .table
                .get(index)
                .filter(|e| e.state == NodeState::Alive && now >= e.expires_at(&detector))
                .map(|e| (e.id(), Target::of(e, port)));
            let expired = match due {
                // The probe protocol decides whether a silent member it can reach is dead.
                Some((id, target)) if self.probes_decide(id, target) => None,
                Some(_) => self.table.get_mut(index).map(|e| {
                    let was_member = e.is_member();
                    e.depart(now);
                    (e.id(), was_member)
                }),
                None => None,
            };
            if let Some((id, was_member)) = expired {
                self.stats.expired = self.stats.expired.wrapping_add(1);
                self.live = self.live.saturating_sub(1);
                core_log!(debug, "node {} expired", id.get());
                self.after_membership_change(id, was_member.then_some(Event::Expired(id)));
            }
            index += 1;
        }
        self.members_dropped();
        let lifetime = self.config.tombstone_lifetime;
        // Purge what departed at or before `now - lifetime`: the sweep for a tombstone is
        // scheduled at `last_seen + lifetime` (below), and a tombstone left at that instant
        // would schedule the sweep at `now` again, forever, on a clock that did not move.
        let cutoff = Instant::from_millis(
            now.total_millis()
                .saturating_sub(lifetime.total_millis())
                .saturating_add(1),
        );
        self.table.purge_departed_before(cutoff);

        // Suspects are the probes' to remove: past its expiry, a suspect is looked at again
        // a probe interval on (expired then if the probes stopped, by an address lost).
        let swim = &self.swim;
        let recheck = now + self.config.probe_interval;
        let next_expiry = self
            .table
            .entries()
            .iter()
            .filter(|e| e.state == NodeState::Alive)
            .map(|e| {
                let at = e.expires_at(&detector);
                if swim.suspicion(e.id()).is_some() {
                    at.max(recheck)
                } else {
                    at
                }
            })
            .min();
        let next_purge = self
            .table
            .entries()
            .iter()
            .filter(|e| e.state == NodeState::Departed)
            .map(|e| e.last_seen + lifetime)
            .min();
        match next_expiry.into_iter().chain(next_purge).min() {
            Some(at) => self.timers.set(Timer::Sweep, at),
            None => self.timers.stop(Timer::Sweep),
        }
    }

    /// Makes sure a sweep runs no later than `at` (the expiry of a node just heard).
    pub(super) fn sweep_by(&mut self, at: Instant) {
        self.timers.set_no_later(Timer::Sweep, at);
    }
}
