//! The binary map files: `om_config` (the membership) and `om_mospe` (this node's id).
//!
//! `om_config` layout, all integers big-endian (see `docs/map-format.md`):
//!
//! ```text
//! header  "OMCF" | version 1 | reserved 0 | reserved 0 0 | node count (u32)
//! record  id (u16) | flags (bit0 gateway, bit1 local) | via (u16, 0 = direct)
//!         | address count (1..=6) | addresses (tag, interface, 4 or 16 bytes)
//! ```
//!
//! Records are sorted by strictly increasing id. `om_mospe` is the node id as a 4-byte
//! little-endian unsigned integer (the `int` the original daemon wrote on x86).

use core::fmt;

use super::MapNode;
use crate::addr::{AddrList, MAX_ADDRS};
use crate::id::NodeId;
use crate::wire::{address_len, decode_address, encode_address, WireError};

/// The magic bytes `om_config` starts with.
pub const CONFIG_MAGIC: [u8; 4] = *b"OMCF";
/// The `om_config` layout version.
pub const CONFIG_VERSION: u8 = 1;
/// Length of the `om_config` header.
pub const CONFIG_HEADER_LEN: usize = 12;
const RECORD_HEAD_LEN: usize = 6;
const FLAG_GATEWAY: u8 = 0x01;
const FLAG_LOCAL: u8 = 0x02;
/// Length of `om_mospe`.
pub const MOSPE_LEN: usize = 4;

/// Why a map file could not be read or written. Reading changes nothing; a refused write
/// returns no length, and what it may have put in the buffer is not a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MapFileError {
    /// Shorter than its header or its records say.
    Truncated,
    /// Longer than its records say.
    TrailingBytes,
    /// Not an `om_config` file.
    BadMagic,
    /// A layout version this build cannot read.
    UnsupportedVersion(u8),
    /// A reserved field is not zero.
    ReservedNonZero,
    /// A record with node id 0.
    ZeroNodeId,
    /// Records not in strictly increasing id order.
    Unsorted,
    /// A record with no address or more than six.
    BadAddressCount(u8),
    /// An address entry is malformed.
    BadAddress(WireError),
    /// The output buffer is too small: `needed` bytes.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// `om_mospe` is not exactly four bytes, or holds 0 or a number above 65535.
    BadMospe,
}

impl fmt::Display for MapFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapFileError::Truncated => f.write_str("map file is truncated"),
            MapFileError::TrailingBytes => f.write_str("map file has trailing bytes"),
            MapFileError::BadMagic => f.write_str("not an omdisc map file (bad magic)"),
            MapFileError::UnsupportedVersion(v) => write!(f, "unsupported map file version {v}"),
            MapFileError::ReservedNonZero => f.write_str("reserved field is not zero"),
            MapFileError::ZeroNodeId => f.write_str("record with node id 0"),
            MapFileError::Unsorted => f.write_str("records are not sorted by node id"),
            MapFileError::BadAddressCount(n) => write!(f, "record with {n} addresses"),
            MapFileError::BadAddress(e) => write!(f, "bad address record: {e}"),
            MapFileError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: map needs {needed} bytes")
            }
            MapFileError::BadMospe => {
                f.write_str("mospe file must hold a node id 1..=65535 as 4 little-endian bytes")
            }
        }
    }
}

impl core::error::Error for MapFileError {}

/// Encoded length of one record.
fn record_len(node: &MapNode) -> usize {
    RECORD_HEAD_LEN + node.addrs.iter().map(address_len).sum::<usize>()
}

/// Length of the `om_config` encoding of `nodes`.
pub fn config_len<'a>(nodes: impl IntoIterator<Item = &'a MapNode>) -> usize {
    CONFIG_HEADER_LEN + nodes.into_iter().map(record_len).sum::<usize>()
}

/// Writes `om_config` for `nodes` (sorted by strictly increasing id, each with 1 to 6
/// addresses) into `buf`; returns the bytes written. Size `buf` with [`config_len`].
pub fn write_config<'a, I>(nodes: I, buf: &mut [u8]) -> Result<usize, MapFileError>
where
    I: IntoIterator<Item = &'a MapNode>,
    I::IntoIter: Clone,
{
    let nodes = nodes.into_iter();
    let needed = config_len(nodes.clone());
    let too_small = MapFileError::BufferTooSmall { needed };
    let out = buf.get_mut(..needed).ok_or(too_small)?;
    let count = u32::try_from(nodes.clone().count()).map_err(|_| MapFileError::Unsorted)?;
    let mut header = [0u8; CONFIG_HEADER_LEN];
    header[..4].copy_from_slice(&CONFIG_MAGIC);
    header[4] = CONFIG_VERSION;
    header[8..].copy_from_slice(&count.to_be_bytes());
    out.get_mut(..CONFIG_HEADER_LEN)
        .ok_or(too_small)?
        .copy_from_slice(&header);
    let mut at = CONFIG_HEADER_LEN;
    let mut previous: Option<NodeId> = None;
    for node in nodes {
        if previous.is_some_and(|p| p >= node.id) {
            return Err(MapFileError::Unsorted);
        }
        previous = Some(node.id);
        if node.addrs.is_empty() {
            return Err(MapFileError::BadAddressCount(0));
        }
        let mut flags = 0;
        if node.gateway {
            flags |= FLAG_GATEWAY;
        }
        if node.local {
            flags |= FLAG_LOCAL;
        }
        let id = node.id.get().to_be_bytes();
        let via = node.via.map_or(0, NodeId::get).to_be_bytes();
        let head = [id[0], id[1], flags, via[0], via[1], node.addrs.len() as u8];
        out.get_mut(at..at + RECORD_HEAD_LEN)
            .ok_or(too_small)?
            .copy_from_slice(&head);
        at += RECORD_HEAD_LEN;
        for addr in &node.addrs {
            let rest = out.get_mut(at..).ok_or(too_small)?;
            at += encode_address(addr, rest).ok_or(too_small)?;
        }
    }
    Ok(at)
}

