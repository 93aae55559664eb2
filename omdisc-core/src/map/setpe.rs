//! The map as text, in the format of openMosix's `setpe -r`:
//!
//! ```text
//! # comment
//! 1 10.0.0.1 8          first-ID IP count: ids 1..=8 at 10.0.0.1..=10.0.0.8
//! 5 10.2.0.5 ALIAS      an extra address of node 5 (a gateway's other network)
//! ```
//!
//! [`render`] merges consecutive nodes (ids and IPv4 addresses both increasing by one)
//! into ranges, writes ranges then aliases in id order, and refuses — before writing
//! anything — a map that needs more than [`MAX_MAP_LINES`] lines (the kernel's table size).
//! setpe cannot express IPv6, so IPv6 addresses appear as comments. [`parse_line`] reads
//! lines back.

use core::borrow::Borrow;
use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr};

use super::MapNode;
use crate::addr::{display_ip, MAX_ADDRS};
use crate::id::NodeId;

/// Most range and alias lines the openMosix kernel table holds.
pub const MAX_MAP_LINES: usize = 256;

/// Why the map could not be rendered: too long (then nothing was written), or the writer
/// failed (then part of it may have been).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RenderError {
    /// The map needs `needed` lines; the kernel holds at most [`MAX_MAP_LINES`].
    TooManyLines {
        /// Lines needed.
        needed: usize,
    },
    /// The writer failed.
    Write,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::TooManyLines { needed } => write!(
                f,
                "map needs {needed} lines; the openMosix table holds at most {MAX_MAP_LINES}"
            ),
            RenderError::Write => f.write_str("could not write the map"),
        }
    }
}

impl core::error::Error for RenderError {}

impl From<fmt::Error> for RenderError {
    fn from(_: fmt::Error) -> Self {
        RenderError::Write
    }
}

/// What to put in the header comments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RenderOptions {
    /// Write `#` header comments (this node, node count, gateways, paths).
    pub comments: bool,
    /// This node's id, for the header.
    pub own_id: Option<NodeId>,
}

/// One line of a setpe map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetpeLine {
    /// `first-ID IP count`: nodes `first..first+count` at `ip..ip+count`.
    Range {
        /// First node id.
        first: NodeId,
        /// Address of the first node.
        ip: Ipv4Addr,
        /// Number of nodes, at least 1.
        count: u16,
    },
    /// `ID IP ALIAS`: an extra address of node `id`.
    Alias {
        /// Node id.
        id: NodeId,
        /// The extra address.
        ip: Ipv4Addr,
    },
}

impl SetpeLine {
    /// The `(id, address)` pairs the line stands for (one for an alias).
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Ipv4Addr)> {
        let (first, ip, count) = match *self {
            SetpeLine::Range { first, ip, count } => (first, ip, count),
            SetpeLine::Alias { id, ip } => (id, ip, 1),
        };
        (0..count).filter_map(move |k| {
            let id = NodeId::new(first.get().checked_add(k)?)?;
            let ip = Ipv4Addr::from(u32::from(ip).checked_add(u32::from(k))?);
            Some((id, ip))
        })
    }
}

impl fmt::Display for SetpeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetpeLine::Range { first, ip, count } => write!(f, "{first} {ip} {count}"),
            SetpeLine::Alias { id, ip } => write!(f, "{id} {ip} ALIAS"),
        }
    }
}

/// Why a line is not a setpe map line (parsing changes nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseError {
    /// Not three fields.
    FieldCount,
    /// The id is not a number 1..=65535.
    BadId,
    /// The address is not an IPv4 address.
    BadAddress,
    /// The third field is neither a count 1..=65535 nor `ALIAS`.
    BadCount,
    /// The range runs past node id 65535 or address 255.255.255.255.
    RangeOverflow,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::FieldCount => "expected `first-ID IP count` or `ID IP ALIAS`",
            ParseError::BadId => "node id must be a number 1..=65535",
            ParseError::BadAddress => "address must be IPv4 (a.b.c.d)",
            ParseError::BadCount => "third field must be a count 1..=65535 or ALIAS",
            ParseError::RangeOverflow => "range runs past node id 65535 or the last IPv4 address",
        })
    }
}

impl core::error::Error for ParseError {}

/// Parses one line; `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &str) -> Result<Option<SetpeLine>, ParseError> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let (Some(id), Some(ip), Some(third), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(ParseError::FieldCount);
    };
    let id = id
        .parse::<u16>()
        .ok()
        .and_then(NodeId::new)
        .ok_or(ParseError::BadId)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| ParseError::BadAddress)?;
    if third.eq_ignore_ascii_case("ALIAS") {
        return Ok(Some(SetpeLine::Alias { id, ip }));
    }
    let count = third
        .parse::<u16>()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or(ParseError::BadCount)?;
    let last_offset = count - 1;
    if id.get().checked_add(last_offset).is_none()
        || u32::from(ip).checked_add(u32::from(last_offset)).is_none()
    {
        return Err(ParseError::RangeOverflow);
    }
    Ok(Some(SetpeLine::Range {
        first: id,
        ip,
        count,
    }))
}

