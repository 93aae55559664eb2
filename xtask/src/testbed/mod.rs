//! A small library for real multi-host tests on one machine, in Linux network namespaces.
//!
//! - [`Netns`]: a namespace guard with a unique name (`omdt-PID-N-LABEL`), deleted on drop;
//! - [`Bridge`]: an Ethernet segment, a bridge inside its own "switch" namespace (nothing
//!   touches the root namespace's interfaces), multicast snooping off by default;
//! - [`Port`]: a veth pair that attaches a host namespace to a bridge, with addresses;
//! - [`Process`]: a command started inside a namespace; dropping it ends that one PID;
//! - [`registry`]: everything above is registered process-wide, so Ctrl-C/SIGTERM (and a
//!   scenario timeout) can remove it all; namespaces left by a killed earlier run are swept;
//! - [`drop_multicast`], [`multicast_dropped`]: a host whose network carries no multicast
//!   (nftables rules in its namespace);
//! - [`wait_until`], [`exec_in`], [`IfStats`]: polling, one-shot commands, packet counters;
//! - [`http_get_in`]: one HTTP GET from inside a namespace (metrics, Prometheus' API);
//! - [`Counters`]: a daemon's own counters, from the JSON file it writes;
//! - [`RandomLoss`]: random input loss in a host namespace (nftables), and its counts;
//! - [`Membership`]: `showmap` output parsed back into node ids and addresses;
//! - [`Cluster`]: omdiscd nodes on one bridge, for the scenarios and the demo;
//! - [`Topology`]: several segments and multi-homed hosts (gateways, routed networks);
//! - [`GroupListener`], [`listen`], [`CopyTally`]: passive sockets that record every datagram
//!   on a segment, and how many copies of each message round crossed each one;
//! - [`Prometheus`], [`promtool_check_metrics`]: Debian's Prometheus server in a namespace
//!   and its metrics linter;
//! - [`MulticastRouter`]: `smcrouted` with static (*,G) routes in a router namespace;
//! - [`Container`], [`DebianRoot`]: a Debian with systemd as PID 1 booted in a namespace
//!   (`systemd-nspawn`), from a debootstrap root cached under the target directory.
//!
//! Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): see [`require_root`].

mod bridge;
mod cluster;
mod container;
mod copies;
mod counters;
mod daemon_slot;
mod debian_root;
mod exec;
mod hosts;
mod http;
mod listener;
mod loss;
mod membership;
mod netns;
mod nft;
mod process;
mod prometheus;
pub mod registry;
mod router;
mod stats;
mod topology;
mod wait;

pub use bridge::{Bridge, Port};
pub use cluster::{tail, Binaries, Cluster, NodeSpec, NODE_IF};
pub use container::{sweep_stale_cgroups, Container};
pub use copies::{CopyTally, SegmentCopies, COPY_SETTLE};
pub use counters::Counters;
pub use debian_root::{DebianRoot, RootSource};
pub use exec::{exec_in, ip, run_bounded, COMMAND_TIMEOUT};
pub(crate) use hosts::DaemonHosts;
pub use http::http_get_in;
pub use listener::{decode_header, listen, GroupListener, Heard, MessageKey};
pub use loss::{LossCount, RandomLoss};
pub use membership::{addr_of, node_id_in, node_id_of, Membership, NodeEntry};
pub use netns::{in_namespace, leftover_namespaces, Netns, NETNS_PREFIX};
pub use nft::{drop_multicast, multicast_dropped};
pub use process::{Adopted, Process};
pub use prometheus::{promtool_check_metrics, Prometheus, Sample, PROMETHEUS_TOOLS};
pub use router::{MulticastRoute, MulticastRouter};
pub use stats::IfStats;
pub use topology::{JsonNode, Leg, MapJson, Topology};
pub use wait::wait_until;

/// Fails with one line when this process cannot create network namespaces.
pub fn require_root(what: &str) -> Result<(), String> {
    if crate::ensure::is_root() {
        Ok(())
    } else {
        Err(format!(
            "{what}: root is needed (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root"
        ))
    }
}
