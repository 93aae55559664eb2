//! Node addresses and interface indices: what a node is reachable at, and through which of
//! its interfaces.
//!
//! A node has up to [`MAX_ADDRS`] addresses. Each is *primary* (the node's address on the
//! network the announcement was sent on) or an *alias* (an address on another of its
//! networks — a gateway's other legs), and names the sender's interface it belongs to.

use core::fmt;
use core::net::IpAddr;

/// Most addresses one node carries (the original's limit of six interfaces).
pub const MAX_ADDRS: usize = 6;

/// Most interfaces one node drives.
pub const MAX_IFACES: usize = 6;

/// An address list with the fixed capacity [`MAX_ADDRS`] (its length kept in one byte).
pub type AddrList = heapless::Vec<NodeAddr, MAX_ADDRS, u8>;

/// Index of one of this node's interfaces, `0..MAX_IFACES`, in the order the frontend
/// configured them (index 0 is the first `-i` interface).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IfaceId(u8);

impl IfaceId {
    /// The first interface, index 0.
    pub const FIRST: IfaceId = IfaceId(0);

    /// The interface at `index`, or `None` if `index >= MAX_IFACES`.
    pub const fn new(index: usize) -> Option<IfaceId> {
        if index < MAX_IFACES {
            Some(IfaceId(index as u8))
        } else {
            None
        }
    }

    /// The index, `0..MAX_IFACES`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// This interface's bit in an interface bitmask.
    pub(crate) const fn bit(self) -> u8 {
        1 << self.0
    }
}

impl fmt::Display for IfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "if{}", self.0)
    }
}

/// Whether an address is the node's address on the announcing network or an extra one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddrRole {
    /// The node's address on the network the announcement was sent on.
    Primary,
    /// An address on another network (setpe's `ALIAS` lines).
    Alias,
}

/// One address of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeAddr {
    /// The address.
    pub ip: IpAddr,
    /// Primary or alias.
    pub role: AddrRole,
    /// The interface of the *owning* node this address sits on.
    pub iface: IfaceId,
}

impl NodeAddr {
    /// A primary address on interface `iface`.
    pub const fn primary(ip: IpAddr, iface: IfaceId) -> NodeAddr {
        NodeAddr {
            ip,
            role: AddrRole::Primary,
            iface,
        }
    }

    /// An alias address on interface `iface`.
    pub const fn alias(ip: IpAddr, iface: IfaceId) -> NodeAddr {
        NodeAddr {
            ip,
            role: AddrRole::Alias,
            iface,
        }
    }
}

/// Whether two address lists share an address, i.e. describe the same host.
pub(crate) fn shares_address(a: &[NodeAddr], b: &[NodeAddr]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.ip == y.ip))
}

/// Whether `list` contains `ip`.
pub(crate) fn contains_ip(list: &[NodeAddr], ip: IpAddr) -> bool {
    list.iter().any(|a| a.ip == ip)
}

/// The lowest address of a list (IPv4 sorts before IPv6), the tie-breaker for node-id
/// collisions. `None` for an empty list.
pub(crate) fn lowest_ip(list: &[NodeAddr]) -> Option<IpAddr> {
    list.iter().map(|a| a.ip).min()
}

/// The address to show in a setpe map: the first primary IPv4 address, else the first
/// IPv4 address, else the first address.
pub(crate) fn display_ip(list: &[NodeAddr]) -> Option<IpAddr> {
    list.iter()
        .find(|a| a.role == AddrRole::Primary && a.ip.is_ipv4())
        .or_else(|| list.iter().find(|a| a.ip.is_ipv4()))
        .or_else(|| list.first())
        .map(|a| a.ip)
}

/// Whether `ip` can be a node's unicast address (not unspecified, multicast or broadcast).
pub fn is_node_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
    }

    #[test]
    fn iface_ids_are_bounded() {
        assert_eq!(IfaceId::new(5).map(IfaceId::index), Some(5));
        assert_eq!(IfaceId::new(6), None);
        assert_eq!(IfaceId::new(3).unwrap().bit(), 0b1000);
    }

    #[test]
    fn lists_share_an_address_when_any_ip_matches() {
        let i = IfaceId::default();
        let a = [NodeAddr::primary(v4(1), i), NodeAddr::alias(v4(2), i)];
        let b = [NodeAddr::primary(v4(2), i)];
        let c = [NodeAddr::primary(v4(3), i)];
        assert!(shares_address(&a, &b));
        assert!(!shares_address(&a, &c));
        assert_eq!(lowest_ip(&a), Some(v4(1)));
    }

    #[test]
    fn display_ip_prefers_primary_ipv4() {
        let i = IfaceId::default();
        let six = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let list = [
            NodeAddr::primary(six, i),
            NodeAddr::alias(v4(9), i),
            NodeAddr::primary(v4(7), i),
        ];
        assert_eq!(display_ip(&list), Some(v4(7)));
        assert_eq!(display_ip(&list[..2]), Some(v4(9)));
        assert_eq!(display_ip(&list[..1]), Some(six));
    }

    #[test]
    fn multicast_and_unspecified_are_not_node_addresses() {
        assert!(!is_node_address(IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1))));
        assert!(!is_node_address(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert!(!is_node_address(IpAddr::V4(Ipv4Addr::BROADCAST)));
        assert!(is_node_address(v4(1)));
    }
}
