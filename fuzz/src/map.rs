//! `map_files`: the map file readers on arbitrary bytes, and rendering what they decode.
//!
//! For every input, [`check`] asserts:
//!
//! - [`ConfigReader`] never panics, stops after its first error, and yields as many records
//!   as the header announces when it succeeds;
//! - a file that reads without error is written back byte for byte by [`write_config`];
//! - the map it holds renders as setpe text (or is refused for needing more than 256 lines,
//!   before anything is written), and every rendered line parses back: the range lines cover
//!   exactly the nodes that have an IPv4 address, each at its shown address, merged as far as
//!   possible, and the alias lines are exactly their other IPv4 addresses;
//! - when the input is UTF-8, [`parse_line`] never panics on any of its lines, and a line it
//!   accepts prints and parses back to the same line;
//! - [`read_mospe`] accepts only what [`mospe_bytes`] writes.

use core::net::{IpAddr, Ipv4Addr};

use omdisc_core::map::binary::{config_len, mospe_bytes, read_mospe, write_config, ConfigReader};
use omdisc_core::map::setpe::{
    parse_line, render, RenderError, RenderOptions, SetpeLine, MAX_MAP_LINES,
};
use omdisc_core::map::MapNode;
use omdisc_core::{AddrRole, NodeId};

/// Runs every check on `data`; panics on a violation.
pub fn check(data: &[u8]) {
    if let Some(nodes) = check_config(data) {
        check_render(&nodes);
    }
    if let Ok(text) = core::str::from_utf8(data) {
        for line in text.lines() {
            check_setpe_line(line);
        }
    }
    if let Ok(id) = read_mospe(data) {
        assert_eq!(&mospe_bytes(id)[..], data, "mospe round trip");
    }
}

/// Reads `data` as `om_config`; returns the nodes if the whole file is valid.
fn check_config(data: &[u8]) -> Option<Vec<MapNode>> {
    let mut reader = ConfigReader::new(data).ok()?;
    let announced = reader.remaining();
    let mut nodes = Vec::new();
    for record in reader.by_ref() {
        match record {
            Ok(node) => nodes.push(node),
            Err(_) => {
                assert!(reader.next().is_none(), "reader goes on after an error");
                return None;
            }
        }
    }
    assert_eq!(nodes.len() as u64, u64::from(announced), "records read");
    assert!(
        nodes.windows(2).all(|w| w[0].id < w[1].id),
        "records out of order"
    );
    assert!(
        nodes.iter().all(|n| (1..=6).contains(&n.addrs.len())),
        "record with 0 or more than 6 addresses"
    );
    let mut buf = vec![0u8; config_len(&nodes)];
    match write_config(&nodes, &mut buf) {
        Ok(n) => assert_eq!(&buf[..n], data, "om_config round trip"),
        Err(e) => panic!("a map that reads must write: {e}"),
    }
    Some(nodes)
}

/// The IPv4 address a node's range line shows: its first primary IPv4 address, else its
/// first IPv4 address; `None` without IPv4 (setpe cannot show it).
fn shown_ipv4(node: &MapNode) -> Option<Ipv4Addr> {
    let v4 = |role: Option<AddrRole>| {
        node.addrs
            .iter()
            .filter(|a| role.is_none_or(|r| a.role == r))
            .find_map(|a| match a.ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
    };
    v4(Some(AddrRole::Primary)).or_else(|| v4(None))
}

fn check_render(nodes: &[MapNode]) {
    let own_id = nodes.iter().find(|n| n.local).map(|n| n.id);
    let options = RenderOptions {
        comments: true,
        own_id,
    };
    let mut text = String::new();
    let lines = match render(nodes, options, &mut text) {
        Ok(lines) => lines,
        Err(RenderError::TooManyLines { needed }) => {
            assert!(needed > MAX_MAP_LINES, "refused a map of {needed} lines");
            assert!(text.is_empty(), "a refused map wrote {text:?}");
            return;
        }
        Err(other) => panic!("rendering into a String failed: {other}"),
    };
    assert!(lines <= MAX_MAP_LINES, "rendered {lines} lines");

    let mut ranges = Vec::new();
    let mut aliases = Vec::new();
    for line in text.lines() {
        match parse_line(line) {
            Ok(None) => assert!(
                line.is_empty() || line.starts_with('#'),
                "a map line read as blank: {line:?}"
            ),
            Ok(Some(SetpeLine::Alias { id, ip })) => aliases.push((id, ip)),
            Ok(Some(range @ SetpeLine::Range { .. })) => {
                assert!(aliases.is_empty(), "range line after alias lines:\n{text}");
                ranges.push(range);
            }
            Err(e) => panic!("rendered line {line:?} does not parse: {e}\n{text}"),
        }
    }
    assert_eq!(ranges.len() + aliases.len(), lines, "line count:\n{text}");

    let covered: Vec<(NodeId, Ipv4Addr)> = ranges.iter().flat_map(SetpeLine::nodes).collect();
    let expected: Vec<(NodeId, Ipv4Addr)> = nodes
        .iter()
        .filter_map(|n| shown_ipv4(n).map(|ip| (n.id, ip)))
        .collect();
    assert_eq!(covered, expected, "range lines cover the map:\n{text}");
    for pair in ranges.windows(2) {
        if let [SetpeLine::Range { first, ip, count }, SetpeLine::Range {
            first: next,
            ip: next_ip,
            ..
        }] = pair
        {
            let follows = u32::from(first.get()) + u32::from(*count) == u32::from(next.get())
                && u64::from(u32::from(*ip)) + u64::from(*count) == u64::from(u32::from(*next_ip));
            assert!(!follows, "ranges not merged: {pair:?}");
        }
    }

    let expected_aliases: Vec<(NodeId, Ipv4Addr)> = nodes
        .iter()
        .flat_map(|n| {
            let shown = shown_ipv4(n);
            n.addrs.iter().filter_map(move |a| match a.ip {
                IpAddr::V4(v4) if Some(v4) != shown => Some((n.id, v4)),
                _ => None,
            })
        })
        .collect();
    assert_eq!(aliases, expected_aliases, "alias lines:\n{text}");
}

fn check_setpe_line(line: &str) {
    let Ok(Some(parsed)) = parse_line(line) else {
        return;
    };
    let printed = parsed.to_string();
    assert_eq!(
        parse_line(&printed),
        Ok(Some(parsed)),
        "{line:?} printed as {printed:?}"
    );
    if let SetpeLine::Range { count, .. } = parsed {
        assert_eq!(
            parsed.nodes().count(),
            usize::from(count),
            "a parsed range runs past the last id or address: {line:?}"
        );
    }
}
