//! nftables inside a host namespace: [`nft_in`] runs `nft` in one of our namespaces (never
//! elsewhere), [`counter_packets`] reads a rule's counter back; [`drop_multicast`] makes the
//! host's network one that carries no multicast datagrams (every IPv4 datagram to
//! `224.0.0.0/4` and every UDP datagram to `ff00::/8` dropped on input and on output, with
//! counters), and [`multicast_dropped`] reads those counters.
//!
//! IPv6 keeps its ICMPv6 multicast (neighbour discovery, MLD): without it no IPv6 unicast
//! datagram finds its next hop, so only UDP is dropped there.
//!
//! The rules live in tables of their own in the host's namespace, which go with it; nothing
//! here touches the root namespace's ruleset.

use super::exec::exec_in;
use super::netns::NETNS_PREFIX;

/// The table the rules live in.
const TABLE: &str = "omdt_no_multicast";

/// What [`drop_multicast`] drops, on input and on output alike.
const DROPPED: [&str; 2] = [
    "ip daddr 224.0.0.0/4",
    "ip6 daddr ff00::/8 meta l4proto udp",
];

/// Drops every multicast datagram that `ns` receives or sends (IPv4 to `224.0.0.0/4`, UDP
/// to `ff00::/8`, on the input and output hooks), counting them.
pub fn drop_multicast(ns: &str) -> Result<(), String> {
    let mut script = format!(
        "add table inet {TABLE}; \
         add chain inet {TABLE} input {{ type filter hook input priority 0 ; }} ; \
         add chain inet {TABLE} output {{ type filter hook output priority 0 ; }}"
    );
    for chain in ["input", "output"] {
        for rule in DROPPED {
            script.push_str(&format!(
                " ; add rule inet {TABLE} {chain} {rule} counter drop"
            ));
        }
    }
    nft_in(ns, &[&script]).map(drop)
}

/// Datagrams dropped by [`drop_multicast`]'s rules in `ns` so far: (received, sent), both
/// families together.
pub fn multicast_dropped(ns: &str) -> Result<(u64, u64), String> {
    let listing = nft_in(ns, &["list", "table", "inet", TABLE])?;
    per_chain(&listing).ok_or_else(|| format!("unexpected nft listing in {ns}: {}", listing.trim()))
}

/// The summed counters of the input and of the output chain of a [`drop_multicast`] table
/// listing (rules in the order they were added).
fn per_chain(listing: &str) -> Option<(u64, u64)> {
    let counts: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
    if counts.len() != 2 * DROPPED.len() {
        return None;
    }
    let (input, output) = counts.split_at(DROPPED.len());
    Some((input.iter().sum(), output.iter().sum()))
}

/// `nft ARGS` in namespace `ns` (one of ours: its name starts with [`NETNS_PREFIX`]); its
/// stdout, or its stderr as the error.
pub(super) fn nft_in(ns: &str, args: &[&str]) -> Result<String, String> {
    if !ns.starts_with(NETNS_PREFIX) {
        return Err(format!(
            "refusing to run nft outside a test namespace ({ns:?})"
        ));
    }
    let mut argv = vec!["nft"];
    argv.extend_from_slice(args);
    let output = exec_in(ns, &argv)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "nft {} failed in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The packet count of a rule's `counter packets N bytes M`, if the line has one.
pub(super) fn counter_packets(line: &str) -> Option<u64> {
    let rest = line.split("counter packets ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_in_rule_order() {
        let listing = "table inet omdt_no_multicast {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip daddr 224.0.0.0/4 counter packets 12 bytes 960 drop\n\t\tip6 daddr ff00::/8 meta l4proto udp counter packets 3 bytes 300 drop\n\t}\n\tchain output {\n\t\tip daddr 224.0.0.0/4 counter packets 0 bytes 0 drop\n\t\tip6 daddr ff00::/8 meta l4proto udp counter packets 1 bytes 90 drop\n\t}\n}\n";
        let counts: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
        assert_eq!(counts, [12, 3, 0, 1]);
        assert_eq!(per_chain(listing), Some((15, 1)));
        assert_eq!(per_chain("counter packets 1 bytes 2"), None);
        assert_eq!(counter_packets("\t\ttype filter hook input"), None);
        assert!(nft_in("not-ours", &["list", "ruleset"]).is_err());
    }
}
