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
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
use omdisc_core::addr::AddrList;
use omdisc_core::{IfaceId, Keyring, Message, MessageKind, NodeAddr, NodeId, MAX_DATAGRAM_LEN};
use socket2::{Domain, Protocol, Socket, Type};

struct Options {
    interface: String,
    first_ip: Ipv4Addr,
    nodes: usize,
    seconds: f64,
    key_file: Option<String>,
    group: Ipv4Addr,
    port: u16,
    batch: usize,
    max_datagrams: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        interface: String::new(),
        first_ip: Ipv4Addr::UNSPECIFIED,
        nodes: 1000,
        seconds: 0.0,
        key_file: None,
        group: Ipv4Addr::new(239, 255, 77, 77),
        port: 7477,
        batch: 8,
        max_datagrams: 100_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or(format!("{name} needs a value"))?;
        let bad = |what: &str| format!("invalid {name} {value:?}: expected {what}");
        match name.as_str() {
            "--interface" => options.interface = value,
            "--first-ip" => options.first_ip = value.parse().map_err(|_| bad("an IPv4 address"))?,
            "--nodes" => options.nodes = value.parse().map_err(|_| bad("a count"))?,
            "--seconds" => options.seconds = value.parse().map_err(|_| bad("seconds"))?,
            "--key-file" => options.key_file = Some(value),
            "--group" => options.group = value.parse().map_err(|_| bad("an IPv4 group"))?,
            "--port" => options.port = value.parse().map_err(|_| bad("a port"))?,
            "--batch" => options.batch = value.parse().map_err(|_| bad("a count"))?,
            "--max-datagrams" => {
                options.max_datagrams = value.parse().map_err(|_| bad("a count"))?
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if options.interface.is_empty() || options.first_ip.is_unspecified() {
        return Err("--interface and --first-ip are required".into());
    }
    if !(options.seconds > 0.0 && options.seconds <= 600.0) {
        return Err("--seconds must be above 0 and at most 600".into());
    }
    if !(1..=65_000).contains(&options.nodes) || !(1..=1024).contains(&options.batch) {
        return Err("--nodes must be 1..=65000 and --batch 1..=1024".into());
    }
    Ok(options)
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
        .bind_device(Some(options.interface.as_bytes()))
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
    let mut addrs = AddrList::new();
    let _ = addrs.push(NodeAddr::primary(IpAddr::V4(ip), IfaceId::FIRST));
    let message = Message {
        kind: MessageKind::Announce,
        join: false,
        gateway: false,
        hops: 0,
        relayer: None,
        origin,
        incarnation,
        sequence: 0,
        interval: omdisc_core::Duration::from_secs(1),
        addrs,
    };
    Ok(SimulatedNode { socket, message })
}

fn run(options: &Options) -> Result<(), String> {
    let keys: Option<Keyring> = match &options.key_file {
        Some(path) => Some(
            omdisc_std::key_file::load_keyring(std::path::Path::new(path))
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let incarnation = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1);
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

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(why) => {
            eprintln!("ingest_blast: error: {why}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("ingest_blast: error: {why}");
            ExitCode::FAILURE
        }
    }
}
