//! The wire codec: omdisc's versioned binary message format (documented byte by byte in
//! `docs/protocol.md`), in smoltcp's shape.
//!
//! * [`Packet`] is a checked view over a received datagram: [`Packet::new_checked`]
//!   validates its lengths and every field once, after which no accessor can fail or panic.
//! * [`Packet::verify`] checks the MAC against a [`Keyring`] (or, for a cluster that runs
//!   without a key, nothing) and yields a [`Verified`] view.
//! * [`Message`] (smoltcp would call it a *repr*) is parsed only from a [`Verified`] view
//!   ([`Message::parse`]), so code that acts on a message cannot skip authentication;
//!   [`Message::decode`] runs the three steps on a byte slice. [`Message::emit`] writes one
//!   into a caller buffer.
//! * A gateway relays a datagram by rewriting its hop count and relayer in a copy of the
//!   verified bytes and re-signing them, not by decoding and encoding it again.
//!
//! Nothing here panics or reads past a buffer, and nothing is written partly: a buffer too
//! short is an [`EmitError`], a bad datagram a [`WireError`].
//!
//! ```text
//!  0      2    3    4     5    6        8        10    11   12            20      24       28
//! +------+----+----+-----+----+--------+--------+-----+----+-------------+-------+--------+---------+---------+
//! | "OM" |ver |kind|flags|hops|relayer | origin |naddr|rsvd| incarnation | seq   |interval| addrs.. | trailer |
//! +------+----+----+-----+----+--------+--------+-----+----+-------------+-------+--------+---------+---------+
//! ```

mod address;
mod auth;
mod error;
mod message;
mod packet;
mod payload;

pub use auth::{
    ClusterKey, KeyError, Keyring, MAC_LEN, MAX_KEYS, MAX_KEY_LEN, MIN_KEY_LEN, TRAILER_LEN,
};
pub use error::{EmitError, WireError};
pub use message::Message;
pub use packet::{Packet, Verified};
pub use payload::{
    Gossip, GossipList, MemberState, Payload, SyncSummary, MAX_GOSSIP_ENTRIES, SYNC_BUCKETS,
};

pub(crate) use address::{
    decode as decode_address, encode as encode_address, encoded_len as address_len,
};
pub(crate) use packet::RelayBody;

use crate::addr::MAX_ADDRS;

/// The magic bytes every datagram starts with: `"OM"`.
pub const MAGIC: [u8; 2] = *b"OM";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = field::ADDRS_START;
/// Longest address list: six IPv6 entries.
const MAX_ADDRS_LEN: usize = MAX_ADDRS * address::IPV6_ENTRY_LEN;
/// Longest datagram: header, six IPv6 addresses, the longest payload (a PING-REQ with an
/// IPv6 target and six IPv6 gossip entries), trailer.
pub const MAX_DATAGRAM_LEN: usize =
    HEADER_LEN + MAX_ADDRS_LEN + payload::MAX_PAYLOAD_LEN + TRAILER_LEN;
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
/// Flag bit: this copy was sent by unicast to one node, not to the group.
pub const FLAG_UNICAST: u8 = 0x04;
/// Flag bit: an authentication trailer follows the addresses.
pub const FLAG_AUTH: u8 = 0x80;
const FLAGS_KNOWN: u8 = FLAG_JOIN | FLAG_GATEWAY | FLAG_UNICAST | FLAG_AUTH;

/// What a message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    /// "I am here" — periodic, on start (with [`FLAG_JOIN`]) and in answer to a join.
    Announce,
    /// "I am leaving" — sent on a graceful stop; receivers drop the node at once.
    Leave,
    /// "Are you alive?" — a unicast probe; the receiver answers with [`MessageKind::Ack`]
    /// carrying the same nonce. Carries gossip.
    Ping,
    /// "I am" — the answer to a PING (or, relayed by the node a PING-REQ asked, to the
    /// requester). Carries gossip.
    Ack,
    /// "Please probe this member for me" — sent to a few members when a direct PING went
    /// unanswered; the receiver pings the target and forwards its ACK. Carries gossip.
    PingReq,
    /// Gossip only: member digests and suspicion or death notices, sent to a few members.
    Gossip,
}

impl MessageKind {
    pub(crate) const fn code(self) -> u8 {
        match self {
            MessageKind::Announce => 1,
            MessageKind::Leave => 2,
            MessageKind::Ping => 3,
            MessageKind::Ack => 4,
            MessageKind::PingReq => 5,
            MessageKind::Gossip => 6,
        }
    }

    /// Whether messages of this kind carry a [`Payload`] after the addresses (the unicast
    /// kinds: never relayed, hop count 0).
    pub const fn has_payload(self) -> bool {
        !matches!(self, MessageKind::Announce | MessageKind::Leave)
    }

    const fn from_code(code: u8) -> Result<MessageKind, WireError> {
        match code {
            1 => Ok(MessageKind::Announce),
            2 => Ok(MessageKind::Leave),
            3 => Ok(MessageKind::Ping),
            4 => Ok(MessageKind::Ack),
            5 => Ok(MessageKind::PingReq),
            6 => Ok(MessageKind::Gossip),
            other => Err(WireError::UnknownKind(other)),
        }
    }
}

#[cfg(test)]
mod tests;
