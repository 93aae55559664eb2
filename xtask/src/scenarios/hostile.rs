//! Hostile datagrams for the flood scenario, made with the real codec of `omdisc-core`:
//! random bytes, and every class of malformed, unauthenticated or misdirected message the
//! receive path must refuse. Some are signed with the cluster key on purpose (an insider's
//! mistakes must be refused by the field checks that follow the MAC, not only by the MAC).

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::testing::Rng;
use omdisc_core::wire::{MAC_LEN, TRAILER_LEN};
use omdisc_core::{ClusterKey, Duration, Keyring, Message, NodeId, MAX_DATAGRAM_LEN};

/// Byte offsets of the fixed header (docs/protocol.md).
const VERSION: usize = 2;
const KIND: usize = 3;
const HOPS: usize = 5;
const RELAYER: usize = 6;
const ORIGIN: usize = 8;
const ADDR_COUNT: usize = 10;

/// Longest datagram the flood sends (no IP fragmentation on a 1500-byte link).
const LONGEST: usize = 1400;

/// Who the hostile datagrams speak of and with which keys.
#[derive(Debug, Clone)]
pub(super) struct Cast {
    /// The cluster's key (an insider's).
    pub(super) cluster: Keyring,
    /// A key the cluster does not know.
    pub(super) wrong: Keyring,
    /// A member of the cluster, impersonated: its id and address.
    pub(super) member: (u16, Ipv4Addr),
    /// The flooder itself: its id and address (the source of every datagram).
    pub(super) flooder: (u16, Ipv4Addr),
    /// The receivers' hop limit.
    pub(super) hop_limit: u8,
}

impl Cast {
    /// A cast with keys from their hex form.
    pub(super) fn new(
        cluster_key: &str,
        wrong_key: &str,
        member: (u16, Ipv4Addr),
        flooder: (u16, Ipv4Addr),
        hop_limit: u8,
    ) -> Result<Cast, String> {
        let ring = |hex: &str| {
            ClusterKey::from_hex(hex)
                .map(Keyring::new)
                .map_err(|e| format!("test key: {e}"))
        };
        Ok(Cast {
            cluster: ring(cluster_key)?,
            wrong: ring(wrong_key)?,
            member,
            flooder,
            hop_limit,
        })
    }
}

/// One class of hostile datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Hostile {
    /// Random bytes, 0 to 153 bytes long (never longer than a valid datagram).
    Random,
    /// A valid signed announcement cut short.
    Truncated,
    /// A valid signed announcement padded past the longest valid datagram.
    Oversize,
    /// Protocol version other than 1.
    WrongVersion,
    /// Message kind other than ANNOUNCE and LEAVE.
    WrongKind,
    /// Address count over six.
    TooManyAddresses,
    /// Node id 0, signed with the cluster key.
    ZeroNodeId,
    /// A member's id and address, signed with the cluster key, sent from the flooder's
    /// address (a spoofed claim).
    MemberImpersonated,
    /// A member's id at the flooder's address, signed with an unknown key.
    MemberIdAtOwnAddress,
    /// Relayed more often than the hop limit allows, signed with the cluster key.
    OverHopLimit,
    /// A well-formed announcement of the flooder without a MAC.
    Unsigned,
    /// The flooder's announcement with a MAC that does not verify.
    BadMac,
    /// The flooder's announcement signed with an unknown key.
    WrongKey,
}

impl Hostile {
    /// Every class, in the order the flood cycles through them.
    pub(super) const ALL: [Hostile; 13] = [
        Hostile::Random,
        Hostile::Truncated,
        Hostile::Oversize,
        Hostile::WrongVersion,
        Hostile::WrongKind,
        Hostile::TooManyAddresses,
        Hostile::ZeroNodeId,
        Hostile::MemberImpersonated,
        Hostile::MemberIdAtOwnAddress,
        Hostile::OverHopLimit,
        Hostile::Unsigned,
        Hostile::BadMac,
        Hostile::WrongKey,
    ];

