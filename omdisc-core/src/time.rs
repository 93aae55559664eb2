//! The core's own time types: a monotonic [`Instant`] and a [`Duration`], both in milliseconds.
//!
//! The core never reads a clock. Frontends convert their clock (std's `Instant`, smoltcp's
//! `Instant`, a hardware timer) into these at the boundary, so no frontend's time type leaks
//! into the protocol code. Arithmetic saturates instead of overflowing.

use core::fmt;
use core::ops::{Add, Sub};

/// A point on a monotonic clock, in milliseconds since an origin the frontend chooses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The clock's origin.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// An instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            millis: secs.saturating_mul(1000),
        }
    }

    /// Milliseconds since the origin.
    pub const fn total_millis(self) -> u64 {
        self.millis
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time instead of overflowing.
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_millis(self.millis.saturating_add(rhs.total_millis()))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.millis / 1000, self.millis % 1000)
    }
}

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { millis: 0 };

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs.saturating_mul(1000),
        }
    }

    /// The duration in milliseconds.
    pub const fn total_millis(self) -> u64 {
        self.millis
    }

    /// `self * factor`, saturating.
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration::from_millis(self.millis.saturating_mul(factor))
    }

    /// `self * num / den` in integer arithmetic (`den == 0` yields `self`), saturating; exact
    /// while `num` and `den` are below 2³² (the engine's ratios are member counts and
    /// constants), otherwise both are first scaled down to 32 bits. 64-bit arithmetic only:
    /// a 128-bit division would cost a small image 1.5 KiB of code.
    pub const fn mul_ratio(self, num: u64, den: u64) -> Duration {
        if den == 0 {
            return self;
        }
        let (mut num, mut den) = (num, den);
        while num > u32::MAX as u64 || den > u32::MAX as u64 {
            num >>= 1;
            den >>= 1;
        }
        if den == 0 {
            return Duration::from_millis(u64::MAX);
        }
        // millis = q·den + r, so millis·num/den = q·num + r·num/den exactly; r·num < 2⁶⁴.
        let (q, r) = (self.millis / den, self.millis % den);
        match q.checked_mul(num) {
            Some(whole) => Duration::from_millis(whole.saturating_add(r * num / den)),
            None => Duration::from_millis(u64::MAX),
        }
    }
}

impl Add<Duration> for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration::from_millis(self.millis.saturating_add(rhs.millis))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.millis / 1000, self.millis % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_millis(u64::MAX - 1);
        assert_eq!((t + Duration::from_secs(1)).total_millis(), u64::MAX);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_millis(u64::MAX - 1));
    }

    #[test]
    fn mul_ratio_scales_without_overflow() {
        assert_eq!(Duration::from_secs(1).mul_ratio(3, 4).total_millis(), 750);
        assert_eq!(
            Duration::from_millis(u64::MAX)
                .mul_ratio(2, 1)
                .total_millis(),
            u64::MAX
        );
        assert_eq!(
            Duration::from_secs(2).mul_ratio(1, 0),
            Duration::from_secs(2)
        );
        // Exact in 64 bits where a plain product would overflow.
        let big = Duration::from_millis(u64::MAX / 3);
        assert_eq!(
            big.mul_ratio(150_000, 121_828).total_millis() as u128,
            (u64::MAX / 3) as u128 * 150_000 / 121_828
        );
        assert_eq!(
            Duration::from_millis(1_234_567)
                .mul_ratio(65_535, 65_536)
                .total_millis(),
            1_234_567u64 * 65_535 / 65_536
        );
        // Ratios above 32 bits are scaled down first.
        assert_eq!(
            Duration::from_secs(1)
                .mul_ratio(1 << 40, 1 << 41)
                .total_millis(),
            500
        );
        assert_eq!(
            Duration::from_secs(1).mul_ratio(u64::MAX, 1).total_millis(),
            u64::MAX
        );
    }

    #[test]
    fn display_shows_seconds_with_millis() {
        use core::fmt::Write;
        let mut s = heapless::String::<16>::new();
        write!(s, "{}", Duration::from_millis(1500)).unwrap();
        assert_eq!(s.as_str(), "1.500s");
    }
}
