//! [`Packet`], the checked view over a received datagram, its [`Verified`] form, and the
//! write side they share with [`Message::emit`]: sealing (flag and trailer) and relaying in
//! place.

use core::ops::Deref;

use super::{
    address, field, EmitError, Keyring, Message, MessageKind, Payload, WireError, FLAGS_KNOWN,
    FLAG_AUTH, FLAG_GATEWAY, FLAG_JOIN, FLAG_UNICAST, HEADER_LEN, MAGIC, MAX_ADDRS_LEN,
    MAX_INTERVAL_MS, TRAILER_LEN, VERSION,
};
use crate::addr::{AddrList, AddrRole, NodeAddr, MAX_ADDRS};
use crate::id::NodeId;
use crate::time::Duration;

/// A datagram whose structure [`Packet::new_checked`] has validated: lengths first, then
/// every field (kind, flags, reserved bits, hop count and relayer, origin, interval, each
/// address). Every accessor returns a value version 1 defines and none can panic.
///
/// The MAC is not checked yet: use the fields to drop what cannot matter, then
/// [`verify`](Self::verify) before acting on the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Packet<'a> {
    bytes: &'a [u8],
    header: &'a [u8; HEADER_LEN],
    /// Header and addresses: everything but the trailer.
    body: &'a [u8],
    kind: MessageKind,
    origin: NodeId,
    addrs: AddrList,
}

