//! The daemon's legs: which kernel interface serves each configured interface now, and what
//! changed since the last look.
//!
//! A leg is one `-i` name (or, without `-i`, the interface of the route to the group; for a
//! unicast-only node the route to a seed, see [`LegSource::RouteToSeeds`]), in
//! command-line order: leg `i` is the engine's interface `i`. [`Legs::update`] compares what
//! the [`NetworkView`] says now with what the daemon holds and returns the
//! [`LegChange`]s to act on. A leg serves when its interface exists, is up with carrier,
//! can do multicast (unless the node is unicast-only) and has an address of the group's
//! family. It is tracked by interface
//! index: the same name with a new index is a new interface (the old one's multicast
//! membership went with it), to be joined again.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use omdisc_core::MAX_ADDRS;

use crate::interfaces::{is_link_local_v6, Interface};
use crate::network_view::NetworkView;
use crate::values::InterfaceName;

/// Where a leg's interface comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegSource {
    /// `-i NAME`.
    Named(InterfaceName),
    /// No `-i`: the interface the kernel would send to the group on.
    RouteToGroup,
    /// No `-i` on a unicast-only node (`--no-multicast`), which needs no route to the group:
    /// the interface the kernel would send to the first seed it has a route to, else to the
    /// group, else the first interface (by index) that is up with an address of the group's
    /// family other than loopback (a node without seeds, waiting to be contacted).
    RouteToSeeds,
}

impl fmt::Display for LegSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegSource::Named(name) => write!(f, "interface {name}"),
            LegSource::RouteToGroup => f.write_str("the route to the group"),
            LegSource::RouteToSeeds => f.write_str("the route to the seeds"),
        }
    }
}

/// Why a leg does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegWait {
    /// No interface of that name (deleted, or not created yet).
    Missing,
    /// Down, or up without carrier.
    Down,
    /// No address of the group's family (usable: IPv6 tentative ones do not count).
    NoAddress,
    /// No `IFF_MULTICAST`.
    NoMulticast,
    /// No `-i` and no route to the group (or its source address is on no interface).
    NoRoute,
    /// No `-i`, unicast-only: no route to a seed or the group, and no interface up with an
    /// address of the group's family other than loopback.
    NoInterface,
}

impl fmt::Display for LegWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegWait::Missing => "it does not exist",
            LegWait::Down => "it is down",
            LegWait::NoAddress => "it has no address of the group's family",
            LegWait::NoMulticast => "it does not support multicast",
            LegWait::NoRoute => "there is no route to the group",
            LegWait::NoInterface => {
                "there is no route to a seed, and no interface is up with an address of the group's family"
            }
        })
    }
}

/// A leg that serves: its interface and the addresses it announces (primary first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLeg {
    /// The interface, as the kernel reported it.
    pub interface: Interface,
    /// Addresses of the group's family announced for it, primary first.
    pub addresses: Vec<IpAddr>,
}

/// What to do about a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegChange {
    /// Leg `slot` serves on an interface it did not hold: join the group there (again, if
    /// `replaced` names the index of the interface it held before).
    Up {
        /// Leg number.
        slot: usize,
        /// The interface and its addresses.
        leg: ReadyLeg,
        /// The index of the interface the leg held until now, if any (deleted since).
        replaced: Option<u32>,
    },
    /// Same interface, other addresses.
    Addresses {
        /// Leg number.
        slot: usize,
        /// The interface and its new addresses.
        leg: ReadyLeg,
    },
    /// The interface went down or lost its carrier; it keeps its index, and its multicast
    /// membership survives until it is up again.
    Down {
        /// Leg number.
        slot: usize,
    },
    /// Up again after [`LegChange::Down`] (with the same addresses; otherwise an
    /// [`LegChange::Addresses`] follows).
    Resumed {
        /// Leg number.
        slot: usize,
        /// The interface and its addresses.
        leg: ReadyLeg,
    },
    /// The leg no longer serves (interface deleted, no address left, no route).
    Gone {
        /// Leg number.
        slot: usize,
        /// Why.
        why: LegWait,
    },
    /// The leg still does not serve, for a new reason (or for the first time).
    Waiting {
        /// Leg number.
        slot: usize,
        /// Why.
        why: LegWait,
    },
}

