//! Engine scenarios decoded from fuzz input: the engine's setup, then a sequence of steps
//! (deliver a datagram, let time pass, start, leave, change keys, change an interface's
//! addresses, resume a link).
//!
//! Decoding reads one byte at a time from an [`arbitrary::Unstructured`] (an exhausted input
//! reads as zeros), so every input is a valid scenario and the layout is simple enough for
//! [`encode_setup`] and [`encode_raw_delivery`] to write seed scenarios byte for byte.
//!
//! Datagrams come in four forms, so that the engine's deeper states are reached as well as
//! its decoder: raw bytes, *built* messages (well-formed messages with fields drawn from
//! small pools, so that node ids, addresses, incarnations and sequence numbers repeat and
//! collide), replays of earlier datagrams (including the engine's own), and replays with
//! one byte flipped.
//!
//! Setup layout (4 bytes):
//!
//! ```text
//! byte 0  bits 0-1 interfaces - 1 (3 reads as 1) | bit 2 routed | bits 3-4 key
//!         | bit 5 drain only on Drain steps | bit 6 start later | bit 7 clock near the end
//! byte 1  bits 0-1 interval | bits 2-3 dead-after - 1 (3 reads as 1) | bits 4-6 hop limit (mod 5)
//!         | bit 7 isolated (no relaying; unless routed)
//! byte 2  bits 0-1 bandwidth | bits 2-3 tombstone lifetime | bit 4 id from the address
//! byte 3  jitter seed
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use omdisc_core::AddrList;
use omdisc_core::{Forwarding, IfaceId, Message, MessageKind, NodeAddr, NodeId};

/// Most steps one scenario runs (the rest of a longer input is ignored).
pub const MAX_STEPS: usize = 512;

/// Which keys the engine (or a message's signer) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// Unauthenticated.
    None,
    /// The shared test vectors' key ([`crate::keys::vector_keyring`]).
    Vector,
    /// An unrelated key ([`crate::keys::other_keyring`]).
    Other,
    /// Sign with the other key, verify with both ([`crate::keys::rolling_keyring`]).
    Rolling,
}

impl KeyChoice {
    fn from_bits(bits: u8) -> KeyChoice {
        match bits & 3 {
            0 => KeyChoice::None,
            1 => KeyChoice::Vector,
            2 => KeyChoice::Other,
            _ => KeyChoice::Rolling,
        }
    }

    fn bits(self) -> u8 {
        match self {
            KeyChoice::None => 0,
            KeyChoice::Vector => 1,
            KeyChoice::Other => 2,
            KeyChoice::Rolling => 3,
        }
    }

    /// The keyring, if any.
    pub fn keyring(self) -> Option<&'static omdisc_core::Keyring> {
        match self {
            KeyChoice::None => None,
            KeyChoice::Vector => Some(crate::keys::vector_keyring()),
            KeyChoice::Other => Some(crate::keys::other_keyring()),
            KeyChoice::Rolling => Some(crate::keys::rolling_keyring()),
        }
    }
}

/// How the engine under test is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Interfaces, 1 to 3 (addresses `10.0.0.1`, `10.1.0.1`, `fd00::1`).
    pub interfaces: usize,
    /// Relaying between the interfaces, multicast routing (only the first interface is
    /// active), or neither (isolated: every interface active, nothing relayed).
    pub forwarding: Forwarding,
    /// The engine's keys at the start.
    pub keys: KeyChoice,
    /// Drain transmits and events only on [`Step::Drain`] (lets the relay queue fill up).
    pub lazy_drain: bool,
    /// Leave the engine idle until a [`Step::Start`].
    pub start_later: bool,
    /// The clock starts at this many milliseconds (0, or close to `u64::MAX`).
    pub clock_start: u64,
    /// Minimum announce interval in milliseconds.
    pub interval_ms: u64,
    /// Missed intervals before expiry, 1 to 3.
    pub dead_after: u16,
    /// Hop limit, 0 to 4.
    pub hop_limit: u8,
    /// Announce bandwidth budget (0 = none).
    pub bandwidth: u32,
    /// Tombstone lifetime in milliseconds.
    pub tombstone_ms: u64,
    /// Seed of the engine's timer jitter.
    pub seed: u64,
    /// The node id follows the first serving address (`IdSource::Address`) instead of
    /// being fixed.
    pub id_from_address: bool,
}

