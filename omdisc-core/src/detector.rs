//! The failure detector: when a node that stopped announcing is declared gone.
//!
//! A receiver expires a node after `k` of its advertised intervals of silence. The
//! advertised interval `A` is the longest gap the sender's randomised schedule can produce,
//! so `k × A` of silence holds at least `k` announcements: with independent loss `p` per
//! announcement, a live node is expired by mistake with probability at most `pᵏ` per
//! window. A fixed `k` (the configured `dead_after`) is right for a clean network and
//! flaps on a lossy one (at `p` = 25 %, `k` = 5: `pᵏ` ≈ 10⁻³).
//!
//! So each receiver measures, per sender, the loss of that sender's rounds from the gaps in
//! their sequence numbers (every round goes out on every serving interface with the next
//! number, so a number never seen is a round lost on the way here), and takes the smallest
//! `k` with `p̂ᵏ ≤ 10⁻⁹` ([`TARGET_EXPONENT`]), but at least `dead_after` (the bound of a
//! clean network stays what it was) and at most `max_dead_after` (crash detection stays
//! bounded): `k = clamp(⌈9 / −log₁₀ p̂⌉, dead_after, max_dead_after)`. 1 % loss gives 5,
//! 10 % gives 9, 25 % gives 15, 40 % gives 23.
//!
//! The estimate `p̂` is the mean of the last rounds: the running mean of the first
//! [`WINDOW`] rounds heard, then an exponentially weighted mean with weight `1/WINDOW`
//! (an equivalent memory of about 2 × [`WINDOW`] rounds). It needs 3 bytes per node
//! ([`LossEstimate`]). Until a sender's own estimate rests on [`WINDOW`] rounds, the
//! receiver's estimate over all senders stands in for it when that is higher
//! ([`Detector`]): a node just heard of is not expired on the strength of two rounds.
//! docs/protocol.md has the math and the simulator's figures.
//!
//! Reordering (a copy of round `s` arriving after `s + 1`) counts as a loss: the estimate
//! can err high, never low, so it makes removals slower, never spurious.

/// `k` is chosen so that `p̂ᵏ ≤ 10^−TARGET_EXPONENT`: one spurious removal per 10⁹ windows
/// of `k` advertised intervals and pair of nodes, at the measured loss.
pub const TARGET_EXPONENT: u32 = 9;

/// Rounds the estimate averages over (its weight for a new round, after the first ones).
pub const WINDOW: u8 = 32;

/// Largest `k` the threshold table covers; a configured maximum above it acts as this.
pub const MAX_K: u16 = 64;

/// A loss fraction in 1/65 536 (Q16).
const ONE: u32 = 1 << 16;

/// `THRESHOLDS[k - 1]` = ⌊10^(−9/k) × 65 536⌋: the highest loss (Q16) for which `k`
/// intervals keep `p̂ᵏ ≤ 10⁻⁹`. Checked against floating point in the tests.
const THRESHOLDS: [u16; MAX_K as usize] = [
    0, 2, 65, 368, 1038, 2072, 3394, 4914, 6553, 8250, 9960, 11654, 13309, 14914, 16461, 17946,
    19367, 20724, 22018, 23253, 24429, 25549, 26618, 27636, 28607, 29534, 30419, 31264, 32072,
    32845, 33585, 34294, 34974, 35626, 36252, 36853, 37431, 37987, 38522, 39037, 39533, 40012,
    40474, 40919, 41350, 41766, 42168, 42557, 42934, 43299, 43652, 43994, 44327, 44649, 44961,
    45265, 45560, 45846, 46125, 46395, 46659, 46915, 47165, 47408,
];

/// Bounds on the number of advertised intervals of silence after which a node is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeadAfter {
    /// At no measured loss (the configured `dead_after`).
    pub min: u16,
    /// At any loss (the configured `max_dead_after`, at least `min`).
    pub max: u16,
}

impl DeadAfter {
    /// Bounds `min ..= max(min, max)`.
    pub const fn new(min: u16, max: u16) -> DeadAfter {
        DeadAfter {
            min,
            max: if max > min { max } else { min },
        }
    }

    /// The fixed bound of a detector that ignores loss: always `dead_after`.
    pub const fn fixed(dead_after: u16) -> DeadAfter {
        DeadAfter::new(dead_after, dead_after)
    }

    /// Intervals of silence for a node whose rounds arrive with measured loss `loss`.
    pub fn for_loss(self, loss: LossEstimate) -> u16 {
        let p = loss.fraction_q16();
        let k = THRESHOLDS
            .iter()
            .position(|t| u32::from(*t) >= p)
            .map_or(MAX_K, |i| i as u16 + 1);
        k.clamp(self.min, self.max)
    }
}

/// The detector of one receiver: the bounds, and the loss of every sender's rounds taken
/// together ("ambient" loss), which stands in for a sender's own estimate while that still
/// rests on fewer than [`WINDOW`] rounds (a node just heard of). Loss on a receiver's own
/// link hits every sender alike, and the ambient estimate has seen many more rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Detector {
    limits: DeadAfter,
    ambient: LossEstimate,
}

impl Detector {
    /// A detector within `limits` that has measured nothing yet.
    pub const fn new(limits: DeadAfter) -> Detector {
        Detector {
            limits,
            ambient: LossEstimate::NONE,
        }
    }

    /// Some sender's round arrived after `missed` of its rounds that did not.
    pub(crate) fn record(&mut self, missed: u32) {
        self.ambient.record(missed);
    }

