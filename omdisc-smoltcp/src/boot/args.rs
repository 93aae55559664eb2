//! A boot image's configuration: IPv4 address and prefix, multicast group, UDP port,
//! announce interval, dead-after and cluster key, read from the boot command line (QEMU's
//! `-append "ip=10.77.1.60/24 group=239.77.0.1"`, through the device tree or semihosting)
//! over build-time defaults, and turned into the node's [`Settings`].
//!
//! The command line is a list of `key=value` words separated by spaces.
//! Known keys are `ip`, `group`, `port`, `interval`, `dead_after` and `key`; other words are left
//! to whoever else reads the command line and ignored here, like the Linux
//! kernel does with parameters it does not know.

use core::fmt;
use omdisc_core::wire::{ClusterKey, KeyError, Keyring};
use omdisc_core::{Duration, NodeIdError};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::settings::Settings;

/// The build-time defaults, in command-line syntax. Override them when
/// building the image with the `OMDISC_DEFAULT_BOOTARGS` environment variable.
pub const DEFAULT_BOOTARGS: &str = match option_env!("OMDISC_DEFAULT_BOOTARGS") {
    Some(args) => args,
    None => "ip=10.77.1.60/24 group=239.255.77.77 port=7477 interval=1 dead_after=5",
};

/// Longest accepted announce interval, in milliseconds (one hour).
pub const MAX_INTERVAL_MS: u32 = 3_600_000;

/// Where the node sits on the network and how it announces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootConfig {
    /// The node's own address and the prefix length of its network.
    pub address: Ipv4Cidr,
    /// The IPv4 multicast group the cluster announces on.
    pub group: Ipv4Address,
    /// The UDP port of the group.
    pub port: u16,
    /// The announce interval in milliseconds (1 ..= [`MAX_INTERVAL_MS`]).
    pub interval_ms: u32,
    /// Missed intervals after which a silent node expires (1 ..= 1000).
    pub dead_after: u16,
}

/// A known key with a value that cannot be used; the value is borrowed from
/// the command line so the console message can quote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootArgsError<'a> {
    /// `ip=` is not a unicast `A.B.C.D/PREFIX` with a prefix of 1..=32.
    Address(&'a str),
    /// `group=` is not an IPv4 multicast address.
    Group(&'a str),
    /// `port=` is not a number in 1..=65535.
    Port(&'a str),
    /// `interval=` is not a number of seconds with at most three decimals,
    /// above zero and at most an hour.
    Interval(&'a str),
    /// `dead_after=` is not a whole number in 1..=1000.
    DeadAfter(&'a str),
    /// `key=` is not one or two keys in hex (the value is never shown).
    Key(KeyError),
}

/// Writes a [`BootArgsError`] with `$write` (`core::write!` or `defmt::write!`): one text
/// for both backends, and with `defmt` the text stays on the host, out of the image.
macro_rules! write_boot_args_error {
    ($($write:ident)::+, $f:expr, $error:expr) => {
        match $error {
            BootArgsError::Address(v) => {
                $($write)::+!($f, "ip={}: expected a unicast A.B.C.D/PREFIX, prefix 1..32", v)
            }
            BootArgsError::Group(v) => $($write)::+!($f, "group={}: expected an IPv4 multicast address", v),
            BootArgsError::Port(v) => $($write)::+!($f, "port={}: expected a UDP port 1..65535", v),
            BootArgsError::Interval(v) => $($write)::+!(
                $f,
                "interval={}: expected seconds above 0 and at most 3600, at most 3 decimals",
                v
            ),
            BootArgsError::DeadAfter(v) => {
                $($write)::+!($f, "dead_after={}: expected missed intervals 1..1000", v)
            }
            BootArgsError::Key(KeyError::BadLength(n)) => $($write)::+!(
                $f,
                "key=...: {} bytes; expected 16 to 64 bytes (32 to 128 hex digits)",
                n
            ),
            BootArgsError::Key(KeyError::NotHex) => {
                $($write)::+!($f, "key=...: expected hex digits only")
            }
            BootArgsError::Key(KeyError::TooManyKeys) => {
                $($write)::+!($f, "key=...: at most two keys (the first signs, both verify)")
            }
            BootArgsError::Key(_) => $($write)::+!($f, "key=...: not a cluster key"),
        }
    };
}

impl fmt::Display for BootArgsError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_boot_args_error!(write, f, self)
    }
}

/// `write_boot_args_error!`'s writer for [`BootArgsError::write_pieces`]: the template's
/// text and arguments in turn.
macro_rules! write_pieces {
    ($put:expr, $template:literal $(, $arg:expr)*) => {{
        let args: &[&dyn Piece] = &[$($arg),*];
        write_template($template, args, $put);
    }};
}

/// Writes `template` with each `{}` replaced by the next of `args`.
fn write_template(template: &str, args: &[&dyn Piece], put: &mut dyn FnMut(&str)) {
    let mut args = args.iter();
    for (i, text) in template.split('{').enumerate() {
        let text = if i == 0 {
            text
        } else {
            if let Some(arg) = args.next() {
                arg.put(put);
            }
            text.strip_prefix('}').unwrap_or(text)
        };
        put(text);
    }
}

/// An argument of a [`BootArgsError`] message, written without `core::fmt`.
trait Piece {
    fn put(&self, put: &mut dyn FnMut(&str));
}

impl Piece for &str {
    fn put(&self, put: &mut dyn FnMut(&str)) {
        put(self);
    }
}

impl Piece for usize {
    fn put(&self, put: &mut dyn FnMut(&str)) {
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut n = *self;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
            len += 1;
            if n == 0 {
                break;
            }
        }
        let text = digits
            .get(digits.len().saturating_sub(len)..)
            .and_then(|d| core::str::from_utf8(d).ok());
        put(text.unwrap_or("?"));
    }
}

impl BootArgsError<'_> {
    /// Hands the message to `put` piece by piece, the same text as `Display` without
    /// `core::fmt` (for a console that does not link it).
    pub fn write_pieces(&self, mut put: impl FnMut(&str)) {
        let put: &mut dyn FnMut(&str) = &mut put;
        write_boot_args_error!(write_pieces, put, self)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for BootArgsError<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        write_boot_args_error!(defmt::write, f, self)
    }
}

