//! The daemon's validated configuration.
//!
//! [`DaemonConfig::from_args`] turns the parsed command line ([`crate::cli::OmdiscdArgs`],
//! whose values argh already checked through [`crate::values`]) into the daemon's settings:
//! it fills in the defaults and refuses options that exclude each other ([`ConfigError`],
//! one line).
//!
//! Defaults (also in `omdiscd(8)`):
//!
//! - group [`DEFAULT_GROUP`] `239.255.77.77`: an administratively scoped group in the IPv4
//!   Local Scope `239.255.0.0/16` (RFC 2365 §6.1), which routers do not forward out of the
//!   site, so announcements cannot leak to the Internet even with a large `-m` TTL; with
//!   `--no-multicast` the seeds' family sets it (`ff05::4d` for IPv6 seeds);
//! - port [`DEFAULT_PORT`] `7477`: below the Linux ephemeral range (32768–60999), so no
//!   outgoing connection on the host can already hold it;
//! - interval [`DEFAULT_INTERVAL`] 1 s, dead-after [`DEFAULT_DEAD_AFTER`] 5: a node that
//!   stops without saying goodbye disappears after 5 s, and one or two lost datagrams do not
//!   make a node flap;
//! - max-dead-after [`DEFAULT_MAX_DEAD_AFTER`] 25 (or `--dead-after` if that is more): on a
//!   lossy link each receiver waits up to this many intervals, as the loss it measures from
//!   each sender requires (`omdisc_core::detector`), so a map does not flap at 25 % loss and a
//!   crashed node is still gone within 25 advertised intervals;
//! - bandwidth [`DEFAULT_BANDWIDTH`] 128 000 bit/s, the core's default: the budget of the
//!   whole cluster's announcements, so clusters of up to about 250 nodes keep the 1 s
//!   interval and larger ones slow down instead of flooding every host (0 turns it off).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use omdisc_core::{DeadAfter as ExpiryLimits, NodeId};

use crate::cli::OmdiscdArgs;
use crate::output_values::DEFAULT_HOOK_TIMEOUT;
use crate::seeds::{default_group_of_seeds, MixedFamilies, SeedList};
use crate::values::{
    CountersFilePath, DeadAfter, InterfaceName, KeyFilePath, MaxDeadAfter, MetricsFilePath,
    NodeIdValue, PeersFilePath,
};

/// Default multicast group (IPv4 Local Scope, RFC 2365): the core's.
pub const DEFAULT_GROUP: IpAddr = IpAddr::V4(omdisc_core::DEFAULT_GROUP_V4);
/// Default UDP port: the core's.
pub const DEFAULT_PORT: u16 = omdisc_core::DEFAULT_PORT;
/// Default announce interval: the core's.
pub const DEFAULT_INTERVAL: Duration =
    Duration::from_millis(omdisc_core::DEFAULT_INTERVAL.total_millis());
/// Default number of missed intervals after which a silent node expires: the core's.
pub const DEFAULT_DEAD_AFTER: u16 = omdisc_core::DEFAULT_DEAD_AFTER;
/// Default most missed intervals before a silent node expires on a lossy network: the
/// core's.
pub const DEFAULT_MAX_DEAD_AFTER: u16 = omdisc_core::DEFAULT_MAX_DEAD_AFTER;
/// Default budget of the cluster's aggregate announce traffic, in bits per second (the
/// core's default).
pub const DEFAULT_BANDWIDTH: u32 = omdisc_core::DEFAULT_BANDWIDTH;
/// Default `--max-nodes`: the whole openMosix id space.
pub const DEFAULT_MAX_NODES: u16 = u16::MAX;
/// Default map directory in alpha mode.
pub const DEFAULT_MAP_DIR: &str = "/tmp";
/// Map directory of the packaged service (`omdiscd.service` passes `--map-dir` with it and
/// systemd creates it, world-readable, while the service runs); `showmap` without options
/// reads it first.
pub const SERVICE_MAP_DIR: &str = "/run/omdisc";
/// Directory of the openMosix kernel interface written in live mode.
pub const LIVE_DIR: &str = "/proc/hpc/admin";
/// Default pid file of a daemonised `omdiscd`.
pub const DEFAULT_PID_FILE: &str = "/var/run/omdiscd.pid";

