//! The engine's timers: one table of named deadlines (like quinn-proto's `TimerTable`), so
//! that the next deadline is one minimum over the table, not a hand-kept list.

use crate::time::Instant;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The next periodic announcement (reconsidered when it fires, RFC 3550 §6.3.6).
    Announce,
    /// Answering the nodes that joined since the last answer (see `ReplyWindow`).
    Reply,
    /// Expiring silent nodes and forgetting old tombstones.
    Sweep,
    /// Sending LEAVE, or reconsidering when to, while backing off (see `LeaveBackoff`).
    Leave,
    /// Contacting the seeds that are due (first contact or retry).
    Seed,
    /// The end of a probe interval: judge its probes, start the next.
    Probe,
    /// The direct PINGs of this interval went unanswered: ask others (PING-REQ).
    ProbeTimeout,
}

/// How many kinds of [`Timer`] there are.
const TIMERS: usize = 7;

/// One optional deadline per [`Timer`], indexed by the timer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable([Option<Instant>; TIMERS]);

impl TimerTable {
    fn slot(&mut self, timer: Timer) -> &mut Option<Instant> {
        let [announce, reply, sweep, leave, seed, probe, probe_timeout] = &mut self.0;
        match timer {
            Timer::Announce => announce,
            Timer::Reply => reply,
            Timer::Sweep => sweep,
            Timer::Leave => leave,
            Timer::Seed => seed,
            Timer::Probe => probe,
            Timer::ProbeTimeout => probe_timeout,
        }
    }

    /// The deadline of `timer`, if it runs.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        let [announce, reply, sweep, leave, seed, probe, probe_timeout] = self.0;
        match timer {
            Timer::Announce => announce,
            Timer::Reply => reply,
            Timer::Sweep => sweep,
            Timer::Leave => leave,
            Timer::Seed => seed,
            Timer::Probe => probe,
            Timer::ProbeTimeout => probe_timeout,
        }
    }

    /// Starts (or moves) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        *self.slot(timer) = Some(at);
    }

    /// Makes `timer` fire no later than `at`.
    pub(crate) fn set_no_later(&mut self, timer: Timer, at: Instant) {
        let slot = self.slot(timer);
        *slot = Some(slot.map_or(at, |t| t.min(at)));
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        *self.slot(timer) = None;
    }

    /// Whether `timer` runs and its deadline is at or before `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest deadline of all.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest deadline of the running timers other than `skipped`.
    pub(crate) fn next_except(&self, skipped: Timer) -> Option<Instant> {
        let mut table = *self;
        table.stop(skipped);
        table.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_is_the_earliest_running_timer() {
        let mut timers = TimerTable::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Sweep, Instant::from_millis(30));
        timers.set(Timer::Announce, Instant::from_millis(20));
        assert_eq!(timers.next(), Some(Instant::from_millis(20)));
        assert_eq!(
            timers.next_except(Timer::Announce),
            Some(Instant::from_millis(30))
        );
        assert_eq!(
            timers.next_except(Timer::Seed),
            Some(Instant::from_millis(20))
        );
        timers.stop(Timer::Announce);
        assert_eq!(timers.next(), Some(Instant::from_millis(30)));
        timers.set_no_later(Timer::Sweep, Instant::from_millis(40));
        assert_eq!(timers.get(Timer::Sweep), Some(Instant::from_millis(30)));
        timers.set_no_later(Timer::Leave, Instant::from_millis(10));
        assert!(timers.is_due(Timer::Leave, Instant::from_millis(10)));
        assert!(!timers.is_due(Timer::Sweep, Instant::from_millis(10)));
        assert!(!timers.is_due(Timer::Reply, Instant::from_millis(u64::MAX)));
    }
}
