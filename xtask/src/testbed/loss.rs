//! [`RandomLoss`]: random loss on a host's input, with nftables inside the host's namespace
//! (this kernel has no `netem`). One table, `inet omdisc_loss`, whose input-hook chain counts
//! every packet and drops `numgen random mod 100 < PERCENT` of them, counting those too.
//! The table lives in the namespace's own ruleset and goes with the namespace; the host's
//! ruleset is never touched (every `nft` runs through `ip netns exec`).

use super::netns::NETNS_PREFIX;
use super::nft::{counter_packets, nft_in};

/// The table (family `inet`: IPv4 and IPv6).
const TABLE: &str = "omdisc_loss";

/// Packets a host's input hook saw, and how many of them it dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCount {
    /// Every packet that reached the input hook.
    pub seen: u64,
    /// Those dropped at random.
    pub dropped: u64,
}

impl LossCount {
    /// The dropped share, 0 when nothing was seen.
    pub fn fraction(self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            self.dropped as f64 / self.seen as f64
        }
    }

    /// The packets counted since `earlier` (a count of the same counters).
    pub fn since(self, earlier: LossCount) -> LossCount {
        LossCount {
            seen: self.seen.saturating_sub(earlier.seen),
            dropped: self.dropped.saturating_sub(earlier.dropped),
        }
    }
}

impl std::ops::Add for LossCount {
    type Output = LossCount;

    fn add(self, other: LossCount) -> LossCount {
        LossCount {
            seen: self.seen + other.seen,
            dropped: self.dropped + other.dropped,
        }
    }
}

/// Random input loss in one namespace.
#[derive(Debug, Clone)]
pub struct RandomLoss {
    ns: String,
}

impl RandomLoss {
    /// Drops `percent` % of the packets namespace `ns` receives, at random (one of our
    /// namespaces only: its name must start with [`NETNS_PREFIX`]).
    pub fn install(ns: &str, percent: u8) -> Result<RandomLoss, String> {
        if !ns.starts_with(NETNS_PREFIX) {
            return Err(format!(
                "refusing to add nftables rules outside a test namespace ({ns:?})"
            ));
        }
        if percent > 100 {
            return Err(format!("a loss of {percent} % is not a percentage"));
        }
        let loss = RandomLoss { ns: ns.to_owned() };
        loss.nft(&["add", "table", "inet", TABLE])?;
        loss.nft(&[
            "add",
            "chain",
            "inet",
            TABLE,
            "input",
            "{ type filter hook input priority filter; policy accept; }",
        ])?;
        loss.nft(&["add", "rule", "inet", TABLE, "input", "counter"])?;
        let drop = format!("numgen random mod 100 < {percent} counter drop");
        loss.nft(&["add", "rule", "inet", TABLE, "input", &drop])?;
        Ok(loss)
    }

    /// The packets seen and dropped so far.
    pub fn count(&self) -> Result<LossCount, String> {
        let listing = self.nft(&["list", "chain", "inet", TABLE, "input"])?;
        let packets: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
        match packets[..] {
            [seen, dropped] => Ok(LossCount { seen, dropped }),
            _ => Err(format!(
                "{}: expected two counters in the loss chain, found {packets:?}",
                self.ns
            )),
        }
    }

    /// `nft ARGS` in the namespace; its stdout.
    fn nft(&self, args: &[&str]) -> Result<String, String> {
        nft_in(&self.ns, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_listing() {
        let listing = "table inet omdisc_loss {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tcounter packets 120 bytes 9000\n\t\tnumgen random mod 100 < 25 counter packets 31 bytes 2000 drop\n\t}\n}\n";
        let packets: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
        assert_eq!(packets, [120, 31]);
        assert_eq!(counter_packets("\t\ttype filter hook input"), None);
    }

    #[test]
    fn the_fraction_is_dropped_over_seen() {
        let count = LossCount {
            seen: 200,
            dropped: 50,
        } + LossCount {
            seen: 200,
            dropped: 50,
        };
        assert_eq!(count.fraction(), 0.25);
        assert_eq!(
            count.since(LossCount {
                seen: 100,
                dropped: 40
            }),
            LossCount {
                seen: 300,
                dropped: 60
            }
        );
        assert_eq!(LossCount::default().fraction(), 0.0);
    }

    #[test]
    fn only_test_namespaces_get_rules() {
        let error = RandomLoss::install("default", 25).unwrap_err();
        assert!(error.contains("outside a test namespace"), "{error}");
    }
}
