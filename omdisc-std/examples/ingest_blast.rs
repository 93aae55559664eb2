//! Benchmark traffic source for `cargo xtask bench` (ingest): many simulated nodes blasting
//! valid announcements at the group as fast as the sender can, for a bounded time.
//!
//! ```text
//! ingest_blast --interface IF --first-ip A.B.C.D --nodes N --seconds S
//!              [--key-file PATH] [--group ADDR] [--port N] [--batch B] [--max-datagrams M]
//! ```
//!
//! Node `k` (0-based) sends from address `first-ip + k` — which must be configured on `IF`,
//! so each announcement passes the receivers' source check — with node id = its last two
//! octets and increasing sequence numbers, so every datagram is new information for a
//! receiver (a full table update, not a duplicate). Each round sends `B` consecutive
//! announcements of one node with one `sendmmsg`, then moves to the next node. With a key
//! file every datagram is signed (HMAC-SHA-256), as a keyed cluster's are.
//!
//! Only for namespaces that the benchmark created: the group traffic leaves on `IF` with
//! TTL 1, and the loop stops after `S` seconds or `M` datagrams, whichever comes first.

use std::io::IoSlice;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use argh::FromArgs;
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
use omdisc_core::{Keyring, Message, NodeId, MAX_DATAGRAM_LEN};
use omdisc_std::cli;
use omdisc_std::values::{InterfaceName, KeyFilePath};
use socket2::{Domain, Protocol, Socket, Type};

#[path = "../tests/support/announcement.rs"]
mod support;

use support::announcement;

const PROGRAM: &str = "ingest_blast";

/// ingest_blast: simulated nodes blasting signed announcements at the group (benchmark
/// traffic; only inside a namespace made for it).
#[derive(FromArgs)]
struct Options {
    /// interface to send on; it holds the nodes' addresses
    #[argh(option, arg_name = "IF")]
    interface: InterfaceName,

    /// address of the first node; node k has first-ip + k
    #[argh(option, long = "first-ip", arg_name = "A.B.C.D")]
    first_ip: Ipv4Addr,

    /// simulated nodes, 1-65000 (default 1000)
    #[argh(option, default = "1000", arg_name = "N")]
    nodes: usize,

    /// how long to send, above 0 and at most 600
    #[argh(option, arg_name = "S")]
    seconds: f64,

    /// cluster key file: sign every datagram
    #[argh(option, long = "key-file", arg_name = "PATH")]
    key_file: Option<KeyFilePath>,

    /// multicast group (default 239.255.77.77)
    #[argh(option, default = "Ipv4Addr::new(239, 255, 77, 77)", arg_name = "ADDR")]
    group: Ipv4Addr,

    /// UDP port (default 7477)
    #[argh(option, default = "7477", arg_name = "N")]
    port: u16,

    /// announcements of one node per sendmmsg, 1-1024 (default 8)
    #[argh(option, default = "8", arg_name = "B")]
    batch: usize,

    /// most datagrams in all (default 100000000)
    #[argh(
        option,
        long = "max-datagrams",
        default = "100_000_000",
        arg_name = "M"
    )]
    max_datagrams: u64,
}

/// Bounds argh cannot check: one line for each option out of range.
fn check(options: &Options) -> Result<(), String> {
    if !(options.seconds > 0.0 && options.seconds <= 600.0) {
        return Err("--seconds must be above 0 and at most 600".into());
    }
    if !(1..=65_000).contains(&options.nodes) || !(1..=1024).contains(&options.batch) {
        return Err("--nodes must be 1..=65000 and --batch 1..=1024".into());
    }
    Ok(())
}

/// One simulated node: its socket (bound to its address) and its next sequence number.
struct SimulatedNode {
    socket: Socket,
    message: Message,
}

fn open_node(options: &Options, ip: Ipv4Addr, incarnation: u64) -> Result<SimulatedNode, String> {
    let fail = |what: &'static str| move |e: std::io::Error| format!("{ip}: cannot {what}: {e}");
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(fail("create a socket"))?;
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(ip, 0)).into())
        .map_err(fail("bind (is the address on the interface?)"))?;
    socket
        .bind_device(Some(options.interface.as_str().as_bytes()))
        .map_err(fail("bind to the interface"))?;
    socket
        .set_multicast_if_v4(&ip)
        .map_err(fail("set IP_MULTICAST_IF"))?;
    socket.set_multicast_ttl_v4(1).map_err(fail("set TTL 1"))?;
    socket
        .set_multicast_loop_v4(false)
        .map_err(fail("turn loopback off"))?;
    socket
        .connect(&SocketAddr::V4(SocketAddrV4::new(options.group, options.port)).into())
        .map_err(fail("connect to the group"))?;
    let origin = NodeId::from_ip(IpAddr::V4(ip)).map_err(|e| format!("{ip}: {e}"))?;
    let message = announcement(
        origin,
        ip,
        incarnation,
        0,
        omdisc_core::Duration::from_secs(1),
    );
    Ok(SimulatedNode { socket, message })
}

fn run(options: &Options) -> Result<(), String> {
    check(options)?;
    let keys: Option<Keyring> = match options.key_file.clone().map(KeyFilePath::into_path) {
        Some(path) => Some(omdisc_std::key_file::load_keyring(&path).map_err(|e| e.to_string())?),
        None => None,
    };
    let incarnation = omdisc_std::startup::incarnation();
    let mut nodes = Vec::with_capacity(options.nodes);
    for k in 0..options.nodes {
        let ip = Ipv4Addr::from(u32::from(options.first_ip) + k as u32);
        nodes.push(open_node(options, ip, incarnation)?);
    }
    let batch = options.batch;
    let mut buffers = vec![[0u8; MAX_DATAGRAM_LEN]; batch];
    let mut lengths = vec![0usize; batch];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(batch, None);
    let no_addresses: Vec<Option<SockaddrIn>> = vec![None; batch];

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(options.seconds);
    let mut sent: u64 = 0;
    let mut failed: u64 = 0;
    let mut encoding = Duration::ZERO;
    'rounds: loop {
        for node in &mut nodes {
            if Instant::now() >= deadline || sent >= options.max_datagrams {
                break 'rounds;
            }
            let encode_started = Instant::now();
            for (buffer, len) in buffers.iter_mut().zip(lengths.iter_mut()) {
                node.message.sequence = node.message.sequence.wrapping_add(1);
                *len = node
                    .message
                    .emit(buffer, keys.as_ref())
                    .map_err(|e| format!("cannot encode: {e}"))?;
            }
            encoding += encode_started.elapsed();
            let slices: Vec<[IoSlice<'_>; 1]> = buffers
                .iter()
                .zip(&lengths)
                .map(|(buffer, len)| [IoSlice::new(&buffer[..*len])])
                .collect();
            match sendmmsg(
                node.socket.as_raw_fd(),
                &mut headers,
                &slices,
                &no_addresses,
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let n = results.count() as u64;
                    sent += n;
                    failed += batch as u64 - n;
                }
                Err(_) => failed += batch as u64,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} datagrams from {} nodes in {seconds:.3} s: {:.0}/s ({failed} failed; encoding{} took {:.0} % of the time)",
        options.nodes,
        sent as f64 / seconds,
        if keys.is_some() { " and signing" } else { "" },
        100.0 * encoding.as_secs_f64() / seconds
    );
    Ok(())
}

fn main() {
    let options: Options = cli::parse_or_exit(PROGRAM);
    run(&options).unwrap_or_else(|why| cli::fail_exit(PROGRAM, &why));
}
