//! [`Membership`]: what a `showmap` text output says, parsed back strictly as openMosix
//! `setpe` map lines: `first-ID IP count` ranges, `ID IP ALIAS` extra addresses, blank
//! lines and `#` comments.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// One node of a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeEntry {
    /// Its address from a range line (absent if the node only has ALIAS lines).
    pub primary: Option<Ipv4Addr>,
    /// Its ALIAS addresses, in the order listed.
    pub aliases: Vec<IpAddr>,
}

/// The nodes of a map, by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    nodes: BTreeMap<u16, NodeEntry>,
}

impl Membership {
    /// Parses setpe text; any line that is not a valid map line is an error naming it.
    pub fn parse(text: &str) -> Result<Membership, String> {
        let mut map = Membership::default();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            map.parse_line(line)
                .map_err(|why| format!("map line {}: {why}: {:?}", number + 1, raw))?;
        }
        Ok(map)
    }

    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, address, third] = fields[..] else {
            return Err("expected three fields".into());
        };
        let id: u16 = id
            .parse()
            .map_err(|_| "node id is not a number 1-65535".to_string())?;
        if id == 0 {
            return Err("node id 0 is invalid".into());
        }
        if third.eq_ignore_ascii_case("ALIAS") {
            let address: IpAddr = address
                .parse()
                .map_err(|_| "bad alias address".to_string())?;
            self.nodes.entry(id).or_default().aliases.push(address);
            return Ok(());
        }
        let first: Ipv4Addr = address
            .parse()
            .map_err(|_| "bad IPv4 address".to_string())?;
        let count: u32 = third
            .parse()
            .map_err(|_| "count is not a number".to_string())?;
        if count == 0 {
            return Err("count 0".into());
        }
        let last_id = u32::from(id) + count - 1;
        if last_id > u32::from(u16::MAX) || u32::from(first).checked_add(count - 1).is_none() {
            return Err("range runs past the last node id or address".into());
        }
        for offset in 0..count {
            let node_id = (u32::from(id) + offset) as u16;
            let address = Ipv4Addr::from(u32::from(first) + offset);
            let entry = self.nodes.entry(node_id).or_default();
            if entry.primary.is_some() {
                return Err(format!("node {node_id} listed twice"));
            }
            entry.primary = Some(address);
        }
        Ok(())
    }

    /// Builds a membership from `(id, primary address)` pairs (for expected maps).
    pub fn from_primaries(nodes: impl IntoIterator<Item = (u16, Ipv4Addr)>) -> Membership {
        let nodes = nodes
            .into_iter()
            .map(|(id, address)| {
                (
                    id,
                    NodeEntry {
                        primary: Some(address),
                        aliases: Vec::new(),
                    },
                )
            })
            .collect();
        Membership { nodes }
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> Vec<u16> {
        self.nodes.keys().copied().collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The entry of node `id`.
    pub fn get(&self, id: u16) -> Option<&NodeEntry> {
        self.nodes.get(&id)
    }

    /// Whether node `id` is in the map.
    pub fn contains(&self, id: u16) -> bool {
        self.nodes.contains_key(&id)
    }

    /// Ids and primary addresses only (aliases dropped), for comparing with an expectation.
    pub fn primaries(&self) -> BTreeMap<u16, Option<Ipv4Addr>> {
        self.nodes.iter().map(|(id, n)| (*id, n.primary)).collect()
    }

    /// Checks that every primary address gives its node id (last two octets, as openMosix).
    pub fn check_ids_follow_addresses(&self) -> Result<(), String> {
        for (id, node) in &self.nodes {
            if let Some(address) = node.primary {
                let expected = node_id_of(address);
                if expected != *id {
                    return Err(format!(
                        "node {id} has address {address}, whose id is {expected}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Membership {
    /// Compact one-line form: `{1=10.77.0.1, 2=10.77.0.2 (+1 alias)}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, (id, node)) in self.nodes.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match node.primary {
                Some(address) => write!(f, "{sep}{id}={address}")?,
                None => write!(f, "{sep}{id}=?")?,
            }
            if !node.aliases.is_empty() {
                write!(f, " (+{} alias)", node.aliases.len())?;
            }
        }
        write!(f, "}}")
    }
}

/// openMosix node id of an address: its last two bytes (`192.168.10.220` → 2780).
pub fn node_id_of(address: impl Into<IpAddr>) -> u16 {
    let (high, low) = match address.into() {
        IpAddr::V4(v4) => (v4.octets()[2], v4.octets()[3]),
        IpAddr::V6(v6) => (v6.octets()[14], v6.octets()[15]),
    };
    u16::from_be_bytes([high, low])
}

/// The address of `ADDR/PREFIX` (or of a bare `ADDR`) as the scenarios write them, as `A`
/// (`Ipv4Addr`, `Ipv6Addr` or `IpAddr`). The scenarios' addresses are constants: one that
/// does not parse is a bug in the scenario, and panics (a failed scenario).
pub fn addr_of<A: FromStr>(cidr: &str) -> A {
    let text = cidr.split('/').next().unwrap_or(cidr);
    text.parse()
        .unwrap_or_else(|_| panic!("{cidr:?} is not an address of the expected family"))
}

/// The node id of `ADDR/PREFIX`.
pub fn node_id_in(cidr: &str) -> u16 {
    node_id_of(addr_of::<IpAddr>(cidr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_aliases_and_comments() {
        let text = "# omdisc map: this node 2780, 4 nodes\n\
                    \n\
                    2779 192.168.10.219 2   # two nodes\n\
                    2790 192.168.10.230 1\n\
                    2790 10.1.0.1 ALIAS\n\
                    2790 fd00::1 alias\n";
        let map = Membership::parse(text).unwrap();
        assert_eq!(map.ids(), [2779, 2780, 2790]);
        assert_eq!(
            map.get(2780).unwrap().primary,
            Some(Ipv4Addr::new(192, 168, 10, 220))
        );
        let gateway = map.get(2790).unwrap();
        assert_eq!(
            gateway.aliases,
            [
                "10.1.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
        assert!(map.check_ids_follow_addresses().is_ok());
        assert_eq!(
            map.to_string(),
            "{2779=192.168.10.219, 2780=192.168.10.220, 2790=192.168.10.230 (+2 alias)}"
        );
    }

    #[test]
    fn a_range_crosses_an_octet_boundary() {
        let map = Membership::parse("511 10.0.1.255 2\n").unwrap();
        assert_eq!(
            map.get(512).unwrap().primary,
            Some(Ipv4Addr::new(10, 0, 2, 0))
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "1 10.0.0.1",
            "1 10.0.0.1 2 3",
            "0 10.0.0.0 1",
            "65536 10.0.0.1 1",
            "x 10.0.0.1 1",
            "1 10.0.0.300 1",
            "1 fd00::1 1",
            "1 10.0.0.1 0",
            "1 10.0.0.1 many",
            "65535 10.0.255.255 2",
            "1 10.0.0.1 ALIASES",
            "1 10.0.0.1 1\n1 10.0.0.1 1",
        ] {
            assert!(Membership::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ids_must_follow_addresses() {
        let map = Membership::parse("5 10.0.0.6 1\n").unwrap();
        assert!(map
            .check_ids_follow_addresses()
            .unwrap_err()
            .contains("whose id is 6"));
        assert_eq!(node_id_of(Ipv4Addr::new(192, 168, 10, 220)), 2780);
    }

    #[test]
    fn addresses_and_ids_come_from_either_family() {
        assert_eq!(
            addr_of::<Ipv4Addr>("10.77.1.5/24"),
            Ipv4Addr::new(10, 77, 1, 5)
        );
        assert_eq!(
            addr_of::<IpAddr>("fd00::a11"),
            "fd00::a11".parse::<IpAddr>().unwrap()
        );
        assert_eq!(node_id_in("fd00:75:1::a11/64"), 0x0a11);
        assert_eq!(node_id_in("10.1.5.7/16"), 1287);
    }

    #[test]
    fn expected_maps_compare_by_primaries() {
        let parsed = Membership::parse("1 10.77.0.1 2\n").unwrap();
        let expected = Membership::from_primaries([
            (1, Ipv4Addr::new(10, 77, 0, 1)),
            (2, Ipv4Addr::new(10, 77, 0, 2)),
        ]);
        assert_eq!(parsed, expected);
        assert_eq!(parsed.len(), 2);
        assert!(!parsed.is_empty() && parsed.contains(2) && !parsed.contains(3));
    }
}
