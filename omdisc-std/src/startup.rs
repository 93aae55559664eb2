//! Everything `omdiscd` checks and opens before it detaches: interfaces, node id, key,
//! map output, pid file, sockets and the engine. Any failure is a [`StartupError`], one
//! line on the terminal, and nothing has been written yet. Also what differs from one
//! start to the next, for `omdisc-tap` too: the [`incarnation`] and the random [`seed`].

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use omdisc_core::{Config, Engine, Forwarding, InterfaceSpec, NodeEntry, NodeId, NodeIdError};

use crate::config::{DaemonConfig, InterfaceMode, MapTarget, LIVE_DIR};
use crate::counter_report::{CountersFile, CountersFileError};
use crate::interfaces::{self, Interface, InterfaceError};
use crate::key_file::{self, KeyFileError};
use crate::map_sink::{MapSink, MapSinkError};
use crate::pid_file::{PidFile, PidFileError};
use crate::socket::{MulticastSocket, SocketError};

/// Node-table capacity of the daemon by default: the whole openMosix id space, plus room
/// for the tombstones of departed nodes.
pub const TABLE_CAPACITY: usize = table_capacity(u16::MAX);

/// Node-table capacity for at most `max_nodes` members: room for them and for as many
/// tombstones (remembered departures), up to 1 024 of those.
pub const fn table_capacity(max_nodes: u16) -> usize {
    let members = max_nodes as usize;
    let tombstones = if members < 1024 { members } else { 1024 };
    members + tombstones
}

/// The engine as the daemon uses it: a heap-allocated node table.
pub type DaemonEngine = Engine<Box<[NodeEntry]>>;

/// What startup prepared for the main loop.
pub struct Prepared {
    /// The validated command line.
    pub config: DaemonConfig,
    /// The configured interfaces, `-i` order (the first is the primary one).
    pub interfaces: Vec<Interface>,
    /// This node's id.
    pub node_id: NodeId,
    /// The engine, not started yet.
    pub engine: DaemonEngine,
    /// One socket per active interface; socket `i` serves the engine's interface `i`.
    pub sockets: Vec<MulticastSocket>,
    /// Map output.
    pub sink: MapSink,
    /// `--counters-file`, its start snapshot written.
    pub counters_file: Option<CountersFile>,
    /// Held pid file (pid not written yet).
    pub pid_file: Option<PidFile>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("config", &self.config)
            .field("interfaces", &self.interfaces)
            .field("node_id", &self.node_id)
            .field("sockets", &self.sockets)
            .finish_non_exhaustive()
    }
}

/// Why the daemon cannot start. `Display` is one line.
#[derive(Debug)]
pub enum StartupError {
    /// An interface is unusable, or there is no default.
    Interface(InterfaceError),
    /// The address-derived node id is 0.
    NodeId {
        /// The address it was derived from.
        address: IpAddr,
        /// The error.
        error: NodeIdError,
    },
    /// The key file is unusable.
    Key(KeyFileError),
    /// The map cannot be written.
    Map(MapSinkError),
    /// The counters file cannot be written.
    Counters(CountersFileError),
    /// The pid file is held or unusable.
    PidFile(PidFileError),
    /// A socket could not be set up.
    Socket(SocketError),
    /// The engine refused the configuration.
    Engine(omdisc_core::ConfigError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Interface(e) => e.fmt(f),
            StartupError::NodeId { address, .. } => write!(
                f,
                "the node id derived from {address} (its last two octets) is 0, which openMosix does not allow: set one with --node-id"
            ),
            StartupError::Key(e) => e.fmt(f),
            StartupError::Map(e) => e.fmt(f),
            StartupError::Counters(e) => e.fmt(f),
            StartupError::PidFile(e) => e.fmt(f),
            StartupError::Socket(e) => e.fmt(f),
            StartupError::Engine(e) => write!(f, "invalid configuration: {e}"),
        }
    }
}

impl std::error::Error for StartupError {}

