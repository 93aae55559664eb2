//! [`Topology`]: several Ethernet segments and hosts with legs on one or more of them —
//! gateways, routers, multi-homed nodes — each host able to run one `omdiscd` with its own
//! arguments, its map read back through `showmap` (setpe text or `--json`).
//!
//! [`super::Cluster`] is the one-segment special case; this is for clusters across networks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::bridge::{Bridge, Port};
use super::cluster::{tail, Binaries};
use super::daemon_slot::DaemonSlot;
use super::exec::ip;
use super::hosts::DaemonHosts;
use super::netns::Netns;
use super::wait::wait_until;

/// How often map waits look at the maps.
const MAP_POLL: Duration = Duration::from_millis(25);
/// How long a stopped daemon gets to send LEAVE and exit.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One leg of a host: its interface on a segment, with an IPv4 and/or IPv6 address
/// (`A.B.C.D/P`, `X::Y/P`; IPv6 is added with `nodad`, usable at once). Neither: a bare leg.
#[derive(Debug, Clone, Copy)]
pub struct Leg<'a> {
    /// Index of the segment ([`Topology::add_segment`]).
    pub segment: usize,
    /// Interface name inside the host.
    pub ifname: &'a str,
    /// IPv4 address with prefix length.
    pub ipv4: Option<&'a str>,
    /// IPv6 address with prefix length.
    pub ipv6: Option<&'a str>,
}

impl<'a> Leg<'a> {
    /// An IPv4-only leg.
    pub fn v4(segment: usize, ifname: &'a str, ipv4: &'a str) -> Leg<'a> {
        Leg {
            segment,
            ifname,
            ipv4: Some(ipv4),
            ipv6: None,
        }
    }

    /// An IPv6-only leg.
    pub fn v6(segment: usize, ifname: &'a str, ipv6: &'a str) -> Leg<'a> {
        Leg {
            segment,
            ifname,
            ipv4: None,
            ipv6: Some(ipv6),
        }
    }
}

/// One host. Field order is drop order: the daemon ends before its namespace goes.
#[derive(Debug)]
struct Host {
    daemon: DaemonSlot,
    ports: Vec<Port>,
    ns: Netns,
}

/// Segments (bridges) and hosts. Dropping it ends every daemon, then deletes every host
/// namespace, then every segment.
#[derive(Debug)]
pub struct Topology {
    hosts: Vec<Host>,
    segments: Vec<Bridge>,
    binaries: Binaries,
    dir: PathBuf,
}

impl Topology {
    /// An empty topology whose logs and map directories go under `dir`.
    pub fn new(binaries: &Binaries, dir: &Path) -> Topology {
        Topology {
            hosts: Vec::new(),
            segments: Vec::new(),
            binaries: binaries.clone(),
            dir: dir.to_path_buf(),
        }
    }

    /// Adds a segment (a bridge, multicast snooping off); returns its index.
    pub fn add_segment(&mut self, label: &str) -> Result<usize, String> {
        self.segments.push(Bridge::new(label)?);
        Ok(self.segments.len() - 1)
    }