/// Where a delivered datagram claims to come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The first address the datagram claims (so the anti-spoofing check passes), or
    /// `10.0.0.2` if it does not decode.
    Claimed,
    /// This address.
    Address(IpAddr),
}

/// A datagram to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// These bytes.
    Raw(Vec<u8>),
    /// This message, encoded and signed with these keys.
    Built(Message, KeyChoice),
    /// The `n`-th most recent datagram sent or received (modulo the history length).
    Replay(u8),
    /// A replay with the byte at `at` (modulo the length) XORed with `xor`.
    Flipped {
        /// Which earlier datagram.
        replay: u8,
        /// Byte position.
        at: u8,
        /// Bits to flip.
        xor: u8,
    },
}

/// How far the clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// To the engine's next deadline (`poll_timeout`), if it has one.
    ToDeadline,
    /// By this many milliseconds.
    By(u64),
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Advance the clock by `advance` ms, then deliver `payload` on interface `iface`.
    Datagram {
        /// Milliseconds to advance first.
        advance: u64,
        /// Ingress interface (may be one the engine does not have, or an inactive one).
        iface: IfaceId,
        /// Source address.
        source: Source,
        /// The datagram.
        payload: Payload,
    },
    /// Advance the clock and call `handle_timeout`.
    Timeout(Advance),
    /// Call `start`.
    Start,
    /// Call `leave`.
    Leave,
    /// Replace the engine's keys.
    Rekey(KeyChoice),
    /// Drain transmits and events (every step does when the setup is not lazy).
    Drain,
    /// Give interface `iface` these addresses (`Engine::set_addresses`): drawn from the
    /// pool (so they collide with the peers' and with the other interfaces'), possibly none,
    /// more than fit, or ones no node can have; `iface` may not exist.
    SetAddresses {
        /// The interface.
        iface: IfaceId,
        /// Its new addresses, primary first.
        addrs: Vec<IpAddr>,
    },
    /// Interface `iface`'s link is back up (`Engine::interface_resumed`).
    Resumed(IfaceId),
}

/// A decoded scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The engine's configuration.
    pub setup: Setup,
    /// What happens to it, in order.
    pub steps: Vec<Step>,
}

/// Step codes (first byte of a step, modulo [`STEP_CODES`]).
const STEP_DATAGRAM: u8 = 0;
const STEP_TIMEOUT: u8 = 1;
const STEP_START: u8 = 2;
const STEP_LEAVE: u8 = 3;
const STEP_REKEY: u8 = 4;
const STEP_DRAIN: u8 = 5;
const STEP_ADDRESSES: u8 = 6;
const STEP_RESUMED: u8 = 7;
const STEP_CODES: u8 = STEP_RESUMED + 1;
/// Address bytes from this value on stand for addresses no node can have.
const BAD_ADDRESS_FROM: u8 = 0xf8;
/// Payload codes (modulo [`PAYLOAD_CODES`]); built messages are twice as likely.
const PAYLOAD_RAW: u8 = 0;
const PAYLOAD_CODES: u8 = 5;
/// Source code for [`Source::Claimed`] (modulo [`SOURCE_CODES`]).
const SOURCE_CLAIMED: u8 = 0;
const SOURCE_CODES: u8 = 4;

impl Scenario {
    /// Decodes a scenario from `data` (every input is one).
    pub fn decode(data: &[u8]) -> Scenario {
        let mut u = Unstructured::new(data);
        let setup = decode_setup(&mut u);
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            steps.push(decode_step(&mut u));
        }
        Scenario { setup, steps }
    }
}

/// One input byte (0 once the input is exhausted).
fn byte(u: &mut Unstructured<'_>) -> u8 {
    u8::arbitrary(u).unwrap_or(0)
}

