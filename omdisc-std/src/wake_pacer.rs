//! Wake pacing: under a stream of datagrams the daemon wakes at most once per
//! [`WAKE_PAUSE`], the way a network card moderates its interrupts.
//!
//! Each wake costs a `poll`, a context switch and a turn of the main loop, whatever it
//! finds. At a few datagrams a second every datagram gets its own wake, and that is the
//! cheapest there is. Under a flood (a large cluster's announcements, a sync, an attack)
//! the datagrams come faster than a wake takes, each wake finds a handful, and the wakes
//! cost more than the datagrams. So when [`STREAK`] wakes in a row took in datagrams at
//! least [`MIN_GATHER`] a pause's worth, each less than two pauses after the one before,
//! and the last one emptied the sockets, the daemon sleeps before it polls again: until about [`TARGET_PER_WAKE`] datagrams are waiting at the
//! rate the last wake saw, and never past [`WAKE_PAUSE`] after that wake began. The
//! datagrams wait in the socket buffer and are taken in full batches. Aiming at a count,
//! not a time, keeps what waits far below what the smallest buffer holds: the daemon asks
//! for 2 MiB ([`crate::socket::RECEIVE_BUFFER_BYTES`]), but the kernel grants at most
//! `net.core.rmem_max` (Debian's default gives about 416 KiB, some 180 datagrams of the
//! kernel's accounting), and a flood of 400 000 datagrams a second fills one pause of
//! 1 ms with 400.
//!
//! The cost is at most one pause of latency for a datagram that arrives during it: far
//! below any of the protocol's timeouts (the shortest, a probe's, is 100s of ms). A quiet
//! daemon never pauses.
//!
//! The same reasoning gives the engine's periodic timers a slack
//! ([`omdisc_core::Engine::poll_timeout_is_periodic`]: the next announcement, a probe tick
//! while nobody is suspected): such a deadline may be met late by a tenth of the time the
//! daemon has known it, [`TIMER_SLACK`] at most ([`TimerSlack`]), so
//! that a datagram arriving in that time, which wakes the daemon anyway, also runs the
//! timer; a quiet daemon saves a wake for about every other timer (announcements, probe
//! ticks) in a cluster of a dozen members. The deadlines that detect a failure (expiry, a
//! probe's wait for its answer, the ticks of a suspicion) stay exact.
//!
//! The environment variable `OMDISC_WAKE_PAUSE_US` sets another pause in microseconds (0
//! turns pacing off); it is there for the ingest benchmark's comparison, not for tuning.

use std::time::{Duration, Instant};

/// Longest pause between two wakes under a stream of datagrams.
pub const WAKE_PAUSE: Duration = Duration::from_millis(1);
/// Datagrams a paced wake aims to find waiting: two `recvmmsg` batches.
pub const TARGET_PER_WAKE: u32 = 64;
/// A shorter pause is not taken (the sleep would cost what it saves).
pub const MIN_PAUSE: Duration = Duration::from_micros(50);
/// A stream is paced when a whole pause would gather at least this many datagrams at the
/// rate of the last wake: below, a pause would only replace one wake by another.
pub const MIN_GATHER: u32 = 4;
/// Wakes in a row that must look like a stream before the first pause: two datagrams
/// that happen to come close together (an ACK after an announcement) are not a stream.
pub const STREAK: u32 = 2;

/// How late an engine deadline may be met at most, to share a wake with a datagram.
pub const TIMER_SLACK: Duration = Duration::from_millis(50);

/// The slack of the engine's next deadline: a tenth of the time since the daemon first saw
/// that deadline (about the timer's whole period: a probe tick's 500 ms, a probe's 200 ms
/// wait), [`TIMER_SLACK`] at most. Measured from the first sight, not from now, so that
/// the slack does not shrink turn by turn as the deadline nears.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimerSlack {
    /// The deadline last seen and when it was first seen (daemon milliseconds).
    seen: Option<(u64, u64)>,
}

impl TimerSlack {
    /// The moment to wake for an engine deadline at `deadline_ms`, at `now_ms`: with slack
    /// if the deadline is `periodic`; a due one (the engine has datagrams to send, or a
    /// timer passed) at once.
    pub fn wake_at(&mut self, deadline_ms: u64, now_ms: u64, periodic: bool) -> u64 {
        let first_seen = match self.seen {
            Some((deadline, first)) if deadline == deadline_ms => first,
            _ => {
                self.seen = Some((deadline_ms, now_ms));
                now_ms
            }
        };
        if deadline_ms <= now_ms || !periodic {
            return deadline_ms;
        }
        let period = deadline_ms.saturating_sub(first_seen);
        let slack = (period / 10).min(TIMER_SLACK.as_millis() as u64);
        deadline_ms.saturating_add(slack)
    }
}

