//! The shared wire test vectors (`testdata/wire-vectors.txt`) through `omdiscd`'s real
//! receive path: every vector is put on the wire as a UDP datagram to the group, from a
//! namespace that owns the address the vector claims, and the daemon takes or refuses it
//! as the vector says — the vectors' nodes appear in (and leave) its map, and each refused
//! vector shows in its refusal counters.
//!
//! Phase 1 sends the unkeyed vectors to an unkeyed daemon, phase 2 the vectors signed with
//! the first vector key to a daemon holding that key (a vector written for a receiver with
//! another key, `unknown-key`, is covered by the core's and the smoltcp frontend's tests).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use omdisc_core::testing::vectors::{self, Expected, Vector, WIRE_VECTORS};
use omdisc_core::MessageKind;

use super::security::{stop_all, FAST_ARGS, SETTLE};
use super::wire_tools::{write_key_file, GroupSender};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{ip, Binaries, Cluster, MapJson, NODE_IF};

/// The shared vectors through a real daemon.
pub(super) const WIRE_VECTORS_DAEMON: Scenario = Scenario {
    name: "wire-vectors-daemon",
    about: "the shared wire test vectors sent to omdiscd: taken or refused as each vector says",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: wire_vectors_daemon,
};

/// How long a vector's node may take to show in the map.
const SHOW: Duration = Duration::from_secs(2);
/// Refusal counters of the daemon (names of its counters file).
const REFUSALS: &[&str] = &[
    "refused-auth",
    "refused-malformed",
    "refused-oversize",
    "refused-stale",
    "refused-spoofed",
    "refused-hop-limit",
];

/// The sender's own address on the segment (for vectors whose source does not matter).
const SENDER: Ipv4Addr = Ipv4Addr::new(10, 77, 53, 13);

fn wire_vectors_daemon(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let all: Vec<Vector<'_>> = vectors::parse(WIRE_VECTORS)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // Host 0: the daemon under test; host 1: the sender.
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 53], 2, FAST_ARGS)?;
    let (daemon, sender) = (0, 1);
    let sources = claimed_sources(&all);
    let ns = cluster.namespace(sender).to_string();
    for source in &sources {
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{source}/32"),
            "dev",
            NODE_IF,
        ])?;
    }
    // The daemon must not drop off-subnet sources by reverse-path filtering.
    let daemon_ns = cluster.namespace(daemon).to_string();
    for source in &sources {
        ip(&[
            "-n",
            &daemon_ns,
            "route",
            "add",
            &format!("{source}/32"),
            "dev",
            NODE_IF,
        ])?;
    }

    // A vector sent directly from an IPv6 address needs an IPv6 cluster (the daemon refuses
    // it from another source as spoofed), and a valid PING, ACK, PING-REQ or GOSSIP is taken
    // or found stale depending on what the announcements before it said of its sender: the
    // core's and smoltcp's vector tests cover those (the refused ones are sent here).
    let all: Vec<Vector<'_>> = all.into_iter().filter(sendable_over_ipv4).collect();
    let unkeyed: Vec<&Vector<'_>> = all.iter().filter(|v| v.key.is_none()).collect();
    let (taken_1, refused_1) = phase(&mut cluster, binaries, daemon, &ns, &unkeyed)?;
    step(
        &format!("unkeyed daemon: {taken_1} vectors taken, {refused_1} refused, as written"),
        Duration::ZERO,
    );

    let keyed: Vec<&Vector<'_>> = all.iter().filter(|v| v.key.is_some()).collect();
    let key = keyed
        .first()
        .and_then(|v| key_hex(v))
        .ok_or("no keyed vector with a 32-byte key")?;
    let path = write_key_file(&dir.join("vectors.key"), &[&key])?;
    cluster.set_own_args(daemon, &["--key-file", &path.display().to_string()]);
    let same_key: Vec<&Vector<'_>> = keyed
        .into_iter()
        .filter(|v| key_hex(v).as_deref() == Some(key.as_str()))
        .collect();
    let (taken_2, refused_2) = phase(&mut cluster, binaries, daemon, &ns, &same_key)?;
    step(
        &format!("keyed daemon: {taken_2} vectors taken, {refused_2} refused, as written"),
        Duration::ZERO,
    );
    Ok(format!(
        "{} vectors through omdiscd: {} taken, {} refused",
        taken_1 + taken_2 + refused_1 + refused_2,
        taken_1 + taken_2,
        refused_1 + refused_2
    ))
}