fn decode_setup(u: &mut Unstructured<'_>) -> Setup {
    let [b0, b1, b2, b3] = [byte(u), byte(u), byte(u), byte(u)];
    Setup {
        interfaces: match b0 & 3 {
            3 => 1,
            n => usize::from(n) + 1,
        },
        forwarding: match (b0 & 0x04 != 0, b1 & 0x80 != 0) {
            (true, _) => Forwarding::Routed,
            (false, true) => Forwarding::Isolated,
            (false, false) => Forwarding::Relay,
        },
        keys: KeyChoice::from_bits(b0 >> 3),
        lazy_drain: b0 & 0x20 != 0,
        start_later: b0 & 0x40 != 0,
        clock_start: if b0 & 0x80 != 0 {
            u64::MAX - 100_000
        } else {
            0
        },
        interval_ms: [10, 100, 1_000, 60_000][usize::from(b1 & 3)],
        dead_after: match (b1 >> 2) & 3 {
            3 => 1,
            n => u16::from(n) + 1,
        },
        hop_limit: ((b1 >> 4) & 7) % 5,
        bandwidth: [0, 2_000, omdisc_core::DEFAULT_BANDWIDTH, 0][usize::from(b2 & 3)],
        tombstone_ms: [0, 1_000, 600_000, 60_000][usize::from((b2 >> 2) & 3)],
        seed: u64::from(b3),
        id_from_address: b2 & 0x10 != 0,
    }
}

fn decode_step(u: &mut Unstructured<'_>) -> Step {
    match byte(u) % STEP_CODES {
        STEP_DATAGRAM => {
            let advance = decode_millis(byte(u));
            let iface = IfaceId::new(usize::from(byte(u) % 6)).unwrap_or_default();
            let source = decode_source(u);
            let payload = decode_payload(u);
            Step::Datagram {
                advance,
                iface,
                source,
                payload,
            }
        }
        STEP_TIMEOUT => match byte(u) {
            0..=127 => Step::Timeout(Advance::ToDeadline),
            b => Step::Timeout(Advance::By(decode_millis(b))),
        },
        STEP_START => Step::Start,
        STEP_LEAVE => Step::Leave,
        STEP_REKEY => Step::Rekey(KeyChoice::from_bits(byte(u))),
        STEP_ADDRESSES => {
            let iface = decode_local_iface(u);
            let count = byte(u) % 8;
            let addrs = (0..count).map(|_| decode_local_address(byte(u))).collect();
            Step::SetAddresses { iface, addrs }
        }
        STEP_DRAIN => Step::Drain,
        // STEP_RESUMED
        _ => Step::Resumed(decode_local_iface(u)),
    }
}

/// One of the engine's interfaces (at most three), or a fourth that it never has.
fn decode_local_iface(u: &mut Unstructured<'_>) -> IfaceId {
    IfaceId::new(usize::from(byte(u) % 4)).unwrap_or_default()
}

