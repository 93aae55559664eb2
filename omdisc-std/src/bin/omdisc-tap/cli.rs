//! `omdisc-tap`'s command line (argh) and its settings, [`TapConfig`].
//!
//! The options it shares with `omdiscd` (`--group`, `--port`, `--interval`, `--dead-after`,
//! `--max-dead-after`, `--key-file`, `--map-dir`) are parsed into the same types ([`omdisc_std::values`]), so
//! both programs accept the same values with the same messages and defaults; `--tap`,
//! `--ip` and `--mac` are its own.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use argh::FromArgs;
use omdisc_core::{DeadAfter as ExpiryLimits, NodeId, NodeIdError};
use omdisc_std::config::{self, DEFAULT_GROUP, DEFAULT_INTERVAL, DEFAULT_PORT};
use omdisc_std::values::{
    DeadAfter, Group, InterfaceName, Interval, KeyFilePath, MapDir, MaxDeadAfter, Port, TapName,
};
use smoltcp::wire::{EthernetAddress, IpCidr};

/// omdisc-tap: an omdisc node on smoltcp, attached to a Linux TAP device with its own MAC and
/// IP address (the kernel's stack is not involved). It announces itself to the group, learns
/// the other nodes, logs membership changes to stderr and, with --map-dir, writes the same
/// om_mospe/om_config files as omdiscd (read them with showmap --map-dir DIR). SIGTERM or
/// SIGINT: send LEAVE and exit 0; SIGHUP: re-read the key file; SIGUSR1: toggle debug output.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(help_triggers("-h", "--help"))]
pub struct TapArgs {
    /// the TAP device to attach to (it must exist and be up: ip tuntap add dev NAME mode tap;
    /// ip link set NAME up)
    #[argh(option, arg_name = "NAME")]
    pub tap: TapName,

    /// the node's own address and prefix length on the TAP's network, IPv4 or IPv6 (the node
    /// id is its last two octets)
    #[argh(option, arg_name = "ADDR/PREFIX")]
    pub ip: NodeCidr,

    /// the node's own Ethernet address (default 02:6f:6d followed by the last three bytes of
    /// the address)
    #[argh(option, arg_name = "MAC")]
    pub mac: Option<UnicastMac>,

    /// multicast group, of the address's family (default 239.255.77.77)
    #[argh(option, arg_name = "ADDR")]
    pub group: Option<Group>,

    /// UDP port (default 7477)
    #[argh(option, arg_name = "N")]
    pub port: Option<Port>,

    /// announce interval in seconds, fractions allowed (default 1)
    #[argh(option, arg_name = "SECS")]
    pub interval: Option<Interval>,

    /// missed intervals after which a silent node is removed (default 5)
    #[argh(option, long = "dead-after", arg_name = "N")]
    pub dead_after: Option<DeadAfter>,

    /// most missed intervals before a silent node is removed on a lossy link, as omdiscd's
    /// (default 25, at least --dead-after; equal to --dead-after: a fixed deadline)
    #[argh(option, long = "max-dead-after", arg_name = "N")]
    pub max_dead_after: Option<MaxDeadAfter>,

    /// cluster key file (hex, as omdiscd's); without it the cluster is unauthenticated
    #[argh(option, long = "key-file", arg_name = "PATH")]
    pub key_file: Option<KeyFilePath>,

    /// write the map to DIR/om_mospe and DIR/om_config, atomically (default: no map files)
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<MapDir>,
}

/// `--ip ADDR/PREFIX`: an address a node can have, with the node id it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCidr {
    /// The address and prefix.
    pub cidr: IpCidr,
    /// The node id: the address's last two octets.
    pub node_id: NodeId,
}

impl FromStr for NodeCidr {
    type Err = TapValueError;

    fn from_str(text: &str) -> Result<Self, TapValueError> {
        let cidr = IpCidr::from_str(text).map_err(|()| TapValueError::BadIp(text.to_owned()))?;
        let address: IpAddr = cidr.address().into();
        if !omdisc_core::is_node_address(address) {
            return Err(TapValueError::NotNodeAddress(address));
        }
        let node_id = NodeId::from_ip(address).map_err(|e| TapValueError::NodeId(address, e))?;
        Ok(NodeCidr { cidr, node_id })
    }
}

/// `--mac MAC`: a unicast Ethernet address, not all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastMac(pub EthernetAddress);

impl FromStr for UnicastMac {
    type Err = TapValueError;

