//! [`Settings`]: everything a [`Node`](crate::Node) is set up with — its Ethernet and IP
//! addresses, the multicast group and port, the engine's configuration and cluster key, and
//! the knobs of the smoltcp side.

use omdisc_core::{Config, Keyring, NodeId, NodeIdError};
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

/// Default multicast group, the core's (IPv4 Local Scope, RFC 2365), as `omdiscd`'s.
pub const DEFAULT_GROUP: IpAddress = IpAddress::Ipv4(omdisc_core::DEFAULT_GROUP_V4);
/// Default missed intervals before a silent node expires, the core's, as `omdiscd`'s.
pub use omdisc_core::DEFAULT_DEAD_AFTER;
/// Default UDP port, the core's, as `omdiscd`'s.
pub use omdisc_core::DEFAULT_PORT;
/// Most IP addresses a node's interface gets (smoltcp's default interface capacity).
pub const MAX_NODE_ADDRESSES: usize = 2;
/// Default number of extra IGMP membership reports after the join.
pub const DEFAULT_IGMP_REPEATS: u8 = 2;
/// Default spacing of the extra IGMP membership reports.
pub const DEFAULT_IGMP_SPACING: Duration = Duration::from_millis(500);
/// Default number of received frames handled per [`Node::poll`](crate::Node::poll).
pub const DEFAULT_INGRESS_BUDGET: usize = 64;

/// How a [`Node`](crate::Node) is set up. Build with [`Settings::new`] and adjust the
/// public fields.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The node's own Ethernet address (not the host's, on a TAP).
    pub mac: EthernetAddress,
    /// The interface's addresses; the first one is the primary address (it gives the node
    /// id by default). All of them are announced.
    pub addresses: heapless::Vec<IpCidr, MAX_NODE_ADDRESSES>,
    /// Multicast group the node joins and announces to (IPv4, or IPv6 with feature `ipv6`).
    pub group: IpAddress,
    /// UDP port of the group.
    pub port: u16,
    /// TTL (IPv4) or hop limit (IPv6) of announcements: 1 keeps them on the link.
    pub multicast_ttl: u8,
    /// The engine's configuration (node id, incarnation, interval, dead-after, ...).
    pub engine: Config,
    /// The cluster key; `None` runs unauthenticated.
    pub keyring: Option<Keyring>,
    /// Seed for timer jitter and smoltcp's own randomness: different on every node and
    /// every start (e.g. from the MAC and a free-running timer).
    pub random_seed: u64,
    /// Extra IGMP membership reports after smoltcp's single one, so a snooping bridge that
    /// missed the first still learns the port (Linux also repeats its report).
    pub igmp_repeats: u8,
    /// Spacing of the extra reports.
    pub igmp_spacing: Duration,
    /// Most received frames handled in one [`Node::poll`](crate::Node::poll); past it,
    /// `poll` asks to be called again at once, so a flood cannot starve the caller.
    pub ingress_budget: usize,
    /// How long a direct datagram (PING, ACK, gossip, ...) may wait for its next hop to
    /// answer ARP or neighbour solicitation before it is dropped and counted in
    /// [`NodeCounters::unicast_stuck`](crate::NodeCounters::unicast_stuck) (feature
    /// `probes`).
    #[cfg(feature = "probes")]
    pub unicast_wait: Duration,
}

impl Settings {
    /// Settings for a node with Ethernet address `mac` and IP address `address` in its
    /// `incarnation` (it must grow from one start to the next): the node id follows from
    /// the address; group, port and dead-after are `omdiscd`'s defaults; announce interval
    /// 1 s; no key.
    pub fn new(
        mac: EthernetAddress,
        address: IpCidr,
        incarnation: u64,
        random_seed: u64,
    ) -> Result<Settings, NodeIdError> {
        let node_id = NodeId::from_ip(address.address().into())?;
        #[allow(unused_mut)]
        let mut engine = Config::new(node_id, incarnation);
        // Without this crate's `probes` feature direct datagrams share the group socket, and
        // a smoltcp UDP socket holds a datagram whose next hop does not answer ARP (a
        // crashed member) at the head of its queue, with everything behind it, group
        // announcements included, waiting: no probes then (even if the core has them).
        #[cfg(not(feature = "probes"))]
        {
            engine.probe_interval = omdisc_core::Duration::ZERO;
        }
        let mut addresses = heapless::Vec::new();
        // The capacity is at least one.
        let _ = addresses.push(address);
        Ok(Settings {
            mac,
            addresses,
            group: DEFAULT_GROUP,
            port: DEFAULT_PORT,
            multicast_ttl: 1,
            engine,
            keyring: None,
            random_seed,
            igmp_repeats: DEFAULT_IGMP_REPEATS,
            igmp_spacing: DEFAULT_IGMP_SPACING,
            ingress_budget: DEFAULT_INGRESS_BUDGET,
            #[cfg(feature = "probes")]
            unicast_wait: crate::unicast::DEFAULT_UNICAST_WAIT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use smoltcp::wire::Ipv4Cidr;

    fn cidr(a: u8, b: u8, c: u8, d: u8) -> IpCidr {
        IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Addr::new(a, b, c, d), 24))
    }

    #[test]
    fn node_id_is_the_last_two_octets() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let settings = Settings::new(mac, cidr(192, 168, 10, 220), 1, 7).unwrap();
        assert_eq!(settings.engine.node_id.get(), 2780);
        assert_eq!(settings.group, DEFAULT_GROUP);
        assert_eq!(settings.port, 7477);
        assert_eq!(settings.engine.dead_after, 5);
        assert_eq!(settings.addresses.len(), 1);
    }

    #[test]
    fn an_address_ending_in_zero_zero_has_no_node_id() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        assert!(matches!(
            Settings::new(mac, cidr(10, 1, 0, 0), 1, 7),
            Err(NodeIdError::Zero)
        ));
    }
}
