//! Property tests of the map: the setpe text parses back to the same membership, and the
//! binary `om_config` round-trips.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::map::binary::{config_len, write_config, ConfigReader};
use omdisc_core::map::setpe::{self, RenderOptions, MAX_MAP_LINES};
use omdisc_core::map::MapNode;
use omdisc_core::{IfaceId, NodeAddr, NodeId};
use proptest::prelude::*;

/// A membership of up to 200 nodes with IPv4 addresses, often consecutive (so ranges merge),
/// some with aliases.
fn membership() -> impl Strategy<Value = Vec<MapNode>> {
    proptest::collection::vec(
        (
            1u16..4,
            0u32..3,
            proptest::collection::vec(any::<u32>(), 0..3),
            any::<bool>(),
        ),
        0..200,
    )
    .prop_map(|steps| {
        let mut nodes = Vec::new();
        let mut id: u32 = 0;
        let mut ip: u32 = 0x0a00_0001;
        for (id_step, ip_skip, aliases, gateway) in steps {
            id += u32::from(id_step);
            ip += 1 + ip_skip;
            let Some(node_id) = u16::try_from(id).ok().and_then(NodeId::new) else {
                break;
            };
            let mut addrs = heapless::Vec::new();
            addrs
                .push(NodeAddr::primary(
                    IpAddr::V4(Ipv4Addr::from(ip)),
                    IfaceId::FIRST,
                ))
                .unwrap();
            for a in aliases {
                let alias = IpAddr::V4(Ipv4Addr::from(0xac10_0000 | (a & 0xffff)));
                if !addrs.iter().any(|x: &NodeAddr| x.ip == alias) {
                    addrs
                        .push(NodeAddr::alias(alias, IfaceId::new(1).unwrap()))
                        .unwrap();
                }
            }
            nodes.push(MapNode {
                id: node_id,
                addrs,
                gateway,
                via: None,
                local: false,
            });
        }
        nodes
    })
}

fn as_sets(nodes: &[MapNode]) -> BTreeMap<u16, BTreeSet<Ipv4Addr>> {
    nodes
        .iter()
        .map(|n| {
            let ips = n.addrs.iter().filter_map(|a| match a.ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            });
            (n.id.get(), ips.collect())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn rendered_map_parses_back_to_the_same_membership(nodes in membership(), comments in any::<bool>()) {
        let mut text = String::new();
        let options = RenderOptions { comments, own_id: nodes.first().map(|n| n.id) };
        match setpe::render(nodes.iter(), options, &mut text) {
            Ok(lines) => {
                prop_assert!(lines <= MAX_MAP_LINES);
                let mut parsed: BTreeMap<u16, BTreeSet<Ipv4Addr>> = BTreeMap::new();
                let mut map_lines = 0;
                for line in text.lines() {
                    if let Some(l) = setpe::parse_line(line).unwrap() {
                        map_lines += 1;
                        for (id, ip) in l.nodes() {
                            parsed.entry(id.get()).or_default().insert(ip);
                        }
                    }
                }
                prop_assert_eq!(map_lines, lines);
                prop_assert_eq!(parsed, as_sets(&nodes));
            }
            Err(setpe::RenderError::TooManyLines { needed }) => {
                prop_assert!(needed > MAX_MAP_LINES);
                prop_assert!(text.is_empty());
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn config_file_round_trips(nodes in membership()) {
        let mut buf = vec![0u8; config_len(nodes.iter())];
        let n = write_config(nodes.iter(), &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let read: Vec<MapNode> = ConfigReader::new(&buf).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, nodes);
    }

    #[test]
    fn reading_corrupt_config_files_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(reader) = ConfigReader::new(&bytes) {
            for record in reader.take(1000) {
                let _ = record;
            }
        }
        let _ = omdisc_core::map::binary::read_mospe(&bytes);
    }
}
