//! Typed values of the options through which other programs use the membership: hooks
//! (`--hook`, `--hook-timeout`), metrics (`--metrics-listen`, `--metrics-file`) and
//! `showmap`'s output formats (`--format`, `--sd-port`).
//!
//! Like [`crate::values`], each value is checked once, when argh parses it; a refused value
//! is a [`OutputValueError`], whose `Display` is the one line the user sees.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::values;

/// Default `--hook-timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest accepted `--hook-timeout`.
pub const MIN_HOOK_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest accepted `--hook-timeout` (one hour).
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// Port of the metrics a bare `--metrics-listen PORT` is not given: the port `showmap
/// --format prometheus-sd` puts in its targets unless `--sd-port` says otherwise, and the
/// one the documentation uses.
pub const DEFAULT_METRICS_PORT: u16 = 9477;

/// A refused value. `Display` is one line, without the program name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputValueError {
    /// `--hook-timeout` not a number of seconds within bounds.
    BadHookTimeout(String),
    /// `--metrics-listen` neither `ADDR:PORT` nor `PORT`.
    BadMetricsListen(String),
    /// `--format` names no format.
    BadFormat(String),
    /// `--sd-port` outside 1..=65535 or not a number.
    BadSdPort(String),
}

impl fmt::Display for OutputValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputValueError::BadHookTimeout(text) => write!(
                f,
                "invalid --hook-timeout {text:?}: expected seconds from {} to {} (fractions allowed)",
                MIN_HOOK_TIMEOUT.as_secs_f64(),
                MAX_HOOK_TIMEOUT.as_secs()
            ),
            OutputValueError::BadMetricsListen(text) => write!(
                f,
                "invalid --metrics-listen {text:?}: expected ADDR:PORT (e.g. 127.0.0.1:{DEFAULT_METRICS_PORT} or [::1]:{DEFAULT_METRICS_PORT}) or a port alone for loopback"
            ),
            OutputValueError::BadFormat(text) => write!(
                f,
                "invalid --format {text:?}: expected one of {}",
                ShowmapFormat::NAMES.join(", ")
            ),
            OutputValueError::BadSdPort(text) => write!(
                f,
                "invalid --sd-port {text:?}: expected a whole number from 1 to 65535"
            ),
        }
    }
}

impl std::error::Error for OutputValueError {}

/// `--hook-timeout SECS`: seconds (fractions allowed) from [`MIN_HOOK_TIMEOUT`] to
/// [`MAX_HOOK_TIMEOUT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookTimeout(Duration);

impl HookTimeout {
    /// The timeout.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HookTimeout {
    type Err = OutputValueError;

    fn from_str(text: &str) -> Result<Self, OutputValueError> {
        match values::seconds(text) {
            Some(t) if (MIN_HOOK_TIMEOUT..=MAX_HOOK_TIMEOUT).contains(&t) => Ok(HookTimeout(t)),
            _ => Err(OutputValueError::BadHookTimeout(text.to_owned())),
        }
    }
}

/// `--metrics-listen ADDR:PORT` (IPv6 as `[ADDR]:PORT`), or `PORT` alone for
/// `127.0.0.1:PORT`: the metrics are served on loopback unless the administrator names
/// another address. Port 0 is refused (a scraper must know the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(SocketAddr);

impl MetricsListen {
    /// The address to listen on.
    pub fn get(self) -> SocketAddr {
        self.0
    }
}

impl FromStr for MetricsListen {
    type Err = OutputValueError;

    fn from_str(text: &str) -> Result<Self, OutputValueError> {
        let bad = || OutputValueError::BadMetricsListen(text.to_owned());
        let address = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let port: u16 = text.parse().map_err(|_| bad())?;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        } else {
            text.parse::<SocketAddr>().map_err(|_| bad())?
        };
        if address.port() == 0 || address.ip().is_multicast() {
            return Err(bad());
        }
        Ok(MetricsListen(address))
    }
}