    /// The loss of all senders' rounds together.
    pub fn ambient(&self) -> LossEstimate {
        self.ambient
    }

    /// The bounds.
    pub fn limits(&self) -> DeadAfter {
        self.limits
    }

    /// Intervals of silence after which a sender whose rounds arrive with measured loss
    /// `loss` is removed: from its own estimate once it rests on [`WINDOW`] rounds, before
    /// that from the higher of its own and the ambient one.
    pub fn dead_after(&self, loss: LossEstimate) -> u16 {
        let settled = loss.samples >= WINDOW || self.ambient.loss <= loss.loss;
        self.limits
            .for_loss(if settled { loss } else { self.ambient })
    }
}

/// How many of a sender's rounds fail to arrive here: a mean over its last rounds, kept in
/// 3 bytes. [`LossEstimate::NONE`] (no round missed yet) is all zero bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LossEstimate {
    /// The mean, in 1/65 536.
    loss: u16,
    /// Rounds averaged so far, up to [`WINDOW`].
    samples: u8,
}

impl LossEstimate {
    /// Nothing measured: no loss.
    pub const NONE: LossEstimate = LossEstimate {
        loss: 0,
        samples: 0,
    };

    /// A round arrived after `missed` rounds that did not (from the gap in the sequence
    /// numbers). Gaps over 255 count as 255 (the mean is near one long before).
    pub(crate) fn record(&mut self, missed: u32) {
        for _ in 0..missed.min(255) {
            self.add(true);
        }
        self.add(false);
    }

    fn add(&mut self, lost: bool) {
        self.samples = self.samples.saturating_add(1).min(WINDOW);
        let n = u32::from(self.samples);
        let p = u32::from(self.loss);
        // p += (x − p) / n, rounded so that the mean reaches 0 and 1 exactly.
        let p = if lost {
            p + (ONE - 1 - p) / n
        } else {
            p - p.div_ceil(n)
        };
        self.loss = u16::try_from(p).unwrap_or(u16::MAX);
    }

    /// The measured loss in 1/65 536.
    pub fn fraction_q16(self) -> u32 {
        u32::from(self.loss)
    }

    /// The measured loss in per mille.
    pub fn per_mille(self) -> u16 {
        u16::try_from(u32::from(self.loss) * 1000 / ONE).unwrap_or(1000)
    }

    /// How many rounds the estimate rests on (up to [`WINDOW`]).
    pub fn samples(self) -> u8 {
        self.samples
    }

    /// Packed into the low 24 bits of a `u32` (see [`LossEstimate::from_bits`]).
    pub(crate) fn to_bits(self) -> u32 {
        u32::from(self.loss) | (u32::from(self.samples) << 16)
    }

    /// Unpacks [`LossEstimate::to_bits`].
    pub(crate) fn from_bits(bits: u32) -> LossEstimate {
        LossEstimate {
            loss: (bits & 0xffff) as u16,
            samples: ((bits >> 16) & 0xff).min(u32::from(WINDOW)) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn the_thresholds_are_ten_to_the_minus_nine_over_k() {
        for (i, t) in THRESHOLDS.iter().enumerate() {
            let k = i as f64 + 1.0;
            let exact = (10f64.powf(-9.0 / k) * 65_536.0).floor();
            assert_eq!(f64::from(*t), exact, "k = {k}");
        }
    }

    #[test]
    fn k_follows_the_issue_figures() {
        let limits = DeadAfter::new(1, 64);
        let at = |per_mille: u32| {
            let loss = LossEstimate {
                loss: (per_mille * 65_536 / 1000) as u16,
                samples: WINDOW,
            };
            limits.for_loss(loss)
        };
        assert_eq!(at(10), 5);
        assert_eq!(at(100), 9);
        assert_eq!(at(250), 15);
        assert_eq!(at(400), 23);
        assert_eq!(at(0), 1);
        // Clamped to dead_after at no loss, to the maximum at any loss.
        let limits = DeadAfter::new(5, 25);
        assert_eq!(limits.for_loss(LossEstimate::NONE), 5);
        let awful = LossEstimate {
            loss: u16::MAX,
            samples: WINDOW,
        };
        assert_eq!(limits.for_loss(awful), 25);
        assert_eq!(DeadAfter::new(5, 2), DeadAfter::fixed(5));
    }

    #[test]
    fn the_estimate_is_the_running_mean_then_follows_the_last_rounds() {
        let mut e = LossEstimate::NONE;
        e.record(1); // one lost, one heard
        assert_eq!(e.per_mille(), 499);
        e.record(0);
        e.record(0);
        assert_eq!(e.samples(), 4);
        assert_eq!(e.per_mille(), 249);
        // A long clean run brings it back to exactly zero.
        for _ in 0..2_000 {
            e.record(0);
        }
        assert_eq!(
            e,
            LossEstimate {
                loss: 0,
                samples: WINDOW
            }
        );
        // Steady loss of one round in four settles near 25 %.
        for _ in 0..1_000 {
            e.record(1);
            e.record(0);
            e.record(0);
        }
        assert!((200..=300).contains(&e.per_mille()), "{}", e.per_mille());
        // A gap saturates instead of looping forever.
        e.record(u32::MAX);
        assert!(e.per_mille() >= 960, "{}", e.per_mille());
        assert_eq!(LossEstimate::from_bits(e.to_bits()), e);
    }
}
