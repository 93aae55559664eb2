//! The seeds of this node: `--peer` addresses and the lines of `--peers-file`, as the
//! socket addresses the engine contacts ([`omdisc_core::Engine::set_seeds`]).
//!
//! A seed without a port gets `--port`. Every seed must be of the cluster's address family
//! (the group's: the legs' sockets are IPv4 or IPv6), the same seed named twice counts once,
//! and there are at most [`MAX_SEEDS`]: one more is an error, never a silent truncation.
//! With `--no-multicast` and no `--group` the family is the seeds' own
//! ([`default_group_of_seeds`]); seeds of both families are then an error.
//! At start any problem stops the daemon with one line; on SIGHUP
//! ([`SeedList::reload_on_sighup`]) a bad file keeps the seeds in use and logs one line.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::peers_file::{load_peers, PeersFileError};
use crate::values::PeerAddr;

/// Most seeds one node takes: the engine's capacity.
pub const MAX_SEEDS: usize = omdisc_core::MAX_SEEDS;

/// Why the seeds cannot be used. `Display` is one line.
#[derive(Debug)]
pub enum SeedListError {
    /// The peers file is unreadable or has a bad line.
    File(PeersFileError),
    /// A seed of the other address family than the cluster's group.
    WrongFamily {
        /// The seed.
        seed: SocketAddr,
        /// The group, whose family the cluster uses.
        group: IpAddr,
        /// Where the seed was named: `--peer`, or the peers file.
        origin: String,
    },
    /// More than [`MAX_SEEDS`] distinct seeds.
    TooMany(usize),
}

impl fmt::Display for SeedListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedListError::File(error) => error.fmt(f),
            SeedListError::WrongFamily {
                seed,
                group,
                origin,
            } => {
                let (seed_family, group_family) = if seed.is_ipv4() {
                    ("IPv4", "IPv6")
                } else {
                    ("IPv6", "IPv4")
                };
                write!(
                    f,
                    "peer {seed} ({origin}) is {seed_family} but the cluster runs over {group_family} (group {group}); set --group to an {seed_family} group to use {seed_family}"
                )
            }
            SeedListError::TooMany(count) => write!(
                f,
                "{count} distinct peers given (--peer and --peers-file together), at most {MAX_SEEDS}: a node needs one live seed, not every member"
            ),
        }
    }
}

impl std::error::Error for SeedListError {}

/// Seeds of both address families where the family is taken from them. `Display` is one
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedFamilies {
    /// The first IPv4 seed.
    pub ipv4: IpAddr,
    /// The first IPv6 seed.
    pub ipv6: IpAddr,
}

impl fmt::Display for MixedFamilies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--no-multicast without --group takes the address family from the seeds, but they mix IPv4 ({}) and IPv6 ({}): name seeds of one family",
            self.ipv4, self.ipv6
        )
    }
}

impl std::error::Error for MixedFamilies {}

/// The default group of the seeds' address family (`--no-multicast` without `--group`):
/// of `peers` (`--peer`) and of the lines of `file` (`--peers-file`), read now. A file that
/// cannot be read counts as none here: loading the seeds at start reports it in one line.
/// `None` without seeds.
pub fn default_group_of_seeds(
    peers: &[PeerAddr],
    file: Option<&Path>,
) -> Result<Option<IpAddr>, MixedFamilies> {
    let from_file = file
        .and_then(|path| load_peers(path).ok())
        .unwrap_or_default();
    let addresses = peers
        .iter()
        .chain(&from_file)
        .map(|p| p.socket_addr(0).ip());
    let (mut ipv4, mut ipv6) = (None, None);
    for address in addresses {
        let first = if address.is_ipv4() {
            &mut ipv4
        } else {
            &mut ipv6
        };
        first.get_or_insert(address);
    }
    match (ipv4, ipv6) {
        (Some(ipv4), Some(ipv6)) => Err(MixedFamilies { ipv4, ipv6 }),
        (Some(_), None) => Ok(Some(IpAddr::V4(omdisc_core::DEFAULT_GROUP_V4))),
        (None, Some(_)) => Ok(Some(IpAddr::V6(omdisc_core::DEFAULT_GROUP_V6))),
        (None, None) => Ok(None),
    }
}

/// Where the seeds come from, and what they resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedList {
    /// `--peer` values, in command-line order.
    peers: Vec<PeerAddr>,
    /// `--peers-file`, read at start and on SIGHUP.
    file: Option<PathBuf>,
    /// `--port`: the port of a seed written without one.
    default_port: u16,
    /// The group: seeds must be of its family.
    group: IpAddr,
}

impl SeedList {
    /// The seeds of `peers` (`--peer`) and `file` (`--peers-file`), for a cluster on
    /// `group` and `default_port`.
    pub fn new(
        peers: Vec<PeerAddr>,
        file: Option<PathBuf>,
        default_port: u16,
        group: IpAddr,
    ) -> SeedList {
        SeedList {
            peers,
            file,
            default_port,
            group,
        }
    }

    /// Whether any seed can come from here (a `--peer` or a peers file).
    pub fn is_configured(&self) -> bool {
        !self.peers.is_empty() || self.file.is_some()
    }

    /// The peers file, if one was given.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Checks the `--peer` values alone (before anything is opened): their family.
    pub fn check_command_line(&self) -> Result<(), SeedListError> {
        let seeds = self.resolve(&self.peers, "--peer")?;
        if seeds.len() > MAX_SEEDS {
            return Err(SeedListError::TooMany(seeds.len()));
        }
        Ok(())
    }

