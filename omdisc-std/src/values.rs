//! Typed command-line values, shared by `omdiscd` and `omdisc-tap`.
//!
//! argh parses each option's value into one of these types (through `FromStr`), so a
//! program never holds an unchecked value and both programs accept the same values with
//! the same messages. A refused value is a [`ValueError`], whose `Display` is the one line the user
//! sees ([`crate::cli`] drops argh's own prefix from it).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use omdisc_core::NodeId;

/// Most interfaces one daemon serves (as the original).
pub const MAX_INTERFACES: usize = 6;
/// Longest interface name Linux accepts (`IFNAMSIZ - 1`).
pub const MAX_INTERFACE_NAME: usize = 15;
/// Shortest accepted announce interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Longest accepted announce interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Smallest accepted `--dead-after` (one missed datagram must not expire a node).
pub const MIN_DEAD_AFTER: u16 = 2;
/// Largest accepted `--dead-after`.
pub const MAX_DEAD_AFTER: u16 = 1000;
/// Smallest non-zero `--bandwidth` (bits per second): less would stretch even a two-node
/// cluster's interval past a second.
pub const MIN_BANDWIDTH: u32 = 1_000;
/// Largest `--bandwidth` (bits per second): 1 Gbit/s.
pub const MAX_BANDWIDTH: u32 = 1_000_000_000;

/// A refused command-line value. `Display` is one line, without the program name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// More than [`MAX_INTERFACES`] interfaces.
    TooManyInterfaces(usize),
    /// An empty name in the `-i` list (e.g. `eth0,,eth1`).
    EmptyInterfaceName,
    /// A name Linux cannot have (too long, or with `/`, whitespace or control characters).
    BadInterfaceName(String),
    /// The same interface twice.
    DuplicateInterface(String),
    /// `--tap` is not a name Linux can give an interface.
    BadTapName(String),
    /// `-m` outside 1..=255 or not a number.
    BadTtl(String),
    /// An option that takes a path was given an empty string.
    EmptyPath(&'static str),
    /// `--group` is not an IP address.
    BadGroup(String),
    /// `--group` is an address but not a multicast one.
    NotMulticast(IpAddr),
    /// `--port` outside 1..=65535 or not a number.
    BadPort(String),
    /// `--interval` not a number of seconds within bounds.
    BadInterval(String),
    /// `--dead-after` not a whole number within bounds.
    BadDeadAfter(String),
    /// `--max-dead-after` not a whole number within bounds.
    BadMaxDeadAfter(String),
    /// `--node-id` outside 1..=65535 or not a number.
    BadNodeId(String),
    /// `--bandwidth` neither 0 nor a whole number within bounds.
    BadBandwidth(String),
    /// `--max-nodes` outside 1..=65535 or not a number.
    BadMaxNodes(String),
    /// `--peer` is not a usable `ADDR[:PORT]`.
    BadPeer(String, PeerError),
}

/// How an interface name may look, for the messages.
const NAME_RULE: &str = "no '/', whitespace or control characters";

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::TooManyInterfaces(n) => write!(
                f,
                "too many interfaces for -i: {n} given, at most {MAX_INTERFACES}"
            ),
            ValueError::EmptyInterfaceName => f.write_str("empty interface name in the -i list"),
            ValueError::BadInterfaceName(name) => write!(
                f,
                "invalid interface name {name:?}: at most {MAX_INTERFACE_NAME} characters, {NAME_RULE}"
            ),
            ValueError::DuplicateInterface(name) => {
                write!(f, "interface {name:?} is named twice in -i")
            }
            ValueError::BadTapName(name) => write!(
                f,
                "invalid --tap {name:?}: at most {MAX_INTERFACE_NAME} characters, {NAME_RULE}"
            ),
            ValueError::BadTtl(text) => write!(
                f,
                "invalid multicast TTL {text:?} for -m: expected a whole number from 1 to 255"
            ),
            ValueError::EmptyPath(option) => write!(f, "empty path for {option}"),
            ValueError::BadGroup(text) => write!(
                f,
                "invalid --group {text:?}: expected an IPv4 or IPv6 multicast address"
            ),
            ValueError::NotMulticast(addr) => {
                write!(f, "--group {addr} is not a multicast address")
            }
            ValueError::BadPort(text) => write!(
                f,
                "invalid --port {text:?}: expected a whole number from 1 to 65535"
            ),
            ValueError::BadInterval(text) => write!(
                f,
                "invalid --interval {text:?}: expected seconds from {} to {} (fractions allowed, e.g. 0.2)",
                MIN_INTERVAL.as_secs_f64(),
                MAX_INTERVAL.as_secs()
            ),
            ValueError::BadDeadAfter(text) => write!(
                f,
                "invalid --dead-after {text:?}: expected a whole number of intervals from {MIN_DEAD_AFTER} to {MAX_DEAD_AFTER}"
            ),
            ValueError::BadMaxDeadAfter(text) => write!(
                f,
                "invalid --max-dead-after {text:?}: expected a whole number of intervals from {MIN_DEAD_AFTER} to {MAX_DEAD_AFTER}"
            ),
            ValueError::BadNodeId(text) => write!(
                f,
                "invalid --node-id {text:?}: expected a whole number from 1 to 65535"
            ),
            ValueError::BadBandwidth(text) => write!(
                f,
                "invalid --bandwidth {text:?}: expected bits per second from {MIN_BANDWIDTH} to {MAX_BANDWIDTH}, or 0 for no limit"
            ),
            ValueError::BadMaxNodes(text) => write!(
                f,
                "invalid --max-nodes {text:?}: expected a whole number from 1 to 65535"
            ),
            ValueError::BadPeer(text, why) => write!(f, "invalid --peer {text:?}: {why}"),
        }
    }
}

