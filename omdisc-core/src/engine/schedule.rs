//! When this node announces: RTCP-style intervals (RFC 3550 §6.2–6.3) that keep the
//! aggregate announce bandwidth of the whole cluster within a budget.
//!
//! * The deterministic interval is `Td = max(interval, members × average size / budget)`:
//!   small clusters announce every `interval`; large ones slow down so the sum over all
//!   members stays at the budget instead of growing with the cluster.
//! * Each round waits `Td × U[0.5, 1.5] / (e − 3/2)` — randomised so nodes never
//!   synchronise, compensated for the bias of reconsideration.
//! * Timer reconsideration: when the timer fires, the interval is recomputed with the
//!   current membership; if the node's last announcement is more recent than that, the
//!   timer is moved instead of sending (forward reconsideration, joins). When members
//!   leave, the pending timer is pulled in proportionally (reverse reconsideration).
//! * Every announcement advertises the longest gap the randomisation can produce,
//!   `Td × 1.5 / (e − 3/2)`; receivers expire a node after `dead_after` of those, so all
//!   nodes agree on the deadline and a large cluster does not flap.
//! * LEAVE back-off: a node leaving a cluster of more than 50 members waits as RTCP's BYE
//!   back-off does, counting the LEAVEs it hears, so a mass shutdown stays within budget.

use crate::config::Config;
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// Numerator/denominator of `e − 3/2` (1.21828), in 1/100 000.
const COMPENSATION: u64 = 121_828;
/// Randomisation range `[0.5, 1.5]`, in 1/100 000.
const RANDOM_LOW: u64 = 50_000;
const RANDOM_HIGH: u64 = 150_000;
/// Smoothing of the average announcement size (RFC 3550: 1/16).
const SIZE_SMOOTHING: u32 = 16;
/// Bytes of UDP/IPv4 headers counted per datagram.
const UDP_IPV4_OVERHEAD: u32 = 28;
/// Bytes of UDP/IPv6 headers counted per datagram.
const UDP_IPV6_OVERHEAD: u32 = 48;

/// Size on the wire (RTCP counts UDP/IP headers) of a `payload`-byte datagram whose
/// addresses are of `ip`'s family (`None`: IPv4).
pub(crate) fn wire_size(payload: usize, ip: Option<core::net::IpAddr>) -> u32 {
    let overhead = match ip {
        Some(core::net::IpAddr::V6(_)) => UDP_IPV6_OVERHEAD,
        _ => UDP_IPV4_OVERHEAD,
    };
    u32::try_from(payload)
        .unwrap_or(u32::MAX)
        .saturating_add(overhead)
}
/// Above this many members a leaving node backs off (RFC 3550 §6.3.7).
pub const LEAVE_BACKOFF_MEMBERS: usize = 50;

/// The scheduler's state.
#[derive(Clone, Debug)]
pub(crate) struct Scheduler {
    /// Average announcement size in bytes, including UDP/IP headers, ×16.
    avg_size_x16: u32,
    /// Members when the interval was last computed.
    pub(crate) pmembers: usize,
    /// When this node last announced (RFC 3550 `tp`).
    pub(crate) last_sent: Option<Instant>,
}

impl Scheduler {
    pub(crate) const fn new(initial_size: u32) -> Scheduler {
        Scheduler {
            avg_size_x16: initial_size.saturating_mul(SIZE_SMOOTHING),
            pmembers: 1,
            last_sent: None,
        }
    }

    /// Average announcement size in bytes (UDP/IP headers included).
    pub(crate) fn avg_size(&self) -> u32 {
        self.avg_size_x16 / SIZE_SMOOTHING
    }

    /// Folds one announcement of `bytes` (headers included) into the average.
    pub(crate) fn observe(&mut self, bytes: u32) {
        let avg = self.avg_size_x16 / SIZE_SMOOTHING;
        // avg += (bytes - avg) / 16, in ×16 fixed point.
        self.avg_size_x16 = self.avg_size_x16.saturating_add(bytes).saturating_sub(avg);
    }

    /// The deterministic interval `Td` for `members` members.
    pub(crate) fn deterministic(&self, config: &Config, members: usize) -> Duration {
        deterministic_interval(config, members, self.avg_size())
    }
}

/// `Td = max(interval, members × avg_size × 8 / bandwidth)`, capped at the wire maximum.
pub fn deterministic_interval(config: &Config, members: usize, avg_size: u32) -> Duration {
    let min = config.interval;
    if config.bandwidth == 0 {
        return min;
    }
    // In 64 bits (a 128-bit division would cost a small image 1.5 KiB of code): a product
    // that saturates means at least 2⁶⁴ / 2³² ms, far above the cap, as the exact one would.
    let bits = (members as u64)
        .saturating_mul(u64::from(avg_size))
        .saturating_mul(8 * 1000);
    let ms = bits / u64::from(config.bandwidth);
    let cap = u64::from(crate::wire::MAX_INTERVAL_MS) * COMPENSATION / RANDOM_HIGH;
    Duration::from_millis(ms.min(cap)).max(min)
}

