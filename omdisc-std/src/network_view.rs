//! What the daemon knows of this host's network: every interface by kernel index (`ifindex`),
//! its flags and its usable addresses, kept up to date from rtnetlink ([`crate::netlink`]).
//!
//! Interfaces are keyed by index, not by name: a deleted interface takes its multicast
//! memberships with it, and one created again under the same name gets a new index, so a
//! changed index means "join again". Addresses the kernel cannot use yet (IPv6 tentative,
//! DAD failed) are left out until they become usable.
//!
//! A full re-read (after a lost notification, `ENOBUFS`) marks every entry with the new
//! [`Generation`] as the dump reports it; [`NetworkView::drop_unseen_links`] and
//! [`NetworkView::drop_unseen_addresses`] then remove what the dump did not list.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::interfaces::Interface;

/// Numbers the full re-reads of the kernel's state; entries remember the last one that saw
/// them.
pub type Generation = u64;

/// One change reported by the kernel (a notification or a line of a dump).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkUpdate {
    /// An interface exists with these properties (new, or changed).
    Link(LinkUpdate),
    /// Interface `index` was deleted (with its addresses).
    LinkGone(u32),
    /// Interface `index` has address `address`, usable or not yet.
    Address {
        /// Interface index.
        index: u32,
        /// The address.
        address: IpAddr,
        /// Usable now (not tentative, DAD not failed).
        usable: bool,
        /// An IPv4 secondary address (listed after the primary ones).
        secondary: bool,
    },
    /// Address `address` was removed from interface `index`.
    AddressGone {
        /// Interface index.
        index: u32,
        /// The address.
        address: IpAddr,
    },
    /// A route was added or removed (the route to the group may have changed).
    Route,
}

/// The properties of an interface that the daemon cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUpdate {
    /// Kernel index.
    pub index: u32,
    /// Name (`IFLA_IFNAME`).
    pub name: String,
    /// `IFF_UP`: administratively up.
    pub is_up: bool,
    /// `IFF_RUNNING` (`IFF_LOWER_UP` on some drivers): carrier, operationally up.
    pub has_carrier: bool,
    /// `IFF_MULTICAST`.
    pub supports_multicast: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddressEntry {
    address: IpAddr,
    secondary: bool,
    seen: Generation,
}

#[derive(Debug, Clone)]
struct LinkEntry {
    link: LinkUpdate,
    addresses: Vec<AddressEntry>,
    seen: Generation,
}

/// This host's interfaces as the kernel last reported them.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    links: BTreeMap<u32, LinkEntry>,
    generation: Generation,
}

impl NetworkView {
    /// An empty view.
    pub fn new() -> NetworkView {
        NetworkView::default()
    }

    /// Starts a full re-read: entries the coming dump does not report can then be dropped.
    pub fn begin_generation(&mut self) -> Generation {
        self.generation += 1;
        self.generation
    }

    /// Applies one update; returns whether the view changed.
    pub fn apply(&mut self, update: NetworkUpdate) -> bool {
        let generation = self.generation;
        match update {
            NetworkUpdate::Link(link) => match self.links.get_mut(&link.index) {
                Some(entry) => {
                    entry.seen = generation;
                    let changed = entry.link != link;
                    entry.link = link;
                    changed
                }
                None => {
                    let entry = LinkEntry {
                        link: link.clone(),
                        addresses: Vec::new(),
                        seen: generation,
                    };
                    self.links.insert(link.index, entry);
                    true
                }
            },
            NetworkUpdate::LinkGone(index) => self.links.remove(&index).is_some(),
            NetworkUpdate::Address {
                index,
                address,
                usable,
                secondary,
            } => {
                let Some(entry) = self.links.get_mut(&index) else {
                    // An address of an interface not dumped yet: its link line comes
                    // before its addresses in a dump, so this one is gone already.
                    return false;
                };
                let position = entry.addresses.iter().position(|a| a.address == address);
                match (position, usable) {
                    (Some(at), true) => {
                        let existing = &mut entry.addresses[at];
                        existing.seen = generation;
                        if existing.secondary == secondary {
                            return false;
                        }
                        existing.secondary = secondary;
                        sort_primary_first(&mut entry.addresses);
                        true
                    }
                    (Some(at), false) => {
                        entry.addresses.remove(at);
                        true
                    }
                    (None, true) => {
                        entry.addresses.push(AddressEntry {
                            address,
                            secondary,
                            seen: generation,
                        });
                        sort_primary_first(&mut entry.addresses);
                        true
                    }
                    (None, false) => false,
                }
            }
            NetworkUpdate::AddressGone { index, address } => {
                let Some(entry) = self.links.get_mut(&index) else {
                    return false;
                };
                let before = entry.addresses.len();
                entry.addresses.retain(|a| a.address != address);
                entry.addresses.len() != before
            }
            NetworkUpdate::Route => false,
        }
    }

    /// After a full link dump of generation `generation`: drops the interfaces it did not
    /// list. Returns whether any was dropped.
    pub fn drop_unseen_links(&mut self, generation: Generation) -> bool {
        let before = self.links.len();
        self.links.retain(|_, entry| entry.seen >= generation);
        self.links.len() != before
    }

    /// After a full address dump of generation `generation`: drops the addresses it did not
    /// list. Returns whether any was dropped.
    pub fn drop_unseen_addresses(&mut self, generation: Generation) -> bool {
        let mut changed = false;
        for entry in self.links.values_mut() {
            let before = entry.addresses.len();
            entry.addresses.retain(|a| a.seen >= generation);
            changed |= entry.addresses.len() != before;
        }
        changed
    }

    /// Number of interfaces.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no interface is known.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The interface named `name`, if it exists.
    pub fn by_name(&self, name: &str) -> Option<Interface> {
        self.links
            .values()
            .find(|entry| entry.link.name == name)
            .map(snapshot)
    }

