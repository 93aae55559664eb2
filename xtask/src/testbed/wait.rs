//! Bounded polling.

use std::time::{Duration, Instant};

/// Checks `condition` every `poll` until it holds or `timeout` has passed. `Ok` with the time
/// it took, or `Err` with the time waited. The condition is always checked at least once,
/// and once more at the deadline.
pub fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<Duration, Duration> {
    let started = Instant::now();
    loop {
        if condition() {
            return Ok(started.elapsed());
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(elapsed);
        }
        std::thread::sleep(poll.min(timeout - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut calls = 0;
        let took = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            calls == 3
        });
        assert!(took.is_ok());
        assert_eq!(calls, 3);
    }

    #[test]
    fn gives_up_at_the_timeout_after_a_last_check() {
        let mut calls = 0;
        let waited = wait_until(Duration::from_millis(30), Duration::from_millis(10), || {
            calls += 1;
            false
        })
        .unwrap_err();
        assert!(waited >= Duration::from_millis(30));
        assert!((2..=10).contains(&calls), "{calls} checks");
    }
}