/// One randomised interval: `Td × U[0.5, 1.5] / (e − 3/2)`.
pub(crate) fn randomized(td: Duration, rng: &mut Rng) -> Duration {
    let k = rng.between(RANDOM_LOW, RANDOM_HIGH);
    td.mul_ratio(k, COMPENSATION).max(Duration::from_millis(1))
}

/// The longest randomised interval, advertised so receivers can expire exactly.
pub fn advertised_interval(td: Duration) -> Duration {
    let ms = td.total_millis().saturating_mul(RANDOM_HIGH);
    Duration::from_millis(ms.div_ceil(COMPENSATION))
}

/// The longest `Td` a round may use after one that advertised `advertised`: twice the
/// previous `Td`, so the interval stretches in steps (a round advertises at most twice what
/// the last one did) and a receiver that missed one step still hears the next within
/// `3 × advertised`.
pub(crate) fn stretch_limit(advertised: Duration) -> Duration {
    advertised.mul_ratio(2 * COMPENSATION, RANDOM_HIGH)
}

/// Answers owed to nodes that joined since the last answer: the interfaces their joins came
/// in on. One round of announcements on those interfaces answers them all, when the reply
/// timer (drawn with [`reply_delay`]) fires or with the next periodic round if that is
/// sooner.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplyWindow {
    ifaces: u8,
}

impl ReplyWindow {
    /// Notes a join heard on `iface`.
    pub(crate) fn owe(&mut self, iface: crate::addr::IfaceId) {
        self.ifaces |= iface.bit();
    }

    /// Whether an answer is owed.
    pub(crate) fn is_owed(&self) -> bool {
        self.ifaces != 0
    }

    /// The interfaces to answer on (a bitmask), forgetting them.
    pub(crate) fn take(&mut self) -> u8 {
        core::mem::take(&mut self.ifaces)
    }

    /// Forgets the answers owed (a periodic round answered them, or this node leaves).
    pub(crate) fn clear(&mut self) {
        self.ifaces = 0;
    }
}

/// Delay before answering a joining node: uniform in `[0, window]`, where the window is
/// the configured reply window or, in a large cluster, `Td` — so the answers of all
/// members together stay within the bandwidth budget.
pub(crate) fn reply_delay(config: &Config, td: Duration, rng: &mut Rng) -> Duration {
    let window = if td > config.interval {
        td
    } else {
        config.reply_window
    };
    Duration::from_millis(rng.below(window.total_millis().saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;

    fn config(bandwidth: u32) -> Config {
        let mut c = Config::new(NodeId::MIN, 1);
        c.bandwidth = bandwidth;
        c
    }

    #[test]
    fn small_clusters_use_the_configured_interval() {
        let c = config(128_000);
        assert_eq!(deterministic_interval(&c, 2, 62), Duration::from_secs(1));
        assert_eq!(deterministic_interval(&c, 200, 62), Duration::from_secs(1));
    }

    #[test]
    fn large_clusters_scale_the_interval_to_the_budget() {
        let c = config(128_000);
        // 1000 members × 62 bytes × 8 bits / 128 kbit/s = 3.875 s
        assert_eq!(
            deterministic_interval(&c, 1000, 62),
            Duration::from_millis(3875)
        );
        assert_eq!(
            deterministic_interval(&c, 65_535, 62).total_millis(),
            253_948
        );
        // No budget: always the configured interval.
        assert_eq!(
            deterministic_interval(&config(0), 65_535, 62),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn randomised_intervals_stay_within_the_advertised_maximum() {
        let td = Duration::from_millis(1000);
        let max = advertised_interval(td);
        assert_eq!(max.total_millis(), 1232);
        let mut rng = Rng::new(3);
        let mut sum = 0;
        for _ in 0..10_000 {
            let t = randomized(td, &mut rng);
            assert!(t >= Duration::from_millis(410) && t <= max, "{t}");
            sum += t.total_millis();
        }
        // Mean Td / (e − 3/2) ≈ 821 ms.
        let mean = sum / 10_000;
        assert!((805..=835).contains(&mean), "{mean}");
    }

    #[test]
    fn average_size_follows_observations() {
        let mut s = Scheduler::new(60);
        for _ in 0..200 {
            s.observe(100);
        }
        assert!((98..=100).contains(&s.avg_size()), "{}", s.avg_size());
    }

    #[test]
    fn reply_window_grows_with_the_interval() {
        let c = config(128_000);
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(reply_delay(&c, c.interval, &mut rng) <= c.reply_window);
            assert!(reply_delay(&c, Duration::from_secs(4), &mut rng) <= Duration::from_secs(4));
        }
    }
}