impl<'a> Packet<'a> {
    /// Checks `datagram` — cheapest first: header and lengths, then the fields — and
    /// returns the view. Without a trailer the datagram ends right after its addresses;
    /// with the AUTH flag, exactly [`TRAILER_LEN`] bytes follow them.
    pub fn new_checked(datagram: &'a [u8]) -> Result<Packet<'a>, WireError> {
        let (header, rest) = datagram
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(WireError::Truncated)?;
        if header[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if header[field::VERSION] != VERSION {
            return Err(WireError::UnsupportedVersion(header[field::VERSION]));
        }
        let kind = MessageKind::from_code(header[field::KIND])?;
        let flags = header[field::FLAGS];
        if flags & !FLAGS_KNOWN != 0 {
            return Err(WireError::ReservedFlags(flags & !FLAGS_KNOWN));
        }
        if header[field::RESERVED] != 0 {
            return Err(WireError::ReservedNonZero);
        }
        let count = header[field::ADDR_COUNT];
        if usize::from(count) > MAX_ADDRS {
            return Err(WireError::TooManyAddresses(count));
        }

        // Lengths: walk the address tags (at most six) to find where the body ends.
        let mut addrs_len = 0usize;
        for _ in 0..count {
            let tag = *rest.get(addrs_len).ok_or(WireError::Truncated)?;
            addrs_len = addrs_len.saturating_add(address::entry_len(tag)?);
        }
        // The unicast kinds' payload follows the addresses: checked whole here.
        let payload_len = if kind.has_payload() {
            let after = rest.get(addrs_len..).ok_or(WireError::Truncated)?;
            Payload::decode(kind, after)?.1
        } else {
            0
        };
        let trailer = if flags & FLAG_AUTH != 0 {
            TRAILER_LEN
        } else {
            0
        };
        let addrs_len = addrs_len.saturating_add(payload_len);
        let total = HEADER_LEN + addrs_len.saturating_add(trailer);
        if datagram.len() < total {
            return Err(WireError::Truncated);
        }
        if datagram.len() > total {
            return Err(WireError::TrailingBytes);
        }
        let body = datagram
            .get(..HEADER_LEN + addrs_len)
            .ok_or(WireError::Truncated)?;

        // Fields.
        let origin = NodeId::new(u16::from_be_bytes(header_array(header, field::ORIGIN)))
            .ok_or(WireError::ZeroNodeId)?;
        let hops = header[field::HOPS];
        let relayer = NodeId::new(u16::from_be_bytes(header_array(header, field::RELAYER)));
        match (hops, relayer) {
            (0, None) => {}
            (0, Some(_)) | (_, None) => return Err(WireError::BadRelayer),
            (_, Some(r)) if r == origin => return Err(WireError::BadRelayer),
            (_, Some(_)) => {}
        }
        let interval = u32::from_be_bytes(header_array(header, field::INTERVAL));
        if interval == 0 || interval > MAX_INTERVAL_MS {
            return Err(WireError::BadInterval(interval));
        }
        let mut addrs = AddrList::new();
        if kind.has_payload() && hops != 0 {
            // The unicast kinds are never relayed.
            return Err(WireError::BadRelayer);
        }
        let mut entries = body.get(HEADER_LEN..).ok_or(WireError::Truncated)?;
        for _ in 0..count {
            let (addr, len) = address::decode(entries)?;
            if addrs.iter().any(|a: &NodeAddr| a.ip == addr.ip) {
                return Err(WireError::DuplicateAddress);
            }
            addrs
                .push(addr)
                .map_err(|_| WireError::TooManyAddresses(count))?;
            entries = entries.get(len..).ok_or(WireError::Truncated)?;
        }
        if kind != MessageKind::Leave && !addrs.iter().any(|a| a.role == AddrRole::Primary) {
            return Err(WireError::NoPrimaryAddress);
        }
        Ok(Packet {
            bytes: datagram,
            header,
            body,
            kind,
            origin,
            addrs,
        })
    }

    /// Checks the MAC with `keys`, or, for a cluster that runs without a key (`None`),
    /// nothing (a trailer, if present, is not looked at). Constant time in the MAC.
    pub fn verify(self, keys: Option<&Keyring>) -> Result<Verified<'a>, WireError> {
        if let Some(keys) = keys {
            if !self.is_authenticated() {
                return Err(WireError::MissingAuth);
            }
            keys.verify(self.bytes)?;
        }
        Ok(Verified(self))
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always `false`: a checked datagram holds at least a header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Header and addresses: everything before the trailer.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Announce or leave.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The JOIN flag: the sender has just started and asks for quick answers.
    pub fn join(&self) -> bool {
        self.header[field::FLAGS] & FLAG_JOIN != 0
    }

    /// The GATEWAY flag: the sender relays between networks.
    pub fn gateway(&self) -> bool {
        self.header[field::FLAGS] & FLAG_GATEWAY != 0
    }

    /// The UNICAST flag: this copy was sent to one node, not to the group.
    pub fn unicast(&self) -> bool {
        self.header[field::FLAGS] & FLAG_UNICAST != 0
    }

    /// The AUTH flag: an authentication trailer follows the addresses.
    pub fn is_authenticated(&self) -> bool {
        self.header[field::FLAGS] & FLAG_AUTH != 0
    }

    /// How many gateways relayed the message.
    pub fn hops(&self) -> u8 {
        self.header[field::HOPS]
    }

    /// The last gateway that relayed it (`None` iff `hops() == 0`).
    pub fn relayer(&self) -> Option<NodeId> {
        NodeId::new(u16::from_be_bytes(header_array(
            self.header,
            field::RELAYER,
        )))
    }

    /// The node the message is about.
    pub fn origin(&self) -> NodeId {
        self.origin
    }

    /// The origin's incarnation.
    pub fn incarnation(&self) -> u64 {
        u64::from_be_bytes(header_array(self.header, field::INCARNATION))
    }

    /// The round's sequence number.
    pub fn sequence(&self) -> u32 {
        u32::from_be_bytes(header_array(self.header, field::SEQUENCE))
    }

    /// The origin's announce interval (1 ms to one day).
    pub fn interval(&self) -> Duration {
        let ms = u32::from_be_bytes(header_array(self.header, field::INTERVAL));
        Duration::from_millis(u64::from(ms))
    }

    /// The origin's addresses.
    pub fn addrs(&self) -> &[NodeAddr] {
        &self.addrs
    }

    pub(super) fn addr_list(&self) -> &AddrList {
        &self.addrs
    }

    /// The payload of a PING, ACK, PING-REQ or GOSSIP ([`Payload::EMPTY`] for the other
    /// kinds). Decoded again from the checked bytes: O(payload length).
    pub fn payload(&self) -> Payload {
        if !self.kind.has_payload() {
            return Payload::EMPTY;
        }
        let addrs_len: usize = self.addrs.iter().map(address::encoded_len).sum();
        self.body
            .get(HEADER_LEN + addrs_len..)
            .and_then(|bytes| Payload::decode(self.kind, bytes).ok())
            .map_or(Payload::EMPTY, |(payload, _)| payload)
    }
}

/// A [`Packet`] whose MAC [`Packet::verify`] checked (or that a cluster without a key
/// takes as it is): the only thing a [`Message`] is parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verified<'a>(Packet<'a>);

impl<'a> Deref for Verified<'a> {
    type Target = Packet<'a>;
    fn deref(&self) -> &Packet<'a> {
        &self.0
    }
}

/// The bytes at `range` of a header (a constant range of the right length).
fn header_array<const N: usize>(
    header: &[u8; HEADER_LEN],
    range: core::ops::Range<usize>,
) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(header.iter().skip(range.start)) {
        *o = *b;
    }
    out
}

