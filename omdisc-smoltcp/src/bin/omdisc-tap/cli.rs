//! `omdisc-tap`'s command line (argh) and its validation into a [`TapConfig`].
//!
//! The options it shares with `omdiscd` (`--group`, `--port`, `--interval`, `--dead-after`,
//! `--key-file`, `--map-dir`) are checked by the daemon's own validation
//! (`omdisc_std::config`), so both programs accept the same values with the same messages
//! and defaults.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use omdisc_core::{NodeId, NodeIdError};
use omdisc_std::cli::{one_line, EarlyExit, OmdiscdArgs};
use omdisc_std::config::{ConfigError, DaemonConfig, MapTarget};
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Cidr, Ipv6Cidr};

/// Longest interface name Linux accepts (`IFNAMSIZ - 1`).
const MAX_INTERFACE_NAME: usize = 15;

/// omdisc-tap: an omdisc node on smoltcp, attached to a Linux TAP device with its own MAC and
/// IP address (the kernel's stack is not involved). It announces itself to the group, learns
/// the other nodes, logs membership changes to stderr and, with --map-dir, writes the same
/// om_mospe/om_config files as omdiscd (read them with showmap --map-dir DIR). SIGTERM or
/// SIGINT: send LEAVE and exit 0; SIGHUP: re-read the key file; SIGUSR1: toggle debug output.
#[derive(FromArgs, Debug, Default, PartialEq, Eq)]
#[argh(help_triggers("-h", "--help"))]
pub struct TapArgs {
    /// the TAP device to attach to (it must exist and be up: ip tuntap add dev NAME mode tap;
    /// ip link set NAME up)
    #[argh(option, arg_name = "NAME")]
    pub tap: String,

    /// the node's own address and prefix length on the TAP's network, IPv4 or IPv6 (the node
    /// id is its last two octets)
    #[argh(option, arg_name = "ADDR/PREFIX")]
    pub ip: String,

    /// the node's own Ethernet address (default 02:6f:6d followed by the last three bytes of
    /// the address)
    #[argh(option, arg_name = "MAC")]
    pub mac: Option<String>,

    /// multicast group, of the address's family (default 239.255.77.77)
    #[argh(option, arg_name = "ADDR")]
    pub group: Option<String>,

    /// UDP port (default 7477)
    #[argh(option, arg_name = "N")]
    pub port: Option<String>,

    /// announce interval in seconds, fractions allowed (default 1)
    #[argh(option, arg_name = "SECS")]
    pub interval: Option<String>,

    /// missed intervals after which a silent node is removed (default 5)
    #[argh(option, long = "dead-after", arg_name = "N")]
    pub dead_after: Option<String>,

    /// cluster key file (hex, as omdiscd's); without it the cluster is unauthenticated
    #[argh(option, long = "key-file", arg_name = "PATH")]
    pub key_file: Option<String>,

    /// write the map to DIR/om_mospe and DIR/om_config, atomically (default: no map files)
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<String>,
}

/// Parses `omdisc-tap`'s arguments (without the program name).
pub fn parse_tap_args(args: &[&str]) -> Result<TapArgs, EarlyExit> {
    TapArgs::from_args(&[crate::PROGRAM], args).map_err(|exit| match exit.status {
        Ok(()) => EarlyExit {
            message: exit.output,
            is_help: true,
        },
        Err(()) => EarlyExit {
            message: one_line(&exit.output),
            is_help: false,
        },
    })
}

/// The validated settings of one `omdisc-tap` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapConfig {
    /// TAP device name.
    pub tap: String,
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
    /// Missed intervals before a silent node expires.
    pub dead_after: u32,
    /// Cluster key file.
    pub key_file: Option<PathBuf>,
    /// Where to write the map, if anywhere.
    pub map_dir: Option<PathBuf>,
}

/// A rejected command-line value. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapConfigError {
    /// A name Linux cannot give an interface.
    BadTapName(String),
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
    /// `--group` and `--ip` are of different families.
    FamilyMismatch {
        /// The group.
        group: IpAddr,
        /// The node's address.
        address: IpAddr,
    },
    /// An option shared with `omdiscd` was refused by its validation.
    Shared(ConfigError),
}