impl std::error::Error for ValueError {}

/// A name Linux can give a network interface: 1 to [`MAX_INTERFACE_NAME`] characters,
/// none of them `/`, whitespace or a control character.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceName(String);

impl InterfaceName {
    /// `name` if Linux can give it to an interface.
    pub fn new(name: &str) -> Option<InterfaceName> {
        let valid = !name.is_empty()
            && name.len() <= MAX_INTERFACE_NAME
            && name
                .chars()
                .all(|c| c != '/' && !c.is_whitespace() && !c.is_control());
        valid.then(|| InterfaceName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for InterfaceName {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        InterfaceName::new(text).ok_or_else(|| ValueError::BadInterfaceName(text.to_owned()))
    }
}

impl PartialEq<&str> for InterfaceName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `-i IF[,IF...]`: one to [`MAX_INTERFACES`] distinct interface names, in the order given
/// (the first is the primary one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceList(Vec<InterfaceName>);

impl InterfaceList {
    /// The names, in command-line order.
    pub fn names(&self) -> &[InterfaceName] {
        &self.0
    }

    /// The names, in command-line order.
    pub fn into_names(self) -> Vec<InterfaceName> {
        self.0
    }
}

impl FromStr for InterfaceList {
    type Err = ValueError;

    fn from_str(list: &str) -> Result<Self, ValueError> {
        let names: Vec<&str> = list.split(',').collect();
        if names.len() > MAX_INTERFACES {
            return Err(ValueError::TooManyInterfaces(names.len()));
        }
        let mut interfaces: Vec<InterfaceName> = Vec::with_capacity(names.len());
        for name in names {
            if name.is_empty() {
                return Err(ValueError::EmptyInterfaceName);
            }
            let name = InterfaceName::new(name)
                .ok_or_else(|| ValueError::BadInterfaceName(name.to_owned()))?;
            if interfaces.contains(&name) {
                return Err(ValueError::DuplicateInterface(name.0));
            }
            interfaces.push(name);
        }
        Ok(InterfaceList(interfaces))
    }
}

/// `-m TTL`: a multicast TTL (IPv4) or hop limit (IPv6), 1 to 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(u8);

impl Ttl {
    /// The TTL.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl FromStr for Ttl {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match decimal(text) {
            Some(ttl @ 1..=255) => Ok(Ttl(ttl as u8)),
            _ => Err(ValueError::BadTtl(text.to_owned())),
        }
    }
}

/// `--group ADDR`: an IPv4 or IPv6 multicast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(IpAddr);

impl Group {
    /// The group address.
    pub fn get(self) -> IpAddr {
        self.0
    }
}

impl FromStr for Group {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let group: IpAddr = text
            .parse()
            .map_err(|_| ValueError::BadGroup(text.to_owned()))?;
        if !group.is_multicast() {
            return Err(ValueError::NotMulticast(group));
        }
        Ok(Group(group))
    }
}

/// `--port N`: a UDP port, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(u16);

