//! Node identity: [`NodeId`], the openMosix node number 1..=65535.
//!
//! openMosix numbers a node by the last two octets of its IPv4 address
//! (`192.168.10.220` → `10 * 256 + 220 = 2780`); for IPv6 we take the last two bytes.
//! Zero is not a valid node number.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::num::NonZeroU16;

/// An openMosix node number, 1..=65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(NonZeroU16);

/// Why an address or number cannot be a node id (a pure check: nothing changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NodeIdError {
    /// The number is 0 (an address ending in `.0.0`, or an explicit 0).
    Zero,
}

impl fmt::Display for NodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeIdError::Zero => f.write_str(
                "node id 0 is invalid (the address ends in .0.0); choose another address or set the id explicitly",
            ),
        }
    }
}

impl core::error::Error for NodeIdError {}

impl NodeId {
    /// The smallest node id, 1.
    pub const MIN: NodeId = NodeId(NonZeroU16::MIN);

    /// The id `n`, or `None` for 0.
    pub const fn new(n: u16) -> Option<NodeId> {
        match NonZeroU16::new(n) {
            Some(n) => Some(NodeId(n)),
            None => None,
        }
    }

    /// The id as a number.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The id of the node with IPv4 address `addr`: its last two octets.
    pub const fn from_ipv4(addr: Ipv4Addr) -> Result<NodeId, NodeIdError> {
        let o = addr.octets();
        match NodeId::new(u16::from_be_bytes([o[2], o[3]])) {
            Some(id) => Ok(id),
            None => Err(NodeIdError::Zero),
        }
    }

    /// The id of the node with IPv6 address `addr`: its last two bytes.
    pub const fn from_ipv6(addr: Ipv6Addr) -> Result<NodeId, NodeIdError> {
        let o = addr.octets();
        match NodeId::new(u16::from_be_bytes([o[14], o[15]])) {
            Some(id) => Ok(id),
            None => Err(NodeIdError::Zero),
        }
    }

    /// The id of the node with address `addr`.
    pub const fn from_ip(addr: IpAddr) -> Result<NodeId, NodeIdError> {
        match addr {
            IpAddr::V4(a) => NodeId::from_ipv4(a),
            IpAddr::V6(a) => NodeId::from_ipv6(a),
        }
    }
}

impl From<NodeId> for u16 {
    fn from(id: NodeId) -> u16 {
        id.get()
    }
}

impl TryFrom<u16> for NodeId {
    type Error = NodeIdError;
    fn try_from(n: u16) -> Result<NodeId, NodeIdError> {
        NodeId::new(n).ok_or(NodeIdError::Zero)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NodeId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u16}", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_id_is_last_two_octets() {
        let id = NodeId::from_ipv4(Ipv4Addr::new(192, 168, 10, 220)).unwrap();
        assert_eq!(id.get(), 2780);
    }

    #[test]
    fn ipv6_id_is_last_two_bytes() {
        let addr: Ipv6Addr = "fd00::a:dc".parse().unwrap();
        assert_eq!(NodeId::from_ipv6(addr).unwrap().get(), 220);
        let addr: Ipv6Addr = "fd00::1:0a:dc".parse().unwrap();
        assert_eq!(NodeId::from_ipv6(addr).unwrap().get(), 220);
        let addr: Ipv6Addr = "fd00::0adc".parse().unwrap();
        assert_eq!(NodeId::from_ipv6(addr).unwrap().get(), 2780);
    }

    #[test]
    fn address_ending_in_zero_zero_is_rejected() {
        assert_eq!(
            NodeId::from_ipv4(Ipv4Addr::new(10, 1, 0, 0)),
            Err(NodeIdError::Zero)
        );
        assert_eq!(NodeId::try_from(0), Err(NodeIdError::Zero));
        assert_eq!(NodeId::try_from(65535).map(u16::from), Ok(65535));
    }
}
