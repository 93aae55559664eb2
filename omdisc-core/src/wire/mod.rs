//! The wire codec: omdisc's versioned binary message format (documented byte by byte in
//! `docs/protocol.md`).
//!
//! [`Message`] is the decoded form of a datagram (smoltcp calls this a *repr*):
//! [`Message::parse`] validates a datagram completely — lengths first, then the MAC when a
//! [`Keyring`] is given, then every field — and [`Message::emit`] writes one into a caller
//! buffer. Neither panics or reads past a buffer; every failure is a [`WireError`] or
//! [`EmitError`].
//!
//! ```text
//!  0      2    3    4     5    6        8        10    11   12            20      24       28
//! +------+----+----+-----+----+--------+--------+-----+----+-------------+-------+--------+---------+---------+
//! | "OM" |ver |kind|flags|hops|relayer | origin |naddr|rsvd| incarnation | seq   |interval| addrs.. | trailer |
//! +------+----+----+-----+----+--------+--------+-----+----+-------------+-------+--------+---------+---------+
//! ```

mod address;
pub mod auth;
mod error;

pub use auth::{ClusterKey, KeyError, Keyring, MAC_LEN, TRAILER_LEN};
pub use error::{EmitError, WireError};

pub(crate) use address::{
    decode as decode_address, encode as encode_address, encoded_len as address_len,
};

use crate::addr::{AddrList, AddrRole, NodeAddr, MAX_ADDRS};
use crate::id::NodeId;
use crate::time::Duration;

/// The magic bytes every datagram starts with: `"OM"`.
pub const MAGIC: [u8; 2] = *b"OM";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = field::ADDRS_START;
/// Longest datagram: header, six IPv6 addresses, trailer.
pub const MAX_DATAGRAM_LEN: usize = HEADER_LEN + MAX_ADDRS * 18 + TRAILER_LEN;
/// Longest announce interval a message may carry (one day).
pub const MAX_INTERVAL_MS: u32 = 86_400_000;

/// Byte offsets of the fixed header.
mod field {
    use core::ops::Range;
    pub(super) const MAGIC: Range<usize> = 0..2;
    pub(super) const VERSION: usize = 2;
    pub(super) const KIND: usize = 3;
    pub(super) const FLAGS: usize = 4;
    pub(super) const HOPS: usize = 5;
    pub(super) const RELAYER: Range<usize> = 6..8;
    pub(super) const ORIGIN: Range<usize> = 8..10;
    pub(super) const ADDR_COUNT: usize = 10;
    pub(super) const RESERVED: usize = 11;
    pub(super) const INCARNATION: Range<usize> = 12..20;
    pub(super) const SEQUENCE: Range<usize> = 20..24;
    pub(super) const INTERVAL: Range<usize> = 24..28;
    pub(super) const ADDRS_START: usize = 28;
}

/// Flag bit: the sender has just started and asks for quick answers.
pub const FLAG_JOIN: u8 = 0x01;
/// Flag bit: the sender relays between its interfaces.
pub const FLAG_GATEWAY: u8 = 0x02;
/// Flag bit: an authentication trailer follows the addresses.
pub const FLAG_AUTH: u8 = 0x80;
const FLAGS_KNOWN: u8 = FLAG_JOIN | FLAG_GATEWAY | FLAG_AUTH;

/// What a message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// "I am here" — periodic, on start (with [`FLAG_JOIN`]) and in answer to a join.
    Announce,
    /// "I am leaving" — sent on a graceful stop; receivers drop the node at once.
    Leave,
}

impl MessageKind {
    const fn code(self) -> u8 {
        match self {
            MessageKind::Announce => 1,
            MessageKind::Leave => 2,
        }
    }