impl Port {
    /// The port.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for Port {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match decimal(text) {
            Some(port @ 1..=65535) => Ok(Port(port as u16)),
            _ => Err(ValueError::BadPort(text.to_owned())),
        }
    }
}

/// `--interval SECS`: seconds as `DIGITS[.DIGITS]`, rounded to whole milliseconds, from
/// [`MIN_INTERVAL`] to [`MAX_INTERVAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(Duration);

impl Interval {
    /// The interval.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Interval {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match seconds(text) {
            Some(interval) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) => {
                Ok(Interval(interval))
            }
            _ => Err(ValueError::BadInterval(text.to_owned())),
        }
    }
}

/// Seconds as `DIGITS[.DIGITS]` (at most six whole digits), rounded to whole milliseconds;
/// `None` for anything else (signs, exponents, spaces, `nan`).
pub fn seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits_only(whole)
        || !digits_only(fraction)
        || whole.len() > 6
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Milliseconds from the first three fraction digits, rounded half up by the fourth.
    let mut millis = 0u64;
    for (position, digit) in fraction.bytes().take(4).enumerate() {
        let digit = u64::from(digit - b'0');
        millis += match position {
            0 => digit * 100,
            1 => digit * 10,
            2 => digit,
            _ => u64::from(digit >= 5),
        };
    }
    Some(Duration::from_millis(whole * 1000 + millis))
}

/// `--dead-after N`: missed intervals, [`MIN_DEAD_AFTER`] to [`MAX_DEAD_AFTER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadAfter(u16);

impl DeadAfter {
    /// The number of intervals.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for DeadAfter {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        missed_intervals(text)
            .map(DeadAfter)
            .ok_or_else(|| ValueError::BadDeadAfter(text.to_owned()))
    }
}

/// `--max-dead-after N`: most missed intervals on a lossy network, [`MIN_DEAD_AFTER`] to
/// [`MAX_DEAD_AFTER`] (that it is at least `--dead-after` is checked in [`crate::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxDeadAfter(u16);

impl MaxDeadAfter {
    /// The number of intervals.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for MaxDeadAfter {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        missed_intervals(text)
            .map(MaxDeadAfter)
            .ok_or_else(|| ValueError::BadMaxDeadAfter(text.to_owned()))
    }
}

/// A whole number of intervals from [`MIN_DEAD_AFTER`] to [`MAX_DEAD_AFTER`].
fn missed_intervals(text: &str) -> Option<u16> {
    decimal(text)
        .filter(|n| (u64::from(MIN_DEAD_AFTER)..=u64::from(MAX_DEAD_AFTER)).contains(n))
        .and_then(|n| u16::try_from(n).ok())
}

/// `--bandwidth BITS_PER_S`: 0 (no budget) or [`MIN_BANDWIDTH`] to [`MAX_BANDWIDTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth(u32);

impl Bandwidth {
    /// Bits per second; 0 means no budget.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for Bandwidth {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        // Up to ten digits: MAX_BANDWIDTH has ten.
        let digits =
            !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
        match digits.then(|| text.parse::<u64>().ok()).flatten() {
            Some(0) => Ok(Bandwidth(0)),
            Some(bits) if (u64::from(MIN_BANDWIDTH)..=u64::from(MAX_BANDWIDTH)).contains(&bits) => {
                Ok(Bandwidth(bits as u32))
            }
            _ => Err(ValueError::BadBandwidth(text.to_owned())),
        }
    }
}

/// `--max-nodes N`: most members the map holds, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxNodes(u16);

impl MaxNodes {
    /// The number of nodes.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for MaxNodes {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        match decimal(text) {
            Some(n @ 1..=65535) => Ok(MaxNodes(n as u16)),
            _ => Err(ValueError::BadMaxNodes(text.to_owned())),
        }
    }
}

/// `--node-id ID`: a node id, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeIdValue(NodeId);

impl NodeIdValue {
    /// The node id.
    pub fn get(self) -> NodeId {
        self.0
    }
}

impl FromStr for NodeIdValue {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        decimal(text)
            .and_then(|id| u16::try_from(id).ok())
            .and_then(NodeId::new)
            .map(NodeIdValue)
            .ok_or_else(|| ValueError::BadNodeId(text.to_owned()))
    }
}