/// `showmap --format FORMAT`: how the map is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShowmapFormat {
    /// openMosix's `setpe` map text, with header comments (the default).
    #[default]
    Setpe,
    /// One JSON document (what `--json` prints).
    Json,
    /// `/etc/hosts` lines: `IP omdisc-ID`, one per node (its primary address).
    Hosts,
    /// One primary address per line, as MPI hostfiles take them.
    Hostfile,
    /// A Prometheus `file_sd` target list (JSON).
    PrometheusSd,
}

impl ShowmapFormat {
    /// The names `--format` takes, in this order.
    pub const NAMES: [&'static str; 5] = ["setpe", "json", "hosts", "hostfile", "prometheus-sd"];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ShowmapFormat::Setpe => "setpe",
            ShowmapFormat::Json => "json",
            ShowmapFormat::Hosts => "hosts",
            ShowmapFormat::Hostfile => "hostfile",
            ShowmapFormat::PrometheusSd => "prometheus-sd",
        }
    }
}

impl FromStr for ShowmapFormat {
    type Err = OutputValueError;

    fn from_str(text: &str) -> Result<Self, OutputValueError> {
        match text {
            "setpe" => Ok(ShowmapFormat::Setpe),
            "json" => Ok(ShowmapFormat::Json),
            "hosts" => Ok(ShowmapFormat::Hosts),
            "hostfile" => Ok(ShowmapFormat::Hostfile),
            "prometheus-sd" => Ok(ShowmapFormat::PrometheusSd),
            _ => Err(OutputValueError::BadFormat(text.to_owned())),
        }
    }
}

/// `--sd-port N` (for argh's `from_str_fn`).
pub fn sd_port(text: &str) -> Result<u16, String> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    match digits.then(|| text.parse::<u16>().ok()).flatten() {
        Some(port @ 1..) => Ok(port),
        _ => Err(OutputValueError::BadSdPort(text.to_owned()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_timeouts_are_seconds_within_bounds() {
        let timeout = |t: &str| t.parse::<HookTimeout>().map(HookTimeout::get);
        assert_eq!(timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("0.1"), Ok(MIN_HOOK_TIMEOUT));
        assert_eq!(timeout("3600"), Ok(MAX_HOOK_TIMEOUT));
        for bad in ["0", "0.09", "3601", "-1", "", "1e3", "30s"] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_listen_takes_an_address_and_port_or_a_port_for_loopback() {
        let listen = |t: &str| t.parse::<MetricsListen>().map(MetricsListen::get);
        assert_eq!(listen("9477"), Ok(SocketAddr::from(([127, 0, 0, 1], 9477))));
        assert_eq!(
            listen("0.0.0.0:9100"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9100)))
        );
        assert_eq!(
            listen("[::1]:9477").unwrap().ip(),
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
        );
        for bad in [
            "",
            "0",
            "65536",
            "127.0.0.1",
            "127.0.0.1:0",
            "localhost:9477",
            "::1:9477",
            "239.1.1.1:9477",
            " 9477",
        ] {
            let error = listen(bad).unwrap_err();
            assert!(
                error.to_string().starts_with("invalid --metrics-listen"),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_have_the_names_of_the_contract() {
        for name in ShowmapFormat::NAMES {
            assert_eq!(name.parse::<ShowmapFormat>().unwrap().name(), name);
        }
        let error = "yaml".parse::<ShowmapFormat>().unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid --format \"yaml\": expected one of setpe, json, hosts, hostfile, prometheus-sd"
        );
        assert_eq!(ShowmapFormat::default(), ShowmapFormat::Setpe);
    }

    #[test]
    fn sd_ports() {
        assert_eq!(sd_port("9100"), Ok(9100));
        for bad in ["0", "65536", "", "-1", "x"] {
            assert!(sd_port(bad).unwrap_err().starts_with("invalid --sd-port"));
        }
    }
}