impl BootConfig {
    /// Reads `defaults` and then `bootargs` over them: a key given on the
    /// command line wins. Fails on the first known key with a bad value
    /// (in either string).
    pub fn parse<'a>(defaults: &'a str, bootargs: &'a str) -> Result<Self, BootArgsError<'a>> {
        let mut config = Self::BUILT_IN;
        config.apply(defaults)?;
        config.apply(bootargs)?;
        Ok(config)
    }

    /// Last resort when the build-time defaults leave a key out: the core's defaults.
    const BUILT_IN: Self = Self {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 77, 1, 60), 24),
        group: omdisc_core::DEFAULT_GROUP_V4,
        port: omdisc_core::DEFAULT_PORT,
        interval_ms: omdisc_core::DEFAULT_INTERVAL.total_millis() as u32,
        dead_after: omdisc_core::DEFAULT_DEAD_AFTER,
    };

    fn apply<'a>(&mut self, args: &'a str) -> Result<(), BootArgsError<'a>> {
        for word in args.split_ascii_whitespace() {
            let Some((key, value)) = split_at_byte(word, b'=') else {
                continue;
            };
            // By index, compared by one routine (a match on strings inlines a comparison per
            // key, hundreds of bytes in a small image).
            match KEYS.iter().position(|k| same(k, key)) {
                Some(0) => {
                    self.address = parse_address(value).ok_or(BootArgsError::Address(value))?
                }
                Some(1) => self.group = parse_group(value).ok_or(BootArgsError::Group(value))?,
                Some(2) => self.port = parse_port(value).ok_or(BootArgsError::Port(value))?,
                Some(3) => {
                    self.interval_ms =
                        parse_interval_ms(value).ok_or(BootArgsError::Interval(value))?
                }
                Some(4) => {
                    self.dead_after =
                        parse_dead_after(value).ok_or(BootArgsError::DeadAfter(value))?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The node's [`Settings`] for this configuration: Ethernet address `mac`, `keys` (from
    /// [`cluster_keys`]), an `incarnation` that grows from one boot to the next, and a
    /// random seed that differs between nodes and boots.
    pub fn settings(
        &self,
        mac: EthernetAddress,
        keys: Option<Keyring>,
        incarnation: u64,
        random_seed: u64,
    ) -> Result<Settings, NodeIdError> {
        let address = IpCidr::Ipv4(self.address);
        let mut settings = Settings::new(mac, address, incarnation, random_seed)?;
        settings.group = IpAddress::Ipv4(self.group);
        settings.port = self.port;
        settings.engine.interval = Duration::from_millis(u64::from(self.interval_ms));
        settings.engine.dead_after = self.dead_after;
        settings.keyring = keys;
        Ok(settings)
    }
}

/// The cluster key(s) from `key=HEX[,HEX]` (the last `key=` wins, the command line over
/// the defaults): the first key signs, both verify, as in the daemon's key file. `Ok(None)`
/// without a `key=`: the node runs unauthenticated. Errors never show key material.
pub fn cluster_keys(
    defaults: &str,
    bootargs: &str,
) -> Result<Option<Keyring>, BootArgsError<'static>> {
    let value = defaults
        .split_ascii_whitespace()
        .chain(bootargs.split_ascii_whitespace())
        .filter_map(|word| word.strip_prefix("key="))
        .next_back();
    let Some(value) = value else {
        return Ok(None);
    };
    keyring(value).map(Some).map_err(BootArgsError::Key)
}

/// The keys [`BootConfig`] reads (`key=` is read by [`cluster_keys`]).
const KEYS: [&str; 5] = ["ip", "group", "port", "interval", "dead_after"];

#[inline(never)]
/// `s` split at the first `separator` (an ASCII byte, so both halves are `str`): a byte
/// search, smaller in an image than `str::split_once`'s character searcher.
fn split_at_byte(s: &str, separator: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == separator)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

fn same(a: &str, b: &str) -> bool {
    a == b
}

fn keyring(value: &str) -> Result<Keyring, KeyError> {
    let mut hex_keys = value.split(',');
    let signing = ClusterKey::from_hex(hex_keys.next().unwrap_or(""))?;
    let mut keyring = Keyring::new(signing);
    for hex in hex_keys {
        keyring.add_verify_key(ClusterKey::from_hex(hex)?)?;
    }
    Ok(keyring)
}

fn parse_address(value: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = split_at_byte(value, b'/')?;
    let addr = parse_ipv4(addr)?;
    let prefix: u8 = prefix.parse().ok()?;
    let unicast = !(addr.is_multicast() || addr.is_broadcast() || addr.is_unspecified());
    (unicast && (1..=32).contains(&prefix)).then(|| Ipv4Cidr::new(addr, prefix))
}

fn parse_group(value: &str) -> Option<Ipv4Address> {
    parse_ipv4(value).filter(|group| group.is_multicast())
}

/// A dotted-quad IPv4 address: four decimal octets, no leading zeros (as `core`'s parser,
/// whose general IPv4/IPv6 machinery costs an image several hundred bytes more).
fn parse_ipv4(value: &str) -> Option<Ipv4Address> {
    let mut octets = [0u8; 4];
    let mut parts = value.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        let digits_only = part.bytes().all(|b| b.is_ascii_digit());
        if part.is_empty() || !digits_only || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Address::from(octets))
}