/// Starts the daemon, sends `picked` in file order, checks each, stops the daemon.
/// Returns (taken, refused).
fn phase(
    cluster: &mut Cluster,
    binaries: &Binaries,
    daemon: usize,
    sender_ns: &str,
    picked: &[&Vector<'_>],
) -> Result<(usize, usize), String> {
    cluster.start(daemon)?;
    cluster.wait_for_maps(&[daemon], &[daemon], SETTLE)?;
    let (mut taken, mut refused) = (0, 0);
    for vector in picked {
        let source = source_of(vector);
        let socket = GroupSender::open(sender_ns, source)?;
        if !socket.send(&vector.bytes) {
            return Err(format!("could not send vector {}", vector.name));
        }
        match &vector.expected {
            Expected::Message(message) => {
                let id = message.origin.get();
                let want = message.kind == MessageKind::Announce;
                wait_listed(cluster, binaries, daemon, id, want)
                    .map_err(|e| format!("vector {}: {e}", vector.name))?;
                taken += 1;
            }
            Expected::Error(_) => refused += 1,
        }
    }
    wait_received(cluster, daemon, picked.len() as u64)?;
    let outputs = stop_all(cluster, &[daemon])?;
    let counters = cluster.counters(daemon)?;
    let counted = REFUSALS
        .iter()
        .map(|name| counters.get(name))
        .sum::<Result<u64, String>>()?;
    if counted != refused as u64 {
        return Err(format!(
            "{refused} vectors should be refused, the daemon counted {counted}: {}",
            crate::testbed::tail(&outputs[0], 2)
        ));
    }
    Ok((taken, refused))
}

/// Waits until the daemon says (in the counters SIGUSR1 makes it write) that it received
/// `sent` datagrams.
fn wait_received(cluster: &mut Cluster, daemon: usize, sent: u64) -> Result<(), String> {
    let mut received = 0;
    for _ in 0..50 {
        received = cluster.fresh_counters(daemon)?.get("received")?;
        if received >= sent {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the daemon received {received} of {sent} vectors"))
}

/// Waits until the daemon's map lists node `id` (`want`) or does not.
fn wait_listed(
    cluster: &Cluster,
    binaries: &Binaries,
    daemon: usize,
    id: u16,
    want: bool,
) -> Result<(), String> {
    let dir = cluster.map_dir(daemon).display().to_string();
    let listed = || -> Result<bool, String> {
        let json = MapJson::parse(&binaries.showmap(&["--map-dir", &dir, "--json"])?)?;
        Ok(json.node(id).is_some())
    };
    let outcome = crate::testbed::wait_until(SHOW, Duration::from_millis(10), || {
        listed().is_ok_and(|l| l == want)
    });
    outcome.map(|_| ()).map_err(|_| {
        format!(
            "node {id} {} the daemon's map after {SHOW:?}",
            if want { "never entered" } else { "stayed in" }
        )
    })
}

/// The address a vector is sent from: its first address if it is sent directly (the daemon
/// refuses spoofed sources), else the sender's own. Refused vectors come from the address
/// of the valid vectors they were derived from, so they fail for their own reason.
fn source_of(vector: &Vector<'_>) -> Ipv4Addr {
    match &vector.expected {
        Expected::Message(m) if m.hops == 0 => match m.addrs.first().map(|a| a.ip) {
            Some(IpAddr::V4(v4)) => v4,
            _ => SENDER,
        },
        _ => DERIVED_FROM,
    }
}

/// Whether the vector can be sent faithfully from an IPv4 sender.
fn sendable_over_ipv4(vector: &Vector<'_>) -> bool {
    match &vector.expected {
        Expected::Message(m) if m.kind.has_payload() => false,
        Expected::Message(m) if m.hops == 0 => {
            !matches!(m.addrs.first().map(|a| a.ip), Some(IpAddr::V6(_)))
        }
        _ => true,
    }
}

/// The address of the vector most refused vectors were derived from (`announce-join-ipv4`).
const DERIVED_FROM: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 220);

/// Every address the sender must own.
fn claimed_sources(all: &[Vector<'_>]) -> Vec<Ipv4Addr> {
    let mut sources: Vec<Ipv4Addr> = all.iter().map(source_of).filter(|s| *s != SENDER).collect();
    sources.sort();
    sources.dedup();
    sources
}

/// The vector's key in hex (the key file format).
fn key_hex(vector: &Vector<'_>) -> Option<String> {
    vector.key.as_ref()?;
    WIRE_VECTORS
        .split("vector ")
        .find(|block| {
            block.starts_with(vector.name) && block[vector.name.len()..].starts_with('\n')
        })
        .and_then(|block| block.lines().find_map(|l| l.strip_prefix("key ")))
        .map(|k| k.trim().to_string())
}