    /// The seeds now: `--peer` first, then the file's lines (read now), each once.
    pub fn load(&self) -> Result<Vec<SocketAddr>, SeedListError> {
        let mut seeds = self.resolve(&self.peers, "--peer")?;
        if let Some(path) = &self.file {
            let from_file = load_peers(path).map_err(SeedListError::File)?;
            let origin = format!("peers file {}", path.display());
            for seed in self.resolve(&from_file, &origin)? {
                if !seeds.contains(&seed) {
                    seeds.push(seed);
                }
            }
        }
        if seeds.len() > MAX_SEEDS {
            return Err(SeedListError::TooMany(seeds.len()));
        }
        Ok(seeds)
    }

    /// SIGHUP: reads the peers file again (if one was given) and logs what happened.
    /// `Some` with the new seeds; `None` keeps those in use (no file, or a bad one).
    pub fn reload_on_sighup(&self) -> Option<Vec<SocketAddr>> {
        let path = self.file.as_ref()?;
        match self.load() {
            Ok(seeds) => {
                log::info!(
                    "SIGHUP: reloaded {} ({} seed{})",
                    path.display(),
                    seeds.len(),
                    if seeds.len() == 1 { "" } else { "s" }
                );
                Some(seeds)
            }
            Err(error) => {
                log::warn!("SIGHUP: {error}; keeping the current seeds");
                None
            }
        }
    }

    /// `peers` as socket addresses, each once, refusing one of the wrong family.
    fn resolve(&self, peers: &[PeerAddr], origin: &str) -> Result<Vec<SocketAddr>, SeedListError> {
        let mut seeds: Vec<SocketAddr> = Vec::with_capacity(peers.len());
        for peer in peers {
            let seed = peer.socket_addr(self.default_port);
            if seed.is_ipv4() != self.group.is_ipv4() {
                return Err(SeedListError::WrongFamily {
                    seed,
                    group: self.group,
                    origin: origin.to_owned(),
                });
            }
            if !seeds.contains(&seed) {
                seeds.push(seed);
            }
        }
        Ok(seeds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;

    const GROUP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(239, 255, 77, 77));

    fn peers(list: &[&str]) -> Vec<PeerAddr> {
        list.iter().map(|p| PeerAddr::parse(p).unwrap()).collect()
    }

    fn strings(seeds: &[SocketAddr]) -> Vec<String> {
        seeds.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn command_line_then_file_each_seed_once() {
        let dir = TempDir::new("seeds");
        let file = dir.path().join("peers");
        std::fs::write(&file, "10.0.0.2\n10.0.0.1:7477\n10.0.0.3:9000\n").unwrap();
        let list = SeedList::new(
            peers(&["10.0.0.1", "10.0.0.2:9000", "10.0.0.1"]),
            Some(file),
            7477,
            GROUP,
        );
        assert!(list.is_configured());
        assert_eq!(
            strings(&list.load().unwrap()),
            [
                "10.0.0.1:7477",
                "10.0.0.2:9000",
                "10.0.0.2:7477",
                "10.0.0.3:9000"
            ]
        );
        assert!(!SeedList::new(vec![], None, 7477, GROUP).is_configured());
        assert_eq!(SeedList::new(vec![], None, 7477, GROUP).load().unwrap(), []);
    }

    #[test]
    fn seeds_must_be_of_the_groups_family() {
        let list = SeedList::new(peers(&["[fd00::1]:7477"]), None, 7477, GROUP);
        let error = list.check_command_line().unwrap_err().to_string();
        assert_eq!(
            error,
            "peer [fd00::1]:7477 (--peer) is IPv6 but the cluster runs over IPv4 (group 239.255.77.77); set --group to an IPv6 group to use IPv6"
        );
        let v6 = SeedList::new(peers(&["fd00::1"]), None, 7477, "ff05::4d".parse().unwrap());
        assert_eq!(strings(&v6.load().unwrap()), ["[fd00::1]:7477"]);
    }

    #[test]
    fn too_many_seeds_is_an_error_not_a_truncation() {
        let many: Vec<String> = (1..=MAX_SEEDS + 1).map(|i| format!("10.0.1.{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let list = SeedList::new(peers(&many[..MAX_SEEDS]), None, 7477, GROUP);
        assert_eq!(list.load().unwrap().len(), MAX_SEEDS);
        let list = SeedList::new(peers(&many), None, 7477, GROUP);
        assert!(matches!(
            list.check_command_line(),
            Err(SeedListError::TooMany(33))
        ));
    }

    #[test]
    fn a_bad_file_on_reload_keeps_the_seeds() {
        let dir = TempDir::new("seeds-reload");
        let file = dir.path().join("peers");
        std::fs::write(&file, "10.0.0.1\n").unwrap();
        let list = SeedList::new(vec![], Some(file.clone()), 7477, GROUP);
        assert_eq!(
            strings(&list.reload_on_sighup().unwrap()),
            ["10.0.0.1:7477"]
        );
        std::fs::write(&file, "10.0.0.1\nbad\n").unwrap();
        assert_eq!(list.reload_on_sighup(), None);
        let error = list.load().unwrap_err().to_string();
        assert!(error.ends_with("line 2: invalid peer \"bad\": expected ADDR or ADDR:PORT, an IPv4 or IPv6 address (IPv6 with a port as [ADDR]:PORT)"), "{error}");
        assert_eq!(
            SeedList::new(vec![], None, 7477, GROUP).reload_on_sighup(),
            None
        );
    }
}
