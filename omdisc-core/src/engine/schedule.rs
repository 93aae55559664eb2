//! When this node announces: the jittered announce interval.

use crate::config::Config;
use crate::rng::Rng;
use crate::time::Duration;

/// The next announce delay: uniform in `[0.8, 1.0] × interval`. Never longer than the
/// advertised interval, so receivers can expire a node after `dead_after` advertised
/// intervals without false alarms; never synchronised across nodes.
pub(crate) fn next_announce_delay(config: &Config, rng: &mut Rng) -> Duration {
    let base = config.interval;
    let low = base.mul_ratio(4, 5).total_millis();
    Duration::from_millis(rng.between(low, base.total_millis()))
}

/// Delay before answering a joining node: uniform in `[0, reply_window]`.
pub(crate) fn reply_delay(config: &Config, rng: &mut Rng) -> Duration {
    Duration::from_millis(rng.below(config.reply_window.total_millis().saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;

    #[test]
    fn announce_delay_stays_within_the_interval() {
        let config = Config::new(NodeId::MIN, 1);
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let d = next_announce_delay(&config, &mut rng).total_millis();
            assert!((800..=1000).contains(&d), "{d}");
            assert!(reply_delay(&config, &mut rng).total_millis() <= 200);
        }
    }
}
