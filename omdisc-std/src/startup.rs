//! Everything `omdiscd` checks and opens before it detaches: the watch on the network
//! (rtnetlink), the `-i` names, node id, key, map output, hook and metrics, and pid file. Any failure is a [`StartupError`], one
//! line on the terminal, and nothing has been written yet. Also what differs from one
//! start to the next, for `omdisc-tap` too: the [`incarnation`] and the random [`seed`].

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use omdisc_core::{Engine, Forwarding};

use crate::config::{DaemonConfig, InterfaceMode, MapTarget, LIVE_DIR};
use crate::counter_report::{CountersFile, CountersFileError};
use crate::engine_slot::{engine_config, EngineSlot, EngineTemplate, IdentityError};
use crate::growing_table::GrowingTable;
use crate::integrations::{IntegrationError, Integrations};
use crate::interfaces::{self, InterfaceError};
use crate::key_file::{self, KeyFileError};
use crate::legs::{LegSource, Legs};
use crate::map_sink::{MapSink, MapSinkError};
use crate::netlink::NetlinkWatcher;
use crate::network_view::NetworkView;
use crate::pid_file::{PidFile, PidFileError};
use crate::seeds::SeedListError;

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

/// The engine as the daemon uses it: a node table on the heap that grows as nodes come.
pub type DaemonEngine = Engine<GrowingTable>;

