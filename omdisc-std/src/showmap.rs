//! `showmap`: reads the map `omdiscd` wrote and prints it as setpe text or JSON.
//!
//! The map is `om_config` (required) and `om_mospe` (this node's id; if it is missing,
//! the record flagged *local* names this node). Parsing and setpe rendering are the
//! core's ([`omdisc_core::map`]); this module picks the files and formats the output.
//! With `--map-dir`, node-id conflicts that `omdiscd` wrote beside the map
//! ([`crate::conflicts`]) are reported too: `# CONFLICT:` lines in the text, `conflicts`
//! in the JSON.
//!
//! Without options `showmap` reads the packaged service's map ([`SERVICE_MAP_DIR`],
//! which exists while `omdiscd.service` runs) and otherwise `/tmp`, the default of a
//! hand-started `omdiscd` ([`MapSource::Default`]).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use omdisc_core::map::binary::{read_mospe, ConfigReader, MapFileError};
use omdisc_core::map::setpe::{self, RenderError, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::{AddrRole, NodeId};
use serde_json::{json, Value};

use crate::cli::ShowmapArgs;
use crate::config::{DEFAULT_MAP_DIR, LIVE_DIR, SERVICE_MAP_DIR};
use crate::conflicts::{self, ConflictFileError, IdConflict, ALPHA_CONFLICTS};
use crate::map_sink::MapPaths;

/// Largest map file read: 65 535 nodes with six IPv6 addresses each fit easily.
const MAX_MAP_FILE_LEN: u64 = 16 << 20;

/// Where the map is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapSource {
    /// No option: the first of [`DEFAULT_DIRS`] that holds a map.
    Default,
    /// `DIR/om_config` and `DIR/om_mospe`.
    Dir(PathBuf),
    /// One `om_config`-format file; this node is its record flagged local.
    File(PathBuf),
    /// `/proc/hpc/admin/config` and `/proc/hpc/admin/mospe`.
    Live,
}

impl MapSource {
    /// The source named by the command line (`--map-dir`, `-f` and `--live` exclude each
    /// other; none means [`MapSource::Default`]).
    pub fn from_args(args: &ShowmapArgs) -> Result<MapSource, SourceConflict> {
        Ok(match (&args.map_dir, &args.file, args.live) {
            (None, None, false) => MapSource::Default,
            (Some(dir), None, false) => MapSource::Dir(dir.clone().into_path()),
            (None, Some(file), false) => MapSource::File(file.clone().into_path()),
            (None, None, true) => MapSource::Live,
            _ => return Err(SourceConflict),
        })
    }

    /// [`MapSource::Default`] made concrete: the first of `dirs` that holds `om_config`.
    /// Others are returned as they are.
    pub fn resolve(&self, dirs: &[&str]) -> Result<MapSource, ShowmapError> {
        if *self != MapSource::Default {
            return Ok(self.clone());
        }
        dirs.iter()
            .map(PathBuf::from)
            .find(|dir| MapPaths::alpha(dir).config.exists())
            .map(MapSource::Dir)
            .ok_or_else(|| ShowmapError::NoMap(dirs.iter().map(PathBuf::from).collect()))
    }

    /// The map file and, except for `-f`, the mospe file.
    fn paths(&self) -> (PathBuf, Option<PathBuf>) {
        match self {
            MapSource::Default => MapSource::Dir(PathBuf::from(DEFAULT_MAP_DIR)).paths(),
            MapSource::Dir(dir) => {
                let paths = MapPaths::alpha(dir);
                (paths.config, Some(paths.mospe))
            }
            MapSource::File(file) => (file.clone(), None),
            MapSource::Live => {
                let paths = MapPaths::live(Path::new(LIVE_DIR));
                (paths.config, Some(paths.mospe))
            }
        }
    }
}

/// Where `showmap` without options looks for a map, in order: the packaged service's
/// directory, then a hand-started `omdiscd`'s default.
pub const DEFAULT_DIRS: [&str; 2] = [SERVICE_MAP_DIR, DEFAULT_MAP_DIR];

/// More than one of `--map-dir`, `-f` and `--live`. `Display` is one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConflict;

impl fmt::Display for SourceConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("--map-dir, -f and --live exclude each other")
    }
}

impl std::error::Error for SourceConflict {}

/// A map as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedMap {
    /// This node's id, if known.
    pub own_id: Option<NodeId>,
    /// The members, sorted by id.
    pub nodes: Vec<MapNode>,
    /// Node-id conflicts `omdiscd` reported beside the map (only with `--map-dir`).
    pub conflicts: Vec<IdConflict>,
}

