//! [`Bridge`]: one Ethernet segment, and [`Port`]: a host namespace's leg on it.

use std::sync::atomic::{AtomicU32, Ordering};

use super::exec::ip;
use super::netns::Netns;
use super::stats::IfStats;

/// Name of the bridge device inside its switch namespace.
const BRIDGE_DEVICE: &str = "br0";

/// A Linux bridge inside its own "switch" namespace, so that nothing is created in the root
/// namespace. Dropping it deletes the switch namespace, and with it every port's veth pair.
#[derive(Debug)]
pub struct Bridge {
    switch: Netns,
    next_port: AtomicU32,
}

impl Bridge {
    /// A bridge with multicast snooping off (every multicast frame reaches every port).
    pub fn new(label: &str) -> Result<Bridge, String> {
        Self::with_snooping(label, false)
    }

    /// A bridge with IGMP/MLD snooping on or off.
    pub fn with_snooping(label: &str, snooping: bool) -> Result<Bridge, String> {
        let switch = Netns::new(label)?;
        let ns = switch.name();
        let snooping = if snooping { "1" } else { "0" };
        ip(&[
            "-n",
            ns,
            "link",
            "add",
            BRIDGE_DEVICE,
            "type",
            "bridge",
            "mcast_snooping",
            snooping,
        ])?;
        ip(&["-n", ns, "link", "set", BRIDGE_DEVICE, "up"])?;
        Ok(Bridge {
            switch,
            next_port: AtomicU32::new(1),
        })
    }

    /// The switch namespace's name.
    pub fn namespace(&self) -> &str {
        self.switch.name()
    }

    /// Attaches `host` with a veth pair: `ifname` in the host, up, with `ipv4` (`A.B.C.D/P`)
    /// and optionally `ipv6` (`X::Y/P`, added with `nodad` so it is usable at once).
    pub fn attach(
        &self,
        host: &Netns,
        ifname: &str,
        ipv4: &str,
        ipv6: Option<&str>,
    ) -> Result<Port, String> {
        let port = self.attach_bare(host, ifname)?;
        let h = host.name();
        ip(&["-n", h, "addr", "add", ipv4, "dev", ifname])?;
        if let Some(ipv6) = ipv6 {
            ip(&["-n", h, "-6", "addr", "add", ipv6, "dev", ifname, "nodad"])?;
        }
        Ok(port)
    }

    /// Attaches `host` with a veth pair whose host end `ifname` is up but has no address.
    pub fn attach_bare(&self, host: &Netns, ifname: &str) -> Result<Port, String> {
        let sw = self.switch.name();
        let port = format!("p{}", self.next_port.fetch_add(1, Ordering::Relaxed));
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            host.name(),
        ])?;
        ip(&[
            "-n",
            sw,
            "link",
            "set",
            &port,
            "master",
            BRIDGE_DEVICE,
            "up",
        ])?;
        ip(&["-n", host.name(), "link", "set", ifname, "up"])?;
        Ok(Port {
            switch_ns: sw.to_string(),
            bridge_port: port,
            host_ns: host.name().to_string(),
            host_if: ifname.to_string(),
        })
    }

    /// Counters of the bridge device itself (frames the bridge delivered to its own stack).
    pub fn stats(&self) -> Result<IfStats, String> {
        IfStats::read(self.switch.name(), BRIDGE_DEVICE)
    }
}

/// A veth pair between a bridge and a host namespace. It lives as long as both namespaces.
#[derive(Debug, Clone)]
pub struct Port {
    switch_ns: String,
    bridge_port: String,
    host_ns: String,
    host_if: String,
}

impl Port {
    /// The interface name inside the host namespace.
    pub fn host_if(&self) -> &str {
        &self.host_if
    }

    /// The host namespace's name.
    pub fn host_ns(&self) -> &str {
        &self.host_ns
    }

    /// Counters of the bridge's end: `tx` is what the segment delivered to the host,
    /// `rx` what the host sent onto the segment.
    pub fn bridge_stats(&self) -> Result<IfStats, String> {
        IfStats::read(&self.switch_ns, &self.bridge_port)
    }

    /// Counters of the host's end.
    pub fn host_stats(&self) -> Result<IfStats, String> {
        IfStats::read(&self.host_ns, &self.host_if)
    }

    /// Takes the bridge's end down or up (unplugs / replugs the cable).
    pub fn set_link(&self, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.switch_ns,
            "link",
            "set",
            &self.bridge_port,
            state,
        ])
        .map(drop)
    }
}