/// The environment variable that overrides [`WAKE_PAUSE`] (microseconds; 0 = off).
pub const WAKE_PAUSE_ENV: &str = "OMDISC_WAKE_PAUSE_US";

/// [`WAKE_PAUSE`], or the pause `OMDISC_WAKE_PAUSE_US` sets (ignored unless a number).
pub fn configured_pause() -> Duration {
    pause_from(std::env::var(WAKE_PAUSE_ENV).ok().as_deref())
}

fn pause_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(WAKE_PAUSE, Duration::from_micros)
}

/// Decides, after each wake, whether the next `poll` waits out the rest of a pause.
#[derive(Debug, Clone)]
pub struct WakePacer {
    pause: Duration,
    /// When the last wake that took in datagrams began.
    last_wake: Option<Instant>,
    /// Wakes in a row that looked like a stream.
    streak: u32,
    /// The next poll waits until this moment.
    pause_until: Option<Instant>,
    /// Pauses taken so far.
    pauses: u64,
}

impl WakePacer {
    /// A pacer with at most one wake per `pause` under a stream.
    pub fn new(pause: Duration) -> WakePacer {
        WakePacer {
            pause,
            last_wake: None,
            streak: 0,
            pause_until: None,
            pauses: 0,
        }
    }

    /// A wake that began at `at` took in `received` datagrams, and left every socket it
    /// read empty (`drained`) or not (it stopped at its batch limit, and the next poll
    /// must not wait).
    pub fn on_wake(&mut self, at: Instant, received: usize, drained: bool) {
        if received == 0 {
            // Timers, signals, network changes: no datagram stream to pace.
            self.pause_until = None;
            return;
        }
        let count = u32::try_from(received).unwrap_or(u32::MAX);
        // Close to the last wake, and fast enough that a pause gathers MIN_GATHER.
        let gap = self
            .last_wake
            .map(|last| at.saturating_duration_since(last))
            .filter(|&gap| gap < self.pause * 2 && self.pause * count >= gap * MIN_GATHER);
        self.last_wake = Some(at);
        self.streak = if gap.is_some() {
            self.streak.saturating_add(1)
        } else {
            0
        };
        self.pause_until = match gap {
            Some(gap) if drained && self.streak >= STREAK => {
                // The time TARGET_PER_WAKE datagrams take at the rate the wake saw.
                let fill = (gap * TARGET_PER_WAKE) / count;
                Some(at + fill.min(self.pause))
            }
            _ => None,
        };
    }

    /// How long to sleep before the next poll, at `now`: the rest of the pause, if one is
    /// due. Counts the pause as taken.
    pub fn take_pause(&mut self, now: Instant) -> Option<Duration> {
        let until = self.pause_until.take()?;
        let rest = until.saturating_duration_since(now);
        if rest < MIN_PAUSE {
            return None;
        }
        self.pauses += 1;
        Some(rest)
    }

    /// Pauses taken so far.
    pub fn pauses(&self) -> u64 {
        self.pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = WAKE_PAUSE;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Wakes at `start`, `start + gap`, … each with `count` datagrams, all drained; the
    /// pause after each.
    fn stream(
        pacer: &mut WakePacer,
        start: Instant,
        gap: Duration,
        counts: &[usize],
    ) -> Vec<Option<Duration>> {
        let mut at = start;
        counts
            .iter()
            .map(|&count| {
                pacer.on_wake(at, count, true);
                let pause = pacer.take_pause(at);
                at += gap;
                pause
            })
            .collect()
    }

    #[test]
    fn a_deadline_gets_a_tenth_of_its_period_as_slack_a_due_one_none() {
        let mut slack = TimerSlack::default();
        // First seen a second ahead: the whole 50 ms, and still 50 ms as it nears.
        assert_eq!(slack.wake_at(1_900, 900, true), 1_950);
        assert_eq!(slack.wake_at(1_900, 1_850, true), 1_950);
        // A new deadline 200 ms ahead: 20 ms, also when seen again later.
        assert_eq!(slack.wake_at(2_100, 1_900, true), 2_120);
        assert_eq!(slack.wake_at(2_100, 2_090, true), 2_120);
        // Due or passed: at once.
        assert_eq!(slack.wake_at(2_100, 2_100, true), 2_100);
        assert_eq!(slack.wake_at(2_000, 2_100, true), 2_000);
        // First seen 5 ms ahead: no slack.
        assert_eq!(slack.wake_at(3_005, 3_000, true), 3_005);
        assert_eq!(slack.wake_at(u64::MAX, 0, true), u64::MAX);
        // Not periodic (expiry, a probe's timeout): exact.
        assert_eq!(slack.wake_at(5_000, 4_000, false), 5_000);
    }

    #[test]
    fn a_quiet_daemon_never_pauses() {
        let mut pacer = WakePacer::new(PAUSE);
        // One datagram every 10 ms: each wake is far from the one before.
        let pauses = stream(
            &mut pacer,
            Instant::now(),
            Duration::from_millis(10),
            &[1; 100],
        );
        assert!(pauses.iter().all(Option::is_none));
        assert_eq!(pacer.pauses(), 0);
    }

    #[test]
    fn a_trickle_too_slow_to_gather_is_not_paced() {
        let mut pacer = WakePacer::new(PAUSE);
        // One datagram a millisecond: a pause would gather one, not MIN_GATHER.
        let pauses = stream(
            &mut pacer,
            Instant::now(),
            Duration::from_millis(1),
            &[1; 100],
        );
        assert!(pauses.iter().all(Option::is_none));
    }

    #[test]
    fn two_datagrams_close_together_are_not_a_stream() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        // An announcement, then an ACK 100 µs later, then quiet.
        assert_eq!(stream(&mut pacer, t0, us(100), &[1, 1]), [None, None]);
        pacer.on_wake(t0 + Duration::from_millis(50), 1, true);
        assert_eq!(pacer.take_pause(t0 + Duration::from_millis(50)), None);
        assert_eq!(pacer.pauses(), 0);
    }

