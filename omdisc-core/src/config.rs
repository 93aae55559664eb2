//! Engine configuration: this node's identity, timers, and its interfaces; and the
//! protocol's defaults, the one definition every frontend uses.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{MAX_ADDRS, MAX_IFACES};
use crate::detector::DeadAfter;
use crate::id::NodeId;
use crate::time::Duration;

/// How a node with several interfaces links its networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Forwarding {
    /// Every interface sends and receives, and the node relays announcements between them
    /// (a gateway). The original's behaviour without `-m`.
    Relay,
    /// Multicast routing (smcroute, pimd) carries traffic between networks: only the first
    /// interface sends and receives; the others are announced as aliases. The original's
    /// `-m TTL` mode.
    Routed,
    /// Every interface sends and receives and announces this node's address there as
    /// primary and its other legs as aliases, but nothing is relayed between them: the
    /// networks stay apart while each sees all of this host's addresses (`--no-relay`).
    Isolated,
}

/// Where this node's id comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdSource {
    /// [`Config::node_id`] as given (`--node-id`): it stays when the addresses change.
    Fixed,
    /// Derived from this node's address, as openMosix does ([`NodeId::from_ip`]): from the
    /// first address of the first interface that serves (has an address and sends). The
    /// engine derives it again whenever its addresses change, and keeps the current one in
    /// [`Config::node_id`].
    Address,
}

/// Engine settings. Build with [`Config::new`] (or [`Config::from_address`]) and adjust the
/// public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// This node's id. With [`IdSource::Address`] the engine keeps it equal to the id
    /// derived from its current address ([`Engine::config`](crate::Engine::config) shows
    /// the current one); until it has an address it is a placeholder.
    pub node_id: NodeId,
    /// Whether the id is fixed or follows the address (default [`IdSource::Fixed`]).
    pub id_source: IdSource,
    /// This start's incarnation: must grow from one start to the next (the Linux daemon
    /// uses the wall clock in milliseconds). Receivers let a higher incarnation replace a
    /// lower one at once.
    pub incarnation: u64,
    /// Minimum announce interval (default [`DEFAULT_INTERVAL`]): the interval of a cluster small enough for
    /// the bandwidth budget. Rounds are randomised into `[0.41, 1.23] × interval` (RFC 3550),
    /// and the advertised (and expiry) interval is `1.23 × interval`.
    pub interval: Duration,
    /// Missed (advertised) intervals after which a silent node expires on a clean network
    /// (default [`DEFAULT_DEAD_AFTER`]). On a lossy one each receiver waits longer, as the
    /// loss it measures from that node requires (see [`crate::detector`]), up to
    /// `max_dead_after`.
    pub dead_after: u16,
    /// Most missed intervals a receiver waits for a node on a lossy network before it
    /// expires it (default [`DEFAULT_MAX_DEAD_AFTER`]); at most `max(dead_after,
    /// max_dead_after)`. Set it to `dead_after` for a fixed deadline that ignores loss.
    pub max_dead_after: u16,
    /// Most gateways a message may cross (default 4).
    pub hop_limit: u8,
    /// Answers to a joining node are spread uniformly over this window (default 200 ms),
    /// so a large cluster does not answer in one burst.
    pub reply_window: Duration,
    /// Relay between interfaces, or leave that to multicast routing.
    pub forwarding: Forwarding,
    /// Budget for the aggregate announce traffic of the whole cluster, in bits per second
    /// (UDP/IP headers included; default 128 000). Small clusters announce every
    /// `interval`; larger ones slow down so the total stays within the budget. 0 disables
    /// the budget (every node announces every `interval`, whatever the cluster size).
    pub bandwidth: u32,
    /// Longest a leaving node in a large cluster (over 50 members) waits for its turn to send
    /// LEAVE (default 2 s); if its back-off would take longer it stops silently and the
    /// others expire it.
    pub max_leave_delay: Duration,
    /// How long departed nodes are remembered (tombstones) to refuse replays of their old
    /// messages (default 10 min, at most [`MAX_TOMBSTONE_LIFETIME`]). Tombstones are also
    /// evicted, oldest first, when a live node needs the slot.
    pub tombstone_lifetime: Duration,
    /// Whether this node uses the multicast group (default true). Off, the engine never
    /// hands out a [`Destination::Group`](crate::Destination::Group) datagram (the frontend
    /// does not join the group at all) and reaches its peers by unicast only, starting from
    /// its seeds ([`Engine::set_seeds`](crate::Engine::set_seeds)).
    pub multicast: bool,
    /// Failure detection by probes (SWIM): every `probe_interval` this node probes one
    /// member it reaches directly (randomised round-robin) and each member it suspects
    /// (default [`DEFAULT_PROBE_INTERVAL`]). Zero turns probing off (silent members then
    /// only expire, and members reached by unicast only never do).
    pub probe_interval: Duration,
    /// How long a probe waits for a direct ACK before it asks `indirect_probes` other
    /// members to probe (default 200 ms; less than `probe_interval`).
    pub probe_timeout: Duration,
    /// How many members are asked to probe a member that did not answer (default 3).
    pub indirect_probes: u8,
    /// To how many random members a node passes news (a death, a departure, a newcomer
    /// learned by unicast) at once, besides the group (default 3).
    pub gossip_fanout: u8,
    /// The cluster's UDP port, where this node receives (default [`DEFAULT_PORT`]): members
    /// are probed and sent gossip at this port (every member uses the same one; only a
    /// seed may name another, for the first contact), and gossip about this node names it.
    pub port: u16,
}