    fn from_str(text: &str) -> Result<Self, TapValueError> {
        let mac =
            EthernetAddress::from_str(text).map_err(|()| TapValueError::BadMac(text.to_owned()))?;
        if !mac.is_unicast() || mac.0 == [0; 6] {
            return Err(TapValueError::NotUnicastMac(mac));
        }
        Ok(UnicastMac(mac))
    }
}

/// A refused `--ip` or `--mac`. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapValueError {
    /// `--ip` is not `ADDR/PREFIX`.
    BadIp(String),
    /// `--ip`'s address cannot be a node's (multicast, unspecified, broadcast).
    NotNodeAddress(IpAddr),
    /// `--ip`'s address gives node id 0.
    NodeId(IpAddr, NodeIdError),
    /// `--mac` is not six hex bytes.
    BadMac(String),
    /// `--mac` is a multicast/broadcast address or all zeros.
    NotUnicastMac(EthernetAddress),
}

impl fmt::Display for TapValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapValueError::BadIp(text) => write!(
                f,
                "invalid --ip {text:?}: expected ADDR/PREFIX, e.g. 10.77.1.50/24 or fd00::50/64"
            ),
            TapValueError::NotNodeAddress(ip) => {
                write!(f, "--ip {ip} cannot be a node's address")
            }
            TapValueError::NodeId(ip, error) => write!(f, "--ip {ip}: {error}"),
            TapValueError::BadMac(text) => write!(
                f,
                "invalid --mac {text:?}: expected six hex bytes, e.g. 02:6f:6d:4d:01:32"
            ),
            TapValueError::NotUnicastMac(mac) => {
                write!(f, "--mac {mac} is not a unicast Ethernet address")
            }
        }
    }
}

impl std::error::Error for TapValueError {}

/// The settings of one `omdisc-tap` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapConfig {
    /// TAP device name.
    pub tap: InterfaceName,
    /// The node's address and prefix.
    pub cidr: IpCidr,
    /// The node's id, from the address.
    pub node_id: NodeId,
    /// The node's Ethernet address.
    pub mac: EthernetAddress,
    /// Multicast group (same family as the address).
    pub group: IpAddr,
    /// UDP port.
    pub port: u16,
    /// Announce interval.
    pub interval: Duration,
    /// Missed intervals before a silent node expires: `min` on a clean network, up to `max`
    /// on a lossy one.
    pub expiry: ExpiryLimits,
    /// Cluster key file.
    pub key_file: Option<PathBuf>,
    /// Where to write the map, if anywhere.
    pub map_dir: Option<PathBuf>,
}

/// Options that do not go together. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapConfigError {
    /// `--group` and `--ip` of different IP families.
    FamilyMismatch {
        /// The group.
        group: IpAddr,
        /// The node's address.
        address: IpAddr,
    },
    /// `--dead-after` and `--max-dead-after` do not go together (as `omdiscd`'s).
    Expiry(config::ConfigError),
}