/// What the daemon holds for one leg.
#[derive(Debug, Clone, Default)]
struct Held {
    /// The interface whose membership the leg holds.
    joined: Option<ReadyLeg>,
    /// That interface is down (membership kept).
    down: bool,
    /// Why it does not serve, while it does not.
    waiting: Option<LegWait>,
}

/// The legs of this daemon and what each holds.
#[derive(Debug, Clone)]
pub struct Legs {
    sources: Vec<LegSource>,
    group: IpAddr,
    /// Whether a leg needs `IFF_MULTICAST` (not with `--no-multicast`).
    multicast: bool,
    held: Vec<Held>,
}

impl Legs {
    /// Legs for `sources` (in `-i` order) carrying `group`; none holds an interface yet.
    pub fn new(sources: Vec<LegSource>, group: IpAddr) -> Legs {
        let held = vec![Held::default(); sources.len()];
        Legs {
            sources,
            group,
            multicast: true,
            held,
        }
    }

    /// The same legs for a node that never joins the group (`--no-multicast`): an
    /// interface without `IFF_MULTICAST` serves too.
    pub fn unicast_only(self) -> Legs {
        Legs {
            multicast: false,
            ..self
        }
    }

    /// Number of legs.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no legs.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Where leg `slot` comes from.
    pub fn source(&self, slot: usize) -> Option<&LegSource> {
        self.sources.get(slot)
    }

    /// Whether the legs join the group (not with `--no-multicast`).
    pub fn joins_group(&self) -> bool {
        self.multicast
    }

    /// Whether any leg watches a route, to the group or to the seeds (routes must be
    /// watched too).
    pub fn follows_route(&self) -> bool {
        self.sources
            .iter()
            .any(|s| matches!(s, LegSource::RouteToGroup | LegSource::RouteToSeeds))
    }

    /// Where the kernel's routes are looked up for a leg without `-i`, in order: the
    /// `seeds` (those of the group's family) for [`LegSource::RouteToSeeds`], then the
    /// group at `port`. Empty when every leg is named.
    pub fn route_destinations(&self, seeds: &[SocketAddr], port: u16) -> Vec<SocketAddr> {
        let mut destinations = Vec::new();
        if self.sources.contains(&LegSource::RouteToSeeds) {
            destinations.extend(
                seeds
                    .iter()
                    .filter(|seed| seed.is_ipv4() == self.group.is_ipv4()),
            );
        }
        if self.follows_route() {
            destinations.push(SocketAddr::new(self.group, port));
        }
        destinations
    }

    /// The interface and addresses leg `slot` serves with (also while down).
    pub fn held(&self, slot: usize) -> Option<&ReadyLeg> {
        self.held.get(slot).and_then(|h| h.joined.as_ref())
    }

    /// Whether leg `slot` serves now (held and up).
    pub fn is_serving(&self, slot: usize) -> bool {
        self.held
            .get(slot)
            .is_some_and(|h| h.joined.is_some() && !h.down)
    }

    /// Compares the view (and, for a leg without `-i`, the source address of the first route
    /// to [`Legs::route_destinations`], if there is one) with what the legs hold; takes the new state and returns
    /// what changed. Addresses beyond what one announcement carries ([`MAX_ADDRS`]) are left
    /// out, secondary ones of the last legs first.
    pub fn update(&mut self, view: &NetworkView, route_source: Option<IpAddr>) -> Vec<LegChange> {
        let mut now: Vec<Result<ReadyLeg, (LegWait, Option<u32>)>> = self
            .sources
            .iter()
            .map(|source| evaluate(source, view, route_source, self.group, self.multicast))
            .collect();
        trim_to_capacity(&mut now);
        let mut changes = Vec::new();
        for (slot, (held, now)) in self.held.iter_mut().zip(now).enumerate() {
            match (held.joined.as_ref(), now) {
                (None, Ok(leg)) => {
                    changes.push(LegChange::Up {
                        slot,
                        leg: leg.clone(),
                        replaced: None,
                    });
                    *held = Held {
                        joined: Some(leg),
                        ..Held::default()
                    };
                }
                (Some(old), Ok(leg)) if old.interface.index != leg.interface.index => {
                    let replaced = Some(old.interface.index);
                    changes.push(LegChange::Up {
                        slot,
                        leg: leg.clone(),
                        replaced,
                    });
                    *held = Held {
                        joined: Some(leg),
                        ..Held::default()
                    };
                }
                (Some(old), Ok(leg)) => {
                    let addresses_changed = old.addresses != leg.addresses;
                    if held.down {
                        changes.push(LegChange::Resumed {
                            slot,
                            leg: leg.clone(),
                        });
                    }
                    if addresses_changed {
                        changes.push(LegChange::Addresses {
                            slot,
                            leg: leg.clone(),
                        });
                    }
                    held.down = false;
                    held.joined = Some(leg);
                }
                (Some(old), Err((LegWait::Down, Some(index)))) if old.interface.index == index => {
                    if !held.down {
                        changes.push(LegChange::Down { slot });
                        held.down = true;
                    }
                }
                (Some(_), Err((why, _))) => {
                    changes.push(LegChange::Gone { slot, why });
                    *held = Held {
                        waiting: Some(why),
                        ..Held::default()
                    };
                }
                (None, Err((why, _))) => {
                    if held.waiting != Some(why) {
                        changes.push(LegChange::Waiting { slot, why });
                        held.waiting = Some(why);
                    }
                }
            }
        }
        changes
    }
}

