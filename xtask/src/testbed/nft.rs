//! nftables inside a host namespace: [`nft_in`] runs `nft` in one of our namespaces (never
//! elsewhere), [`counter_packets`] reads a rule's counter back; [`drop_multicast`] makes the
//! host's network one that carries no IPv4 multicast (every datagram to `224.0.0.0/4`
//! dropped on input and on output, with counters), and [`multicast_dropped`] reads those
//! counters.
//!
//! The rules live in tables of their own in the host's namespace, which go with it; nothing
//! here touches the root namespace's ruleset.

use super::exec::exec_in;
use super::netns::NETNS_PREFIX;

/// The table the rules live in.
const TABLE: &str = "omdt_no_multicast";

/// Drops every IPv4 multicast datagram that `ns` receives or sends (`ip daddr 224.0.0.0/4`
/// on the input and output hooks), counting them.
pub fn drop_multicast(ns: &str) -> Result<(), String> {
    let script = format!(
        "add table ip {TABLE}; \
         add chain ip {TABLE} input {{ type filter hook input priority 0 ; }} ; \
         add chain ip {TABLE} output {{ type filter hook output priority 0 ; }} ; \
         add rule ip {TABLE} input ip daddr 224.0.0.0/4 counter drop ; \
         add rule ip {TABLE} output ip daddr 224.0.0.0/4 counter drop"
    );
    nft_in(ns, &[&script]).map(drop)
}

/// Datagrams dropped by [`drop_multicast`]'s rules in `ns` so far: (received, sent).
pub fn multicast_dropped(ns: &str) -> Result<(u64, u64), String> {
    let listing = nft_in(ns, &["list", "table", "ip", TABLE])?;
    let counts: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
    match counts[..] {
        [input, output] => Ok((input, output)),
        _ => Err(format!(
            "unexpected nft listing in {ns}: {}",
            listing.trim()
        )),
    }
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
        let listing = "table ip omdt_no_multicast {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip daddr 224.0.0.0/4 counter packets 12 bytes 960 drop\n\t}\n\tchain output {\n\t\tip daddr 224.0.0.0/4 counter packets 0 bytes 0 drop\n\t}\n}\n";
        let counts: Vec<u64> = listing.lines().filter_map(counter_packets).collect();
        assert_eq!(counts, [12, 0]);
        assert_eq!(counter_packets("\t\ttype filter hook input"), None);
        assert!(nft_in("not-ours", &["list", "ruleset"]).is_err());
    }
}
