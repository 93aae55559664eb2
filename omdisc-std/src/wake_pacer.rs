//! Wake pacing: under a stream of datagrams the daemon wakes at most once per
//! [`WAKE_PAUSE`], the way a network card moderates its interrupts.
//!
//! Each wake costs a `poll`, a context switch and a turn of the main loop, whatever it
//! finds. At a few datagrams a second every datagram gets its own wake, and that is the
//! cheapest there is. Under a flood (a large cluster's announcements, a sync, an attack)
//! the datagrams come faster than a wake takes, each wake finds a handful, and the wakes
//! cost more than the datagrams. So when two wakes that took in datagrams come closer
//! together than twice the pause, and the last one emptied the sockets, the daemon sleeps
//! before it polls again: until about [`TARGET_PER_WAKE`] datagrams are waiting at the
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
//! The environment variable `OMDISC_WAKE_PAUSE_US` sets another pause in microseconds (0
//! turns pacing off); it is there for the ingest benchmark's comparison, not for tuning.

use std::time::{Duration, Instant};

/// Longest pause between two wakes under a stream of datagrams.
pub const WAKE_PAUSE: Duration = Duration::from_millis(1);
/// Datagrams a paced wake aims to find waiting: two `recvmmsg` batches.
pub const TARGET_PER_WAKE: u32 = 64;
/// A shorter pause is not taken (the sleep would cost what it saves).
pub const MIN_PAUSE: Duration = Duration::from_micros(50);

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
        let gap = self
            .last_wake
            .map(|last| at.saturating_duration_since(last))
            .filter(|&gap| gap < self.pause * 2);
        self.last_wake = Some(at);
        self.pause_until = match gap {
            Some(gap) if drained => {
                // The time TARGET_PER_WAKE datagrams take at the rate the wake saw.
                let count = u32::try_from(received).unwrap_or(u32::MAX);
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

    #[test]
    fn a_quiet_daemon_never_pauses() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        // One datagram every 10 ms: each wake is far from the one before.
        for k in 0..100u32 {
            let at = t0 + Duration::from_millis(10) * k;
            pacer.on_wake(at, 1, true);
            assert_eq!(pacer.take_pause(at), None, "wake {k}");
        }
        assert_eq!(pacer.pauses(), 0);
    }

    #[test]
    fn wakes_closer_than_two_pauses_wait_out_the_pause() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 3, true);
        assert_eq!(
            pacer.take_pause(t0),
            None,
            "the first wake has nothing to compare"
        );
        // 4 datagrams in 40 µs: 64 take 640 µs.
        let t1 = t0 + Duration::from_micros(40);
        pacer.on_wake(t1, 4, true);
        let after_work = t1 + Duration::from_micros(100);
        assert_eq!(
            pacer.take_pause(after_work),
            Some(Duration::from_micros(540)),
            "sleeps until 64 datagrams wait, counted from the start of the wake"
        );
        // A slow stream waits one pause at most: 2 datagrams in 1.5 ms.
        let t2 = t1 + Duration::from_micros(1500);
        pacer.on_wake(t2, 2, true);
        assert_eq!(pacer.take_pause(t2), Some(PAUSE));
        assert_eq!(pacer.pauses(), 2);
    }

    #[test]
    fn a_flood_is_paced_to_the_target_count_not_to_the_whole_pause() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 64, true);
        // 256 datagrams in 640 µs (400 000 a second): 64 take 160 µs.
        let t1 = t0 + Duration::from_micros(640);
        pacer.on_wake(t1, 256, true);
        assert_eq!(pacer.take_pause(t1), Some(Duration::from_micros(160)));
        // 64 in 20 µs: the 20 µs pause is not worth a sleep.
        let t2 = t1 + Duration::from_micros(20);
        pacer.on_wake(t2, 64, true);
        assert_eq!(pacer.take_pause(t2), None);
    }

    #[test]
    fn a_wake_that_left_datagrams_behind_is_not_paced() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 32, true);
        let t1 = t0 + Duration::from_micros(10);
        pacer.on_wake(t1, 256, false);
        assert_eq!(pacer.take_pause(t1), None);
    }

    #[test]
    fn a_wake_without_datagrams_cancels_the_pause() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 2, true);
        pacer.on_wake(t0 + Duration::from_micros(10), 2, true);
        pacer.on_wake(t0 + Duration::from_micros(20), 0, true);
        assert_eq!(pacer.take_pause(t0 + Duration::from_micros(20)), None);
    }

    #[test]
    fn the_environment_sets_the_pause_and_zero_turns_pacing_off() {
        assert_eq!(pause_from(None), WAKE_PAUSE);
        assert_eq!(pause_from(Some("junk")), WAKE_PAUSE);
        assert_eq!(pause_from(Some("250")), Duration::from_micros(250));
        let mut pacer = WakePacer::new(pause_from(Some("0")));
        let t0 = Instant::now();
        pacer.on_wake(t0, 5, true);
        pacer.on_wake(t0, 5, true);
        assert_eq!(pacer.take_pause(t0), None);
    }

    #[test]
    fn a_pause_already_over_is_not_taken() {
        let mut pacer = WakePacer::new(PAUSE);
        let t0 = Instant::now();
        pacer.on_wake(t0, 2, true);
        let t1 = t0 + Duration::from_micros(10);
        pacer.on_wake(t1, 2, true);
        assert_eq!(pacer.take_pause(t1 + PAUSE * 3), None);
        assert_eq!(pacer.pauses(), 0);
    }
}
