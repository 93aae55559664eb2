//! [`Cluster`]: `omdiscd` nodes in their own namespaces on one bridge, each writing its map
//! to its own directory, read back through `showmap`. Used by the scenarios and the demo.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::bridge::{Bridge, Port};
use super::daemon_slot::DaemonSlot;
use super::exec::{ip, run_bounded};
use super::hosts::DaemonHosts;
use super::membership::{node_id_of, Membership};
use super::netns::Netns;
use super::wait::wait_until;
use crate::project::{run, Project};

/// Interface name of every node's leg on the bridge.
pub const NODE_IF: &str = "omd0";

/// How often map waits look at the maps.
const MAP_POLL: Duration = Duration::from_millis(25);

/// Paths of the release `omdiscd`, `showmap` and `omdisc-tap`.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The daemon.
    pub omdiscd: PathBuf,
    /// The map printer.
    pub showmap: PathBuf,
    /// The smoltcp node on a TAP device.
    pub omdisc_tap: PathBuf,
}

impl Binaries {
    /// `cargo build --release -p omdisc-std --features smoltcp --bins` (one build of the
    /// Linux shell for all three programs), then finds the binaries.
    pub fn build(project: &Project) -> Result<Binaries, String> {
        run(project.cargo().args([
            "build",
            "--release",
            "-p",
            "omdisc-std",
            "--features",
            "smoltcp",
            "--bins",
        ]))?;
        let release = project.target_dir()?.join("release");
        let find = |name: &str| {
            let path = release.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("the build made no {}", path.display()))
            }
        };
        Ok(Binaries {
            omdiscd: find("omdiscd")?,
            showmap: find("showmap")?,
            omdisc_tap: find("omdisc-tap")?,
        })
    }

    /// Runs `showmap ARGS` (a map file reader: no network, so in this namespace); returns
    /// its stdout, or its one-line stderr as the error.
    pub fn showmap(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(&self.showmap);
        command.args(args);
        let output = run_bounded(&mut command, Duration::from_secs(10))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "showmap failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// Where a node sits: its label and its IPv4 address on the segment.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Short name (`n1`), also part of its namespace name.
    pub label: String,
    /// Its address; the node id is the last two octets.
    pub address: Ipv4Addr,
}

/// One host of the cluster. Field order is drop order: the daemon ends before its
/// namespace goes.
#[derive(Debug)]
struct Node {
    daemon: DaemonSlot,
    port: Option<Port>,
    ns: Netns,
    spec: NodeSpec,
    /// `--node-id` given to this host, if any.
    node_id: Option<u16>,
    /// Arguments of this host only, after the common ones (e.g. its own key file).
    own_args: Vec<String>,
}

/// Nodes on one bridge, with the daemon arguments they all share.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    bridge: Bridge,
    binaries: Binaries,
    dir: PathBuf,
    prefix: u8,
    common_args: Vec<String>,
}