    #[test]
    fn a_stream_is_paced_from_its_second_close_wake() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 3, true);
        pacer.on_wake(t0 + us(40), 4, true);
        assert_eq!(
            pacer.take_pause(t0 + us(40)),
            None,
            "one close wake is not a streak"
        );
        // 4 datagrams in 40 µs: 64 take 640 µs, counted from the start of the wake.
        let t2 = t0 + us(80);
        pacer.on_wake(t2, 4, true);
        assert_eq!(pacer.take_pause(t2 + us(100)), Some(us(540)));
        // The paced stream stays paced, and never waits more than one pause: 8 datagrams
        // in 1.5 ms would take 12 ms to reach 64.
        let t3 = t2 + us(1500);
        pacer.on_wake(t3, 8, true);
        assert_eq!(pacer.take_pause(t3), Some(PAUSE));
        assert_eq!(pacer.pauses(), 2);
    }

    #[test]
    fn a_flood_is_paced_to_the_target_count_not_to_the_whole_pause() {
        let mut pacer = WakePacer::new(PAUSE);
        // 256 datagrams in 640 µs (400 000 a second): 64 take 160 µs.
        let pauses = stream(&mut pacer, Instant::now(), us(640), &[64, 256, 256]);
        assert_eq!(pauses, [None, None, Some(us(160))]);
        // 64 in 20 µs: the 20 µs pause is not worth a sleep.
        let t = Instant::now() + Duration::from_secs(1);
        let mut pacer = WakePacer::new(PAUSE);
        assert_eq!(
            stream(&mut pacer, t, us(20), &[64, 64, 64]),
            [None, None, None]
        );
    }

    #[test]
    fn a_wake_that_left_datagrams_behind_is_not_paced() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        stream(&mut pacer, t0, us(10), &[32, 32]);
        pacer.on_wake(t0 + us(20), 256, false);
        assert_eq!(pacer.take_pause(t0 + us(20)), None);
    }

    #[test]
    fn a_wake_without_datagrams_cancels_the_pause() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        stream(&mut pacer, t0, us(10), &[2, 2, 2]);
        pacer.on_wake(t0 + us(30), 0, true);
        assert_eq!(pacer.take_pause(t0 + us(30)), None);
    }

    #[test]
    fn the_environment_sets_the_pause_and_zero_turns_pacing_off() {
        assert_eq!(pause_from(None), WAKE_PAUSE);
        assert_eq!(pause_from(Some("junk")), WAKE_PAUSE);
        assert_eq!(pause_from(Some("250")), us(250));
        let mut pacer = WakePacer::new(pause_from(Some("0")));
        let pauses = stream(&mut pacer, Instant::now(), Duration::ZERO, &[5; 10]);
        assert!(pauses.iter().all(Option::is_none));
    }

    #[test]
    fn a_pause_already_over_is_not_taken() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        stream(&mut pacer, t0, us(10), &[2, 2]);
        pacer.on_wake(t0 + us(20), 2, true);
        assert_eq!(pacer.take_pause(t0 + us(20) + PAUSE * 3), None);
        assert_eq!(pacer.pauses(), 0);
    }
}