/// An address from the pool, or (from [`BAD_ADDRESS_FROM`] on) one that no node can have.
fn decode_local_address(b: u8) -> IpAddr {
    match b.checked_sub(BAD_ADDRESS_FROM) {
        None => pool_address(b),
        Some(0) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(1) => IpAddr::V4(Ipv4Addr::BROADCAST),
        Some(2) => IpAddr::V4(Ipv4Addr::new(239, 255, 77, 77)),
        Some(3) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some(4) => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
        Some(5) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
        Some(6) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// The bytes of a step that gives interface `iface` (0 to 3) the pool addresses `pool`
/// (bytes for [`pool_address`], at most seven).
pub fn encode_set_addresses(iface: u8, pool: &[u8]) -> Vec<u8> {
    let mut out = vec![STEP_ADDRESSES, iface, pool.len() as u8];
    out.extend_from_slice(pool);
    out
}

/// Milliseconds from one byte: the low 6 bits times 1 ms, 10 ms, 100 ms or 10 s.
fn decode_millis(b: u8) -> u64 {
    let scale = [1, 10, 100, 10_000][usize::from(b >> 6)];
    u64::from(b & 63) * scale
}

fn decode_source(u: &mut Unstructured<'_>) -> Source {
    match byte(u) % SOURCE_CODES {
        SOURCE_CLAIMED => Source::Claimed,
        1 => Source::Address(pool_address(byte(u))),
        2 => Source::Address(IpAddr::V4(Ipv4Addr::new(
            byte(u),
            byte(u),
            byte(u),
            byte(u),
        ))),
        _ => Source::Address(IpAddr::V6(Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0,
            0,
            0,
            u16::from(byte(u) % 8 + 1),
        ))),
    }
}

/// An address from a small pool: host 1 to 8 on `10.0.0.0/24`, `10.1.0.0/24` or
/// `fd00::/64` (host 1 is the engine's own).
pub fn pool_address(b: u8) -> IpAddr {
    let host = b % 8 + 1;
    match (b >> 3) % 3 {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        1 => IpAddr::V4(Ipv4Addr::new(10, 1, 0, host)),
        _ => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(host))),
    }
}

fn decode_payload(u: &mut Unstructured<'_>) -> Payload {
    match byte(u) % PAYLOAD_CODES {
        PAYLOAD_RAW => {
            let len = usize::from(byte(u)).min(u.len());
            let bytes = u.bytes(len).map(<[u8]>::to_vec).unwrap_or_default();
            Payload::Raw(bytes)
        }
        1 | 2 => {
            let msg = decode_message(u);
            Payload::Built(msg, KeyChoice::from_bits(byte(u)))
        }
        3 => Payload::Replay(byte(u)),
        _ => Payload::Flipped {
            replay: byte(u),
            at: byte(u),
            xor: byte(u),
        },
    }
}

/// A well-formed-looking message whose fields come from small pools.
fn decode_message(u: &mut Unstructured<'_>) -> Message {
    let flags = byte(u);
    let origin = match byte(u) {
        b @ 0..=239 => NodeId::new(u16::from(b % 8 + 1)),
        _ => NodeId::new(u16::from_be_bytes([byte(u), byte(u)])),
    }
    .unwrap_or(NodeId::MIN);
    let hops = byte(u) % 6;
    let relayer = match byte(u) {
        0 => None,
        b => NodeId::new(u16::from(b % 8 + 1)),
    };
    let incarnation = [0, 1, 2, 7, u64::MAX][usize::from(byte(u) % 5)];
    let sequence = [0, 1, 2, 3, u32::MAX - 1, u32::MAX][usize::from(byte(u) % 6)];
    let interval_ms = [1, 10, 1_000, 86_400_000][usize::from(byte(u) % 4)];
    let mut addrs = AddrList::new();
    for _ in 0..byte(u) % 7 {
        let a = byte(u);
        let iface = IfaceId::new(usize::from(byte(u) % 6)).unwrap_or_default();
        let ip = pool_address(a);
        let addr = if a & 0x80 != 0 {
            NodeAddr::alias(ip, iface)
        } else {
            NodeAddr::primary(ip, iface)
        };
        // At most six iterations: always fits.
        let _ = addrs.push(addr);
    }
    Message {
        kind: if flags & 1 != 0 {
            MessageKind::Leave
        } else {
            MessageKind::Announce
        },
        join: flags & 2 != 0,
        unicast: false,
        gateway: flags & 4 != 0,
        hops,
        relayer,
        origin,
        incarnation,
        sequence,
        interval: omdisc_core::Duration::from_millis(interval_ms),
        addrs,
    }
}

/// The setup bytes of a one-interface, relaying engine with keys `keys`, started at once
/// with a 1 s interval, dead after 2 intervals, hop limit 4, eager draining, and the clock
/// at 0.
pub fn encode_setup(keys: KeyChoice) -> Vec<u8> {
    vec![keys.bits() << 3, 0b0100_0110, 0b0000_1010, 42]
}