    /// Adds a host with `legs`; returns its index. No daemon runs yet.
    pub fn add_host(&mut self, label: &str, legs: &[Leg<'_>]) -> Result<usize, String> {
        let ns = Netns::new(label)?;
        let mut ports = Vec::new();
        for leg in legs {
            let segment = self
                .segments
                .get(leg.segment)
                .ok_or_else(|| format!("{label}: no segment {}", leg.segment))?;
            let port = segment.attach_bare(&ns, leg.ifname)?;
            if let Some(ipv4) = leg.ipv4 {
                ip(&["-n", ns.name(), "addr", "add", ipv4, "dev", leg.ifname])?;
            }
            if let Some(ipv6) = leg.ipv6 {
                ip(&[
                    "-n",
                    ns.name(),
                    "-6",
                    "addr",
                    "add",
                    ipv6,
                    "dev",
                    leg.ifname,
                    "nodad",
                ])?;
            }
            ports.push(port);
        }
        let daemon = DaemonSlot::new(label, self.dir.join(label))?;
        self.hosts.push(Host { daemon, ports, ns });
        Ok(self.hosts.len() - 1)
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there are no hosts.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Label of host `h`.
    pub fn label(&self, h: usize) -> &str {
        self.hosts[h].daemon.label()
    }

    /// Namespace of host `h`.
    pub fn namespace(&self, h: usize) -> &str {
        self.hosts[h].ns.name()
    }

    /// The namespace guard of host `h` (to attach more, e.g. a listener socket).
    pub fn netns(&self, h: usize) -> &Netns {
        &self.hosts[h].ns
    }

    /// Leg `leg` (in [`Topology::add_host`] order) of host `h`.
    pub fn port(&self, h: usize, leg: usize) -> &Port {
        &self.hosts[h].ports[leg]
    }

    /// The scenario directory (logs, map directories, router configuration).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `ip ARGS` inside host `h` (e.g. `route add default via ...`).
    pub fn ip_in(&self, h: usize, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", self.namespace(h)];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Starts `omdiscd -n --map-dir DIR --pid-file DIR/omdiscd.pid ARGS` on host `h` (it
    /// must not be running); its output goes to `LABEL-N.log`.
    pub fn start(&mut self, h: usize, args: &[&str]) -> Result<(), String> {
        let host = &mut self.hosts[h];
        let mut full = host.daemon.base_args();
        full.extend(args.iter().map(|s| s.to_string()));
        host.daemon
            .start(host.ns.name(), &self.binaries, &full, &self.dir)
    }

    /// Stops host `h`'s daemon with SIGTERM (it sends LEAVE) and waits for it to exit 0.
    pub fn stop(&mut self, h: usize) -> Result<(), String> {
        let label = self.label(h).to_string();
        let daemon = self.hosts[h].daemon.process()?;
        daemon.signal(Signal::SIGTERM)?;
        match daemon.wait_exit(STOP_GRACE) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!(
                "{label} omdiscd exited with {status} after SIGTERM: {}",
                tail(&daemon.output(), 3)
            )),
            None => Err(format!(
                "{label} omdiscd did not exit within {STOP_GRACE:?} of SIGTERM"
            )),
        }
    }

    /// Waits until the JSON maps of all `observers` list exactly the node ids `ids`. `Ok`
    /// with the time it took; on timeout an error showing what each observer had. Fails
    /// early if an observer's daemon exits.
    pub fn wait_for_ids(
        &mut self,
        observers: &[usize],
        ids: &BTreeSet<u16>,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let mut crashed = None;
        let outcome = wait_until(timeout, MAP_POLL, || {
            if let Err(why) = self.check_running(observers) {
                crashed = Some(why);
                return true;
            }
            observers
                .iter()
                .all(|&o| self.map_json(o).is_ok_and(|m| m.ids() == *ids))
        });
        if let Some(why) = crashed {
            return Err(why);
        }
        outcome.map_err(|_| {
            format!(
                "after {:.2}s the maps do not list exactly {ids:?}: {}",
                started.elapsed().as_secs_f64(),
                self.describe_maps(observers)
            )
        })
    }
}

impl DaemonHosts for Topology {
    fn slot(&self, i: usize) -> &DaemonSlot {
        &self.hosts[i].daemon
    }

    fn slot_mut(&mut self, i: usize) -> &mut DaemonSlot {
        &mut self.hosts[i].daemon
    }

    fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    fn map_summary(&self, i: usize) -> Result<String, String> {
        self.map_json(i).map(|map| format!("{:?}", map.ids()))
    }
}

/// One node of a `showmap --json` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonNode {
    /// Node id.
    pub id: u16,
    /// Whether it is the node that wrote the map.
    pub local: bool,
    /// Whether it relays between networks.
    pub gateway: bool,
    /// The gateway it was heard through, if not directly.
    pub via: Option<u16>,
    /// Its addresses with their roles (`primary` / `alias`), as listed.
    pub addresses: Vec<(std::net::IpAddr, String)>,
}

