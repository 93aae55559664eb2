//! Baseline receivers for `cargo xtask bench` (ingest): how fast can a process merely take
//! datagrams off the group socket, without looking at them?
//!
//! ```text
//! ingest_drain --interface IF --mode recvmmsg|recv_from [--group ADDR] [--port N]
//!              [--warmup SECS] [--window SECS] [--idle-timeout SECS] [--batch B]
//! ```
//!
//! The socket is opened exactly as `omdiscd` opens its own (`LegSocket::open`: same
//! options, 2 MiB receive buffer), and drained after `poll` like the
//! daemon's. `recvmmsg` mode takes up to `B` (default 32, the daemon's batch) datagrams per
//! call into preallocated buffers, with their source addresses and no control messages;
//! `recv_from` mode takes one per call. Counting starts `--warmup` seconds after the first
//! datagram and lasts `--window` seconds; the result is one line:
//! `drained N datagrams in W s: R/s`.

use std::fmt;
use std::io::IoSliceMut;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::str::FromStr;
use std::time::{Duration, Instant};

use argh::FromArgs;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvfrom, recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use omdisc_core::MAX_DATAGRAM_LEN;
use omdisc_std::cli;
use omdisc_std::config::{DEFAULT_GROUP, DEFAULT_PORT};
use omdisc_std::socket::{LegSocket, SocketPlan};
use omdisc_std::values::InterfaceName;

const PROGRAM: &str = "ingest_drain";

/// How the socket is drained.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Recvmmsg,
    RecvFrom,
}

/// A `--mode` that is neither `recvmmsg` nor `recv_from`.
struct BadMode(String);

impl fmt::Display for BadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid --mode {:?}: expected recvmmsg or recv_from",
            self.0
        )
    }
}

impl FromStr for Mode {
    type Err = BadMode;

    fn from_str(text: &str) -> Result<Self, BadMode> {
        match text {
            "recvmmsg" => Ok(Mode::Recvmmsg),
            "recv_from" => Ok(Mode::RecvFrom),
            _ => Err(BadMode(text.to_owned())),
        }
    }
}

/// ingest_drain: a baseline receiver that only takes datagrams off the group socket
/// (benchmark; only inside a namespace made for it).
#[derive(FromArgs)]
struct Options {
    /// interface to receive on
    #[argh(option, arg_name = "IF")]
    interface: InterfaceName,

    /// recvmmsg or recv_from
    #[argh(option, arg_name = "MODE")]
    mode: Mode,

    /// multicast group (default 239.255.77.77)
    #[argh(option, default = "DEFAULT_GROUP", arg_name = "ADDR")]
    group: IpAddr,

    /// UDP port (default 7477)
    #[argh(option, default = "DEFAULT_PORT", arg_name = "N")]
    port: u16,

    /// seconds after the first datagram before counting, 0-600 (default 1)
    #[argh(option, default = "1.0", arg_name = "SECS")]
    warmup: f64,

    /// seconds of counting, above 0 and at most 600 (default 5)
    #[argh(option, default = "5.0", arg_name = "SECS")]
    window: f64,

    /// give up after this many seconds without a datagram (default 30)
    #[argh(option, long = "idle-timeout", default = "30.0", arg_name = "SECS")]
    idle_timeout: f64,

    /// datagrams per recvmmsg, 1-1024 (default 32, the daemon's)
    #[argh(option, default = "32", arg_name = "B")]
    batch: usize,
}

/// Bounds argh cannot check: one line for each option out of range.
fn check(options: &Options) -> Result<(), String> {
    let seconds_ok = |s: f64| (0.0..=600.0).contains(&s);
    if !(seconds_ok(options.warmup) && seconds_ok(options.window) && options.window > 0.0) {
        return Err("--warmup and --window must be 0 to 600 seconds".into());
    }
    if !(1..=1024).contains(&options.batch) {
        return Err("--batch must be 1..=1024".into());
    }
    Ok(())
}

/// Counts datagrams inside the measurement window.
struct Window {
    warmup: Duration,
    length: Duration,
    first: Option<Instant>,
    counted: u64,
}

impl Window {
    /// Records `n` datagrams received now; false once the window is over.
    fn record(&mut self, n: usize) -> bool {
        let now = Instant::now();
        let first = *self.first.get_or_insert(now);
        let since = now - first;
        if since >= self.warmup + self.length {
            return false;
        }
        if since >= self.warmup {
            self.counted += n as u64;
        }
        true
    }
}

fn run(options: &Options) -> Result<(), String> {
    check(options)?;
    let interfaces =
        omdisc_std::interfaces::resolve(std::slice::from_ref(&options.interface), options.group)
            .map_err(|e| e.to_string())?;
    let interface = interfaces.first().ok_or("no interface")?;
    let plan = SocketPlan {
        group: options.group,
        port: options.port,
        ttl: 1,
        multicast: true,
    };
    let socket = LegSocket::open(interface, plan).map_err(|e| e.to_string())?;
    let fd = socket.as_fd().as_raw_fd();
    let mut window = Window {
        warmup: Duration::from_secs_f64(options.warmup),
        length: Duration::from_secs_f64(options.window),
        first: None,
        counted: 0,
    };
    let batch = options.batch;
    let mut buffers = vec![[0u8; MAX_DATAGRAM_LEN + 1]; batch];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch, None);
    let idle = PollTimeout::try_from(Duration::from_secs_f64(options.idle_timeout))
        .unwrap_or(PollTimeout::MAX);
    'wakes: loop {
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, idle) {
            Ok(0) => return Err("no datagram within the idle timeout".into()),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        loop {
            let received = match options.mode {
                Mode::Recvmmsg => {
                    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
                        .iter_mut()
                        .map(|b| [IoSliceMut::new(&mut b[..])])
                        .collect();
                    match recvmmsg(
                        fd,
                        &mut headers,
                        slices.iter_mut(),
                        MsgFlags::MSG_DONTWAIT,
                        None,
                    ) {
                        Ok(results) => results.count(),
                        Err(Errno::EAGAIN) => 0,
                        Err(e) => return Err(format!("recvmmsg: {e}")),
                    }
                }
                Mode::RecvFrom => match recvfrom::<SockaddrStorage>(fd, &mut buffers[0]) {
                    Ok(_) => 1,
                    Err(Errno::EAGAIN) => 0,
                    Err(e) => return Err(format!("recvfrom: {e}")),
                },
            };
            if received == 0 {
                continue 'wakes;
            }
            if !window.record(received) {
                break 'wakes;
            }
        }
    }
    let seconds = window.length.as_secs_f64();
    println!(
        "drained {} datagrams in {seconds:.3} s: {:.0}/s",
        window.counted,
        window.counted as f64 / seconds
    );
    Ok(())
}

fn main() {
    let options: Options = cli::parse_or_exit(PROGRAM);
    run(&options).unwrap_or_else(|why| cli::fail_exit(PROGRAM, &why));
}