fn parse_port(value: &str) -> Option<u16> {
    value.parse().ok().filter(|&port| port != 0)
}

fn parse_dead_after(value: &str) -> Option<u16> {
    value.parse().ok().filter(|n| (1..=1000).contains(n))
}

/// Seconds with up to three decimals (`2`, `0.25`, `1.5`) to milliseconds.
fn parse_interval_ms(value: &str) -> Option<u32> {
    let (whole, fraction) = split_at_byte(value, b'.').unwrap_or((value, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || fraction.len() > 3 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let seconds: u32 = whole.parse().ok()?;
    let millis = fraction
        .bytes()
        .chain(core::iter::repeat(b'0'))
        .take(3)
        .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'));
    let total = seconds.checked_mul(1000)?.checked_add(millis)?;
    (1..=MAX_INTERVAL_MS).contains(&total).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = "ip=10.0.0.1/8 group=239.1.1.1 port=1000 interval=2";

    #[test]
    fn command_line_keys_override_defaults() {
        let config =
            BootConfig::parse(DEFAULTS, "console=ttyS0 ip=10.77.1.61/24 port=7000").unwrap();
        assert_eq!(
            config.address,
            Ipv4Cidr::new(Ipv4Address::new(10, 77, 1, 61), 24)
        );
        assert_eq!(config.group, Ipv4Address::new(239, 1, 1, 1));
        assert_eq!(config.port, 7000);
        assert_eq!(config.interval_ms, 2000);
    }

    #[test]
    fn empty_command_line_keeps_defaults() {
        let config = BootConfig::parse(DEFAULTS, "").unwrap();
        assert_eq!(
            config.address,
            Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 1), 8)
        );
    }

    #[test]
    fn built_in_defaults_parse() {
        BootConfig::parse(DEFAULT_BOOTARGS, "").unwrap();
    }

    #[test]
    fn ipv4_addresses_are_dotted_quads() {
        assert_eq!(
            parse_ipv4("10.77.1.60"),
            Some(Ipv4Address::new(10, 77, 1, 60))
        );
        assert_eq!(parse_ipv4("0.0.0.0"), Some(Ipv4Address::new(0, 0, 0, 0)));
        assert_eq!(parse_ipv4("255.255.255.255"), Some(Ipv4Address::BROADCAST));
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.256",
            "1.2.3.04",
            "1..3.4",
            "1.2.3.+4",
            "a.b.c.d",
            "1.2.3.4 ",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn interval_takes_up_to_three_decimals() {
        assert_eq!(parse_interval_ms("0.25"), Some(250));
        assert_eq!(parse_interval_ms("1.5"), Some(1500));
        assert_eq!(parse_interval_ms("3600"), Some(3_600_000));
        assert_eq!(parse_interval_ms("0.001"), Some(1));
        assert_eq!(parse_interval_ms("0.0001"), None);
        assert_eq!(parse_interval_ms("0"), None);
        assert_eq!(parse_interval_ms("3600.001"), None);
        assert_eq!(parse_interval_ms(".5"), None);
        assert_eq!(parse_interval_ms("1."), Some(1000));
        assert_eq!(parse_interval_ms("-1"), None);
        assert_eq!(parse_interval_ms("99999999999"), None);
    }

    #[test]
    fn bad_values_name_the_key() {
        assert_eq!(
            BootConfig::parse(DEFAULTS, "ip=10.0.0.1"),
            Err(BootArgsError::Address("10.0.0.1"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "ip=10.0.0.1/33"),
            Err(BootArgsError::Address("10.0.0.1/33"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "ip=239.0.0.1/24"),
            Err(BootArgsError::Address("239.0.0.1/24"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "group=10.0.0.1"),
            Err(BootArgsError::Group("10.0.0.1"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "port=0"),
            Err(BootArgsError::Port("0"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "port=65536"),
            Err(BootArgsError::Port("65536"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "interval=x"),
            Err(BootArgsError::Interval("x"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "dead_after=0"),
            Err(BootArgsError::DeadAfter("0"))
        );
        assert_eq!(
            BootConfig::parse(DEFAULTS, "dead_after=3")
                .unwrap()
                .dead_after,
            3
        );
    }

    #[test]
    fn cluster_keys_come_from_the_last_key_word() {
        const K1: &str = "00112233445566778899aabbccddeeff";
        const K2: &str = "ffeeddccbbaa99887766554433221100";
        assert!(cluster_keys(DEFAULTS, "ip=10.0.0.2/24").unwrap().is_none());
        let one = cluster_keys(DEFAULTS, &format!("key={K1}"))
            .unwrap()
            .unwrap();
        assert_eq!(one.keys().len(), 1);
        let two = cluster_keys(&format!("key={K2}"), &format!("key={K1},{K2}"))
            .unwrap()
            .unwrap();
        assert_eq!(two.keys().len(), 2);
        assert_eq!(
            two.signing_key().id(),
            ClusterKey::from_hex(K1).unwrap().id()
        );
        assert!(matches!(
            cluster_keys("", "key=abc"),
            Err(BootArgsError::Key(KeyError::BadLength(1)))
        ));
        assert!(matches!(
            cluster_keys("", "key=zz"),
            Err(BootArgsError::Key(KeyError::NotHex))
        ));
        assert!(cluster_keys("", &format!("key={K1},{K2},{K1}")).is_err());
    }

    #[test]
    fn boot_config_becomes_the_node_settings() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let config =
            BootConfig::parse(DEFAULTS, "ip=10.77.1.60/24 interval=0.5 dead_after=3").unwrap();
        let keys = cluster_keys("", "key=00112233445566778899aabbccddeeff").unwrap();
        let s = config.settings(mac, keys, 7, 9).unwrap();
        assert_eq!(s.engine.node_id.get(), 256 + 60);
        assert_eq!(s.engine.incarnation, 7);
        assert_eq!(s.engine.interval.total_millis(), 500);
        assert_eq!(s.engine.dead_after, 3);
        assert_eq!(s.port, 1000);
        assert_eq!(s.group, IpAddress::Ipv4(Ipv4Address::new(239, 1, 1, 1)));
        assert!(s.keyring.is_some());
        let zero = BootConfig::parse(DEFAULTS, "ip=10.77.0.0/16").unwrap();
        assert!(zero.settings(mac, None, 7, 9).is_err());
    }

    #[test]
    fn the_pieces_read_as_the_display_text() {
        let errors = [
            BootArgsError::Address("10.0.0.1"),
            BootArgsError::Port("0"),
            BootArgsError::Key(KeyError::BadLength(3)),
            BootArgsError::Key(KeyError::NotHex),
        ];
        for e in errors {
            let mut text = String::new();
            e.write_pieces(|piece| text.push_str(piece));
            assert_eq!(text, format!("{e}"));
        }
    }

    #[test]
    fn a_bad_key_is_named_without_its_value() {
        let e = cluster_keys("", "key=0011zz").unwrap_err();
        let shown = format!("{e}");
        assert!(shown.starts_with("key=...: "), "{shown}");
        assert!(!shown.contains("0011zz"), "{shown}");
    }

    #[test]
    fn bad_defaults_are_reported_too() {
        assert_eq!(
            BootConfig::parse("port=x", "port=5"),
            Err(BootArgsError::Port("x"))
        );
    }
}