/// Why a peer address (`--peer`, a line of `--peers-file`) was refused. `Display` is the
/// reason alone, without the text or where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerError {
    /// Neither `ADDR`, `IPV4:PORT` nor `[IPV6]:PORT`.
    Syntax,
    /// Port 0.
    ZeroPort,
    /// A multicast address (the group is `--group`'s business).
    Multicast,
    /// The unspecified address (`0.0.0.0`, `::`) or the IPv4 broadcast address.
    NotAHost,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerError::Syntax => {
                "expected ADDR or ADDR:PORT, an IPv4 or IPv6 address (IPv6 with a port as [ADDR]:PORT)"
            }
            PeerError::ZeroPort => "the port must be from 1 to 65535",
            PeerError::Multicast => {
                "a multicast address is not a peer (the group is set with --group)"
            }
            PeerError::NotAHost => "not the address of a host",
        })
    }
}

impl std::error::Error for PeerError {}

/// A peer (seed) as written: `ADDR`, `IPV4:PORT` or `[IPV6]:PORT`; without a port, the
/// daemon's `--port` applies ([`PeerAddr::socket_addr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr {
    address: IpAddr,
    port: Option<u16>,
}

impl PeerAddr {
    /// Parses one peer, refusing what cannot be a host's unicast address.
    pub fn parse(text: &str) -> Result<PeerAddr, PeerError> {
        let peer = match text.parse::<SocketAddr>() {
            Ok(socket) if socket.port() == 0 => return Err(PeerError::ZeroPort),
            Ok(socket) => PeerAddr {
                address: socket.ip(),
                port: Some(socket.port()),
            },
            Err(_) => PeerAddr {
                address: text.parse().map_err(|_| PeerError::Syntax)?,
                port: None,
            },
        };
        let address = peer.address;
        if address.is_multicast() {
            return Err(PeerError::Multicast);
        }
        let broadcast = matches!(address, IpAddr::V4(v4) if v4.is_broadcast());
        if address.is_unspecified() || broadcast {
            return Err(PeerError::NotAHost);
        }
        Ok(peer)
    }

    /// The address.
    pub fn address(self) -> IpAddr {
        self.address
    }

    /// The port written, if one was.
    pub fn port(self) -> Option<u16> {
        self.port
    }

    /// Where datagrams to this peer go: its port, or `default_port` if none was written.
    pub fn socket_addr(self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.address, self.port.unwrap_or(default_port))
    }
}

impl FromStr for PeerAddr {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        PeerAddr::parse(text).map_err(|why| ValueError::BadPeer(text.to_owned(), why))
    }
}

/// `--tap NAME`: the name of the TAP device of `omdisc-tap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapName(InterfaceName);

impl TapName {
    /// The name.
    pub fn into_name(self) -> InterfaceName {
        self.0
    }
}

impl FromStr for TapName {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        InterfaceName::new(text)
            .map(TapName)
            .ok_or_else(|| ValueError::BadTapName(text.to_owned()))
    }
}

