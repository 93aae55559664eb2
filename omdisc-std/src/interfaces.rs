//! Network interfaces of this host: the [`Interface`] record, listing them once
//! (`getifaddrs`, for tools; the daemon follows them through [`crate::netlink`]), and the
//! source address of the route to the group (or, unicast-only, to a seed), which names the
//! daemon's interface when `-i` is absent.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};

use crate::values::InterfaceName;

/// One network interface and its addresses, in the kernel's order (primary address first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name, e.g. `eth0`.
    pub name: String,
    /// Kernel interface index (`ifindex`), never 0.
    pub index: u32,
    /// IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 addresses (link-local ones included).
    pub ipv6: Vec<Ipv6Addr>,
    /// `IFF_UP`.
    pub is_up: bool,
    /// `IFF_MULTICAST`.
    pub supports_multicast: bool,
}

impl Interface {
    /// The interface's primary address of the family of `group`: the first IPv4 address,
    /// or the first IPv6 address that is not link-local (else the first one).
    pub fn primary_address_for(&self, group: IpAddr) -> Option<IpAddr> {
        match group {
            IpAddr::V4(_) => self.ipv4.first().copied().map(IpAddr::V4),
            IpAddr::V6(_) => self
                .ipv6
                .iter()
                .find(|a| !is_link_local_v6(a))
                .or_else(|| self.ipv6.first())
                .copied()
                .map(IpAddr::V6),
        }
    }

    /// All addresses, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self.ipv4.iter().copied().map(IpAddr::V4);
        v4.chain(self.ipv6.iter().copied().map(IpAddr::V6))
    }
}

/// Whether `addr` is in `fe80::/10` (IPv6 link-local).
pub fn is_link_local_v6(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Why an interface cannot be used. `Display` is one line.
#[derive(Debug)]
pub enum InterfaceError {
    /// `getifaddrs` failed.
    List(io::Error),
    /// No interface of that name.
    Unknown(String),
    /// The interface has no address of the group's family.
    NoAddress {
        /// Interface name.
        name: String,
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
    },
    /// The interface is down.
    Down(String),
    /// The interface cannot do multicast (no `IFF_MULTICAST`).
    NoMulticast(String),
    /// No `-i` and the kernel has no route to the group.
    NoRoute(IpAddr),
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceError::List(e) => write!(f, "cannot list network interfaces: {e}"),
            InterfaceError::Unknown(name) => write!(f, "unknown interface {name:?}"),
            InterfaceError::NoAddress { name, family } => {
                write!(f, "interface {name:?} has no {family} address")
            }
            InterfaceError::Down(name) => write!(f, "interface {name:?} is down"),
            InterfaceError::NoMulticast(name) => {
                write!(f, "interface {name:?} does not support multicast")
            }
            InterfaceError::NoRoute(group) => write!(
                f,
                "no route to the multicast group {group} (no default route): name an interface with -i"
            ),
        }
    }
}

impl std::error::Error for InterfaceError {}

/// Lists every interface with its addresses.
pub fn list_interfaces() -> Result<Vec<Interface>, InterfaceError> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let entries = getifaddrs().map_err(|e| InterfaceError::List(e.into()))?;
    for entry in entries {
        let position = match interfaces
            .iter()
            .position(|i| i.name == entry.interface_name)
        {
            Some(position) => position,
            None => {
                // An interface can vanish between getifaddrs and this call: skip it.
                let Ok(index) = if_nametoindex(entry.interface_name.as_str()) else {
                    continue;
                };
                interfaces.push(Interface {
                    name: entry.interface_name.clone(),
                    index,
                    ipv4: Vec::new(),
                    ipv6: Vec::new(),
                    is_up: entry.flags.contains(InterfaceFlags::IFF_UP),
                    supports_multicast: entry.flags.contains(InterfaceFlags::IFF_MULTICAST),
                });
                interfaces.len() - 1
            }
        };
        let interface = &mut interfaces[position];
        if let Some(address) = entry.address {
            if let Some(v4) = address.as_sockaddr_in() {
                interface.ipv4.push(v4.ip());
            } else if let Some(v6) = address.as_sockaddr_in6() {
                interface.ipv6.push(v6.ip());
            }
        }
    }
    Ok(interfaces)
}