impl Cluster {
    /// Creates `count` hosts `n1..` on a new bridge, at `base.11`, `base.12`, ... (`/24`),
    /// files under `dir`. No daemon runs yet.
    pub fn new(
        binaries: &Binaries,
        dir: &Path,
        base: [u8; 3],
        count: usize,
        common_args: &[&str],
    ) -> Result<Cluster, String> {
        let specs = (0..count)
            .map(|i| {
                let host = u8::try_from(11 + i).map_err(|_| "too many nodes".to_string())?;
                Ok(NodeSpec {
                    label: format!("n{}", i + 1),
                    address: Ipv4Addr::new(base[0], base[1], base[2], host),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Self::with_nodes(binaries, dir, &specs, 24, common_args)
    }

    /// Creates the hosts of `specs` on a new bridge, addresses with prefix length `prefix`.
    pub fn with_nodes(
        binaries: &Binaries,
        dir: &Path,
        specs: &[NodeSpec],
        prefix: u8,
        common_args: &[&str],
    ) -> Result<Cluster, String> {
        let bridge = Bridge::new("sw")?;
        let mut cluster = Cluster {
            nodes: Vec::new(),
            bridge,
            binaries: binaries.clone(),
            dir: dir.to_path_buf(),
            prefix,
            common_args: common_args.iter().map(|s| s.to_string()).collect(),
        };
        for spec in specs {
            cluster.add_host(spec.clone())?;
        }
        Ok(cluster)
    }

    fn add_host(&mut self, spec: NodeSpec) -> Result<(), String> {
        let ns = Netns::new(&spec.label)?;
        let address = format!("{}/{}", spec.address, self.prefix);
        let port = self.bridge.attach(&ns, NODE_IF, &address, None)?;
        let daemon = DaemonSlot::new(&spec.label, self.dir.join(&spec.label))?;
        self.nodes.push(Node {
            daemon,
            port: Some(port),
            ns,
            spec,
            node_id: None,
            own_args: Vec::new(),
        });
        Ok(())
    }

    /// The bridge the hosts are on (to attach more, e.g. a TAP in its namespace).
    pub fn bridge(&self) -> &Bridge {
        &self.bridge
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no hosts.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node id of host `i`: its `--node-id`, or the last two octets of its address.
    pub fn id(&self, i: usize) -> u16 {
        let node = &self.nodes[i];
        node.node_id
            .unwrap_or_else(|| node_id_of(node.spec.address))
    }

    /// The address of host `i` now.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        self.nodes[i].spec.address
    }

    /// Gives host `i` a fixed id (`--node-id`) from its next start on.
    pub fn set_node_id(&mut self, i: usize, id: u16) {
        let node = &mut self.nodes[i];
        node.node_id = Some(id);
        node.own_args = vec!["--node-id".into(), id.to_string()];
    }

    /// Host `i`'s leg on the bridge, while it exists.
    pub fn port(&self, i: usize) -> Result<&Port, String> {
        let node = &self.nodes[i];
        node.port
            .as_ref()
            .ok_or_else(|| format!("{} has no interface now", node.spec.label))
    }

    /// `ip -n NS ARGS` in host `i`'s namespace.
    fn ip_in(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", self.nodes[i].ns.name()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Moves host `i` to `address`, as DHCP or an administrator does: the new address is
    /// added, then the old one removed (with `promote_secondaries`, as systemd sets it, the
    /// new one then becomes primary).
    pub fn change_address(&mut self, i: usize, address: Ipv4Addr) -> Result<(), String> {
        let ns = self.nodes[i].ns.name().to_owned();
        let sysctl = format!("net.ipv4.conf.{NODE_IF}.promote_secondaries=1");
        let output = super::exec_in(&ns, &["sysctl", "-qw", &sysctl])?;
        if !output.status.success() {
            return Err(format!("sysctl {sysctl} failed in {ns}"));
        }
        let old = format!("{}/{}", self.nodes[i].spec.address, self.prefix);
        let new = format!("{address}/{}", self.prefix);
        self.ip_in(i, &["addr", "add", &new, "dev", NODE_IF])?;
        self.ip_in(i, &["addr", "del", &old, "dev", NODE_IF])?;
        self.nodes[i].spec.address = address;
        Ok(())
    }

    /// Runs the `ip` commands of `file` in host `i`'s namespace (`ip -batch FILE`).
    pub fn ip_batch(&self, i: usize, file: &Path) -> Result<(), String> {
        let file = file.display().to_string();
        self.ip_in(i, &["-batch", &file]).map(drop)
    }

    /// Removes host `i`'s address (`add` false) or puts it back.
    pub fn set_address_present(&mut self, i: usize, add: bool) -> Result<(), String> {
        let address = format!("{}/{}", self.nodes[i].spec.address, self.prefix);
        let verb = if add { "add" } else { "del" };
        self.ip_in(i, &["addr", verb, &address, "dev", NODE_IF])
            .map(drop)
    }

    /// Takes host `i`'s own interface down or up (`ip link set`).
    pub fn set_interface_up(&mut self, i: usize, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        self.ip_in(i, &["link", "set", NODE_IF, state]).map(drop)
    }

    /// Deletes host `i`'s interface (and its veth peer on the bridge).
    pub fn delete_interface(&mut self, i: usize) -> Result<(), String> {
        self.ip_in(i, &["link", "del", NODE_IF])?;
        self.nodes[i].port = None;
        Ok(())
    }

    /// Creates host `i`'s interface again, same name and address, on the bridge.
    pub fn create_interface(&mut self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let address = format!("{}/{}", node.spec.address, self.prefix);
        let port = self.bridge.attach(&node.ns, NODE_IF, &address, None)?;
        self.nodes[i].port = Some(port);
        Ok(())
    }

    /// Label of host `i`.
    pub fn label(&self, i: usize) -> &str {
        &self.nodes[i].spec.label
    }

    /// Namespace of host `i`.
    pub fn namespace(&self, i: usize) -> &str {
        self.nodes[i].ns.name()
    }

    /// The daemon arguments host `i` is started with.
    pub fn daemon_args(&self, i: usize) -> Vec<String> {
        let node = &self.nodes[i];
        let mut args = node.daemon.base_args();
        args.extend(["-i".to_string(), NODE_IF.to_string()]);
        args.extend(self.common_args.iter().cloned());
        args.extend(node.own_args.iter().cloned());
        args
    }

    /// Gives host `i` arguments of its own, appended after the common ones from its next
    /// start on (e.g. `--key-file` with a file of its own).
    pub fn set_own_args(&mut self, i: usize, args: &[&str]) {
        self.nodes[i].own_args = args.iter().map(|s| s.to_string()).collect();
    }

    /// Starts `omdiscd` on host `i` (it must not be running).
    pub fn start(&mut self, i: usize) -> Result<(), String> {
        let args = self.daemon_args(i);
        let node = &mut self.nodes[i];
        node.daemon
            .start(node.ns.name(), &self.binaries, &args, &self.dir)
    }

    /// The map that lists exactly `hosts` with their addresses.
    pub fn expected(&self, hosts: &[usize]) -> Membership {
        Membership::from_primaries(
            hosts
                .iter()
                .map(|&i| (self.id(i), self.nodes[i].spec.address)),
        )
    }

    /// Waits until the maps of all `observers` list exactly `hosts` (by id and primary
    /// address). `Ok` with the time it took; on timeout an error that shows what each
    /// observer had. Fails early if an observer's daemon exits.
    pub fn wait_for_maps(
        &mut self,
        observers: &[usize],
        hosts: &[usize],
        timeout: Duration,
    ) -> Result<Duration, String> {
        self.wait_for_membership(observers, &self.expected(hosts), timeout)
    }

    /// Waits until the maps of all `observers` list exactly the ids and primary addresses
    /// of `expected`. As [`Cluster::wait_for_maps`].
    pub fn wait_for_membership(
        &mut self,
        observers: &[usize],
        expected: &Membership,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let wanted = expected.primaries();
        let started = Instant::now();
        let mut crashed = None;
        let outcome = wait_until(timeout, MAP_POLL, || {
            if let Err(why) = self.check_running(observers) {
                crashed = Some(why);
                return true;
            }
            observers
                .iter()
                .all(|&o| self.map(o).is_ok_and(|m| m.primaries() == wanted))
        });
        if let Some(why) = crashed {
            return Err(why);
        }
        match outcome {
            Ok(took) => Ok(took),
            Err(_) => Err(format!(
                "after {:.2}s the maps do not list exactly {expected}: {}",
                started.elapsed().as_secs_f64(),
                self.describe_maps(observers)
            )),
        }
    }
}

impl DaemonHosts for Cluster {
    fn slot(&self, i: usize) -> &DaemonSlot {
        &self.nodes[i].daemon
    }

    fn slot_mut(&mut self, i: usize) -> &mut DaemonSlot {
        &mut self.nodes[i].daemon
    }

    fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    fn map_summary(&self, i: usize) -> Result<String, String> {
        self.map(i).map(|map| map.to_string())
    }
}

/// The last `lines` lines of `text`, joined with ` | `.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b | c");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 2), "");
    }
}