    /// The daemon counter (a name of omdisc-std's counters) that a refusal of this class
    /// increments.
    pub(super) fn counter(self) -> &'static str {
        match self {
            Hostile::Random
            | Hostile::Truncated
            | Hostile::WrongVersion
            | Hostile::WrongKind
            | Hostile::TooManyAddresses
            | Hostile::ZeroNodeId => "refused-malformed",
            Hostile::Oversize => "refused-oversize",
            Hostile::MemberImpersonated => "refused-spoofed",
            Hostile::OverHopLimit => "refused-hop-limit",
            Hostile::MemberIdAtOwnAddress
            | Hostile::Unsigned
            | Hostile::BadMac
            | Hostile::WrongKey => "refused-auth",
        }
    }

    /// A datagram of this class.
    pub(super) fn make(self, cast: &Cast, rng: &mut Rng) -> Vec<u8> {
        let (own_id, own_ip) = cast.flooder;
        let (member_id, member_ip) = cast.member;
        let fresh = |rng: &mut Rng| (rng.next_u64() | 1, rng.next_u64() as u32);
        match self {
            Hostile::Random => {
                let len = rng.below(MAX_DATAGRAM_LEN as u64 + 1) as usize;
                (0..len).map(|_| rng.next_u64() as u8).collect()
            }
            Hostile::Truncated => {
                let full = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                let len = rng.below(full.len() as u64) as usize;
                full[..len].to_vec()
            }
            Hostile::Oversize => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                let len = rng.between(MAX_DATAGRAM_LEN as u64 + 1, LONGEST as u64) as usize;
                bytes.resize(len, 0);
                bytes
            }
            Hostile::WrongVersion => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                bytes[VERSION] = [0u8, 2, 7, 255][rng.below(4) as usize];
                bytes
            }
            Hostile::WrongKind => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                bytes[KIND] = [0u8, 3, 9, 255][rng.below(4) as usize];
                bytes
            }
            Hostile::TooManyAddresses => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                bytes[ADDR_COUNT] = rng.between(7, 255) as u8;
                bytes
            }
            Hostile::ZeroNodeId => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                bytes[ORIGIN..ORIGIN + 2].copy_from_slice(&[0, 0]);
                resign(&mut bytes, &cast.cluster);
                bytes
            }
            Hostile::MemberImpersonated => signed(member_id, member_ip, fresh(rng), &cast.cluster),
            Hostile::MemberIdAtOwnAddress => signed(member_id, own_ip, fresh(rng), &cast.wrong),
            Hostile::OverHopLimit => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                let hops = rng.between(u64::from(cast.hop_limit) + 1, 255) as u8;
                bytes[HOPS] = hops;
                bytes[RELAYER..RELAYER + 2].copy_from_slice(&member_id.to_be_bytes());
                resign(&mut bytes, &cast.cluster);
                bytes
            }
            Hostile::Unsigned => encode(&announcement(own_id, own_ip, fresh(rng)), None),
            Hostile::BadMac => {
                let mut bytes = signed(own_id, own_ip, fresh(rng), &cast.cluster);
                let at = bytes.len() - 1 - rng.below(MAC_LEN as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
                bytes
            }
            Hostile::WrongKey => signed(own_id, own_ip, fresh(rng), &cast.wrong),
        }
    }
}

/// An announcement of node `id` at `ip` with `(incarnation, sequence)`.
pub(super) fn announcement(id: u16, ip: Ipv4Addr, (incarnation, sequence): (u64, u32)) -> Message {
    omdisc_core::testing::plain_announcement(
        // Ids of the cast are never 0; 1 stands in should one be.
        NodeId::new(id).unwrap_or(NodeId::MIN),
        IpAddr::V4(ip),
        incarnation,
        sequence,
        Duration::from_millis(500),
    )
}

/// `message` as a datagram, signed with `keys` if any.
pub(super) fn encode(message: &Message, keys: Option<&Keyring>) -> Vec<u8> {
    let mut buffer = [0u8; MAX_DATAGRAM_LEN];
    let len = message.emit(&mut buffer, keys).unwrap_or(0);
    buffer[..len].to_vec()
}

fn signed(id: u16, ip: Ipv4Addr, round: (u64, u32), keys: &Keyring) -> Vec<u8> {
    encode(&announcement(id, ip, round), Some(keys))
}

/// Signs `datagram` again after its header was changed: the key id and the MAC over
/// everything before the MAC (docs/protocol.md, authentication trailer).
pub(super) fn resign(datagram: &mut [u8], keys: &Keyring) {
    let key_id = keys.signing_key().id();
    let Some(mac_at) = datagram.len().checked_sub(MAC_LEN) else {
        return;
    };
    if datagram.len() < TRAILER_LEN {
        return;
    }
    datagram[mac_at - 1] = key_id;
    let mac = keys.mac(&datagram[..mac_at]);
    datagram[mac_at..].copy_from_slice(&mac);
}

#[cfg(test)]
mod tests {
    use super::*;
    use omdisc_core::WireError;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn cast() -> Cast {
        Cast::new(
            KEY,
            OTHER,
            (11, Ipv4Addr::new(10, 0, 0, 11)),
            (99, Ipv4Addr::new(10, 0, 0, 99)),
            4,
        )
        .unwrap()
    }

    /// What a keyed receiver's codec says about each class (the engine's own checks, hop
    /// limit and source address, come after parsing).
    #[test]
    fn every_class_is_refused_for_the_reason_its_counter_names() {
        let cast = cast();
        let mut rng = Rng::new(7);
        for class in Hostile::ALL {
            for _ in 0..200 {
                let bytes = class.make(&cast, &mut rng);
                let parsed = Message::decode(&bytes, Some(&cast.cluster));
                match class.counter() {
                    "refused-oversize" => assert!(bytes.len() > MAX_DATAGRAM_LEN),
                    "refused-auth" => {
                        assert!(
                            matches!(parsed, Err(e) if e.is_auth_failure()),
                            "{class:?}: {parsed:?}"
                        )
                    }
                    "refused-malformed" => {
                        assert!(
                            matches!(parsed, Err(e) if !e.is_auth_failure()),
                            "{class:?}: {parsed:?}"
                        )
                    }
                    "refused-spoofed" => {
                        let msg = parsed.unwrap();
                        assert_eq!((msg.origin.get(), msg.hops), (11, 0));
                    }
                    "refused-hop-limit" => assert!(parsed.unwrap().hops > 4),
                    other => panic!("unknown counter {other}"),
                }
            }
        }
    }

    #[test]
    fn resigning_a_changed_header_verifies_again() {
        let cast = cast();
        let mut bytes = signed(99, Ipv4Addr::new(10, 0, 0, 99), (5, 6), &cast.cluster);
        bytes[ORIGIN + 1] = 98;
        assert_eq!(
            Message::decode(&bytes, Some(&cast.cluster)),
            Err(WireError::BadMac)
        );
        resign(&mut bytes, &cast.cluster);
        assert_eq!(
            Message::decode(&bytes, Some(&cast.cluster)).map(|m| m.origin.get()),
            Ok(98)
        );
    }
}