/// Resolves and opens everything the daemon needs, in the order that leaves nothing behind
/// on failure (the pid file is only taken once everything else has been checked).
pub fn prepare(config: DaemonConfig) -> Result<Prepared, StartupError> {
    let interfaces = if config.interfaces.is_empty() {
        vec![interfaces::route_interface(config.group, config.port)
            .map_err(StartupError::Interface)?]
    } else {
        interfaces::resolve(&config.interfaces, config.group).map_err(StartupError::Interface)?
    };
    let primary = primary_address(&interfaces, config.group)?;
    let node_id = match config.node_id {
        Some(id) => id,
        None => NodeId::from_ip(primary).map_err(|error| StartupError::NodeId {
            address: primary,
            error,
        })?,
    };
    let keyring = match &config.key_file {
        Some(path) => Some(key_file::load_keyring(path).map_err(StartupError::Key)?),
        None => None,
    };
    let sink = match &config.map_target {
        MapTarget::Alpha(dir) => MapSink::alpha(dir),
        MapTarget::Live => MapSink::live(std::path::Path::new(LIVE_DIR)),
    }
    .map_err(StartupError::Map)?;

    let mut engine_config = Config::new(node_id, incarnation());
    engine_config.interval = omdisc_core::Duration::from_millis(
        u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
    );
    engine_config.dead_after = config.dead_after;
    engine_config.bandwidth = config.bandwidth;
    engine_config.forwarding = match config.mode {
        InterfaceMode::Relay => Forwarding::Relay,
        InterfaceMode::MulticastTtl(_) => Forwarding::Routed,
    };
    let specs = interface_specs(&interfaces, config.group);
    let storage = vec![NodeEntry::VACANT; table_capacity(config.max_nodes)].into_boxed_slice();
    let mut engine =
        Engine::new(engine_config, &specs, storage, seed()).map_err(StartupError::Engine)?;
    engine.set_keyring(keyring);

    let sockets = interfaces
        .iter()
        .take(config.active_interface_count())
        .map(|interface| {
            MulticastSocket::open(interface, config.group, config.port, config.multicast_ttl())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartupError::Socket)?;

    let counters_file = match &config.counters_file {
        Some(path) => Some(CountersFile::create(path).map_err(StartupError::Counters)?),
        None => None,
    };
    let pid_file = match &config.pid_file {
        Some(path) => Some(PidFile::acquire(path).map_err(StartupError::PidFile)?),
        None => None,
    };
    Ok(Prepared {
        config,
        interfaces,
        node_id,
        engine,
        sockets,
        sink,
        counters_file,
        pid_file,
    })
}

/// The first interface's address of the group's family: the node's primary address.
fn primary_address(interfaces: &[Interface], group: IpAddr) -> Result<IpAddr, StartupError> {
    interfaces
        .first()
        .and_then(|interface| interface.primary_address_for(group))
        .ok_or_else(|| {
            StartupError::Interface(InterfaceError::NoAddress {
                name: interfaces
                    .first()
                    .map(|i| i.name.clone())
                    .unwrap_or_default(),
                family: if group.is_ipv4() { "IPv4" } else { "IPv6" },
            })
        })
}

/// Each interface is announced with its primary address of the group's family.
fn interface_specs(interfaces: &[Interface], group: IpAddr) -> Vec<InterfaceSpec> {
    interfaces
        .iter()
        .filter_map(|interface| interface.primary_address_for(group))
        .map(InterfaceSpec::with_address)
        .collect()
}

/// This start's incarnation: wall-clock milliseconds, so it grows from start to start
/// (`omdiscd` and `omdisc-tap`).
pub fn incarnation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(1)
        .max(1)
}

/// A seed for the engine's timer jitter (and smoltcp's): the kernel's random bytes, or
/// clock and pid.
pub fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let from_kernel = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if from_kernel {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    incarnation() ^ (u64::from(nanos) << 20) ^ u64::from(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn interface(name: &str, v4: [u8; 4]) -> Interface {
        Interface {
            name: name.into(),
            index: 7,
            ipv4: vec![Ipv4Addr::from(v4)],
            ipv6: vec!["fd00::1".parse().unwrap()],
            is_up: true,
            supports_multicast: true,
        }
    }

    #[test]
    fn each_interface_is_announced_with_its_address_of_the_group_family() {
        let interfaces = [interface("a", [10, 0, 1, 5]), interface("b", [10, 0, 2, 5])];
        let specs = interface_specs(&interfaces, "239.1.2.3".parse().unwrap());
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[1].addrs[0], IpAddr::from([10, 0, 2, 5]));
        let specs = interface_specs(&interfaces, "ff05::1".parse().unwrap());
        assert_eq!(specs[0].addrs[0], "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn primary_address_is_the_first_interfaces() {
        let interfaces = [
            interface("a", [192, 168, 10, 220]),
            interface("b", [10, 0, 2, 5]),
        ];
        let primary = primary_address(&interfaces, "239.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(NodeId::from_ip(primary).unwrap().get(), 2780);
    }

    #[test]
    fn zero_node_id_error_says_what_to_do() {
        let error = StartupError::NodeId {
            address: IpAddr::from([10, 1, 0, 0]),
            error: NodeIdError::Zero,
        };
        assert!(error.to_string().contains("--node-id"));
    }

    #[test]
    fn table_capacity_leaves_room_for_tombstones() {
        assert_eq!(TABLE_CAPACITY, 65_535 + 1024);
        assert_eq!(table_capacity(1000), 2000);
        assert_eq!(table_capacity(1), 2);
    }

    #[test]
    fn incarnations_grow() {
        let first = incarnation();
        assert!(first > 1_600_000_000_000);
        assert!(incarnation() >= first);
    }
}