/// Reads `om_config`: yields each node, or the first error (after which it stops).
/// Checks the header, every record and the exact length.
#[derive(Clone, Debug)]
pub struct ConfigReader<'a> {
    rest: &'a [u8],
    remaining: u32,
    previous: Option<NodeId>,
    failed: bool,
}

impl<'a> ConfigReader<'a> {
    /// Checks the header of `bytes` and prepares to read the records.
    pub fn new(bytes: &'a [u8]) -> Result<ConfigReader<'a>, MapFileError> {
        let header = bytes
            .get(..CONFIG_HEADER_LEN)
            .ok_or(MapFileError::Truncated)?;
        if header.get(..4) != Some(&CONFIG_MAGIC[..]) {
            return Err(MapFileError::BadMagic);
        }
        let version = header.get(4).copied().unwrap_or(0);
        if version != CONFIG_VERSION {
            return Err(MapFileError::UnsupportedVersion(version));
        }
        if header.get(5..8) != Some(&[0, 0, 0][..]) {
            return Err(MapFileError::ReservedNonZero);
        }
        let count = header
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(MapFileError::Truncated)?;
        Ok(ConfigReader {
            rest: bytes.get(CONFIG_HEADER_LEN..).unwrap_or(&[]),
            remaining: count,
            previous: None,
            failed: false,
        })
    }

    /// How many records the header announces (still to be read).
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    fn read_record(&mut self) -> Result<MapNode, MapFileError> {
        let head = self
            .rest
            .get(..RECORD_HEAD_LEN)
            .ok_or(MapFileError::Truncated)?;
        let (id, flags, via, count) = match head {
            [i0, i1, flags, v0, v1, count] => (
                u16::from_be_bytes([*i0, *i1]),
                *flags,
                u16::from_be_bytes([*v0, *v1]),
                *count,
            ),
            _ => return Err(MapFileError::Truncated),
        };
        let id = NodeId::new(id).ok_or(MapFileError::ZeroNodeId)?;
        if self.previous.is_some_and(|p| p >= id) {
            return Err(MapFileError::Unsorted);
        }
        if flags & !(FLAG_GATEWAY | FLAG_LOCAL) != 0 {
            return Err(MapFileError::ReservedNonZero);
        }
        if count == 0 || usize::from(count) > MAX_ADDRS {
            return Err(MapFileError::BadAddressCount(count));
        }
        let mut at = RECORD_HEAD_LEN;
        let mut addrs = AddrList::new();
        for _ in 0..count {
            let rest = self.rest.get(at..).ok_or(MapFileError::Truncated)?;
            let (addr, len) = decode_address(rest).map_err(|e| match e {
                WireError::Truncated => MapFileError::Truncated,
                other => MapFileError::BadAddress(other),
            })?;
            addrs
                .push(addr)
                .map_err(|_| MapFileError::BadAddressCount(count))?;
            at += len;
        }
        self.rest = self.rest.get(at..).unwrap_or(&[]);
        self.previous = Some(id);
        Ok(MapNode {
            id,
            addrs,
            gateway: flags & FLAG_GATEWAY != 0,
            via: NodeId::new(via),
            local: flags & FLAG_LOCAL != 0,
        })
    }
}

impl Iterator for ConfigReader<'_> {
    type Item = Result<MapNode, MapFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(MapFileError::TrailingBytes));
        }
        self.remaining -= 1;
        let record = self.read_record();
        self.failed = record.is_err();
        Some(record)
    }
}

/// The `om_mospe` bytes for node `id`.
pub fn mospe_bytes(id: NodeId) -> [u8; MOSPE_LEN] {
    u32::from(id.get()).to_le_bytes()
}

/// Reads `om_mospe`.
pub fn read_mospe(bytes: &[u8]) -> Result<NodeId, MapFileError> {
    let raw = <[u8; MOSPE_LEN]>::try_from(bytes).map_err(|_| MapFileError::BadMospe)?;
    let n = u16::try_from(u32::from_le_bytes(raw)).map_err(|_| MapFileError::BadMospe)?;
    NodeId::new(n).ok_or(MapFileError::BadMospe)
}