/// Whether `source` can serve now; if not, why, with the index of the interface it found.
fn evaluate(
    source: &LegSource,
    view: &NetworkView,
    route_source: Option<IpAddr>,
    group: IpAddr,
    multicast: bool,
) -> Result<ReadyLeg, (LegWait, Option<u32>)> {
    let interface = match source {
        LegSource::Named(name) => view
            .by_name(name.as_str())
            .ok_or((LegWait::Missing, None))?,
        LegSource::RouteToGroup => route_source
            .and_then(|address| view.by_address(address))
            .ok_or((LegWait::NoRoute, None))?,
        LegSource::RouteToSeeds => route_source
            .and_then(|address| view.by_address(address))
            .or_else(|| first_unicast_interface(view, group))
            .ok_or((LegWait::NoInterface, None))?,
    };
    let index = Some(interface.index);
    if !interface.is_up {
        return Err((LegWait::Down, index));
    }
    if multicast && !interface.supports_multicast {
        return Err((LegWait::NoMulticast, index));
    }
    let addresses = announced_addresses(&interface, group);
    if addresses.is_empty() {
        return Err((LegWait::NoAddress, index));
    }
    Ok(ReadyLeg {
        interface,
        addresses,
    })
}

/// The first interface (by index) that is up with an address of `group`'s family other
/// than loopback: where a unicast-only node without `-i` and without a route serves.
fn first_unicast_interface(view: &NetworkView, group: IpAddr) -> Option<Interface> {
    view.interfaces().find(|interface| {
        interface.is_up
            && announced_addresses(interface, group)
                .iter()
                .any(|address| !address.is_loopback())
    })
}

/// The addresses of `interface` announced for a `group` cluster, primary first: every IPv4
/// address (primary ones before secondary ones, as the kernel lists them); for IPv6 every
/// address that is not link-local, or the first link-local one if there is no other.
pub fn announced_addresses(interface: &Interface, group: IpAddr) -> Vec<IpAddr> {
    match group {
        IpAddr::V4(_) => interface.ipv4.iter().copied().map(IpAddr::V4).collect(),
        IpAddr::V6(_) => {
            let routable: Vec<IpAddr> = interface
                .ipv6
                .iter()
                .filter(|a| !is_link_local_v6(a))
                .copied()
                .map(IpAddr::V6)
                .collect();
            if routable.is_empty() {
                interface
                    .ipv6
                    .first()
                    .copied()
                    .map(IpAddr::V6)
                    .into_iter()
                    .collect()
            } else {
                routable
            }
        }
    }
}

