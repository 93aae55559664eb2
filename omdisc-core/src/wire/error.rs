//! Errors of the wire codec: why a datagram was refused, why a message could not be written.

use core::fmt;

/// Why a datagram was refused. Decoding checks every length and field and changes nothing;
/// any violation is one of these, never a panic and never a read past the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than its header or than the lengths it announces.
    Truncated,
    /// Longer than the lengths it announces.
    TrailingBytes,
    /// Does not start with the omdisc magic bytes.
    BadMagic,
    /// A protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// A message kind this version does not define.
    UnknownKind(u8),
    /// Flag bits that this version reserves are set.
    ReservedFlags(u8),
    /// A reserved byte or bit is not zero.
    ReservedNonZero,
    /// The origin node id is 0.
    ZeroNodeId,
    /// Hop count and relayer disagree (hops > 0 needs a relayer, hops == 0 forbids one),
    /// or the relayer claims to be the origin.
    BadRelayer,
    /// More than six addresses.
    TooManyAddresses(u8),
    /// An announcement without any primary address.
    NoPrimaryAddress,
    /// An address family code other than IPv4 (4) or IPv6 (6).
    UnknownFamily(u8),
    /// An address that cannot be a node's (unspecified, multicast, broadcast).
    BadAddress,
    /// The same address twice.
    DuplicateAddress,
    /// An interface index of 6 or more.
    BadInterface(u8),
    /// An announce interval of 0 or longer than a day.
    BadInterval(u32),
    /// This node requires authentication and the message carries none.
    MissingAuth,
    /// The message's key id matches none of our keys.
    UnknownKey(u8),
    /// The message authentication code does not verify.
    BadMac,
    /// A PING-REQ without a target, or another kind with one.
    BadTarget,
    /// More gossip entries than [`MAX_GOSSIP_ENTRIES`](crate::wire::MAX_GOSSIP_ENTRIES).
    TooManyEntries(u8),
    /// A gossip entry's member state other than alive (1), suspect (2), dead (3) or left (4).
    UnknownMemberState(u8),
    /// A port of 0 in a payload address.
    BadPort,
}

impl WireError {
    /// A stable name for the error, as used in the shared test vectors.
    pub const fn name(&self) -> &'static str {
        match self {
            WireError::Truncated => "Truncated",
            WireError::TrailingBytes => "TrailingBytes",
            WireError::BadMagic => "BadMagic",
            WireError::UnsupportedVersion(_) => "UnsupportedVersion",
            WireError::UnknownKind(_) => "UnknownKind",
            WireError::ReservedFlags(_) => "ReservedFlags",
            WireError::ReservedNonZero => "ReservedNonZero",
            WireError::ZeroNodeId => "ZeroNodeId",
            WireError::BadRelayer => "BadRelayer",
            WireError::TooManyAddresses(_) => "TooManyAddresses",
            WireError::NoPrimaryAddress => "NoPrimaryAddress",
            WireError::UnknownFamily(_) => "UnknownFamily",
            WireError::BadAddress => "BadAddress",
            WireError::DuplicateAddress => "DuplicateAddress",
            WireError::BadInterface(_) => "BadInterface",
            WireError::BadInterval(_) => "BadInterval",
            WireError::MissingAuth => "MissingAuth",
            WireError::UnknownKey(_) => "UnknownKey",
            WireError::BadMac => "BadMac",
            WireError::BadTarget => "BadTarget",
            WireError::TooManyEntries(_) => "TooManyEntries",
            WireError::UnknownMemberState(_) => "UnknownMemberState",
            WireError::BadPort => "BadPort",
        }
    }

    /// Whether the datagram failed authentication (as opposed to being malformed).
    pub const fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            WireError::MissingAuth | WireError::UnknownKey(_) | WireError::BadMac
        )
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("datagram is truncated"),
            WireError::TrailingBytes => f.write_str("datagram has trailing bytes"),
            WireError::BadMagic => f.write_str("not an omdisc datagram (bad magic)"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            WireError::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            WireError::ReservedFlags(b) => write!(f, "reserved flag bits set ({b:#04x})"),
            WireError::ReservedNonZero => f.write_str("reserved field is not zero"),
            WireError::ZeroNodeId => f.write_str("node id 0 is invalid"),
            WireError::BadRelayer => f.write_str("hop count and relayer disagree"),
            WireError::TooManyAddresses(n) => write!(f, "{n} addresses (at most 6)"),
            WireError::NoPrimaryAddress => f.write_str("announcement has no primary address"),
            WireError::UnknownFamily(c) => write!(f, "unknown address family {c}"),
            WireError::BadAddress => f.write_str("address cannot belong to a node"),
            WireError::DuplicateAddress => f.write_str("address listed twice"),
            WireError::BadInterface(i) => write!(f, "interface index {i} (at most 5)"),
            WireError::BadInterval(ms) => write!(f, "announce interval {ms} ms out of range"),
            WireError::MissingAuth => f.write_str("message is not authenticated"),
            WireError::UnknownKey(id) => write!(f, "message signed with unknown key id {id}"),
            WireError::BadMac => f.write_str("message authentication failed"),
            WireError::BadTarget => {
                f.write_str("probe target missing from a PING-REQ or present in another kind")
            }
            WireError::TooManyEntries(n) => write!(f, "{n} gossip entries (at most 6)"),
            WireError::UnknownMemberState(s) => write!(f, "unknown member state {s}"),
            WireError::BadPort => f.write_str("port 0 in an address"),
        }
    }
}

impl core::error::Error for WireError {}

/// Why a message could not be encoded: nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EmitError {
    /// The caller's buffer holds fewer than `needed` bytes.
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
    },
    /// A payload for a kind that has none, or a PING-REQ without a target (or another kind
    /// with one).
    BadPayload,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: message needs {needed} bytes")
            }
            EmitError::BadPayload => f.write_str("payload does not fit the message kind"),
        }
    }
}

impl core::error::Error for EmitError {}
