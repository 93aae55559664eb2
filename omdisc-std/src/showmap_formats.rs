//! `showmap --format`: the map as other programs take it. `setpe` and `json` are
//! [`crate::showmap`]'s; this module adds the formats for programs that know nothing of
//! openMosix:
//!
//! | format | output |
//! |---|---|
//! | `hosts` | an `/etc/hosts` fragment: `IP omdisc-ID`, one line per node (its primary address) |
//! | `hostfile` | one primary address per line, as MPI hostfiles (Open MPI, MPICH) take them |
//! | `prometheus-sd` | a Prometheus `file_sd` target list: one group per node, target `IP:PORT` (`[IP]:PORT` for IPv6), labels `omdisc_node_id` and `omdisc_gateway` |
//!
//! Nodes come in id order; every node has a primary address (the core refuses an
//! announcement without one), so no format drops a node.

use omdisc_core::map::MapNode;
use omdisc_core::AddrRole;
use serde_json::{json, Value};

use crate::output_values::ShowmapFormat;
use crate::showmap::{self, LoadedMap, ShowmapError};

/// The map in `format`, ending with a newline (`prometheus-sd` and `json` are one JSON
/// document each; `sd_port` is the port of the `prometheus-sd` targets).
pub fn render(
    format: ShowmapFormat,
    map: &LoadedMap,
    sd_port: u16,
) -> Result<String, ShowmapError> {
    let mut text = match format {
        ShowmapFormat::Setpe => return showmap::render_text(map),
        ShowmapFormat::Json => showmap::render_json(map).to_string(),
        ShowmapFormat::Hosts => hosts(map),
        ShowmapFormat::Hostfile => hostfile(map),
        ShowmapFormat::PrometheusSd => prometheus_sd(map, sd_port).to_string(),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The node's primary address (the first one flagged primary, else the first).
fn primary(node: &MapNode) -> Option<std::net::IpAddr> {
    node.addrs
        .iter()
        .find(|a| a.role == AddrRole::Primary)
        .or_else(|| node.addrs.first())
        .map(|a| a.ip)
}

/// `IP omdisc-ID` lines under one comment line.
pub fn hosts(map: &LoadedMap) -> String {
    let mut text = format!(
        "# omdisc cluster map: {} nodes (showmap --format hosts)\n",
        map.nodes.len()
    );
    for node in &map.nodes {
        if let Some(ip) = primary(node) {
            text.push_str(&format!("{ip} omdisc-{}\n", node.id));
        }
    }
    text
}

/// One primary address per line, nothing else.
pub fn hostfile(map: &LoadedMap) -> String {
    map.nodes
        .iter()
        .filter_map(primary)
        .map(|ip| format!("{ip}\n"))
        .collect()
}

/// `[{"targets": ["IP:PORT"], "labels": {"omdisc_node_id": "ID", "omdisc_gateway": "true"|"false"}}, ...]`
pub fn prometheus_sd(map: &LoadedMap, port: u16) -> Value {
    let groups: Vec<Value> = map
        .nodes
        .iter()
        .filter_map(|node| {
            let target = std::net::SocketAddr::new(primary(node)?, port).to_string();
            Some(json!({
                "targets": [target],
                "labels": {
                    "omdisc_node_id": node.id.get().to_string(),
                    "omdisc_gateway": node.gateway.to_string(),
                },
            }))
        })
        .collect();
    Value::Array(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use omdisc_core::{IfaceId, NodeAddr, NodeId};
    use std::net::IpAddr;

    fn node(id: u16, ips: &[&str], gateway: bool) -> MapNode {
        let mut addrs = omdisc_core::AddrList::new();
        for (i, ip) in ips.iter().enumerate() {
            let ip: IpAddr = ip.parse().unwrap();
            let addr = if i == 0 {
                NodeAddr::primary(ip, IfaceId::FIRST)
            } else {
                NodeAddr::alias(ip, IfaceId::FIRST)
            };
            addrs.push(addr).unwrap();
        }
        MapNode {
            id: NodeId::new(id).unwrap(),
            addrs,
            gateway,
            via: None,
            local: id == 257,
        }
    }

    fn map() -> LoadedMap {
        LoadedMap {
            own_id: NodeId::new(257),
            nodes: vec![
                node(257, &["10.77.1.1"], false),
                node(259, &["10.77.1.3", "10.88.1.3"], true),
                node(260, &["fd00::104"], false),
            ],
            conflicts: Vec::new(),
        }
    }

    #[test]
    fn hosts_lines_name_each_primary_address() {
        let text = render(ShowmapFormat::Hosts, &map(), 9477).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("# omdisc cluster map: 3 nodes"),
            "{text}"
        );
        assert_eq!(
            &lines[1..],
            [
                "10.77.1.1 omdisc-257",
                "10.77.1.3 omdisc-259",
                "fd00::104 omdisc-260"
            ]
        );
    }

    #[test]
    fn hostfile_is_one_address_per_line() {
        let text = render(ShowmapFormat::Hostfile, &map(), 9477).unwrap();
        assert_eq!(text, "10.77.1.1\n10.77.1.3\nfd00::104\n");
        let empty = LoadedMap {
            own_id: None,
            nodes: Vec::new(),
            conflicts: Vec::new(),
        };
        assert_eq!(render(ShowmapFormat::Hostfile, &empty, 1).unwrap(), "\n");
    }

    #[test]
    fn prometheus_sd_has_one_target_group_per_node() {
        let text = render(ShowmapFormat::PrometheusSd, &map(), 9100).unwrap();
        assert!(text.ends_with("]\n") && text.lines().count() == 1, "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!([
                {"targets": ["10.77.1.1:9100"], "labels": {"omdisc_node_id": "257", "omdisc_gateway": "false"}},
                {"targets": ["10.77.1.3:9100"], "labels": {"omdisc_node_id": "259", "omdisc_gateway": "true"}},
                {"targets": ["[fd00::104]:9100"], "labels": {"omdisc_node_id": "260", "omdisc_gateway": "false"}},
            ])
        );
    }

    #[test]
    fn json_and_setpe_are_showmaps_own() {
        let map = map();
        let json = render(ShowmapFormat::Json, &map, 1).unwrap();
        assert_eq!(json, format!("{}\n", showmap::render_json(&map)));
        assert_eq!(
            render(ShowmapFormat::Setpe, &map, 1).unwrap(),
            showmap::render_text(&map).unwrap()
        );
    }
}