/// The bytes of a step that advances the clock by `advance_ms` (at most 630 ms, a multiple
/// of 10 ms beyond 63 ms) and delivers `datagram` (at most 255 bytes) on interface 0 from
/// the address it claims.
pub fn encode_raw_delivery(advance_ms: u64, datagram: &[u8]) -> Option<Vec<u8>> {
    let advance = match advance_ms {
        0..=63 => advance_ms as u8,
        _ if advance_ms.is_multiple_of(10) && advance_ms / 10 <= 63 => {
            0x40 | (advance_ms / 10) as u8
        }
        _ => return None,
    };
    let len = u8::try_from(datagram.len()).ok()?;
    let mut out = vec![STEP_DATAGRAM, advance, 0, SOURCE_CLAIMED, PAYLOAD_RAW, len];
    out.extend_from_slice(datagram);
    Some(out)
}

/// The bytes of a step that jumps to the engine's next deadline.
pub fn encode_timeout_to_deadline() -> Vec<u8> {
    vec![STEP_TIMEOUT, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_seed_steps_decode_to_the_same_scenario() {
        let mut data = encode_setup(KeyChoice::Vector);
        data.extend(encode_raw_delivery(630, b"OM\x01").unwrap());
        data.extend(encode_timeout_to_deadline());
        data.extend(encode_raw_delivery(5, &[]).unwrap());
        let scenario = Scenario::decode(&data);
        assert_eq!(scenario.setup.keys, KeyChoice::Vector);
        assert_eq!(scenario.setup.interfaces, 1);
        assert!(scenario.setup.forwarding == Forwarding::Relay && !scenario.setup.lazy_drain);
        assert!(!scenario.setup.start_later);
        assert_eq!(scenario.setup.interval_ms, 1_000);
        assert_eq!(scenario.setup.hop_limit, 4);
        assert_eq!(scenario.setup.clock_start, 0);
        let deliver = |advance, bytes: &[u8]| Step::Datagram {
            advance,
            iface: IfaceId::FIRST,
            source: Source::Claimed,
            payload: Payload::Raw(bytes.to_vec()),
        };
        assert_eq!(
            scenario.steps,
            [
                deliver(630, b"OM\x01"),
                Step::Timeout(Advance::ToDeadline),
                deliver(5, &[]),
            ]
        );
    }

    #[test]
    fn delays_that_one_byte_cannot_express_are_refused() {
        assert!(encode_raw_delivery(64, &[]).is_none());
        assert!(encode_raw_delivery(640, &[]).is_none());
        assert!(encode_raw_delivery(0, &[0; 256]).is_none());
    }

    #[test]
    fn every_input_is_a_scenario_and_long_ones_are_cut() {
        assert!(Scenario::decode(&[]).steps.is_empty());
        let long = vec![STEP_DRAIN; 4 + 2 * MAX_STEPS];
        assert_eq!(Scenario::decode(&long).steps.len(), MAX_STEPS);
    }

    #[test]
    fn address_steps_decode_with_bad_addresses_and_a_missing_interface() {
        let mut data = encode_setup(KeyChoice::None);
        data.extend(encode_set_addresses(1, &[9, BAD_ADDRESS_FROM]));
        data.extend([STEP_RESUMED, 3, STEP_ADDRESSES, 7, 0]);
        let scenario = Scenario::decode(&data);
        assert!(!scenario.setup.id_from_address);
        assert_eq!(
            scenario.steps,
            [
                Step::SetAddresses {
                    iface: IfaceId::new(1).unwrap(),
                    addrs: vec![
                        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)),
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    ],
                },
                Step::Resumed(IfaceId::new(3).unwrap()),
                Step::SetAddresses {
                    iface: IfaceId::new(3).unwrap(),
                    addrs: vec![],
                },
            ]
        );
    }

    #[test]
    fn pool_addresses_cover_both_families_and_the_engine_itself() {
        assert_eq!(pool_address(0), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(pool_address(8 + 7), IpAddr::V4(Ipv4Addr::new(10, 1, 0, 8)));
        assert!(pool_address(16).is_ipv6());
    }
}