/// Defines a path option's type: a path that is not empty.
macro_rules! path_option {
    ($(#[$doc:meta])* $name:ident, $option:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(PathBuf);

        impl $name {
            /// The path.
            pub fn into_path(self) -> PathBuf {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ValueError;

            fn from_str(text: &str) -> Result<Self, ValueError> {
                if text.is_empty() {
                    return Err(ValueError::EmptyPath($option));
                }
                Ok($name(PathBuf::from(text)))
            }
        }
    };
}

path_option!(
    /// `--map-dir DIR`.
    MapDir,
    "--map-dir"
);
path_option!(
    /// `--pid-file PATH`.
    PidFilePath,
    "--pid-file"
);
path_option!(
    /// `--key-file PATH`.
    KeyFilePath,
    "--key-file"
);
path_option!(
    /// `--counters-file PATH`.
    CountersFilePath,
    "--counters-file"
);
path_option!(
    /// `-f FILE` of `showmap`.
    MapFile,
    "-f"
);
path_option!(
    /// `--hook PATH`.
    HookPath,
    "--hook"
);
path_option!(
    /// `--peers-file PATH`.
    PeersFilePath,
    "--peers-file"
);
path_option!(
    /// `--metrics-file PATH`.
    MetricsFilePath,
    "--metrics-file"
);

/// A plain unsigned decimal: ASCII digits only (no sign, no spaces), at most 9 of them.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_linux_rules() {
        assert_eq!(InterfaceName::new("eth0").unwrap().as_str(), "eth0");
        assert!(InterfaceName::new("fifteen-chars-x").is_some());
        for bad in ["", "sixteen-chars-xx", "et h0", "../x", "a\tb"] {
            assert!(InterfaceName::new(bad).is_none(), "{bad:?}");
        }
        let error = "a/b".parse::<TapName>().unwrap_err().to_string();
        assert!(error.starts_with("invalid --tap"), "{error}");
    }

    #[test]
    fn paths_must_not_be_empty() {
        assert_eq!(
            "".parse::<MapDir>(),
            Err(ValueError::EmptyPath("--map-dir"))
        );
        assert_eq!(
            "/k".parse::<KeyFilePath>().map(KeyFilePath::into_path),
            Ok(PathBuf::from("/k"))
        );
        let error = "".parse::<MapFile>().unwrap_err().to_string();
        assert_eq!(error, "empty path for -f");
    }

    #[test]
    fn node_ids_are_one_to_65535() {
        let id = "2780".parse::<NodeIdValue>().unwrap();
        assert_eq!(id.get().get(), 2780);
        for bad in ["0", "65536", "-1", "", "1k"] {
            let error = bad.parse::<NodeIdValue>().unwrap_err().to_string();
            assert!(error.starts_with("invalid --node-id"), "{error}");
        }
    }

    #[test]
    fn peers_are_an_address_with_an_optional_port() {
        let peer = |text: &str| PeerAddr::parse(text);
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(
            peer("10.0.0.1").map(|p| (p.address(), p.port())),
            Ok((v4, None))
        );
        assert_eq!(peer("10.0.0.1:9000").map(|p| p.port()), Ok(Some(9000)));
        assert_eq!(
            peer("fd00::1").map(|p| (p.address(), p.port())),
            Ok((v6, None))
        );
        assert_eq!(peer("[fd00::1]:9000").map(|p| p.port()), Ok(Some(9000)));
        assert_eq!(
            peer("fd00::1").unwrap().socket_addr(7477),
            SocketAddr::new(v6, 7477)
        );
        assert_eq!(
            peer("10.0.0.1:9000").unwrap().socket_addr(7477),
            SocketAddr::new(v4, 9000)
        );
        for bad in [
            "",
            "x",
            "10.0.0",
            "10.0.0.1:",
            "10.0.0.1:65536",
            "fd00::1:9000x",
            "[fd00::1]",
            " 10.0.0.1",
            "host.example:7477",
        ] {
            assert_eq!(peer(bad), Err(PeerError::Syntax), "{bad:?}");
        }
        assert_eq!(peer("10.0.0.1:0"), Err(PeerError::ZeroPort));
        assert_eq!(peer("239.255.77.77"), Err(PeerError::Multicast));
        assert_eq!(peer("[ff02::1]:7477"), Err(PeerError::Multicast));
        assert_eq!(peer("0.0.0.0"), Err(PeerError::NotAHost));
        assert_eq!(peer("::"), Err(PeerError::NotAHost));
        assert_eq!(peer("255.255.255.255"), Err(PeerError::NotAHost));
        let error = "10.0.0.1:0".parse::<PeerAddr>().unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid --peer \"10.0.0.1:0\": the port must be from 1 to 65535"
        );
    }

    #[test]
    fn every_error_is_one_line() {
        let errors = [
            ValueError::TooManyInterfaces(7),
            ValueError::EmptyInterfaceName,
            ValueError::BadInterfaceName("x\ny".into()),
            ValueError::DuplicateInterface("a".into()),
            ValueError::BadTapName("x\ny".into()),
            ValueError::BadTtl("0".into()),
            ValueError::EmptyPath("--pid-file"),
            ValueError::BadGroup("x".into()),
            ValueError::NotMulticast(IpAddr::from([127, 0, 0, 1])),
            ValueError::BadPort("0".into()),
            ValueError::BadInterval("0".into()),
            ValueError::BadDeadAfter("0".into()),
            ValueError::BadMaxDeadAfter("1".into()),
            ValueError::BadNodeId("0".into()),
            ValueError::BadBandwidth("1".into()),
            ValueError::BadMaxNodes("0".into()),
            ValueError::BadPeer("x\ny".into(), PeerError::Syntax),
        ];
        for error in errors {
            assert!(!error.to_string().contains('\n'), "{error:?}");
        }
    }
}