impl Config {
    /// Defaults for node `node_id` (a fixed id) in incarnation `incarnation`.
    pub const fn new(node_id: NodeId, incarnation: u64) -> Config {
        Config {
            node_id,
            id_source: IdSource::Fixed,
            incarnation,
            interval: DEFAULT_INTERVAL,
            dead_after: DEFAULT_DEAD_AFTER,
            max_dead_after: DEFAULT_MAX_DEAD_AFTER,
            hop_limit: 4,
            reply_window: Duration::from_millis(200),
            forwarding: Forwarding::Relay,
            bandwidth: DEFAULT_BANDWIDTH,
            max_leave_delay: Duration::from_secs(2),
            tombstone_lifetime: Duration::from_secs(600),
            multicast: true,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            probe_timeout: Duration::from_millis(200),
            indirect_probes: 3,
            gossip_fanout: 3,
            port: DEFAULT_PORT,
        }
    }

    /// Defaults for a node whose id is derived from its address ([`IdSource::Address`]),
    /// in incarnation `incarnation`.
    pub const fn from_address(incarnation: u64) -> Config {
        let mut config = Config::new(NodeId::MIN, incarnation);
        config.id_source = IdSource::Address;
        config
    }

    /// The bounds of the loss-aware expiry: `dead_after ..= max(dead_after, max_dead_after)`.
    pub const fn dead_after_limits(&self) -> DeadAfter {
        DeadAfter::new(self.dead_after, self.max_dead_after)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let ms = self.interval.total_millis();
        if ms < MIN_INTERVAL_MS || ms > u64::from(crate::wire::MAX_INTERVAL_MS) {
            return Err(ConfigError::BadInterval);
        }
        if self.dead_after == 0 {
            return Err(ConfigError::BadDeadAfter);
        }
        if self.tombstone_lifetime > MAX_TOMBSTONE_LIFETIME {
            return Err(ConfigError::BadTombstoneLifetime);
        }
        if self.probe_interval != Duration::ZERO && self.probe_timeout >= self.probe_interval {
            return Err(ConfigError::BadProbeTimeout);
        }
        Ok(())
    }
}

