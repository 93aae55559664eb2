//! [`SetupError`]: why a [`Node`](crate::Node) could not be set up.

use core::fmt;

use omdisc_core::ConfigError;
use smoltcp::iface::MulticastError;
use smoltcp::phy::Medium;
use smoltcp::socket::udp::BindError;
use smoltcp::wire::IpAddress;

/// Why [`Node::new`](crate::Node::new) refused its settings or its device. Nothing was
/// sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The settings list no IP address.
    NoAddress,
    /// The group is not a multicast address.
    NotMulticast(IpAddress),
    /// The interface has no address of the group's family to send from.
    NoAddressForGroup(IpAddress),
    /// The device is not an Ethernet device.
    UnsupportedMedium(Medium),
    /// The device's MTU cannot carry the largest datagram.
    MtuTooSmall {
        /// What the device reports.
        mtu: usize,
        /// What the largest datagram needs.
        needed: usize,
    },
    /// The engine refused its configuration.
    Engine(ConfigError),
    /// smoltcp could not join the group.
    Join(MulticastError),
    /// smoltcp could not bind the UDP port.
    Bind(BindError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::NoAddress => f.write_str("the node has no IP address"),
            SetupError::NotMulticast(group) => {
                write!(f, "group {group} is not a multicast address")
            }
            SetupError::NoAddressForGroup(group) => write!(
                f,
                "the node has no address of the same family as group {group} to send from"
            ),
            SetupError::UnsupportedMedium(medium) => {
                write!(f, "the device's medium is {medium:?}; only Ethernet is supported")
            }
            SetupError::MtuTooSmall { mtu, needed } => write!(
                f,
                "the device's MTU of {mtu} bytes is below the {needed} bytes the largest announcement needs"
            ),
            SetupError::Engine(e) => write!(f, "engine configuration refused: {e}"),
            SetupError::Join(e) => write!(f, "cannot join the multicast group: {e}"),
            SetupError::Bind(e) => write!(f, "cannot bind the UDP port: {e}"),
        }
    }
}

impl SetupError {
    /// What went wrong in one line without the values: for an image that links no
    /// `core::fmt` formatting of addresses.
    pub fn summary(&self) -> &'static str {
        match self {
            SetupError::NoAddress => "node not set up: no address",
            SetupError::NotMulticast(_) => "node not set up: the group is not multicast",
            SetupError::NoAddressForGroup(_) => "node not set up: no address of the group's family",
            SetupError::UnsupportedMedium(_) => "node not set up: the NIC is not Ethernet",
            SetupError::MtuTooSmall { .. } => "node not set up: the NIC's MTU is too small",
            SetupError::Engine(_) => "node not set up: the engine refused its configuration",
            SetupError::Join(_) => "node not set up: cannot join the group",
            SetupError::Bind(_) => "node not set up: cannot bind the port",
        }
    }
}

impl core::error::Error for SetupError {}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Engine(e)
    }
}