    const fn from_code(code: u8) -> Result<MessageKind, WireError> {
        match code {
            1 => Ok(MessageKind::Announce),
            2 => Ok(MessageKind::Leave),
            other => Err(WireError::UnknownKind(other)),
        }
    }
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Announce or leave.
    pub kind: MessageKind,
    /// The sender has just started and asks for quick answers.
    pub join: bool,
    /// The sender relays between networks.
    pub gateway: bool,
    /// How many gateways relayed this message (0 = heard from the origin itself).
    pub hops: u8,
    /// The last gateway that relayed it (`None` iff `hops == 0`).
    pub relayer: Option<NodeId>,
    /// The node the message is about.
    pub origin: NodeId,
    /// Changes on every start of the origin; a higher incarnation replaces a lower one.
    pub incarnation: u64,
    /// Increases with every message round of one incarnation.
    pub sequence: u32,
    /// The origin's current announce interval; receivers derive its expiry from it.
    pub interval: Duration,
    /// The origin's addresses (at least one primary for an announcement).
    pub addrs: AddrList,
}

impl Message {
    /// Encoded length, with or without an authentication trailer.
    pub fn buffer_len(&self, authenticated: bool) -> usize {
        let addrs: usize = self.addrs.iter().map(address_len).sum();
        HEADER_LEN + addrs + if authenticated { TRAILER_LEN } else { 0 }
    }

    /// Decodes and validates `datagram`.
    ///
    /// Checks run cheapest first: header and lengths, then — when `keys` is given — the
    /// MAC (a message without a valid MAC is refused before any field is interpreted),
    /// then every field. Without `keys`, a trailer, if present, is skipped unverified.
    pub fn parse(datagram: &[u8], keys: Option<&Keyring>) -> Result<Message, WireError> {
        let header = datagram.get(..HEADER_LEN).ok_or(WireError::Truncated)?;
        if header.get(field::MAGIC) != Some(&MAGIC[..]) {
            return Err(WireError::BadMagic);
        }
        let version = byte(header, field::VERSION)?;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let kind = MessageKind::from_code(byte(header, field::KIND)?)?;
        let flags = byte(header, field::FLAGS)?;
        if flags & !FLAGS_KNOWN != 0 {
            return Err(WireError::ReservedFlags(flags & !FLAGS_KNOWN));
        }
        if byte(header, field::RESERVED)? != 0 {
            return Err(WireError::ReservedNonZero);
        }
        let count = byte(header, field::ADDR_COUNT)?;
        if usize::from(count) > MAX_ADDRS {
            return Err(WireError::TooManyAddresses(count));
        }

        // Lengths: walk the address tags (bounded by MAX_ADDRS) to find where the body ends.
        let mut end = HEADER_LEN;
        for _ in 0..count {
            let tag = *datagram.get(end).ok_or(WireError::Truncated)?;
            end = end.saturating_add(address::entry_len(tag)?);
        }
        let authenticated = flags & FLAG_AUTH != 0;
        let total = if authenticated {
            end.saturating_add(TRAILER_LEN)
        } else {
            end
        };
        if datagram.len() < total {
            return Err(WireError::Truncated);
        }
        if datagram.len() > total {
            return Err(WireError::TrailingBytes);
        }

        // Authentication before any field is interpreted.
        if let Some(keys) = keys {
            if !authenticated {
                return Err(WireError::MissingAuth);
            }
            keys.verify(datagram)?;
        }

        // Fields.
        let hops = byte(header, field::HOPS)?;
        let relayer = NodeId::new(u16_at(header, field::RELAYER)?);
        let origin = NodeId::new(u16_at(header, field::ORIGIN)?).ok_or(WireError::ZeroNodeId)?;
        match (hops, relayer) {
            (0, None) => {}
            (0, Some(_)) | (_, None) => return Err(WireError::BadRelayer),
            (_, Some(r)) if r == origin => return Err(WireError::BadRelayer),
            (_, Some(_)) => {}
        }
        let incarnation = u64::from_be_bytes(array_at(header, field::INCARNATION)?);
        let sequence = u32::from_be_bytes(array_at(header, field::SEQUENCE)?);
        let interval_ms = u32::from_be_bytes(array_at(header, field::INTERVAL)?);
        if interval_ms == 0 || interval_ms > MAX_INTERVAL_MS {
            return Err(WireError::BadInterval(interval_ms));
        }

        let mut addrs = AddrList::new();
        let mut at = HEADER_LEN;
        for _ in 0..count {
            let rest = datagram.get(at..end).ok_or(WireError::Truncated)?;
            let (addr, len) = address::decode(rest)?;
            if addrs.iter().any(|a: &NodeAddr| a.ip == addr.ip) {
                return Err(WireError::DuplicateAddress);
            }
            addrs
                .push(addr)
                .map_err(|_| WireError::TooManyAddresses(count))?;
            at = at.saturating_add(len);
        }
        if kind == MessageKind::Announce && !addrs.iter().any(|a| a.role == AddrRole::Primary) {
            return Err(WireError::NoPrimaryAddress);
        }

        Ok(Message {
            kind,
            join: flags & FLAG_JOIN != 0,
            gateway: flags & FLAG_GATEWAY != 0,
            hops,
            relayer,
            origin,
            incarnation,
            sequence,
            interval: crate::time::Duration::from_millis(u64::from(interval_ms)),
            addrs,
        })
    }

