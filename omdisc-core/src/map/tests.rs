use super::binary::{self, ConfigReader, MapFileError};
use super::setpe::{self, ParseError, RenderError, RenderOptions, SetpeLine};
use super::MapNode;
use crate::addr::{AddrList, IfaceId, NodeAddr};
use crate::id::NodeId;
use core::fmt::Write;
use core::net::{IpAddr, Ipv4Addr};

fn node(id: u16, ips: &[&str]) -> MapNode {
    let mut addrs = AddrList::new();
    for (i, ip) in ips.iter().enumerate() {
        let ip: IpAddr = ip.parse().unwrap();
        let a = if i == 0 {
            NodeAddr::primary(ip, IfaceId::FIRST)
        } else {
            NodeAddr::alias(ip, IfaceId::new(1).unwrap())
        };
        addrs.push(a).unwrap();
    }
    MapNode {
        id: NodeId::new(id).unwrap(),
        addrs,
        gateway: ips.len() > 1,
        via: None,
        local: false,
    }
}

fn sample() -> [MapNode; 6] {
    [
        node(1, &["10.0.0.1"]),
        node(2, &["10.0.0.2"]),
        node(3, &["10.0.0.3", "10.9.0.3"]),
        node(5, &["10.0.0.5"]),
        node(6, &["10.0.0.9"]),
        node(7, &["fd00::7"]),
    ]
}

#[test]
fn consecutive_nodes_merge_into_ranges_and_aliases_follow() {
    let nodes = sample();
    let mut out = heapless::String::<512>::new();
    let lines = setpe::render(nodes.iter(), RenderOptions::default(), &mut out).unwrap();
    assert_eq!(
        out.as_str(),
        "1 10.0.0.1 3\n5 10.0.0.5 1\n6 10.0.0.9 1\n3 10.9.0.3 ALIAS\n"
    );
    assert_eq!(lines, 4);
}

#[test]
fn nodes_made_one_at_a_time_render_as_a_list_of_them_does() {
    let list = sample();
    let options = RenderOptions {
        comments: true,
        own_id: NodeId::new(2),
    };
    let (mut from_list, mut made) = (
        heapless::String::<1024>::new(),
        heapless::String::<1024>::new(),
    );
    setpe::render(list.iter(), options, &mut from_list).unwrap();
    let one_at_a_time = (0..list.len()).map(|i| sample()[i].clone());
    setpe::render(one_at_a_time.clone(), options, &mut made).unwrap();
    assert_eq!(made, from_list);
    let lines: heapless::Vec<SetpeLine, 8> = setpe::ranges(one_at_a_time.clone())
        .chain(setpe::aliases(one_at_a_time))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[3],
        SetpeLine::Alias {
            id: NodeId::new(3).unwrap(),
            ip: Ipv4Addr::new(10, 9, 0, 3)
        }
    );
}

#[test]
fn comments_name_this_node_gateways_paths_and_ipv6() {
    let mut nodes = sample();
    nodes[3].via = NodeId::new(3);
    let options = RenderOptions {
        comments: true,
        own_id: NodeId::new(2),
    };
    let mut out = heapless::String::<1024>::new();
    setpe::render(nodes.iter(), options, &mut out).unwrap();
    let text = out.as_str();
    assert!(text.starts_with("# omdisc map (setpe format): this node is 2, 6 nodes in 4 lines\n"));
    assert!(text.contains("# gateway: node 3 10.0.0.3 10.9.0.3\n"));
    assert!(text.contains("# node 5 reached via gateway 3\n"));
    assert!(text.contains("# node 7 has no IPv4 address: fd00::7 (IPv6; setpe cannot show it)\n"));
}

#[test]
fn a_map_over_256_lines_is_refused_before_writing() {
    // Every other id: nothing merges, 300 lines.
    let nodes: heapless::Vec<MapNode, 300> = (0..300u16)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0a00_0000 + u32::from(i) * 2);
            node(i * 2 + 1, &[&ip.to_string_heapless()])
        })
        .collect();
    let mut out = heapless::String::<16>::new();
    assert_eq!(
        setpe::render(nodes.iter(), RenderOptions::default(), &mut out),
        Err(RenderError::TooManyLines { needed: 300 })
    );
    assert!(out.is_empty());
}

trait ToHeapless {
    fn to_string_heapless(&self) -> heapless::String<16>;
}

impl ToHeapless for Ipv4Addr {
    fn to_string_heapless(&self) -> heapless::String<16> {
        let mut s = heapless::String::new();
        write!(s, "{self}").unwrap();
        s
    }
}

