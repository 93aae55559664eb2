//! [`Message`]: the decoded form of a datagram, parsed from a [`Verified`] view and emitted
//! into a caller buffer.

use super::packet::seal;
use super::{
    address, field, EmitError, Keyring, MessageKind, Packet, Payload, Verified, WireError,
    FLAG_GATEWAY, FLAG_JOIN, FLAG_UNICAST, HEADER_LEN, MAGIC, MAX_INTERVAL_MS, TRAILER_LEN,
    VERSION,
};
use crate::addr::AddrList;
use crate::id::NodeId;
use crate::time::Duration;

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Message {
    /// What the message says (its payload, for the unicast kinds, is read apart:
    /// [`Packet::payload`]).
    pub kind: MessageKind,
    /// The sender has just started and asks for quick answers.
    pub join: bool,
    /// This copy was sent by unicast to one node (not to the group): an announcement
    /// that says so does not tell the receiver that the sender is on its multicast network.
    pub unicast: bool,
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
    /// The message of a verified datagram.
    pub fn parse(packet: &Verified<'_>) -> Message {
        Message {
            kind: packet.kind(),
            join: packet.join(),
            unicast: packet.unicast(),
            gateway: packet.gateway(),
            hops: packet.hops(),
            relayer: packet.relayer(),
            origin: packet.origin(),
            incarnation: packet.incarnation(),
            sequence: packet.sequence(),
            interval: packet.interval(),
            addrs: packet.addr_list().clone(),
        }
    }

    /// Checks, verifies (with `keys`, or not at all for a cluster without a key) and parses
    /// `datagram`: [`Packet::new_checked`], [`Packet::verify`], [`Message::parse`].
    pub fn decode(datagram: &[u8], keys: Option<&Keyring>) -> Result<Message, WireError> {
        let verified = Packet::new_checked(datagram)?.verify(keys)?;
        Ok(Message::parse(&verified))
    }

    /// Encoded length, with or without an authentication trailer (for a kind with a
    /// payload, an empty one: see [`buffer_len_with`](Self::buffer_len_with)).
    pub fn buffer_len(&self, authenticated: bool) -> usize {
        self.buffer_len_with(&Payload::EMPTY, authenticated)
    }

    /// Encoded length with `payload` (ignored for the kinds without one).
    pub fn buffer_len_with(&self, payload: &Payload, authenticated: bool) -> usize {
        let addrs: usize = self.addrs.iter().map(address::encoded_len).sum();
        let payload = if self.kind.has_payload() {
            payload.buffer_len()
        } else {
            0
        };
        HEADER_LEN + addrs + payload + if authenticated { TRAILER_LEN } else { 0 }
    }

    /// Encodes the message into `buf`, signed with `keys`' signing key when given.
    /// Returns the number of bytes written; a buffer shorter than
    /// [`buffer_len`](Self::buffer_len) is an error and nothing is written. A kind with a
    /// payload gets an empty one ([`emit_with`](Self::emit_with) gives it one).
    ///
    /// The interval is written in whole milliseconds, clamped to `1..=MAX_INTERVAL_MS`.
    pub fn emit(&self, buf: &mut [u8], keys: Option<&Keyring>) -> Result<usize, EmitError> {
        self.emit_with(&Payload::EMPTY, buf, keys)
    }

    /// As [`emit`](Self::emit), with `payload` after the addresses: required to be
    /// [`Payload::EMPTY`] for ANNOUNCE and LEAVE, to have a target for PING-REQ and none
    /// for the other kinds ([`EmitError::BadPayload`] otherwise; nothing is written).
    pub fn emit_with(
        &self,
        payload: &Payload,
        buf: &mut [u8],
        keys: Option<&Keyring>,
    ) -> Result<usize, EmitError> {
        let fits = if self.kind.has_payload() {
            payload.target.is_some() == (self.kind == MessageKind::PingReq)
        } else {
            *payload == Payload::EMPTY
        };
        if !fits {
            return Err(EmitError::BadPayload);
        }
        let needed = self.buffer_len_with(payload, keys.is_some());
        let out = buf
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed })?;
        let body_len = self.write_body(payload, out)?;
        seal(out, body_len, keys)
    }

    /// Writes header, addresses and payload (no trailer, AUTH flag clear) at the start of
    /// `out`; returns their length.
    pub(super) fn write_body(&self, payload: &Payload, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.buffer_len_with(payload, false);
        let too_small = EmitError::BufferTooSmall { needed: len };
        let (header, mut rest) = out.split_first_chunk_mut::<HEADER_LEN>().ok_or(too_small)?;
        *header = self.header();
        for addr in &self.addrs {
            let written = address::encode(addr, rest).ok_or(too_small)?;
            rest = rest.get_mut(written..).ok_or(too_small)?;
        }
        if self.kind.has_payload() {
            payload.write(rest).ok_or(too_small)?;
        }
        Ok(len)
    }

    /// The fixed header, AUTH flag clear.
    fn header(&self) -> [u8; HEADER_LEN] {
        let mut flags = 0;
        if self.join {
            flags |= FLAG_JOIN;
        }
        if self.gateway {
            flags |= FLAG_GATEWAY;
        }
        if self.unicast {
            flags |= FLAG_UNICAST;
        }
        let interval = self
            .interval
            .total_millis()
            .clamp(1, u64::from(MAX_INTERVAL_MS)) as u32;
        let relayer = self.relayer.map_or(0, NodeId::get);
        let mut h = [0u8; HEADER_LEN];
        h[field::MAGIC].copy_from_slice(&MAGIC);
        h[field::VERSION] = VERSION;
        h[field::KIND] = self.kind.code();
        h[field::FLAGS] = flags;
        h[field::HOPS] = self.hops;
        h[field::RELAYER].copy_from_slice(&relayer.to_be_bytes());
        h[field::ORIGIN].copy_from_slice(&self.origin.get().to_be_bytes());
        h[field::ADDR_COUNT] = self.addrs.len() as u8;
        h[field::RESERVED] = 0;
        h[field::INCARNATION].copy_from_slice(&self.incarnation.to_be_bytes());
        h[field::SEQUENCE].copy_from_slice(&self.sequence.to_be_bytes());
        h[field::INTERVAL].copy_from_slice(&interval.to_be_bytes());
        h
    }
}