/// Why the map cannot be shown. `Display` is one line.
#[derive(Debug)]
pub enum ShowmapError {
    /// A file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A file is not a valid map.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: MapFileError,
    },
    /// No option given, and none of the default directories holds a map.
    NoMap(Vec<PathBuf>),
    /// The map does not fit setpe's 256 lines.
    Render(RenderError),
    /// The conflicts file beside the map is unreadable or malformed.
    Conflicts(ConflictFileError),
}

impl fmt::Display for ShowmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowmapError::Read { path, error } if error.kind() == io::ErrorKind::NotFound => {
                write!(
                    f,
                    "{} does not exist (is omdiscd running, with this map directory?)",
                    path.display()
                )
            }
            ShowmapError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ShowmapError::Corrupt { path, error } => {
                write!(f, "{} is not a valid map: {error}", path.display())
            }
            ShowmapError::NoMap(dirs) => {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "no map in {} (is omdiscd running? --map-dir DIR reads another directory)",
                    dirs.join(" or ")
                )
            }
            ShowmapError::Render(error) => error.fmt(f),
            ShowmapError::Conflicts(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ShowmapError {}

/// Reads the map from `source` ([`MapSource::Default`]: from the first of
/// [`DEFAULT_DIRS`] that holds one).
pub fn load(source: &MapSource) -> Result<LoadedMap, ShowmapError> {
    let source = &source.resolve(&DEFAULT_DIRS)?;
    let (config_path, mospe_path) = source.paths();
    let config = read_limited(&config_path)?;
    let nodes = parse_config(&config).map_err(|error| ShowmapError::Corrupt {
        path: config_path.clone(),
        error,
    })?;
    let mut own_id = nodes.iter().find(|n| n.local).map(|n| n.id);
    if let Some(path) = mospe_path {
        match read_limited(&path) {
            Ok(bytes) => {
                own_id = Some(read_mospe(&bytes).map_err(|error| ShowmapError::Corrupt {
                    path: path.clone(),
                    error,
                })?);
            }
            // The daemon writes om_config first: a missing om_mospe is not fatal.
            Err(ShowmapError::Read { error, .. }) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    let conflicts = match source {
        MapSource::Dir(dir) => {
            conflicts::read(&dir.join(ALPHA_CONFLICTS)).map_err(ShowmapError::Conflicts)?
        }
        MapSource::Default | MapSource::File(_) | MapSource::Live => Vec::new(),
    };
    Ok(LoadedMap {
        own_id,
        nodes,
        conflicts,
    })
}

/// Parses `om_config` bytes into nodes.
pub fn parse_config(bytes: &[u8]) -> Result<Vec<MapNode>, MapFileError> {
    ConfigReader::new(bytes)?.collect()
}

fn read_limited(path: &Path) -> Result<Vec<u8>, ShowmapError> {
    let read_error = |error| ShowmapError::Read {
        path: path.to_owned(),
        error,
    };
    let meta = fs::metadata(path).map_err(read_error)?;
    if meta.is_file() && meta.len() > MAX_MAP_FILE_LEN {
        return Err(ShowmapError::Read {
            path: path.to_owned(),
            error: io::Error::new(io::ErrorKind::InvalidData, "file too large for a map"),
        });
    }
    fs::read(path).map_err(read_error)
}

/// The map in setpe text, with header comments (this node, node count, conflicts,
/// gateways, paths).
pub fn render_text(map: &LoadedMap) -> Result<String, ShowmapError> {
    let mut rendered = String::new();
    let options = RenderOptions {
        comments: true,
        own_id: map.own_id,
    };
    setpe::render(map.nodes.iter(), options, &mut rendered).map_err(ShowmapError::Render)?;
    // Conflicts go right under the first header line, where nobody can miss them.
    let (first, rest) = rendered.split_once('\n').unwrap_or((&rendered, ""));
    let mut text = format!("{first}\n");
    for conflict in &map.conflicts {
        text.push_str(&format!("# CONFLICT: {conflict}\n"));
    }
    text.push_str(rest);
    Ok(text)
}

/// The map as JSON: `{"node_id", "node_count", "nodes": [{"id", "local", "gateway", "via",
/// "addresses": [{"ip", "role", "interface"}]}], "conflicts": [{"id", "winner", "loser"}]}`.
pub fn render_json(map: &LoadedMap) -> Value {
    let nodes: Vec<Value> = map
        .nodes
        .iter()
        .map(|node| {
            let addresses: Vec<Value> = node
                .addrs
                .iter()
                .map(|addr| {
                    json!({
                        "ip": addr.ip.to_string(),
                        "role": match addr.role {
                            AddrRole::Primary => "primary",
                            AddrRole::Alias => "alias",
                        },
                        "interface": addr.iface.index(),
                    })
                })
                .collect();
            json!({
                "id": node.id.get(),
                "local": node.local,
                "gateway": node.gateway,
                "via": node.via.map(NodeId::get),
                "addresses": addresses,
            })
        })
        .collect();
    let conflicts: Vec<Value> = map
        .conflicts
        .iter()
        .map(|c| {
            json!({
                "id": c.id.get(),
                "winner": c.winner.to_string(),
                "loser": c.loser.to_string(),
            })
        })
        .collect();
    json!({
        "node_id": map.own_id.map(NodeId::get),
        "node_count": map.nodes.len(),
        "nodes": nodes,
        "conflicts": conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use omdisc_core::map::binary::{config_len, mospe_bytes, write_config};
    use omdisc_core::{IfaceId, NodeAddr};
    use std::net::IpAddr;

    fn node(id: u16, ips: &[&str], local: bool) -> MapNode {
        let iface = IfaceId::new(0).unwrap();
        let mut addrs = omdisc_core::AddrList::new();
        for (i, ip) in ips.iter().enumerate() {
            let ip: IpAddr = ip.parse().unwrap();
            let addr = if i == 0 {
                NodeAddr::primary(ip, iface)
            } else {
                NodeAddr::alias(ip, iface)
            };
            addrs.push(addr).unwrap();
        }
        MapNode {
            id: NodeId::new(id).unwrap(),
            addrs,
            gateway: ips.len() > 1,
            via: None,
            local,
        }
    }

    fn config_bytes(nodes: &[MapNode]) -> Vec<u8> {
        let mut buf = vec![0; config_len(nodes.iter())];
        let len = write_config(nodes.iter(), &mut buf).unwrap();
        buf.truncate(len);
        buf
    }

    fn three_nodes() -> Vec<MapNode> {
        vec![
            node(257, &["10.77.1.1"], true),
            node(258, &["10.77.1.2"], false),
            node(259, &["10.77.1.3", "10.88.1.3"], false),
        ]
    }

    #[test]
    fn text_has_header_ranges_and_aliases() {
        let map = LoadedMap {
            own_id: NodeId::new(257),
            nodes: three_nodes(),
            conflicts: Vec::new(),
        };
        let text = render_text(&map).unwrap();
        let header = text.lines().next().unwrap();
        assert!(header.starts_with('#'), "{text}");
        assert!(
            header.contains("257") && header.contains("3 nodes"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["257 10.77.1.1 3", "259 10.88.1.3 ALIAS"]);
        for line in lines {
            assert!(setpe::parse_line(line).unwrap().is_some());
        }
    }

    #[test]
    fn json_carries_every_node_and_address() {
        let map = LoadedMap {
            own_id: NodeId::new(257),
            nodes: three_nodes(),
            conflicts: Vec::new(),
        };
        let value = render_json(&map);
        assert_eq!(value["node_id"], 257);
        assert_eq!(value["node_count"], 3);
        assert_eq!(value["nodes"][0]["local"], true);
        assert_eq!(value["nodes"][2]["gateway"], true);
        assert_eq!(value["nodes"][2]["addresses"][1]["ip"], "10.88.1.3");
        assert_eq!(value["nodes"][2]["addresses"][1]["role"], "alias");
        assert_eq!(value["nodes"][1]["via"], Value::Null);
    }

    #[test]
    fn dir_source_reads_config_and_mospe() {
        let dir = TempDir::new("dir");
        fs::write(dir.path().join("om_config"), config_bytes(&three_nodes())).unwrap();
        fs::write(
            dir.path().join("om_mospe"),
            mospe_bytes(NodeId::new(258).unwrap()),
        )
        .unwrap();
        let map = load(&MapSource::Dir(dir.path().to_owned())).unwrap();
        assert_eq!(map.own_id, NodeId::new(258));
        assert_eq!(map.nodes, three_nodes());
    }

    #[test]
    fn conflicts_beside_the_map_are_reported_in_text_and_json() {
        let dir = TempDir::new("conflicts");
        fs::write(dir.path().join("om_config"), config_bytes(&three_nodes())).unwrap();
        let map = load(&MapSource::Dir(dir.path().to_owned())).unwrap();
        assert!(map.conflicts.is_empty());
        assert_eq!(render_json(&map)["conflicts"], json!([]));

        fs::write(
            dir.path().join(ALPHA_CONFLICTS),
            conflicts::render(&[IdConflict {
                id: NodeId::new(1287).unwrap(),
                winner: "10.1.5.7".parse().unwrap(),
                loser: "10.2.5.7".parse().unwrap(),
            }]),
        )
        .unwrap();
        let map = load(&MapSource::Dir(dir.path().to_owned())).unwrap();
        let text = render_text(&map).unwrap();
        let second = text.lines().nth(1).unwrap();
        assert!(
            second.starts_with("# CONFLICT: node id 1287")
                && second.contains("10.1.5.7 keeps it")
                && second.contains("10.2.5.7 is left out"),
            "{text}"
        );
        // Still a valid setpe map: the report is a comment.
        for line in text.lines() {
            assert!(setpe::parse_line(line).is_ok(), "{line}");
        }
        let value = render_json(&map);
        assert_eq!(
            value["conflicts"],
            json!([{"id": 1287, "winner": "10.1.5.7", "loser": "10.2.5.7"}])
        );

        fs::write(dir.path().join(ALPHA_CONFLICTS), "1287 10.1.5.7\n").unwrap();
        let error = load(&MapSource::Dir(dir.path().to_owned())).unwrap_err();
        assert!(matches!(error, ShowmapError::Conflicts(_)));
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn missing_mospe_falls_back_to_the_local_record() {
        let dir = TempDir::new("nomospe");
        fs::write(dir.path().join("om_config"), config_bytes(&three_nodes())).unwrap();
        let map = load(&MapSource::Dir(dir.path().to_owned())).unwrap();
        assert_eq!(map.own_id, NodeId::new(257));
        let map = load(&MapSource::File(dir.path().join("om_config"))).unwrap();
        assert_eq!(map.own_id, NodeId::new(257));
    }

    #[test]
    fn missing_config_is_a_one_line_error() {
        let dir = TempDir::new("missing");
        let error = load(&MapSource::Dir(dir.path().to_owned())).unwrap_err();
        assert!(matches!(error, ShowmapError::Read { .. }));
        let text = error.to_string();
        assert!(
            text.contains("om_config") && text.contains("does not exist"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn default_source_is_the_first_directory_with_a_map() {
        let service = TempDir::new("default-service");
        let manual = TempDir::new("default-manual");
        let dirs = [
            service.path().to_str().unwrap(),
            manual.path().to_str().unwrap(),
        ];
        let error = MapSource::Default.resolve(&dirs).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(dirs[0]) && text.contains(dirs[1]) && !text.contains('\n'),
            "{text}"
        );

        fs::write(
            manual.path().join("om_config"),
            config_bytes(&three_nodes()),
        )
        .unwrap();
        let picked = MapSource::Default.resolve(&dirs).unwrap();
        assert_eq!(picked, MapSource::Dir(manual.path().to_owned()));

        fs::write(
            service.path().join("om_config"),
            config_bytes(&three_nodes()),
        )
        .unwrap();
        let picked = MapSource::Default.resolve(&dirs).unwrap();
        assert_eq!(picked, MapSource::Dir(service.path().to_owned()));

        let named = MapSource::Dir(manual.path().to_owned());
        assert_eq!(named.resolve(&dirs).unwrap(), named);
    }

    #[test]
    fn corrupt_files_are_refused() {
        let dir = TempDir::new("corrupt");
        let good = config_bytes(&three_nodes());
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"garbage".to_vec(),
            good[..good.len() - 1].to_vec(),
            [good.as_slice(), &[0]].concat(),
        ];
        for bytes in cases {
            fs::write(dir.path().join("om_config"), &bytes).unwrap();
            let error = load(&MapSource::Dir(dir.path().to_owned())).unwrap_err();
            assert!(matches!(error, ShowmapError::Corrupt { .. }), "{bytes:?}");
            assert!(!error.to_string().contains('\n'));
        }
        fs::write(dir.path().join("om_config"), &good).unwrap();
        fs::write(dir.path().join("om_mospe"), [0, 0, 0, 0]).unwrap();
        assert!(matches!(
            load(&MapSource::Dir(dir.path().to_owned())),
            Err(ShowmapError::Corrupt { .. })
        ));
    }

    #[test]
    fn sources_exclude_each_other() {
        let args = ShowmapArgs {
            map_dir: Some("/tmp".parse().unwrap()),
            live: true,
            ..ShowmapArgs::default()
        };
        assert!(MapSource::from_args(&args).is_err());
        let args = ShowmapArgs::default();
        assert_eq!(MapSource::from_args(&args), Ok(MapSource::Default));
        let args = ShowmapArgs {
            live: true,
            ..ShowmapArgs::default()
        };
        assert_eq!(MapSource::from_args(&args), Ok(MapSource::Live));
    }
}
