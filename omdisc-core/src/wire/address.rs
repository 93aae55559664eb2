//! Encoding of one node address: `tag, interface, 4 or 16 address bytes`.
//!
//! Shared by the wire messages and the binary map file (`om_config`), so both describe
//! addresses identically.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use crate::addr::{AddrRole, IfaceId, NodeAddr};

/// Family code of an IPv4 address (low nibble of the tag).
pub(crate) const FAMILY_IPV4: u8 = 4;
/// Family code of an IPv6 address (low nibble of the tag).
pub(crate) const FAMILY_IPV6: u8 = 6;
/// Tag bit marking an alias address.
pub(crate) const TAG_ALIAS: u8 = 0x80;
/// Tag bits that must be zero.
const TAG_RESERVED: u8 = 0x70;
/// Length of an IPv4 entry: tag, interface, 4 address bytes.
pub(crate) const IPV4_ENTRY_LEN: usize = 2 + 4;
/// Length of an IPv6 entry: tag, interface, 16 address bytes.
pub(crate) const IPV6_ENTRY_LEN: usize = 2 + 16;

/// Encoded length of an address entry whose tag byte is `tag`.
pub(crate) fn entry_len(tag: u8) -> Result<usize, WireError> {
    match tag & 0x0f {
        FAMILY_IPV4 => Ok(IPV4_ENTRY_LEN),
        FAMILY_IPV6 => Ok(IPV6_ENTRY_LEN),
        other => Err(WireError::UnknownFamily(other)),
    }
}

/// Encoded length of `addr`.
pub(crate) const fn encoded_len(addr: &NodeAddr) -> usize {
    match addr.ip {
        IpAddr::V4(_) => IPV4_ENTRY_LEN,
        IpAddr::V6(_) => IPV6_ENTRY_LEN,
    }
}

/// Decodes the entry at the start of `buf`; returns it and its length.
pub(crate) fn decode(buf: &[u8]) -> Result<(NodeAddr, usize), WireError> {
    let tag = *buf.first().ok_or(WireError::Truncated)?;
    if tag & TAG_RESERVED != 0 {
        return Err(WireError::ReservedNonZero);
    }
    let len = entry_len(tag)?;
    let entry = buf.get(..len).ok_or(WireError::Truncated)?;
    let iface_byte = *entry.get(1).ok_or(WireError::Truncated)?;
    let iface = IfaceId::new(usize::from(iface_byte)).ok_or(WireError::BadInterface(iface_byte))?;
    let bytes = entry.get(2..).ok_or(WireError::Truncated)?;
    let ip = if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(b))
    } else if let Ok(b) = <[u8; 16]>::try_from(bytes) {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        return Err(WireError::Truncated);
    };
    if !crate::addr::is_node_address(ip) {
        return Err(WireError::BadAddress);
    }
    let role = if tag & TAG_ALIAS != 0 {
        AddrRole::Alias
    } else {
        AddrRole::Primary
    };
    Ok((NodeAddr { ip, role, iface }, len))
}

/// Writes `addr` at the start of `buf`; returns the bytes written, or `None` (and writes
/// nothing) if `buf` is shorter than the entry.
pub(crate) fn encode(addr: &NodeAddr, buf: &mut [u8]) -> Option<usize> {
    let tag = match addr.role {
        AddrRole::Primary => 0,
        AddrRole::Alias => TAG_ALIAS,
    };
    let iface = addr.iface.index() as u8;
    match addr.ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            let out = buf.first_chunk_mut::<IPV4_ENTRY_LEN>()?;
            *out = [FAMILY_IPV4 | tag, iface, a, b, c, d];
            Some(IPV4_ENTRY_LEN)
        }
        IpAddr::V6(v6) => {
            let out = buf.first_chunk_mut::<IPV6_ENTRY_LEN>()?;
            let (head, ip) = out.split_at_mut(2);
            head.copy_from_slice(&[FAMILY_IPV6 | tag, iface]);
            ip.copy_from_slice(&v6.octets());
            Some(IPV6_ENTRY_LEN)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_alias_round_trips() {
        let a = NodeAddr::alias(
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            IfaceId::new(2).unwrap(),
        );
        let mut buf = [0u8; 18];
        assert_eq!(encode(&a, &mut buf), Some(6));
        assert_eq!(&buf[..6], &[0x84, 2, 10, 1, 2, 3]);
        assert_eq!(decode(&buf[..6]), Ok((a, 6)));
    }

    #[test]
    fn ipv6_primary_round_trips() {
        let a = NodeAddr::primary("fd00::1".parse().unwrap(), IfaceId::new(0).unwrap());
        let mut buf = [0u8; 18];
        assert_eq!(encode(&a, &mut buf), Some(18));
        assert_eq!(buf[0], 6);
        assert_eq!(decode(&buf), Ok((a, 18)));
    }

    #[test]
    fn bad_entries_are_rejected() {
        assert_eq!(decode(&[]), Err(WireError::Truncated));
        assert_eq!(decode(&[4, 0, 10, 0, 0]), Err(WireError::Truncated));
        assert_eq!(
            decode(&[5, 0, 10, 0, 0, 1]),
            Err(WireError::UnknownFamily(5))
        );
        assert_eq!(
            decode(&[0x14, 0, 10, 0, 0, 1]),
            Err(WireError::ReservedNonZero)
        );
        assert_eq!(
            decode(&[4, 6, 10, 0, 0, 1]),
            Err(WireError::BadInterface(6))
        );
        assert_eq!(decode(&[4, 0, 239, 0, 0, 1]), Err(WireError::BadAddress));
        assert_eq!(decode(&[4, 0, 10, 0, 0, 1]).map(|(_, n)| n), Ok(6));
    }

    #[test]
    fn encode_refuses_short_buffer() {
        let a = NodeAddr::primary("fd00::1".parse().unwrap(), IfaceId::default());
        assert_eq!(encode(&a, &mut [0u8; 17]), None);
    }
}