/// Sets `out[..body_len]` (a header and addresses) up as a datagram: the AUTH flag set and
/// the trailer written after the body when `keys` is given, the flag cleared otherwise.
/// Returns the datagram's length.
pub(super) fn seal(
    out: &mut [u8],
    body_len: usize,
    keys: Option<&Keyring>,
) -> Result<usize, EmitError> {
    let len = body_len + if keys.is_some() { TRAILER_LEN } else { 0 };
    let too_small = EmitError::BufferTooSmall { needed: len };
    let datagram = out.get_mut(..len).ok_or(too_small)?;
    let (body, trailer) = datagram.split_at_mut_checked(body_len).ok_or(too_small)?;
    let header = body.first_chunk_mut::<HEADER_LEN>().ok_or(too_small)?;
    match keys {
        Some(keys) => {
            header[field::FLAGS] |= FLAG_AUTH;
            let trailer: &mut [u8; TRAILER_LEN] = trailer.try_into().map_err(|_| too_small)?;
            keys.sign(body, trailer);
        }
        None => header[field::FLAGS] &= !FLAG_AUTH,
    }
    Ok(len)
}

/// Longest body: header and six IPv6 addresses.
const MAX_BODY_LEN: usize = HEADER_LEN + MAX_ADDRS_LEN;

/// The body of a datagram a gateway forwards (header and addresses, no trailer): a copy of
/// a verified datagram with one more hop and this node as the relayer, or a message this
/// node sends on another's behalf. Sealed — signed with the keys in use then, or not — when
/// it goes out.
#[derive(Clone, Debug)]
pub(crate) struct RelayBody {
    bytes: [u8; MAX_BODY_LEN],
    len: u8,
}

impl RelayBody {
    /// `packet` relayed by `relayer`: the hop count one higher, the relayer replaced, every
    /// other byte as received.
    pub(crate) fn relayed(packet: &Verified<'_>, relayer: NodeId) -> Option<RelayBody> {
        let body = packet.body();
        let mut bytes = [0u8; MAX_BODY_LEN];
        bytes.get_mut(..body.len())?.copy_from_slice(body);
        bytes[field::HOPS] = packet.hops().saturating_add(1);
        bytes[field::RELAYER].copy_from_slice(&relayer.get().to_be_bytes());
        Some(RelayBody {
            bytes,
            len: u8::try_from(body.len()).ok()?,
        })
    }

    /// The body of `message`.
    pub(crate) fn of_message(message: &Message) -> Result<RelayBody, EmitError> {
        let mut bytes = [0u8; MAX_BODY_LEN];
        let len = message.write_body(&Payload::EMPTY, &mut bytes)?;
        let needed = EmitError::BufferTooSmall { needed: len };
        Ok(RelayBody {
            bytes,
            len: u8::try_from(len).map_err(|_| needed)?,
        })
    }

    /// Writes the datagram into `out`, signed with `keys` when given; returns its length.
    pub(crate) fn emit(&self, out: &mut [u8], keys: Option<&Keyring>) -> Result<usize, EmitError> {
        let len = usize::from(self.len);
        let total = len + if keys.is_some() { TRAILER_LEN } else { 0 };
        let too_small = EmitError::BufferTooSmall { needed: total };
        let body = self.bytes.get(..len).ok_or(too_small)?;
        let out = out.get_mut(..total).ok_or(too_small)?;
        out.get_mut(..len).ok_or(too_small)?.copy_from_slice(body);
        seal(out, len, keys)
    }
}