/// Where the map goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTarget {
    /// Alpha mode: `DIR/om_mospe` and `DIR/om_config`.
    Alpha(PathBuf),
    /// Live mode: `/proc/hpc/admin/mospe` and `/proc/hpc/admin/config`.
    Live,
}

/// How the daemon uses its interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceMode {
    /// No `-m`: every interface sends and receives; several interfaces make this node a
    /// gateway that relays between them.
    Relay,
    /// `-m TTL`: only the first interface sends and receives (multicast routing carries the
    /// traffic between networks) with this TTL; the others are announced as aliases.
    MulticastTtl(u8),
    /// `--no-relay`: every interface sends and receives and announces the others as aliases,
    /// but nothing is relayed between them (the networks stay apart).
    NoRelay,
}

/// `--hook PATH` with its timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// The executable run on each event.
    pub path: PathBuf,
    /// How long one run may take before it is killed with its process group.
    pub timeout: Duration,
}

/// The validated settings of one `omdiscd` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Interface names in command-line order; empty means "the interface of the route to the
    /// group".
    pub interfaces: Vec<InterfaceName>,
    /// `false` with `-n`: stay in the foreground and log to stderr.
    pub daemonize: bool,
    /// Relay between interfaces, or `-m TTL` mode.
    pub mode: InterfaceMode,
    /// Where the map is written.
    pub map_target: MapTarget,
    /// Pid file; always set when daemonising.
    pub pid_file: Option<PathBuf>,
    /// Multicast group.
    pub group: IpAddr,
    /// UDP port.
    pub port: u16,
    /// Announce interval (whole milliseconds).
    pub interval: Duration,
    /// Missed intervals before a silent node expires: `min` (`--dead-after`) on a clean
    /// network, up to `max` (`--max-dead-after`) on a lossy one.
    pub expiry: ExpiryLimits,
    /// Budget of the cluster's aggregate announce traffic in bits per second; 0 = none.
    pub bandwidth: u32,
    /// Most members the node table holds (1..=65535).
    pub max_nodes: u16,
    /// Cluster key file, if any.
    pub key_file: Option<PathBuf>,
    /// Node id override.
    pub node_id: Option<NodeId>,
    /// Where the counters are written as JSON, if anywhere.
    pub counters_file: Option<PathBuf>,
    /// The program run on membership events, if any.
    pub hook: Option<HookConfig>,
    /// Where the Prometheus metrics are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the Prometheus metrics are written once per interval, if anywhere.
    pub metrics_file: Option<PathBuf>,
    /// The seeds contacted by unicast (`--peer`, `--peers-file`).
    pub seeds: SeedList,
    /// `false` with `--no-multicast`: the group is never joined, members are reached by
    /// unicast only.
    pub multicast: bool,
}