/// The IPv4 address a node is shown at in a range line, if it has one.
fn range_ip(node: &MapNode) -> Option<Ipv4Addr> {
    match display_ip(&node.addrs)? {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    }
}

/// The range lines for `nodes` (sorted by id), merged. The nodes may be borrowed
/// (`&MapNode`) or made one at a time (`MapNode`), so no list of them needs to exist.
pub fn ranges<I>(nodes: I) -> impl Iterator<Item = SetpeLine>
where
    I: IntoIterator,
    I::Item: Borrow<MapNode>,
{
    let mut nodes = nodes
        .into_iter()
        .filter_map(|n| {
            let n = n.borrow();
            range_ip(n).map(|ip| (n.id, ip))
        })
        .peekable();
    core::iter::from_fn(move || {
        let (first, ip) = nodes.next()?;
        let mut count: u16 = 1;
        while let Some((next_id, next_ip)) = nodes.peek().copied() {
            let follows = first.get().checked_add(count) == Some(next_id.get())
                && u32::from(ip).checked_add(u32::from(count)) == Some(u32::from(next_ip));
            if !follows {
                break;
            }
            count += 1;
            nodes.next();
        }
        Some(SetpeLine::Range { first, ip, count })
    })
}

/// The alias lines for `nodes`: every IPv4 address but the one in the range line. Borrowed
/// or owned nodes, as for [`ranges`].
pub fn aliases<I>(nodes: I) -> impl Iterator<Item = SetpeLine>
where
    I: IntoIterator,
    I::Item: Borrow<MapNode>,
{
    nodes.into_iter().flat_map(|node| {
        let node = node.borrow();
        let shown = range_ip(node);
        let mut extra: heapless::Vec<Ipv4Addr, MAX_ADDRS> = heapless::Vec::new();
        for a in &node.addrs {
            match a.ip {
                // A node has at most MAX_ADDRS addresses: the push cannot fail.
                IpAddr::V4(v4) if Some(v4) != shown => {
                    let _ = extra.push(v4);
                }
                _ => {}
            }
        }
        let id = node.id;
        extra.into_iter().map(move |ip| SetpeLine::Alias { id, ip })
    })
}

/// Writes the setpe map of `nodes` (sorted by id) to `out`. Returns the number of map
/// lines (comments not counted). Fails without writing anything if the map needs more than
/// [`MAX_MAP_LINES`] lines.
pub fn render<I, W>(nodes: I, options: RenderOptions, out: &mut W) -> Result<usize, RenderError>
where
    I: IntoIterator,
    I::Item: Borrow<MapNode>,
    I::IntoIter: Clone,
    W: Write,
{
    let nodes = nodes.into_iter();
    let lines = ranges(nodes.clone()).count() + aliases(nodes.clone()).count();
    if lines > MAX_MAP_LINES {
        return Err(RenderError::TooManyLines { needed: lines });
    }
    if options.comments {
        write_comments(nodes.clone(), options, lines, out)?;
    }
    for line in ranges(nodes.clone()).chain(aliases(nodes)) {
        writeln!(out, "{line}")?;
    }
    Ok(lines)
}

fn write_comments<W: Write>(
    nodes: impl Iterator<Item = impl Borrow<MapNode>> + Clone,
    options: RenderOptions,
    lines: usize,
    out: &mut W,
) -> Result<(), RenderError> {
    let count = nodes.clone().count();
    write!(out, "# omdisc map (setpe format): ")?;
    if let Some(id) = options.own_id {
        write!(out, "this node is {id}, ")?;
    }
    writeln!(
        out,
        "{count} node{} in {lines} line{}",
        if count == 1 { "" } else { "s" },
        if lines == 1 { "" } else { "s" }
    )?;
    for node in nodes.clone().filter(|n| n.borrow().gateway) {
        let node = node.borrow();
        write!(out, "# gateway: node {}", node.id)?;
        for a in &node.addrs {
            write!(out, " {}", a.ip)?;
        }
        writeln!(out)?;
    }
    for node in nodes.clone() {
        let node = node.borrow();
        if let Some(via) = node.via {
            writeln!(out, "# node {} reached via gateway {via}", node.id)?;
        }
    }
    for node in nodes {
        let node = node.borrow();
        let shown = range_ip(node);
        for a in node.addrs.iter().filter(|a| a.ip.is_ipv6()) {
            let what = if shown.is_none() && display_ip(&node.addrs) == Some(a.ip) {
                "has no IPv4 address"
            } else {
                "also has"
            };
            writeln!(
                out,
                "# node {} {what}: {} (IPv6; setpe cannot show it)",
                node.id, a.ip
            )?;
        }
    }
    Ok(())
}
