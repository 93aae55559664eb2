//! Baseline receivers for `cargo xtask bench` (ingest): how fast can a process merely take
//! datagrams off the group socket, without looking at them?
//!
//! ```text
//! ingest_drain --interface IF --mode recvmmsg|recv_from [--group ADDR] [--port N]
//!              [--warmup SECS] [--window SECS] [--idle-timeout SECS] [--batch B]
//! ```
//!
//! The socket is opened exactly as `omdiscd` opens its own (`MulticastSocket::open`: same
//! options, 2 MiB receive buffer, `IP_PKTINFO`), and drained after `poll` like the
//! daemon's. `recvmmsg` mode takes up to `B` (default 32, the daemon's batch) datagrams per
//! call into preallocated buffers, with their source addresses and no control messages;
//! `recv_from` mode takes one per call. Counting starts `--warmup` seconds after the first
//! datagram and lasts `--window` seconds; the result is one line:
//! `drained N datagrams in W s: R/s`.

use std::io::IoSliceMut;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvfrom, recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use omdisc_core::MAX_DATAGRAM_LEN;
use omdisc_std::socket::MulticastSocket;
use omdisc_std::values::InterfaceName;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Recvmmsg,
    RecvFrom,
}

struct Options {
    interface: Option<InterfaceName>,
    mode: Mode,
    group: IpAddr,
    port: u16,
    warmup: f64,
    window: f64,
    idle_timeout: f64,
    batch: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        interface: None,
        mode: Mode::Recvmmsg,
        group: omdisc_std::config::DEFAULT_GROUP,
        port: omdisc_std::config::DEFAULT_PORT,
        warmup: 1.0,
        window: 5.0,
        idle_timeout: 30.0,
        batch: 32,
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or(format!("{name} needs a value"))?;
        let bad = |what: &str| format!("invalid {name} {value:?}: expected {what}");
        match name.as_str() {
            "--interface" => {
                options.interface =
                    Some(InterfaceName::new(&value).ok_or(bad("an interface name"))?)
            }
            "--mode" => {
                options.mode = match value.as_str() {
                    "recvmmsg" => Mode::Recvmmsg,
                    "recv_from" => Mode::RecvFrom,
                    _ => return Err(bad("recvmmsg or recv_from")),
                }
            }
            "--group" => options.group = value.parse().map_err(|_| bad("a multicast group"))?,
            "--port" => options.port = value.parse().map_err(|_| bad("a port"))?,
            "--warmup" => options.warmup = value.parse().map_err(|_| bad("seconds"))?,
            "--window" => options.window = value.parse().map_err(|_| bad("seconds"))?,
            "--idle-timeout" => options.idle_timeout = value.parse().map_err(|_| bad("seconds"))?,
            "--batch" => options.batch = value.parse().map_err(|_| bad("a count"))?,
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if options.interface.is_none() {
        return Err("--interface is required".into());
    }
    let seconds_ok = |s: f64| (0.0..=600.0).contains(&s);
    if !(seconds_ok(options.warmup) && seconds_ok(options.window) && options.window > 0.0) {
        return Err("--warmup and --window must be 0 to 600 seconds".into());
    }
    if !(1..=1024).contains(&options.batch) {
        return Err("--batch must be 1..=1024".into());
    }
    Ok(options)
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
    let interfaces = omdisc_std::interfaces::resolve(options.interface.as_slice(), options.group)
        .map_err(|e| e.to_string())?;
    let interface = interfaces.first().ok_or("no interface")?;
    let socket = MulticastSocket::open(interface, options.group, options.port, 1)
        .map_err(|e| e.to_string())?;
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

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(why) => {
            eprintln!("ingest_drain: error: {why}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("ingest_drain: error: {why}");
            ExitCode::FAILURE
        }
    }
}