/// Default multicast group for IPv4: `239.255.77.77`, in the IPv4 Local Scope
/// `239.255.0.0/16` (RFC 2365 §6.1), which routers do not forward out of the site.
pub const DEFAULT_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// Multicast group for IPv6 clusters: `ff05::4d`, site-local scope (RFC 4291), the
/// counterpart of [`DEFAULT_GROUP_V4`]'s Local Scope. (A frontend's default stays IPv4.)
pub const DEFAULT_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x4d);
/// Default UDP port of the group: 7477, below the Linux ephemeral range (32768–60999).
pub const DEFAULT_PORT: u16 = 7477;
/// Default minimum announce interval: 1 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default missed (advertised) intervals after which a silent node expires: 5, so one or
/// two lost datagrams never make a node flap.
pub const DEFAULT_DEAD_AFTER: u16 = 5;
/// Default most missed intervals before a silent node expires, on a lossy network: 25
/// (enough for the 10⁻⁹ target of the loss-aware expiry up to about 43 % loss).
pub const DEFAULT_MAX_DEAD_AFTER: u16 = 25;
/// Default probe interval: 500 ms (two probes a second per member, whatever the cluster's
/// size).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Default aggregate announce budget: 128 kbit/s (about 250 nodes at a 1 s interval).
pub const DEFAULT_BANDWIDTH: u32 = 128_000;

/// Longest [`Config::tombstone_lifetime`] accepted: 30 days.
pub const MAX_TOMBSTONE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Shortest announce interval accepted (10 ms).
pub const MIN_INTERVAL_MS: u64 = 10;

/// The addresses of one interface of this node (IPv4 and/or IPv6). An interface without
/// addresses (not configured yet, or gone) does not serve until
/// [`Engine::set_addresses`](crate::Engine::set_addresses) gives it some.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InterfaceSpec {
    /// The interface's addresses; the first is its primary address.
    pub addrs: heapless::Vec<IpAddr, MAX_ADDRS>,
}

impl InterfaceSpec {
    /// An interface with the single address `ip`.
    pub fn with_address(ip: IpAddr) -> InterfaceSpec {
        let mut addrs = heapless::Vec::new();
        // Capacity MAX_ADDRS >= 1: the first push always fits.
        let _ = addrs.push(ip);
        InterfaceSpec { addrs }
    }
}

/// Why a configuration was refused: no engine was made, nothing else changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// No interface given.
    NoInterfaces,
    /// More than [`MAX_IFACES`] interfaces.
    TooManyInterfaces(usize),
    /// An address that cannot be a node's (unspecified, multicast, broadcast).
    BadAddress(IpAddr),
    /// Announcements would carry more than [`MAX_ADDRS`] addresses.
    TooManyAddresses(usize),
    /// Interval outside 10 ms ..= 1 day.
    BadInterval,
    /// `dead_after` is 0.
    BadDeadAfter,
    /// `tombstone_lifetime` is longer than [`MAX_TOMBSTONE_LIFETIME`].
    BadTombstoneLifetime,
    /// `probe_timeout` is not shorter than `probe_interval`.
    BadProbeTimeout,
    /// The node table storage has no room (it needs at least one slot, for this node).
    NoStorage,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoInterfaces => f.write_str("no interface configured"),
            ConfigError::TooManyInterfaces(n) => {
                write!(
                    f,
                    "{n} interfaces given; at most {MAX_IFACES} are supported"
                )
            }
            ConfigError::BadAddress(ip) => write!(f, "{ip} cannot be a node address"),
            ConfigError::TooManyAddresses(n) => write!(
                f,
                "{n} addresses to announce; at most {MAX_ADDRS} fit in a message"
            ),
            ConfigError::BadInterval => f.write_str("announce interval must be 10 ms to 1 day"),
            ConfigError::BadDeadAfter => f.write_str("dead-after must be at least 1 interval"),
            ConfigError::BadTombstoneLifetime => {
                f.write_str("tombstones can be remembered for at most 30 days")
            }
            ConfigError::NoStorage => f.write_str("node table storage is empty"),
            ConfigError::BadProbeTimeout => {
                f.write_str("probe timeout must be shorter than the probe interval")
            }
        }
    }
}

impl core::error::Error for ConfigError {}