impl fmt::Display for TapConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapConfigError::FamilyMismatch { group, address } => write!(
                f,
                "--group {group} and --ip {address} are of different IP families"
            ),
            TapConfigError::Expiry(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for TapConfigError {}

impl TapConfig {
    /// The settings of a parsed command line: its values, the defaults (`omdiscd`'s) for
    /// the options not given, and a group of the address's family.
    pub fn from_args(args: TapArgs) -> Result<TapConfig, TapConfigError> {
        let address: IpAddr = args.ip.cidr.address().into();
        let group = args.group.map_or(DEFAULT_GROUP, |g| g.get());
        if group.is_ipv4() != address.is_ipv4() {
            return Err(TapConfigError::FamilyMismatch { group, address });
        }
        let expiry = config::expiry_limits(args.dead_after, args.max_dead_after)
            .map_err(TapConfigError::Expiry)?;
        Ok(TapConfig {
            tap: args.tap.into_name(),
            cidr: args.ip.cidr,
            node_id: args.ip.node_id,
            mac: args.mac.map_or_else(|| default_mac(address), |m| m.0),
            group,
            port: args.port.map_or(DEFAULT_PORT, |p| p.get()),
            interval: args.interval.map_or(DEFAULT_INTERVAL, |i| i.get()),
            expiry,
            key_file: args.key_file.map(KeyFilePath::into_path),
            map_dir: args.map_dir.map(MapDir::into_path),
        })
    }
}

/// `02:6f:6d` ("om", locally administered) and the address's last three bytes.
fn default_mac(address: IpAddr) -> EthernetAddress {
    let last = match address {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            [o[1], o[2], o[3]]
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[13], o[14], o[15]]
        }
    };
    EthernetAddress([0x02, 0x6f, 0x6d, last[0], last[1], last[2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use omdisc_std::cli::parse_args;

    fn config(args: &[&str]) -> Result<TapConfig, String> {
        let args: TapArgs = parse_args(crate::PROGRAM, args).map_err(|e| e.message)?;
        TapConfig::from_args(args).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_omdiscds() {
        let config = config(&["--tap", "tap0", "--ip", "10.77.1.50/24"]).unwrap();
        assert_eq!(config.tap, "tap0");
        assert_eq!(config.node_id.get(), 306);
        assert_eq!(config.mac, EthernetAddress([2, 0x6f, 0x6d, 77, 1, 50]));
        assert_eq!(config.group, "239.255.77.77".parse::<IpAddr>().unwrap());
        assert_eq!(config.port, 7477);
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.expiry, ExpiryLimits::new(5, 25));
        assert_eq!(config.key_file, None);
        assert_eq!(config.map_dir, None);
    }

    #[test]
    fn every_option_is_parsed() {
        let config = config(&[
            "--tap",
            "omt0",
            "--ip",
            "fd00::1:132/64",
            "--mac",
            "02:AA:bb:cc:dd:01",
            "--group",
            "ff05::4d",
            "--port",
            "9000",
            "--interval",
            "0.5",
            "--dead-after",
            "3",
            "--max-dead-after",
            "12",
            "--key-file",
            "/etc/omdisc.key",
            "--map-dir",
            "/tmp/m",
        ])
        .unwrap();
        assert_eq!(config.node_id.get(), 0x0132);
        assert_eq!(config.mac, EthernetAddress([2, 0xaa, 0xbb, 0xcc, 0xdd, 1]));
        assert_eq!(config.port, 9000);
        assert_eq!(config.interval, Duration::from_millis(500));
        assert_eq!(config.expiry, ExpiryLimits::new(3, 12));
        assert_eq!(config.key_file, Some(PathBuf::from("/etc/omdisc.key")));
        assert_eq!(config.map_dir, Some(PathBuf::from("/tmp/m")));
    }

    #[test]
    fn tap_and_ip_are_required() {
        assert!(config(&["--tap", "tap0"]).unwrap_err().contains("--ip"));
        assert!(config(&["--ip", "10.0.0.1/24"])
            .unwrap_err()
            .contains("--tap"));
    }

    #[test]
    fn bad_values_get_one_line_each() {
        let cases: &[(&[&str], &str)] = &[
            (&["--ip", "10.0.0.1"], "invalid --ip"),
            (&["--ip", "10.0.0.1/33"], "invalid --ip"),
            (&["--ip", "10.0.0.1/"], "invalid --ip"),
            (&["--ip", "10.0.0/24"], "invalid --ip"),
            (&["--ip", "239.1.1.1/24"], "cannot be a node's address"),
            (&["--ip", "10.1.0.0/16"], "node id 0"),
            (&["--mac", "02:00:00:00:00"], "invalid --mac"),
            (&["--mac", "02:00:00:00:00:0g"], "invalid --mac"),
            (&["--mac", "01:00:5e:00:00:01"], "not a unicast"),
            (&["--group", "ff05::4d"], "different IP families"),
            (&["--group", "10.0.0.9"], "not a multicast address"),
            (&["--port", "0"], "invalid --port"),
            (&["--interval", "0"], "invalid --interval"),
            (&["--dead-after", "1"], "invalid --dead-after"),
            (&["--max-dead-after", "0"], "invalid --max-dead-after"),
            (&["--max-dead-after", "4"], "less than --dead-after 5"),
            (&["--map-dir", ""], "empty path"),
        ];
        for (extra, expected) in cases {
            let mut args = vec!["--tap", "tap0"];
            if extra[0] != "--ip" {
                args.extend_from_slice(&["--ip", "10.0.0.1/24"]);
            }
            args.extend_from_slice(extra);
            let error = config(&args).unwrap_err();
            assert!(error.contains(expected), "{extra:?}: {error}");
            assert!(!error.contains('\n'), "{extra:?}: {error}");
        }
        let error = config(&["--tap", "a/b", "--ip", "10.0.0.1/24"]).unwrap_err();
        assert!(error.starts_with("invalid --tap"), "{error}");
    }
}