/// What startup prepared for the main loop.
pub struct Prepared {
    /// The validated command line.
    pub config: DaemonConfig,
    /// The host's interfaces as the kernel listed them at start.
    pub network: NetworkView,
    /// The rtnetlink subscription that keeps `network` up to date.
    pub watcher: NetlinkWatcher,
    /// The configured legs (`-i` order, or the route to the group or the seeds); none joined
    /// yet.
    pub legs: Legs,
    /// The engine is made once the first leg serves (with the seeds read at start).
    pub engine: EngineSlot,
    /// Map output.
    pub sink: MapSink,
    /// `--counters-file`, its start snapshot written.
    pub counters_file: Option<CountersFile>,
    /// Held pid file (pid not written yet).
    pub pid_file: Option<PidFile>,
    /// The hook and the metrics, checked and bound.
    pub integrations: Integrations,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("config", &self.config)
            .field("legs", &self.legs)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// Why the daemon cannot start. `Display` is one line.
#[derive(Debug)]
pub enum StartupError {
    /// The kernel's network state cannot be watched (rtnetlink).
    Netlink(std::io::Error),
    /// An interface is unusable.
    Interface(InterfaceError),
    /// The node id is unusable (derived from an address that gives 0).
    Identity(IdentityError),
    /// The key file is unusable.
    Key(KeyFileError),
    /// A seed (`--peer`, `--peers-file`) is unusable.
    Seeds(SeedListError),
    /// The map cannot be written.
    Map(MapSinkError),
    /// The counters file cannot be written.
    Counters(CountersFileError),
    /// The pid file is held or unusable.
    PidFile(PidFileError),
    /// The hook or the metrics cannot be set up.
    Integration(IntegrationError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Netlink(e) => {
                write!(f, "cannot watch the network interfaces (rtnetlink): {e}")
            }
            StartupError::Interface(e) => e.fmt(f),
            StartupError::Identity(e) => e.fmt(f),
            StartupError::Key(e) => e.fmt(f),
            StartupError::Seeds(e) => e.fmt(f),
            StartupError::Map(e) => e.fmt(f),
            StartupError::Counters(e) => e.fmt(f),
            StartupError::PidFile(e) => e.fmt(f),
            StartupError::Integration(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartupError {}

/// Checks and opens everything the daemon needs, in the order that leaves nothing behind
/// on failure (the pid file is only taken once everything else has been checked).
///
/// An interface named with `-i` must exist and support multicast: a name that does not
/// exist is a typo, reported at once. One that is down or has no address yet is waited
/// for, as is the route to the group without `-i` (unicast-only: the route to a seed, or
/// any interface with an address): the main loop joins when it can.
pub fn prepare(config: DaemonConfig) -> Result<Prepared, StartupError> {
    let sources: Vec<LegSource> = if config.interfaces.is_empty() {
        vec![match config.multicast {
            true => LegSource::RouteToGroup,
            false => LegSource::RouteToSeeds,
        }]
    } else {
        config
            .interfaces
            .iter()
            .cloned()
            .map(LegSource::Named)
            .collect()
    };
    let mut legs = Legs::new(sources, config.group);
    if !config.multicast {
        legs = legs.unicast_only();
    }
    let mut network = NetworkView::new();
    let watcher =
        NetlinkWatcher::open(legs.follows_route(), &mut network).map_err(StartupError::Netlink)?;
    for name in &config.interfaces {
        let interface = network
            .by_name(name.as_str())
            .ok_or_else(|| StartupError::Interface(InterfaceError::Unknown(name.to_string())))?;
        if config.multicast && !interface.supports_multicast {
            return Err(StartupError::Interface(InterfaceError::NoMulticast(
                interface.name,
            )));
        }
    }
    let keyring = match &config.key_file {
        Some(path) => Some(key_file::load_keyring(path).map_err(StartupError::Key)?),
        None => None,
    };
    let seeds = config.seeds.load().map_err(StartupError::Seeds)?;
    let sink = match &config.map_target {
        MapTarget::Alpha(dir) => MapSink::alpha(dir),
        MapTarget::Live => MapSink::live(std::path::Path::new(LIVE_DIR)),
    }
    .map_err(StartupError::Map)?;

    let mut engine_settings = engine_config(
        config.interval,
        config.expiry,
        config.bandwidth,
        match config.mode {
            InterfaceMode::Relay => Forwarding::Relay,
            InterfaceMode::MulticastTtl(_) => Forwarding::Routed,
            InterfaceMode::NoRelay => Forwarding::Isolated,
        },
    );
    engine_settings.multicast = config.multicast;
    // Members are probed, and gossip names this node, at the cluster's port.
    engine_settings.port = config.port;
    let template = EngineTemplate {
        config: engine_settings,
        node_id: config.node_id,
        table_capacity: table_capacity(config.max_nodes),
    };
    let engine = EngineSlot::new(template, keyring, seeds);
    // An address that cannot name a node is an error now, while it is there to be seen.
    if let Some(primary) = first_leg_primary(&legs, &network, engine.seeds(), config.port) {
        engine
            .node_id_for(primary)
            .map_err(StartupError::Identity)?;
    }

    let counters_file = match &config.counters_file {
        Some(path) => Some(CountersFile::create(path).map_err(StartupError::Counters)?),
        None => None,
    };
    let integrations = Integrations::open(&config).map_err(StartupError::Integration)?;
    let pid_file = match &config.pid_file {
        Some(path) => Some(PidFile::acquire(path).map_err(StartupError::PidFile)?),
        None => None,
    };
    Ok(Prepared {
        config,
        network,
        watcher,
        legs,
        engine,
        sink,
        counters_file,
        pid_file,
        integrations,
    })
}

/// The primary address the first leg would serve with now, if it can.
fn first_leg_primary(
    legs: &Legs,
    network: &NetworkView,
    seeds: &[SocketAddr],
    port: u16,
) -> Option<IpAddr> {
    let mut probe = legs.clone();
    let route = interfaces::first_route_source(&probe.route_destinations(seeds, port));
    probe.update(network, route);
    probe.held(0)?.addresses.first().copied()
}

/// This start's incarnation: wall-clock milliseconds times 1 024 plus 10 random bits, so it
/// grows from start to start (a millisecond or more apart) and two hosts that start in the
/// same millisecond (a cluster started at once) still differ: receivers must not take them
/// for one host whose address changed (`omdiscd` and `omdisc-tap`).
pub fn incarnation() -> u64 {
    ((millis().min(u64::MAX >> 10) << 10) | (seed() & 0x3ff)).max(1)
}

/// Wall-clock milliseconds since the Unix epoch (1 if the clock is before it).
fn millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(1)
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
    millis() ^ (u64::from(nanos) << 20) ^ u64::from(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_node_id_error_says_what_to_do() {
        let error = StartupError::Identity(IdentityError::ZeroId(IpAddr::from([10, 1, 0, 0])));
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
        assert!(first > 1_600_000_000_000 << 10);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(incarnation() > first);
    }
}