    /// Encodes the message into `buf`, signed with `keys`' signing key when given.
    /// Returns the number of bytes written.
    ///
    /// The interval is written in whole milliseconds, clamped to `1..=MAX_INTERVAL_MS`.
    pub fn emit(&self, buf: &mut [u8], keys: Option<&Keyring>) -> Result<usize, EmitError> {
        let authenticated = keys.is_some();
        let len = self.buffer_len(authenticated);
        let too_small = EmitError::BufferTooSmall { needed: len };
        let out = buf.get_mut(..len).ok_or(too_small)?;

        let mut flags = 0;
        if self.join {
            flags |= FLAG_JOIN;
        }
        if self.gateway {
            flags |= FLAG_GATEWAY;
        }
        if authenticated {
            flags |= FLAG_AUTH;
        }
        let interval = self
            .interval
            .total_millis()
            .clamp(1, u64::from(MAX_INTERVAL_MS)) as u32;
        let relayer = self.relayer.map_or(0, NodeId::get);

        let header = out.get_mut(..HEADER_LEN).ok_or(too_small)?;
        put(header, field::MAGIC, &MAGIC);
        put_byte(header, field::VERSION, VERSION);
        put_byte(header, field::KIND, self.kind.code());
        put_byte(header, field::FLAGS, flags);
        put_byte(header, field::HOPS, self.hops);
        put(header, field::RELAYER, &relayer.to_be_bytes());
        put(header, field::ORIGIN, &self.origin.get().to_be_bytes());
        put_byte(header, field::ADDR_COUNT, self.addrs.len() as u8);
        put_byte(header, field::RESERVED, 0);
        put(header, field::INCARNATION, &self.incarnation.to_be_bytes());
        put(header, field::SEQUENCE, &self.sequence.to_be_bytes());
        put(header, field::INTERVAL, &interval.to_be_bytes());

        let mut at = HEADER_LEN;
        for addr in &self.addrs {
            let rest = out.get_mut(at..).ok_or(too_small)?;
            at += encode_address(addr, rest).ok_or(too_small)?;
        }
        if let Some(keys) = keys {
            let (message, trailer) = out.split_at_mut(at);
            if !keys.sign(message, trailer) {
                return Err(too_small);
            }
        }
        Ok(len)
    }
}

/// Whether `datagram` says it carries an authentication trailer (its AUTH flag). Only
/// meaningful for a datagram that [`Message::parse`] accepted.
pub fn has_auth_trailer(datagram: &[u8]) -> bool {
    datagram
        .get(field::FLAGS)
        .is_some_and(|flags| flags & FLAG_AUTH != 0)
}

fn byte(buf: &[u8], at: usize) -> Result<u8, WireError> {
    buf.get(at).copied().ok_or(WireError::Truncated)
}

fn array_at<const N: usize>(
    buf: &[u8],
    range: core::ops::Range<usize>,
) -> Result<[u8; N], WireError> {
    buf.get(range)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(WireError::Truncated)
}

fn u16_at(buf: &[u8], range: core::ops::Range<usize>) -> Result<u16, WireError> {
    array_at(buf, range).map(u16::from_be_bytes)
}

fn put(buf: &mut [u8], range: core::ops::Range<usize>, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(range) {
        if dst.len() == bytes.len() {
            dst.copy_from_slice(bytes);
        }
    }
}

fn put_byte(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

#[cfg(test)]
mod tests;