impl DaemonConfig {
    /// The settings of a parsed command line: its values (argh checked each one), the
    /// defaults for the options not given, and the checks that relate options.
    pub fn from_args(args: OmdiscdArgs) -> Result<Self, ConfigError> {
        let map_target = match (args.map_dir, args.live) {
            (Some(_), true) => return Err(ConfigError::LiveWithMapDir),
            (Some(dir), false) => MapTarget::Alpha(dir.into_path()),
            (None, true) => MapTarget::Live,
            (None, false) => MapTarget::Alpha(PathBuf::from(DEFAULT_MAP_DIR)),
        };
        if args.no_multicast && args.multicast_ttl.is_some() {
            return Err(ConfigError::NoMulticastWithTtl);
        }
        let mode = match (args.multicast_ttl, args.no_relay) {
            (Some(_), true) => return Err(ConfigError::NoRelayWithTtl),
            (Some(ttl), false) => InterfaceMode::MulticastTtl(ttl.get()),
            (None, true) => InterfaceMode::NoRelay,
            (None, false) => InterfaceMode::Relay,
        };
        let hook = match (args.hook, args.hook_timeout) {
            (None, Some(_)) => return Err(ConfigError::HookTimeoutWithoutHook),
            (None, None) => None,
            (Some(path), timeout) => Some(HookConfig {
                path: path.into_path(),
                timeout: timeout.map_or(DEFAULT_HOOK_TIMEOUT, |t| t.get()),
            }),
        };
        let daemonize = !args.nodaemon;
        let pid_file = match args.pid_file {
            Some(path) => Some(path.into_path()),
            None if daemonize => Some(PathBuf::from(DEFAULT_PID_FILE)),
            None => None,
        };
        let peers_file = args.peers_file.map(PeersFilePath::into_path);
        let group = match args.group {
            Some(group) => group.get(),
            // The group only sets the address family then: the seeds' own.
            None if args.no_multicast => default_group_of_seeds(&args.peer, peers_file.as_deref())
                .map_err(ConfigError::MixedSeedFamilies)?
                .unwrap_or(DEFAULT_GROUP),
            None => DEFAULT_GROUP,
        };
        let port = args.port.map_or(DEFAULT_PORT, |p| p.get());
        let seeds = SeedList::new(args.peer, peers_file, port, group);
        Ok(DaemonConfig {
            interfaces: args.interface.map(|l| l.into_names()).unwrap_or_default(),
            daemonize,
            mode,
            map_target,
            pid_file,
            group,
            port,
            interval: args.interval.map_or(DEFAULT_INTERVAL, |i| i.get()),
            expiry: expiry_limits(args.dead_after, args.max_dead_after)?,
            bandwidth: args.bandwidth.map_or(DEFAULT_BANDWIDTH, |b| b.get()),
            max_nodes: args.max_nodes.map_or(DEFAULT_MAX_NODES, |m| m.get()),
            key_file: args.key_file.map(KeyFilePath::into_path),
            node_id: args.node_id.map(NodeIdValue::get),
            counters_file: args.counters_file.map(CountersFilePath::into_path),
            hook,
            metrics_listen: args.metrics_listen.map(|m| m.get()),
            metrics_file: args.metrics_file.map(MetricsFilePath::into_path),
            seeds,
            multicast: !args.no_multicast,
        })
    }

    /// The interfaces that send and receive: all of them, or only the first with `-m`;
    /// without `-i`, the one interface of the route to the group (or to the seeds).
    pub fn active_interface_count(&self) -> usize {
        let legs = self.interfaces.len().max(1);
        match self.mode {
            InterfaceMode::Relay | InterfaceMode::NoRelay => legs,
            InterfaceMode::MulticastTtl(_) => 1,
        }
    }

    /// TTL (IPv4) or hop limit (IPv6) of outgoing datagrams: 1 (this link only) unless `-m`.
    pub fn multicast_ttl(&self) -> u8 {
        match self.mode {
            InterfaceMode::Relay | InterfaceMode::NoRelay => 1,
            InterfaceMode::MulticastTtl(ttl) => ttl,
        }
    }
}

/// The expiry bounds of `--dead-after` and `--max-dead-after` (the defaults for those not
/// given), shared by `omdiscd` and `omdisc-tap`. Without `--max-dead-after` the maximum is
/// [`DEFAULT_MAX_DEAD_AFTER`], or `--dead-after` if that is more; a `--max-dead-after` below
/// `--dead-after` is refused; equal to it, the deadline is fixed (loss is not taken into
/// account).
pub fn expiry_limits(
    dead_after: Option<DeadAfter>,
    max_dead_after: Option<MaxDeadAfter>,
) -> Result<ExpiryLimits, ConfigError> {
    let min = dead_after.map_or(DEFAULT_DEAD_AFTER, DeadAfter::get);
    match max_dead_after.map(MaxDeadAfter::get) {
        None => Ok(ExpiryLimits::new(min, DEFAULT_MAX_DEAD_AFTER)),
        Some(max) if max >= min => Ok(ExpiryLimits::new(min, max)),
        Some(max) => Err(ConfigError::MaxDeadAfterBelowDeadAfter {
            max_dead_after: max,
            dead_after: min,
        }),
    }
}

/// The expiry bounds as the start-up log line says them: `dead after 5 missed (up to 25 on
/// lossy links)`, or `dead after 5 missed (fixed)`.
pub fn describe_expiry(expiry: ExpiryLimits) -> String {
    if expiry.max > expiry.min {
        format!(
            "dead after {} missed (up to {} on lossy links)",
            expiry.min, expiry.max
        )
    } else {
        format!("dead after {} missed (fixed)", expiry.min)
    }
}

