//! The daemon's clock: `std::time::Instant` turned into the core's millisecond instants.

use std::time::Instant as StdInstant;

/// Monotonic milliseconds since the daemon started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: StdInstant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Clock {
        Clock {
            origin: StdInstant::now(),
        }
    }

    /// Milliseconds since the origin.
    pub fn now_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_near_zero_and_never_goes_back() {
        let clock = Clock::start();
        let first = clock.now_millis();
        let second = clock.now_millis();
        assert!(first <= second);
        assert!(first < 60_000);
    }
}