    /// The interface that has `address`, if any.
    pub fn by_address(&self, address: IpAddr) -> Option<Interface> {
        self.links
            .values()
            .find(|entry| entry.addresses.iter().any(|a| a.address == address))
            .map(snapshot)
    }

    /// Every interface, by index.
    pub fn interfaces(&self) -> impl Iterator<Item = Interface> + '_ {
        self.links.values().map(snapshot)
    }
}

/// Primary IPv4 addresses before secondary ones, otherwise in the order the kernel
/// reported them.
fn sort_primary_first(addresses: &mut [AddressEntry]) {
    addresses.sort_by_key(|a| a.secondary);
}

/// The interface as the rest of the daemon sees it: operationally up only with carrier.
fn snapshot(entry: &LinkEntry) -> Interface {
    let ipv4: Vec<Ipv4Addr> = entry
        .addresses
        .iter()
        .filter_map(|a| match a.address {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    let ipv6: Vec<Ipv6Addr> = entry
        .addresses
        .iter()
        .filter_map(|a| match a.address {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        })
        .collect();
    Interface {
        name: entry.link.name.clone(),
        index: entry.link.index,
        ipv4,
        ipv6,
        is_up: entry.link.is_up && entry.link.has_carrier,
        supports_multicast: entry.link.supports_multicast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, up: bool) -> NetworkUpdate {
        NetworkUpdate::Link(LinkUpdate {
            index,
            name: name.into(),
            is_up: up,
            has_carrier: up,
            supports_multicast: true,
        })
    }

    fn address(index: u32, address: &str, secondary: bool) -> NetworkUpdate {
        NetworkUpdate::Address {
            index,
            address: address.parse().unwrap(),
            usable: true,
            secondary,
        }
    }

    #[test]
    fn interfaces_are_keyed_by_index_so_a_recreated_one_is_new() {
        let mut view = NetworkView::new();
        assert!(view.apply(link(7, "eth0", true)));
        assert!(view.apply(address(7, "10.0.0.5", false)));
        assert_eq!(view.by_name("eth0").unwrap().index, 7);
        assert!(view.apply(NetworkUpdate::LinkGone(7)));
        assert!(view.by_name("eth0").is_none());
        view.apply(link(9, "eth0", true));
        let again = view.by_name("eth0").unwrap();
        assert_eq!(again.index, 9);
        assert!(
            again.ipv4.is_empty(),
            "addresses went with the old interface"
        );
    }

    #[test]
    fn secondary_addresses_follow_the_primary_ones() {
        let mut view = NetworkView::new();
        view.apply(link(3, "eth0", true));
        view.apply(address(3, "10.0.0.9", true));
        view.apply(address(3, "10.0.0.5", false));
        view.apply(address(3, "fd00::5", false));
        let interface = view.by_name("eth0").unwrap();
        assert_eq!(
            interface.ipv4,
            [Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9)]
        );
        assert_eq!(interface.ipv6, ["fd00::5".parse::<Ipv6Addr>().unwrap()]);
        // The primary goes and the kernel promotes the secondary.
        view.apply(NetworkUpdate::AddressGone {
            index: 3,
            address: "10.0.0.5".parse().unwrap(),
        });
        view.apply(address(3, "10.0.0.9", false));
        assert_eq!(
            view.by_name("eth0").unwrap().ipv4,
            [Ipv4Addr::new(10, 0, 0, 9)]
        );
    }

    #[test]
    fn tentative_addresses_are_left_out_until_usable() {
        let mut view = NetworkView::new();
        view.apply(link(3, "eth0", true));
        let tentative = NetworkUpdate::Address {
            index: 3,
            address: "fd00::5".parse().unwrap(),
            usable: false,
            secondary: false,
        };
        assert!(!view.apply(tentative));
        assert!(view.by_name("eth0").unwrap().ipv6.is_empty());
        assert!(view.apply(address(3, "fd00::5", false)));
        assert_eq!(view.by_name("eth0").unwrap().ipv6.len(), 1);
        assert!(!view.apply(address(3, "fd00::5", false)), "no change");
    }

    #[test]
    fn a_link_without_carrier_is_not_up() {
        let mut view = NetworkView::new();
        view.apply(NetworkUpdate::Link(LinkUpdate {
            index: 4,
            name: "eth1".into(),
            is_up: true,
            has_carrier: false,
            supports_multicast: true,
        }));
        assert!(!view.by_name("eth1").unwrap().is_up);
        view.apply(link(4, "eth1", true));
        assert!(view.by_name("eth1").unwrap().is_up);
    }

    #[test]
    fn a_full_reread_drops_what_it_did_not_list() {
        let mut view = NetworkView::new();
        view.apply(link(1, "lo", true));
        view.apply(link(2, "eth0", true));
        view.apply(address(2, "10.0.0.5", false));
        view.apply(address(2, "10.0.0.6", true));
        let generation = view.begin_generation();
        view.apply(link(2, "eth0", true));
        assert!(view.drop_unseen_links(generation));
        view.apply(address(2, "10.0.0.6", false));
        assert!(view.drop_unseen_addresses(generation));
        assert_eq!(view.len(), 1);
        assert_eq!(
            view.by_name("eth0").unwrap().ipv4,
            [Ipv4Addr::new(10, 0, 0, 6)]
        );
        assert_eq!(
            view.by_address("10.0.0.6".parse().unwrap()).unwrap().name,
            "eth0"
        );
    }

    #[test]
    fn addresses_of_unknown_interfaces_are_ignored() {
        let mut view = NetworkView::new();
        assert!(!view.apply(address(5, "10.0.0.5", false)));
        assert!(view.is_empty());
    }
}