#[test]
fn lines_parse_back() {
    assert_eq!(setpe::parse_line("  # comment"), Ok(None));
    assert_eq!(setpe::parse_line(""), Ok(None));
    assert_eq!(
        setpe::parse_line("1 10.0.0.1 3"),
        Ok(Some(SetpeLine::Range {
            first: NodeId::new(1).unwrap(),
            ip: Ipv4Addr::new(10, 0, 0, 1),
            count: 3
        }))
    );
    assert_eq!(
        setpe::parse_line("3 10.9.0.3 alias # extra"),
        Ok(Some(SetpeLine::Alias {
            id: NodeId::new(3).unwrap(),
            ip: Ipv4Addr::new(10, 9, 0, 3)
        }))
    );
    assert_eq!(setpe::parse_line("1 10.0.0.1"), Err(ParseError::FieldCount));
    assert_eq!(setpe::parse_line("0 10.0.0.1 1"), Err(ParseError::BadId));
    assert_eq!(
        setpe::parse_line("1 fd00::1 1"),
        Err(ParseError::BadAddress)
    );
    assert_eq!(setpe::parse_line("1 10.0.0.1 0"), Err(ParseError::BadCount));
    assert_eq!(
        setpe::parse_line("65535 10.0.0.1 2"),
        Err(ParseError::RangeOverflow)
    );
    assert_eq!(
        setpe::parse_line("1 255.255.255.255 2"),
        Err(ParseError::RangeOverflow)
    );
}

#[test]
fn range_lines_expand_to_their_nodes() {
    let line = setpe::parse_line("7 10.0.0.250 3").unwrap().unwrap();
    let nodes: heapless::Vec<(u16, Ipv4Addr), 4> =
        line.nodes().map(|(id, ip)| (id.get(), ip)).collect();
    assert_eq!(
        &nodes[..],
        &[
            (7, Ipv4Addr::new(10, 0, 0, 250)),
            (8, Ipv4Addr::new(10, 0, 0, 251)),
            (9, Ipv4Addr::new(10, 0, 0, 252))
        ]
    );
}

#[test]
fn config_file_round_trips() {
    let mut nodes = sample();
    nodes[0].local = true;
    nodes[4].via = NodeId::new(3);
    let len = binary::config_len(nodes.iter());
    let mut buf = [0u8; 256];
    assert_eq!(binary::write_config(nodes.iter(), &mut buf), Ok(len));
    let read: heapless::Vec<MapNode, 8> = ConfigReader::new(&buf[..len])
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(&read[..], &nodes[..]);
}

#[test]
fn config_file_header_is_exact() {
    let nodes = [node(2780, &["192.168.10.220"])];
    let mut buf = [0u8; 64];
    let n = binary::write_config(nodes.iter(), &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            b'O', b'M', b'C', b'F', 1, 0, 0, 0, 0, 0, 0, 1, // header, 1 node
            0x0a, 0xdc, 0, 0, 0, 1, // id 2780, no flags, direct, 1 address
            4, 0, 192, 168, 10, 220 // primary IPv4 on interface 0
        ]
    );
}

#[test]
fn corrupt_config_files_are_refused() {
    let nodes = sample();
    let mut buf = [0u8; 256];
    let n = binary::write_config(nodes.iter(), &mut buf).unwrap();
    let first_error = |bytes: &[u8]| -> Option<MapFileError> {
        match ConfigReader::new(bytes) {
            Err(e) => Some(e),
            Ok(reader) => reader.filter_map(Result::err).next(),
        }
    };
    assert_eq!(first_error(&buf[..n]), None);
    assert_eq!(first_error(&buf[..n - 1]), Some(MapFileError::Truncated));
    assert_eq!(
        first_error(&buf[..n + 1]),
        Some(MapFileError::TrailingBytes)
    );
    assert_eq!(first_error(&buf[..5]), Some(MapFileError::Truncated));
    let mut bad = buf;
    bad[0] = b'X';
    assert_eq!(first_error(&bad[..n]), Some(MapFileError::BadMagic));
    let mut bad = buf;
    bad[4] = 9;
    assert_eq!(
        first_error(&bad[..n]),
        Some(MapFileError::UnsupportedVersion(9))
    );
    let mut bad = buf;
    bad[12] = 0;
    bad[13] = 0;
    assert_eq!(first_error(&bad[..n]), Some(MapFileError::ZeroNodeId));
    // Unsorted input is refused on write too.
    let unsorted = [node(2, &["10.0.0.2"]), node(1, &["10.0.0.1"])];
    assert_eq!(
        binary::write_config(unsorted.iter(), &mut buf),
        Err(MapFileError::Unsorted)
    );
    assert_eq!(
        binary::write_config(nodes.iter(), &mut buf[..10]),
        Err(MapFileError::BufferTooSmall { needed: n })
    );
}

#[test]
fn mospe_is_four_little_endian_bytes() {
    let id = NodeId::new(2780).unwrap();
    assert_eq!(binary::mospe_bytes(id), [0xdc, 0x0a, 0, 0]);
    assert_eq!(binary::read_mospe(&[0xdc, 0x0a, 0, 0]), Ok(id));
    assert_eq!(
        binary::read_mospe(&[0, 0, 0, 0]),
        Err(MapFileError::BadMospe)
    );
    assert_eq!(
        binary::read_mospe(&[1, 0, 1, 0]),
        Err(MapFileError::BadMospe)
    );
    assert_eq!(binary::read_mospe(&[1, 0, 0]), Err(MapFileError::BadMospe));
}