impl JsonNode {
    /// Addresses with role `role`.
    pub fn addresses_with_role(&self, role: &str) -> Vec<std::net::IpAddr> {
        self.addresses
            .iter()
            .filter(|(_, r)| r == role)
            .map(|(ip, _)| *ip)
            .collect()
    }
}

/// What `showmap --json` says, read strictly: every field the scenarios use must be there
/// with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapJson {
    /// This node's id.
    pub node_id: Option<u16>,
    /// The members.
    pub nodes: Vec<JsonNode>,
    /// The whole document, for fields only some scenarios read.
    pub raw: Value,
}

impl MapJson {
    /// Parses `showmap --json` output.
    pub fn parse(text: &str) -> Result<MapJson, String> {
        let raw: Value =
            serde_json::from_str(text).map_err(|e| format!("showmap --json is not JSON: {e}"))?;
        let id_of = |v: &Value, what: &str| -> Result<Option<u16>, String> {
            match v {
                Value::Null => Ok(None),
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n != 0)
                    .map(Some)
                    .ok_or_else(|| format!("{what} {n} is not a node id")),
                other => Err(format!("{what} is {other}, not a node id")),
            }
        };
        let node_id = id_of(&raw["node_id"], "node_id")?;
        let list = raw["nodes"]
            .as_array()
            .ok_or("showmap --json has no \"nodes\" array")?;
        let mut nodes = Vec::new();
        for node in list {
            let id = id_of(&node["id"], "id")?.ok_or("a node without an id")?;
            let flag = |name: &str| {
                node[name]
                    .as_bool()
                    .ok_or_else(|| format!("node {id} has no boolean {name:?}"))
            };
            let mut addresses = Vec::new();
            for address in node["addresses"]
                .as_array()
                .ok_or_else(|| format!("node {id} has no addresses array"))?
            {
                let ip = address["ip"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("node {id} has an address without a valid ip"))?;
                let role = address["role"]
                    .as_str()
                    .ok_or_else(|| format!("node {id} has an address without a role"))?;
                addresses.push((ip, role.to_string()));
            }
            nodes.push(JsonNode {
                id,
                local: flag("local")?,
                gateway: flag("gateway")?,
                via: id_of(&node["via"], "via")?,
                addresses,
            });
        }
        Ok(MapJson {
            node_id,
            nodes,
            raw,
        })
    }

    /// The node ids, ascending.
    pub fn ids(&self) -> BTreeSet<u16> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Node `id`, if listed.
    pub fn node(&self, id: u16) -> Option<&JsonNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_maps_are_read_strictly() {
        let text = r#"{"node_id":257,"node_count":2,"nodes":[
            {"id":257,"local":true,"gateway":false,"via":null,
             "addresses":[{"ip":"10.1.1.1","role":"primary","interface":0}]},
            {"id":300,"local":false,"gateway":true,"via":null,
             "addresses":[{"ip":"10.1.1.44","role":"primary","interface":0},
                          {"ip":"fd00::2c","role":"alias","interface":1}]}]}"#;
        let map = MapJson::parse(text).unwrap();
        assert_eq!(map.node_id, Some(257));
        assert_eq!(map.ids(), BTreeSet::from([257, 300]));
        let gateway = map.node(300).unwrap();
        assert!(gateway.gateway && !gateway.local);
        assert_eq!(
            gateway.addresses_with_role("alias"),
            ["fd00::2c".parse::<std::net::IpAddr>().unwrap()]
        );
        for bad in [
            "nope",
            r#"{"node_id":1}"#,
            r#"{"node_id":1,"nodes":[{"id":0,"local":true,"gateway":false,"via":null,"addresses":[]}]}"#,
            r#"{"node_id":1,"nodes":[{"id":1,"local":true,"via":null,"addresses":[]}]}"#,
            r#"{"node_id":1,"nodes":[{"id":1,"local":true,"gateway":false,"via":null,"addresses":[{"ip":"x","role":"primary"}]}]}"#,
        ] {
            assert!(MapJson::parse(bad).is_err(), "{bad}");
        }
    }
}
