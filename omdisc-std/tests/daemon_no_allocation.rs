//! The daemon's steady-state loop never allocates: a real `omdiscd` main loop (startup,
//! sockets, engine, map writer, metrics endpoint) receives signed announcements of 64
//! peers over loopback, batch after batch, under a counting global allocator. After a
//! warm-up (the peers join, the map is written), loop turns that receive, verify and apply
//! refreshes must allocate nothing.
//!
//! Loopback only: the daemon runs unicast-only (`--no-multicast`) on `lo`, the peers are
//! sockets of this process bound to 127.0.0.10–73. Counts, no timings.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use omdisc_core::{ClusterKey, Duration, Keyring, NodeId, MAX_DATAGRAM_LEN};
use omdisc_std::cli::parse_omdiscd_args;
use omdisc_std::config::DaemonConfig;
use omdisc_std::daemon::Daemon;
use omdisc_std::sd_notify::Notifier;
use omdisc_std::signals::{self, SignalReceiver};
use omdisc_std::startup;

#[path = "../../omdisc-core/benches/common/counting_allocator.rs"]
mod counting_allocator;
#[path = "support/announcement.rs"]
mod support;

use support::announcement;

use counting_allocator::{allocations, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const KEY_HEX: &str = "7b1f0e5c9a2d4b6e8f1a3c5e7d9b0a2c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b";
const PEERS: usize = 64;
/// Datagrams sent before each measured loop turn: more than one `recvmmsg` batch.
const PER_TURN: usize = 40;
const WARM_UP_TURNS: usize = 40;
const MEASURED_TURNS: usize = 200;

/// A peer: its socket (bound to its own loopback address) and its next sequence number.
struct Peer {
    socket: UdpSocket,
    ip: Ipv4Addr,
    id: NodeId,
    sequence: u32,
}

impl Peer {
    fn new(k: usize) -> Peer {
        let ip = Ipv4Addr::new(127, 0, 0, 10 + k as u8);
        let socket = UdpSocket::bind((ip, 0)).expect("bind a loopback peer socket");
        socket.set_nonblocking(true).unwrap();
        Peer {
            socket,
            ip,
            id: NodeId::new(100 + k as u16).unwrap(),
            sequence: 0,
        }
    }

    /// Sends the peer's next announcement (a full refresh) to the daemon. Allocates nothing.
    fn announce(&mut self, keys: &Keyring, daemon: SocketAddr) {
        self.sequence += 1;
        let message = announcement(
            self.id,
            self.ip,
            1_700_000_000_000,
            self.sequence,
            Duration::from_millis(1_000),
        );
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let len = message.emit(&mut buf, Some(keys)).unwrap();
        self.socket.send_to(&buf[..len], daemon).unwrap();
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free UDP port on 127.0.0.1 (for the daemon to bind next).
fn free_port() -> u16 {
    let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    probe.local_addr().unwrap().port()
}

/// Sends `PER_TURN` refreshes (round-robin over the peers), then runs one loop turn.
fn turn(daemon: &mut Daemon, peers: &mut [Peer], next: &mut usize, keys: &Keyring, to: SocketAddr) {
    for _ in 0..PER_TURN {
        peers[*next % PEERS].announce(keys, to);
        *next += 1;
    }
    // Everything sent is queued on the daemon's socket (loopback delivers at send): one
    // turn takes it all (up to BATCHES_PER_WAKE batches).
    assert_eq!(daemon.turn().expect("loop turn"), None);
}

#[test]
fn steady_state_loop_turns_never_allocate() {
    let scratch = Scratch(
        std::env::temp_dir().join(format!("omdisc-std-no-allocation-{}", std::process::id())),
    );
    std::fs::create_dir_all(&scratch.0).unwrap();
    let key_file = scratch.0.join("key");
    std::fs::write(&key_file, format!("{KEY_HEX}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = free_port();
    let port_arg = port.to_string();
    let metrics_arg = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|probe| probe.local_addr())
        .unwrap()
        .to_string();
    let map_dir = scratch.0.to_str().unwrap();
    let key_arg = key_file.to_str().unwrap();
    let args = [
        "-n",
        "-i",
        "lo",
        "--no-multicast",
        "--node-id",
        "1",
        // The daemon's own announcements are timers the core's no_allocation test covers;
        // an hour apart they stay out of the counted turns, whatever the machine's speed.
        "--interval",
        "3600",
        "--port",
        &port_arg,
        "--key-file",
        key_arg,
        "--map-dir",
        map_dir,
        "--metrics-listen",
        &metrics_arg,
    ];
    let config = DaemonConfig::from_args(parse_omdiscd_args(&args).unwrap()).unwrap();
    signals::block_handled_signals().unwrap();
    let prepared = startup::prepare(config).expect("daemon startup on lo");
    let signals = SignalReceiver::open().unwrap();
    let mut daemon = Daemon::new(prepared, signals, Notifier::disabled()).unwrap();
    daemon.start();

    let keys = Keyring::new(ClusterKey::from_hex(KEY_HEX).unwrap());
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut peers: Vec<Peer> = (0..PEERS).map(Peer::new).collect();
    let mut next = 0;

    // Warm-up: the peers join (events, map written), buffers reach their size.
    for _ in 0..WARM_UP_TURNS {
        turn(&mut daemon, &mut peers, &mut next, &keys, to);
    }
    let engine = daemon.engine().expect("the engine runs");
    assert_eq!(
        engine.members().count(),
        PEERS + 1,
        "every peer joined during the warm-up"
    );
    let accepted_before = engine.stats().rx_accepted;
    let own_before = engine.stats().rx_own;
    let received_before = daemon.counters().datagrams_received;
    let calls_before = daemon.counters().receive_calls;

    let before = allocations();
    for _ in 0..MEASURED_TURNS {
        turn(&mut daemon, &mut peers, &mut next, &keys, to);
    }
    let allocated = allocations() - before;

    let sent = (MEASURED_TURNS * PER_TURN) as u64;
    let counters = daemon.counters();
    let engine = daemon.engine().unwrap();
    // The peers' addresses are on loopback, where the daemon listens too: a probe it sends
    // to one of them comes back to it as its own datagram (how many depends on how long the
    // turns take, so they are counted, not predicted).
    let own = engine.stats().rx_own - own_before;
    assert_eq!(
        counters.datagrams_received - received_before,
        sent + own,
        "every refresh was received (and {own} of the daemon's own probes)"
    );
    assert_eq!(
        engine.stats().rx_accepted - accepted_before,
        sent,
        "every refresh was verified and applied"
    );
    assert!(
        counters.receive_calls - calls_before >= 2 * MEASURED_TURNS as u64,
        "batches of at most 32: at least two recvmmsg calls per turn"
    );
    assert_eq!(
        allocated, 0,
        "{MEASURED_TURNS} steady-state loop turns ({sent} datagrams) allocated {allocated} times"
    );
}
