//! Conversions between smoltcp's time (microseconds, signed) and the core's (milliseconds,
//! unsigned). Private: callers only ever see smoltcp's types.

use omdisc_core::Instant as CoreInstant;
use smoltcp::time::{Duration, Instant};

/// Latest millisecond count smoltcp's `Instant` holds without overflowing its microseconds.
const MAX_MILLIS: i64 = i64::MAX / 1000;

/// smoltcp's instant as the core's (rounded down to the millisecond; before the origin
/// counts as the origin).
pub(crate) fn to_core(now: Instant) -> CoreInstant {
    CoreInstant::from_millis(u64::try_from(now.total_millis()).unwrap_or(0))
}

/// The core's instant as smoltcp's (saturating at the end of smoltcp's time).
pub(crate) fn from_core(instant: CoreInstant) -> Instant {
    let millis = i64::try_from(instant.total_millis()).unwrap_or(MAX_MILLIS);
    Instant::from_millis(millis.min(MAX_MILLIS))
}

/// How long from `now` until `deadline`; zero if it has passed.
pub(crate) fn until(now: Instant, deadline: Instant) -> Duration {
    if deadline > now {
        deadline - now
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_whole_milliseconds() {
        let now = Instant::from_millis(1_700_000_000_123i64);
        assert_eq!(to_core(now).total_millis(), 1_700_000_000_123);
        assert_eq!(from_core(to_core(now)), now);
    }

    #[test]
    fn sub_millisecond_parts_round_down() {
        assert_eq!(to_core(Instant::from_micros(1_999)).total_millis(), 1);
    }

    #[test]
    fn instants_before_the_origin_clamp_to_it() {
        assert_eq!(to_core(Instant::from_millis(-5)).total_millis(), 0);
    }

    #[test]
    fn the_end_of_time_does_not_overflow() {
        let end = from_core(CoreInstant::from_millis(u64::MAX));
        assert_eq!(end.total_millis(), MAX_MILLIS);
    }

    #[test]
    fn until_is_zero_for_past_deadlines() {
        let now = Instant::from_millis(10);
        assert_eq!(until(now, Instant::from_millis(4)), Duration::ZERO);
        assert_eq!(
            until(now, Instant::from_millis(25)),
            Duration::from_millis(15)
        );
    }
}