/// Resolves `-i` names to interfaces that can carry `group`: each must exist, be up, do
/// multicast and have an address of the group's family.
pub fn resolve(names: &[InterfaceName], group: IpAddr) -> Result<Vec<Interface>, InterfaceError> {
    let all = list_interfaces()?;
    names
        .iter()
        .map(|name| {
            let interface = all
                .iter()
                .find(|i| i.name == name.as_str())
                .ok_or_else(|| InterfaceError::Unknown(name.to_string()))?;
            check_usable(interface, group)?;
            Ok(interface.clone())
        })
        .collect()
}

/// The source address the kernel would use to send to `group` (a UDP socket connected to
/// it; connecting sends nothing): the route to the group, or [`InterfaceError::NoRoute`].
pub fn route_source_address(group: IpAddr, port: u16) -> Result<IpAddr, InterfaceError> {
    route_source(SocketAddr::new(group, port)).ok_or(InterfaceError::NoRoute(group))
}

/// The source address of the route to the first of `destinations` the kernel has a route
/// to, if any (see [`route_source_address`]).
pub fn first_route_source(destinations: &[SocketAddr]) -> Option<IpAddr> {
    destinations.iter().copied().find_map(route_source)
}

/// The source address the kernel would use to send to `destination`, if it has a route.
fn route_source(destination: SocketAddr) -> Option<IpAddr> {
    let unspecified: IpAddr = match destination {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).ok()?;
    socket.connect(destination).ok()?;
    let source = socket.local_addr().ok()?.ip();
    (!source.is_unspecified()).then_some(source)
}

fn check_usable(interface: &Interface, group: IpAddr) -> Result<(), InterfaceError> {
    if !interface.is_up {
        return Err(InterfaceError::Down(interface.name.clone()));
    }
    if !interface.supports_multicast {
        return Err(InterfaceError::NoMulticast(interface.name.clone()));
    }
    if interface.primary_address_for(group).is_none() {
        let family = if group.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(InterfaceError::NoAddress {
            name: interface.name.clone(),
            family,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(239, 255, 77, 77));

    #[test]
    fn loopback_is_listed_with_its_address() {
        let all = list_interfaces().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo exists");
        assert!(lo.index > 0);
        assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST) || !lo.is_up);
    }

    #[test]
    fn unknown_interface_is_named_in_the_error() {
        let err = resolve(&[InterfaceName::new("nosuchif0").unwrap()], GROUP_V4).unwrap_err();
        assert!(matches!(err, InterfaceError::Unknown(_)));
        assert_eq!(err.to_string(), "unknown interface \"nosuchif0\"");
    }

    #[test]
    fn interface_without_family_address_is_rejected() {
        let interface = Interface {
            name: "veth9".into(),
            index: 9,
            ipv4: Vec::new(),
            ipv6: vec!["fe80::1".parse().unwrap()],
            is_up: true,
            supports_multicast: true,
        };
        let err = check_usable(&interface, GROUP_V4).unwrap_err();
        assert_eq!(err.to_string(), "interface \"veth9\" has no IPv4 address");
        assert!(check_usable(&interface, "ff02::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn ipv6_primary_address_prefers_a_routable_one() {
        let mut interface = Interface {
            name: "veth9".into(),
            index: 9,
            ipv4: Vec::new(),
            ipv6: vec!["fe80::1".parse().unwrap(), "fd00::7".parse().unwrap()],
            is_up: true,
            supports_multicast: true,
        };
        let group: IpAddr = "ff05::4d".parse().unwrap();
        let routable: IpAddr = "fd00::7".parse().unwrap();
        assert_eq!(interface.primary_address_for(group), Some(routable));
        interface.ipv6.truncate(1);
        let link_local: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(interface.primary_address_for(group), Some(link_local));
    }

    #[test]
    fn down_and_non_multicast_interfaces_are_rejected() {
        let mut interface = Interface {
            name: "veth9".into(),
            index: 9,
            ipv4: vec![Ipv4Addr::new(10, 0, 0, 1)],
            ipv6: Vec::new(),
            is_up: false,
            supports_multicast: true,
        };
        assert!(matches!(
            check_usable(&interface, GROUP_V4),
            Err(InterfaceError::Down(_))
        ));
        interface.is_up = true;
        interface.supports_multicast = false;
        assert!(matches!(
            check_usable(&interface, GROUP_V4),
            Err(InterfaceError::NoMulticast(_))
        ));
    }

    #[test]
    fn errors_are_one_line() {
        let errors = [
            InterfaceError::NoRoute(GROUP_V4),
            InterfaceError::Down("x".into()),
        ];
        for error in errors {
            assert!(!error.to_string().contains('\n'));
        }
    }
}