/// Leaves out secondary addresses, last leg first, until the legs' addresses fit in one
/// announcement; every serving leg keeps its primary address.
fn trim_to_capacity<E>(legs: &mut [Result<ReadyLeg, E>]) {
    let mut total: usize = legs
        .iter()
        .filter_map(|l| l.as_ref().ok())
        .map(|l| l.addresses.len())
        .sum();
    for leg in legs.iter_mut().rev().filter_map(|l| l.as_mut().ok()) {
        while total > MAX_ADDRS && leg.addresses.len() > 1 {
            leg.addresses.pop();
            total -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network_view::{LinkUpdate, NetworkUpdate};

    const GROUP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(239, 255, 77, 77));

    fn named(name: &str) -> LegSource {
        LegSource::Named(InterfaceName::new(name).unwrap())
    }

    fn link(view: &mut NetworkView, index: u32, name: &str, up: bool) {
        view.apply(NetworkUpdate::Link(LinkUpdate {
            index,
            name: name.into(),
            is_up: up,
            has_carrier: up,
            supports_multicast: true,
        }));
    }

    fn add(view: &mut NetworkView, index: u32, address: &str) {
        view.apply(NetworkUpdate::Address {
            index,
            address: address.parse().unwrap(),
            usable: true,
            secondary: false,
        });
    }

    fn remove(view: &mut NetworkView, index: u32, address: &str) {
        view.apply(NetworkUpdate::AddressGone {
            index,
            address: address.parse().unwrap(),
        });
    }

    #[test]
    fn a_leg_waits_once_then_serves_when_its_address_appears() {
        let mut view = NetworkView::new();
        link(&mut view, 5, "eth0", true);
        let mut legs = Legs::new(vec![named("eth0")], GROUP);
        assert_eq!(
            legs.update(&view, None),
            [LegChange::Waiting {
                slot: 0,
                why: LegWait::NoAddress
            }]
        );
        assert!(legs.update(&view, None).is_empty(), "waiting is said once");
        add(&mut view, 5, "10.0.0.5");
        let changes = legs.update(&view, None);
        assert!(matches!(
            &changes[..],
            [LegChange::Up { slot: 0, replaced: None, leg }] if leg.interface.index == 5
        ));
        assert!(legs.is_serving(0));
    }

    #[test]
    fn a_recreated_interface_is_joined_again() {
        let mut view = NetworkView::new();
        link(&mut view, 5, "eth0", true);
        add(&mut view, 5, "10.0.0.5");
        let mut legs = Legs::new(vec![named("eth0")], GROUP);
        legs.update(&view, None);
        view.apply(NetworkUpdate::LinkGone(5));
        assert_eq!(
            legs.update(&view, None),
            [LegChange::Gone {
                slot: 0,
                why: LegWait::Missing
            }]
        );
        link(&mut view, 8, "eth0", true);
        add(&mut view, 8, "10.0.0.5");
        assert!(matches!(
            &legs.update(&view, None)[..],
            [LegChange::Up { replaced: None, leg, .. }] if leg.interface.index == 8
        ));
        // Deleted and created again between two looks: still a new interface.
        view.apply(NetworkUpdate::LinkGone(8));
        link(&mut view, 9, "eth0", true);
        add(&mut view, 9, "10.0.0.5");
        assert!(matches!(
            &legs.update(&view, None)[..],
            [LegChange::Up {
                replaced: Some(8),
                ..
            }]
        ));
    }

    #[test]
    fn down_and_up_keeps_the_leg() {
        let mut view = NetworkView::new();
        link(&mut view, 5, "eth0", true);
        add(&mut view, 5, "10.0.0.5");
        let mut legs = Legs::new(vec![named("eth0")], GROUP);
        legs.update(&view, None);
        link(&mut view, 5, "eth0", false);
        assert_eq!(legs.update(&view, None), [LegChange::Down { slot: 0 }]);
        assert!(!legs.is_serving(0));
        assert!(legs.update(&view, None).is_empty());
        link(&mut view, 5, "eth0", true);
        assert!(matches!(
            &legs.update(&view, None)[..],
            [LegChange::Resumed { slot: 0, .. }]
        ));
        assert!(legs.is_serving(0));
    }

    #[test]
    fn address_changes_and_the_last_address_going() {
        let mut view = NetworkView::new();
        link(&mut view, 5, "eth0", true);
        add(&mut view, 5, "10.0.0.5");
        let mut legs = Legs::new(vec![named("eth0")], GROUP);
        legs.update(&view, None);
        add(&mut view, 5, "10.0.0.42");
        remove(&mut view, 5, "10.0.0.5");
        let changes = legs.update(&view, None);
        assert!(matches!(
            &changes[..],
            [LegChange::Addresses { leg, .. }] if leg.addresses == ["10.0.0.42".parse::<IpAddr>().unwrap()]
        ));
        remove(&mut view, 5, "10.0.0.42");
        assert_eq!(
            legs.update(&view, None),
            [LegChange::Gone {
                slot: 0,
                why: LegWait::NoAddress
            }]
        );
    }

    #[test]
    fn without_i_the_leg_follows_the_route() {
        let mut view = NetworkView::new();
        link(&mut view, 5, "eth0", true);
        add(&mut view, 5, "10.0.0.5");
        let mut legs = Legs::new(vec![LegSource::RouteToGroup], GROUP);
        assert!(legs.follows_route());
        assert_eq!(
            legs.update(&view, None),
            [LegChange::Waiting {
                slot: 0,
                why: LegWait::NoRoute
            }]
        );
        let source = Some("10.0.0.5".parse().unwrap());
        assert!(matches!(
            &legs.update(&view, source)[..],
            [LegChange::Up { .. }]
        ));
    }

    #[test]
    fn unicast_only_without_i_takes_the_route_to_a_seed_else_the_first_interface() {
        let mut view = NetworkView::new();
        link(&mut view, 1, "lo", true);
        add(&mut view, 1, "127.0.0.1");
        let mut legs = Legs::new(vec![LegSource::RouteToSeeds], GROUP).unicast_only();
        assert!(legs.follows_route() && !legs.joins_group());
        assert_eq!(
            legs.update(&view, None),
            [LegChange::Waiting {
                slot: 0,
                why: LegWait::NoInterface
            }],
            "loopback does not serve"
        );
        link(&mut view, 2, "other0", true);
        add(&mut view, 2, "10.9.0.5");
        link(&mut view, 3, "eth0", true);
        add(&mut view, 3, "10.0.0.5");
        // No route: the first interface with an address.
        assert!(matches!(
            &legs.update(&view, None)[..],
            [LegChange::Up { leg, .. }] if leg.interface.name == "other0"
        ));
        // A route to a seed: its interface.
        let source = Some("10.0.0.5".parse().unwrap());
        assert!(matches!(
            &legs.update(&view, source)[..],
            [LegChange::Up { leg, replaced: Some(2), .. }] if leg.interface.name == "eth0"
        ));
    }

    #[test]
    fn routes_are_looked_up_to_the_seeds_of_the_family_then_the_group() {
        let seeds: Vec<SocketAddr> = ["10.0.0.1:7477", "[fd00::1]:7477", "10.0.0.2:9000"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let group = SocketAddr::new(GROUP, 7477);
        let unicast = Legs::new(vec![LegSource::RouteToSeeds], GROUP).unicast_only();
        assert_eq!(
            unicast.route_destinations(&seeds, 7477),
            [seeds[0], seeds[2], group]
        );
        let multicast = Legs::new(vec![LegSource::RouteToGroup], GROUP);
        assert_eq!(multicast.route_destinations(&seeds, 7477), [group]);
        let named = Legs::new(vec![named("eth0")], GROUP);
        assert!(named.route_destinations(&seeds, 7477).is_empty());
    }

    #[test]
    fn addresses_beyond_one_announcement_are_left_out_from_the_last_leg() {
        let mut view = NetworkView::new();
        link(&mut view, 1, "a", true);
        link(&mut view, 2, "b", true);
        for i in 1..=4 {
            add(&mut view, 1, &format!("10.0.1.{i}"));
            add(&mut view, 2, &format!("10.0.2.{i}"));
        }
        let mut legs = Legs::new(vec![named("a"), named("b")], GROUP);
        legs.update(&view, None);
        assert_eq!(legs.held(0).unwrap().addresses.len(), 4);
        assert_eq!(legs.held(1).unwrap().addresses.len(), 2);
    }

    #[test]
    fn ipv6_legs_announce_routable_addresses_or_the_link_local_one() {
        let group: IpAddr = "ff05::4d".parse().unwrap();
        let mut view = NetworkView::new();
        link(&mut view, 1, "a", true);
        add(&mut view, 1, "fe80::1");
        let interface = view.by_name("a").unwrap();
        assert_eq!(
            announced_addresses(&interface, group),
            ["fe80::1".parse::<IpAddr>().unwrap()]
        );
        add(&mut view, 1, "fd00::1");
        let interface = view.by_name("a").unwrap();
        assert_eq!(
            announced_addresses(&interface, group),
            ["fd00::1".parse::<IpAddr>().unwrap()]
        );
    }
}
