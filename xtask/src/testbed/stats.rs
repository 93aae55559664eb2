//! Packet and byte counters of an interface inside a namespace (from
//! `/sys/class/net/IF/statistics`, read through `ip netns exec`, which mounts the
//! namespace's own `/sys`).

use super::exec::exec_in;

/// Counters of one interface at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

impl IfStats {
    /// Reads the counters of `ifname` in namespace `ns`.
    pub fn read(ns: &str, ifname: &str) -> Result<IfStats, String> {
        let files: Vec<String> = ["rx_packets", "tx_packets", "rx_bytes", "tx_bytes"]
            .iter()
            .map(|f| format!("/sys/class/net/{ifname}/statistics/{f}"))
            .collect();
        let mut argv = vec!["cat"];
        argv.extend(files.iter().map(String::as_str));
        let output = exec_in(ns, &argv)?;
        if !output.status.success() {
            return Err(format!(
                "cannot read counters of {ifname} in {ns}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Self::parse(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| format!("unexpected counters of {ifname} in {ns}"))
    }

    /// Parses four lines: rx_packets, tx_packets, rx_bytes, tx_bytes.
    fn parse(text: &str) -> Option<IfStats> {
        let mut numbers = text.lines().map(|l| l.trim().parse::<u64>());
        let mut next = || numbers.next()?.ok();
        let stats = IfStats {
            rx_packets: next()?,
            tx_packets: next()?,
            rx_bytes: next()?,
            tx_bytes: next()?,
        };
        next().is_none().then_some(stats)
    }

    /// Counter increase from `earlier` to `self` (saturating, counters only grow).
    pub fn since(&self, earlier: &IfStats) -> IfStats {
        IfStats {
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_counters() {
        let stats = IfStats::parse("5\n6\n700\n800\n").unwrap();
        assert_eq!(
            stats,
            IfStats {
                rx_packets: 5,
                tx_packets: 6,
                rx_bytes: 700,
                tx_bytes: 800
            }
        );
        assert_eq!(IfStats::parse("5\n6\n700\n"), None);
        assert_eq!(IfStats::parse("5\n6\n700\n800\n9\n"), None);
        assert_eq!(IfStats::parse("5\nx\n700\n800\n"), None);
    }

    #[test]
    fn difference_counts_what_happened_in_between() {
        let a = IfStats {
            rx_packets: 1,
            tx_packets: 2,
            rx_bytes: 3,
            tx_bytes: 4,
        };
        let b = IfStats {
            rx_packets: 11,
            tx_packets: 2,
            rx_bytes: 30,
            tx_bytes: 4,
        };
        assert_eq!(
            b.since(&a),
            IfStats {
                rx_packets: 10,
                tx_packets: 0,
                rx_bytes: 27,
                tx_bytes: 0
            }
        );
    }
}