impl fmt::Display for TapConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapConfigError::BadTapName(name) => write!(
                f,
                "invalid --tap {name:?}: at most {MAX_INTERFACE_NAME} characters, no '/', whitespace or control characters"
            ),
            TapConfigError::BadIp(text) => write!(
                f,
                "invalid --ip {text:?}: expected ADDR/PREFIX, e.g. 10.77.1.50/24 or fd00::50/64"
            ),
            TapConfigError::NotNodeAddress(ip) => {
                write!(f, "--ip {ip} cannot be a node's address")
            }
            TapConfigError::NodeId(ip, error) => write!(f, "--ip {ip}: {error}"),
            TapConfigError::BadMac(text) => write!(
                f,
                "invalid --mac {text:?}: expected six hex bytes, e.g. 02:6f:6d:4d:01:32"
            ),
            TapConfigError::NotUnicastMac(mac) => {
                write!(f, "--mac {mac} is not a unicast Ethernet address")
            }
            TapConfigError::FamilyMismatch { group, address } => write!(
                f,
                "--group {group} and --ip {address} are of different IP families"
            ),
            TapConfigError::Shared(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for TapConfigError {}

impl TapConfig {
    /// Validates the raw command line.
    pub fn from_args(args: &TapArgs) -> Result<TapConfig, TapConfigError> {
        let shared = shared_options(args)?;
        let tap = parse_tap_name(&args.tap)?;
        let cidr = parse_cidr(&args.ip)?;
        let address: IpAddr = cidr.address().into();
        let node_id = NodeId::from_ip(address).map_err(|e| TapConfigError::NodeId(address, e))?;
        let mac = match &args.mac {
            Some(text) => parse_mac(text)?,
            None => default_mac(address),
        };
        if shared.group.is_ipv4() != address.is_ipv4() {
            return Err(TapConfigError::FamilyMismatch {
                group: shared.group,
                address,
            });
        }
        let map_dir = match (&args.map_dir, shared.map_target) {
            (Some(_), MapTarget::Alpha(dir)) => Some(dir),
            _ => None,
        };
        Ok(TapConfig {
            tap,
            cidr,
            node_id,
            mac,
            group: shared.group,
            port: shared.port,
            interval: shared.interval,
            dead_after: shared.dead_after,
            key_file: shared.key_file,
            map_dir,
        })
    }
}

/// The options shared with `omdiscd`, validated as `omdiscd` validates them.
fn shared_options(args: &TapArgs) -> Result<DaemonConfig, TapConfigError> {
    let daemon_args = OmdiscdArgs {
        nodaemon: true,
        group: args.group.clone(),
        port: args.port.clone(),
        interval: args.interval.clone(),
        dead_after: args.dead_after.clone(),
        key_file: args.key_file.clone(),
        map_dir: args.map_dir.clone(),
        ..OmdiscdArgs::default()
    };
    DaemonConfig::from_args(&daemon_args).map_err(TapConfigError::Shared)
}

fn parse_tap_name(name: &str) -> Result<String, TapConfigError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_INTERFACE_NAME
        && name
            .chars()
            .all(|c| c != '/' && !c.is_whitespace() && !c.is_control());
    if valid {
        Ok(name.to_owned())
    } else {
        Err(TapConfigError::BadTapName(name.to_owned()))
    }
}

fn parse_cidr(text: &str) -> Result<IpCidr, TapConfigError> {
    let bad = || TapConfigError::BadIp(text.to_owned());
    let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if !omdisc_core::addr::is_node_address(address) {
        return Err(TapConfigError::NotNodeAddress(address));
    }
    match address {
        IpAddr::V4(v4) if prefix <= 32 => Ok(IpCidr::Ipv4(Ipv4Cidr::new(v4, prefix))),
        IpAddr::V6(v6) if prefix <= 128 => Ok(IpCidr::Ipv6(Ipv6Cidr::new(v6, prefix))),
        _ => Err(bad()),
    }
}

fn parse_mac(text: &str) -> Result<EthernetAddress, TapConfigError> {
    let bad = || TapConfigError::BadMac(text.to_owned());
    let mut bytes = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut bytes {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    let mac = EthernetAddress(bytes);
    if !mac.is_unicast() || bytes == [0; 6] {
        return Err(TapConfigError::NotUnicastMac(mac));
    }
    Ok(mac)
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

    fn config(args: &[&str]) -> Result<TapConfig, String> {
        let args = parse_tap_args(args).map_err(|e| e.message)?;
        TapConfig::from_args(&args).map_err(|e| e.to_string())
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
        assert_eq!(config.dead_after, 5);
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
        assert_eq!(config.dead_after, 3);
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