/// Options that exclude each other. `Display` is one line, without the program name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--live` together with `--map-dir`.
    LiveWithMapDir,
    /// `--no-relay` together with `-m` (which relays nothing anyway).
    NoRelayWithTtl,
    /// `--hook-timeout` without `--hook`.
    HookTimeoutWithoutHook,
    /// `--no-multicast` together with `-m` (a multicast TTL).
    NoMulticastWithTtl,
    /// `--no-multicast` without `--group`, and seeds of both address families.
    MixedSeedFamilies(MixedFamilies),
    /// `--max-dead-after` below `--dead-after` (given or default).
    MaxDeadAfterBelowDeadAfter {
        /// `--max-dead-after`.
        max_dead_after: u16,
        /// `--dead-after`, or its default.
        dead_after: u16,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::LiveWithMapDir => f.write_str("--live and --map-dir exclude each other"),
            ConfigError::NoRelayWithTtl => f.write_str(
                "--no-relay and -m exclude each other (-m sends on the first interface only and relays nothing)",
            ),
            ConfigError::HookTimeoutWithoutHook => {
                f.write_str("--hook-timeout needs --hook")
            }
            ConfigError::NoMulticastWithTtl => f.write_str(
                "--no-multicast and -m exclude each other (-m is the TTL of multicast datagrams)",
            ),
            ConfigError::MixedSeedFamilies(mixed) => mixed.fmt(f),
            ConfigError::MaxDeadAfterBelowDeadAfter {
                max_dead_after,
                dead_after,
            } => write!(
                f,
                "--max-dead-after {max_dead_after} is less than --dead-after {dead_after}: it must be at least that (equal: a fixed deadline)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_omdiscd_args;

    fn config(args: &[&str]) -> Result<DaemonConfig, String> {
        let args = parse_omdiscd_args(args).map_err(|e| e.message)?;
        DaemonConfig::from_args(args).map_err(|e| e.to_string())
    }

    /// The seeds `config` loads, as text.
    fn seeds(config: &DaemonConfig) -> Vec<String> {
        let seeds = config.seeds.load().unwrap();
        seeds.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_without_options() {
        let config = config(&[]).unwrap();
        assert!(config.interfaces.is_empty());
        assert!(config.daemonize);
        assert_eq!(config.mode, InterfaceMode::Relay);
        assert_eq!(config.map_target, MapTarget::Alpha(PathBuf::from("/tmp")));
        assert_eq!(config.pid_file, Some(PathBuf::from("/var/run/omdiscd.pid")));
        assert_eq!(config.group, "239.255.77.77".parse::<IpAddr>().unwrap());
        assert_eq!(config.port, 7477);
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.expiry, ExpiryLimits::new(5, 25));
        assert_eq!(config.bandwidth, 128_000);
        assert_eq!(config.max_nodes, 65_535);
        assert_eq!(config.key_file, None);
        assert_eq!(config.node_id, None);
        assert_eq!(config.multicast_ttl(), 1);
    }

    #[test]
    fn hooks_metrics_and_no_relay() {
        let parsed = config(&[
            "-i",
            "a,b",
            "--no-relay",
            "--hook",
            "/usr/local/bin/on-event",
            "--hook-timeout",
            "2.5",
            "--metrics-listen",
            "9477",
            "--metrics-file",
            "/var/lib/node_exporter/omdisc.prom",
        ])
        .unwrap();
        assert_eq!(parsed.mode, InterfaceMode::NoRelay);
        assert_eq!(parsed.active_interface_count(), 2);
        assert_eq!(parsed.multicast_ttl(), 1);
        assert_eq!(
            parsed.hook,
            Some(HookConfig {
                path: PathBuf::from("/usr/local/bin/on-event"),
                timeout: Duration::from_millis(2500)
            })
        );
        assert_eq!(
            parsed.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9477)))
        );
        assert!(parsed.metrics_file.is_some());
        let defaults = config(&["--hook", "/h"]).unwrap();
        assert_eq!(defaults.hook.unwrap().timeout, Duration::from_secs(30));
        assert_eq!(defaults.metrics_listen, None);
        assert_eq!(defaults.mode, InterfaceMode::Relay);
        assert_eq!(
            config(&["--no-relay", "-m", "2"]).unwrap_err(),
            "--no-relay and -m exclude each other (-m sends on the first interface only and relays nothing)"
        );
        assert_eq!(
            config(&["--hook-timeout", "5"]).unwrap_err(),
            "--hook-timeout needs --hook"
        );
        assert!(config(&["--hook", ""]).is_err());
    }

    #[test]
    fn without_i_the_one_interface_of_the_route_is_active() {
        assert!(config(&[]).unwrap().interfaces.is_empty());
        assert_eq!(config(&[]).unwrap().active_interface_count(), 1);
        assert_eq!(
            config(&["--no-multicast"])
                .unwrap()
                .active_interface_count(),
            1
        );
        assert_eq!(config(&["-m", "2"]).unwrap().active_interface_count(), 1);
    }

    #[test]
    fn seeds_and_no_multicast() {
        let defaults = config(&[]).unwrap();
        assert!(defaults.multicast);
        assert!(!defaults.seeds.is_configured());
        let parsed = config(&[
            "--port",
            "9000",
            "--peer",
            "10.0.0.1",
            "--peer",
            "10.0.0.2:7477",
            "--no-multicast",
        ])
        .unwrap();
        assert!(!parsed.multicast);
        assert_eq!(seeds(&parsed), ["10.0.0.1:9000", "10.0.0.2:7477"]);
        assert_eq!(
            config(&["--no-multicast", "-m", "2"]).unwrap_err(),
            "--no-multicast and -m exclude each other (-m is the TTL of multicast datagrams)"
        );
    }

    #[test]
    fn no_multicast_without_group_takes_the_family_from_the_seeds() {
        let v6_group: IpAddr = "ff05::4d".parse().unwrap();
        let v6 = config(&[
            "--no-multicast",
            "--peer",
            "fd00::1",
            "--peer",
            "[fd00::2]:9000",
        ]);
        let v6 = v6.unwrap();
        assert_eq!(v6.group, v6_group);
        assert_eq!(seeds(&v6), ["[fd00::1]:7477", "[fd00::2]:9000"]);

        let dir = crate::test_dir::TempDir::new("config-seed-family");
        let file = dir.path().join("peers");
        std::fs::write(&file, "# seeds\nfd00::3\n").unwrap();
        let file = file.to_str().unwrap();
        let from_file = config(&["--no-multicast", "--peers-file", file]).unwrap();
        assert_eq!(from_file.group, v6_group);
        assert_eq!(seeds(&from_file), ["[fd00::3]:7477"]);

        // IPv4 seeds, no seeds, multicast, or an explicit group: as before.
        let v4_group: IpAddr = "239.255.77.77".parse().unwrap();
        for args in [
            &["--no-multicast", "--peer", "10.0.0.1"][..],
            &["--no-multicast"],
            &["--no-multicast", "--peers-file", "/nonexistent/peers"],
            &["--peer", "fd00::1"],
        ] {
            assert_eq!(config(args).unwrap().group, v4_group, "{args:?}");
        }
        let given = config(&["--no-multicast", "--group", "ff02::4d", "--peer", "fd00::1"]);
        assert_eq!(given.unwrap().group, "ff02::4d".parse::<IpAddr>().unwrap());

        // Both families: one line, also across --peer and the file.
        assert_eq!(
            config(&["--no-multicast", "--peer", "10.0.0.1", "--peer", "fd00::1"]).unwrap_err(),
            "--no-multicast without --group takes the address family from the seeds, but they mix IPv4 (10.0.0.1) and IPv6 (fd00::1): name seeds of one family"
        );
        let mixed = config(&["--no-multicast", "--peer", "10.0.0.9", "--peers-file", file]);
        assert!(mixed
            .unwrap_err()
            .contains("mix IPv4 (10.0.0.9) and IPv6 (fd00::3)"));
    }

    #[test]
    fn foreground_has_no_pid_file_unless_asked() {
        assert_eq!(config(&["-n"]).unwrap().pid_file, None);
        assert_eq!(
            config(&["-n", "--pid-file", "/run/x.pid"])
                .unwrap()
                .pid_file,
            Some(PathBuf::from("/run/x.pid"))
        );
    }

    #[test]
    fn every_option_is_parsed() {
        let config = config(&[
            "-i",
            "veth0,veth1",
            "-n",
            "-m",
            "2",
            "--map-dir",
            "/var/lib/omdisc",
            "--group",
            "ff05::4d",
            "--port",
            "9000",
            "--interval",
            "0.2",
            "--dead-after",
            "3",
            "--bandwidth",
            "64000",
            "--key-file",
            "/etc/omdisc.key",
            "--node-id",
            "2780",
        ])
        .unwrap();
        assert_eq!(config.interfaces, ["veth0", "veth1"]);
        assert!(!config.daemonize);
        assert_eq!(config.mode, InterfaceMode::MulticastTtl(2));
        assert_eq!(config.active_interface_count(), 1);
        assert_eq!(config.multicast_ttl(), 2);
        assert_eq!(
            config.map_target,
            MapTarget::Alpha(PathBuf::from("/var/lib/omdisc"))
        );
        assert_eq!(config.group, "ff05::4d".parse::<IpAddr>().unwrap());
        assert_eq!(config.port, 9000);
        assert_eq!(config.interval, Duration::from_millis(200));
        assert_eq!(config.expiry.min, 3);
        assert_eq!(config.bandwidth, 64_000);
        assert_eq!(config.key_file, Some(PathBuf::from("/etc/omdisc.key")));
        assert_eq!(config.node_id.map(NodeId::get), Some(2780));
    }

    #[test]
    fn long_option_names_of_the_short_ones() {
        let config = config(&[
            "--interface",
            "eth0",
            "--nodaemon",
            "--multicast-ttl",
            "255",
            "--live",
        ])
        .unwrap();
        assert_eq!(config.interfaces, ["eth0"]);
        assert!(!config.daemonize);
        assert_eq!(config.mode, InterfaceMode::MulticastTtl(255));
        assert_eq!(config.map_target, MapTarget::Live);
    }

    #[test]
    fn six_interfaces_are_accepted_and_seven_rejected() {
        let six = config(&["-i", "a,b,c,d,e,f"]).unwrap();
        assert_eq!(six.interfaces.len(), 6);
        assert_eq!(six.active_interface_count(), 6);
        assert_eq!(
            config(&["-i", "a,b,c,d,e,f,g"]).unwrap_err(),
            "too many interfaces for -i: 7 given, at most 6"
        );
    }

    #[test]
    fn bad_interface_lists_are_rejected() {
        assert!(config(&["-i", ""]).is_err());
        assert!(config(&["-i", "eth0,,eth1"]).is_err());
        assert!(config(&["-i", "eth0,"]).is_err());
        assert!(config(&["-i", "a-very-long-interface-name"]).is_err());
        assert!(config(&["-i", "et h0"]).is_err());
        assert!(config(&["-i", "../x"]).is_err());
        assert_eq!(
            config(&["-i", "eth0,eth0"]).unwrap_err(),
            "interface \"eth0\" is named twice in -i"
        );
    }

    #[test]
    fn ttl_bounds() {
        for bad in ["0", "256", "300", "-1", "", "x", " 1", "1.5"] {
            let err = config(&["-m", bad]).unwrap_err();
            assert!(err.starts_with("invalid multicast TTL"), "{bad}: {err}");
        }
        assert_eq!(config(&["-m", "1"]).unwrap().multicast_ttl(), 1);
    }

    #[test]
    fn interval_accepts_fractions_and_rounds_to_milliseconds() {
        let interval = |text: &str| config(&["--interval", text]).map(|c| c.interval);
        assert_eq!(interval("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(interval(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(interval("2."), Ok(Duration::from_secs(2)));
        assert_eq!(interval("0.0505"), Ok(Duration::from_millis(51)));
        assert_eq!(interval("0.05"), Ok(Duration::from_millis(50)));
        assert_eq!(interval("3600"), Ok(Duration::from_secs(3600)));
        for bad in [
            "0",
            "0.049",
            "3600.001",
            "-1",
            "1e3",
            "nan",
            "inf",
            "",
            ".",
            "1,5",
            "0x10",
            "9999999999",
        ] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dead_after_port_and_node_id_bounds() {
        assert!(config(&["--dead-after", "1"]).is_err());
        assert!(config(&["--dead-after", "1001"]).is_err());
        assert_eq!(config(&["--dead-after", "2"]).unwrap().expiry.min, 2);
        assert!(config(&["--port", "0"]).is_err());
        assert!(config(&["--port", "65536"]).is_err());
        assert_eq!(config(&["--port", "65535"]).unwrap().port, 65535);
        assert!(config(&["--node-id", "0"]).is_err());
        assert!(config(&["--node-id", "65536"]).is_err());
        assert_eq!(
            config(&["--node-id", "1"])
                .unwrap()
                .node_id
                .map(NodeId::get),
            Some(1)
        );
    }

    #[test]
    fn max_dead_after_is_at_least_dead_after() {
        let expiry = |args: &[&str]| config(args).map(|c| (c.expiry.min, c.expiry.max));
        assert_eq!(expiry(&[]), Ok((5, DEFAULT_MAX_DEAD_AFTER)));
        assert_eq!(expiry(&["--max-dead-after", "40"]), Ok((5, 40)));
        assert_eq!(expiry(&["--max-dead-after", "5"]), Ok((5, 5)));
        assert_eq!(
            expiry(&["--dead-after", "3", "--max-dead-after", "3"]),
            Ok((3, 3))
        );
        // A --dead-after above the default maximum raises the maximum with it.
        assert_eq!(expiry(&["--dead-after", "30"]), Ok((30, 30)));
        assert_eq!(
            expiry(&["--dead-after", "8", "--max-dead-after", "4"]),
            Err(
                "--max-dead-after 4 is less than --dead-after 8: it must be at least that (equal: a fixed deadline)"
                    .to_owned()
            )
        );
        // Below the default --dead-after is refused the same way.
        assert!(expiry(&["--max-dead-after", "3"])
            .unwrap_err()
            .contains("--dead-after 5"));
        for bad in ["1", "1001", "", "x", "-5"] {
            let error = expiry(&["--max-dead-after", bad]).unwrap_err();
            assert!(error.starts_with("invalid --max-dead-after"), "{error}");
        }
    }

    #[test]
    fn bandwidth_is_zero_or_within_bounds() {
        let bandwidth = |text: &str| config(&["--bandwidth", text]).map(|c| c.bandwidth);
        assert_eq!(bandwidth("0"), Ok(0));
        assert_eq!(bandwidth("1000"), Ok(1000));
        assert_eq!(bandwidth("64000"), Ok(64_000));
        assert_eq!(bandwidth("1000000000"), Ok(1_000_000_000));
        for bad in [
            "999",
            "1",
            "1000000001",
            "-1",
            "",
            "1e6",
            "128k",
            " 64000",
            "0x10",
        ] {
            let err = bandwidth(bad).unwrap_err();
            assert!(err.starts_with("invalid --bandwidth"), "{bad}: {err}");
        }
    }

    #[test]
    fn max_nodes_bounds() {
        let max = |text: &str| config(&["--max-nodes", text]).map(|c| c.max_nodes);
        assert_eq!(max("1"), Ok(1));
        assert_eq!(max("1000"), Ok(1000));
        assert_eq!(max("65535"), Ok(65_535));
        for bad in ["0", "65536", "-1", "", "1k"] {
            assert!(
                max(bad).unwrap_err().starts_with("invalid --max-nodes"),
                "{bad}"
            );
        }
    }

    #[test]
    fn group_must_be_a_multicast_address() {
        assert_eq!(
            config(&["--group", "10.0.0.1"]).unwrap_err(),
            "--group 10.0.0.1 is not a multicast address"
        );
        assert!(config(&["--group", "fe80::1"]).is_err());
        assert!(config(&["--group", "239.1"]).is_err());
        assert!(config(&["--group", "224.0.0.251"]).is_ok());
    }

    #[test]
    fn live_and_map_dir_exclude_each_other() {
        assert_eq!(
            config(&["--live", "--map-dir", "/tmp"]).unwrap_err(),
            "--live and --map-dir exclude each other"
        );
        assert!(config(&["--map-dir", ""]).is_err());
    }
}
