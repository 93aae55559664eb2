//! Wire tools of the security scenarios: a capture of the group's datagrams (source and bytes, to replay them later), a sender that puts any bytes
//! on the group from an address its namespace owns, and key files.
//!
//! Sockets are created inside the namespace ([`in_namespace`]); a socket stays in the
//! namespace it was created in, so any thread may use it afterwards. Nothing here touches the root
//! namespace's interfaces.

use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
use socket2::SockRef;

use crate::testbed::in_namespace;

/// The daemons' default group and port (the scenarios do not change them).
pub(super) const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// See [`GROUP`].
pub(super) const PORT: u16 = 7477;

/// Most datagrams one capture keeps.
const CAPTURE_LIMIT: usize = 100_000;

/// One datagram heard on the group.
#[derive(Debug, Clone)]
pub(super) struct Captured {
    /// Its source address and port.
    pub(super) source: SocketAddr,
    /// Its bytes.
    pub(super) bytes: Vec<u8>,
}

/// A passive listener on the group that keeps every datagram it hears, from a namespace
/// of its own on the segment (the way an attacker on the wire would record them).
pub(super) type Capture = Recorder<Captured>;

impl Capture {
    /// Joins the group on the interface with address `local` in `ns` and records for at
    /// most `limit` (or until [`Capture::finish`]).
    pub(super) fn start(ns: &str, local: Ipv4Addr, limit: Duration) -> Result<Capture, String> {
        let socket = in_namespace(ns, move || {
            let socket = UdpSocket::bind((GROUP, PORT))
                .map_err(|e| format!("capture: cannot bind {GROUP}:{PORT}: {e}"))?;
            socket
                .join_multicast_v4(&GROUP, &local)
                .map_err(|e| format!("capture: cannot join {GROUP} on {local}: {e}"))?;
            Ok(socket)
        })?;
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| format!("capture: {e}"))?;
        Ok(Recorder::spawn(limit, CAPTURE_LIMIT, move |buffer| {
            let (len, source) = socket.recv_from(buffer).ok()?;
            Some(Captured {
                source,
                bytes: buffer[..len].to_vec(),
            })
        }))
    }
}

/// A thread that records what `next` reads (`None`: nothing this time) until it is
/// stopped, `limit` has passed or `most` items are kept; the two captures share it.
pub(super) struct Recorder<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<T>>>,
}

impl<T: Send + 'static> Recorder<T> {
    /// Starts recording; `next` reads into the buffer it is given (a socket with a short
    /// read timeout, so the stop flag is seen).
    pub(super) fn spawn(
        limit: Duration,
        most: usize,
        mut next: impl FnMut(&mut [u8; 2048]) -> Option<T> + Send + 'static,
    ) -> Recorder<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut heard = Vec::new();
            let mut buffer = [0u8; 2048];
            while !flag.load(Ordering::SeqCst) && started.elapsed() < limit && heard.len() < most {
                heard.extend(next(&mut buffer));
            }
            heard
        });
        Recorder {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops recording; everything heard, in order.
    pub(super) fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl<T> Drop for Recorder<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A socket that sends to the group from `source` (an address of its namespace), with
/// TTL 1 and loopback off: it reaches exactly the segment.
pub(super) struct GroupSender {
    socket: UdpSocket,
}

impl GroupSender {
    /// Opens it in `ns`; `source` must be an address of an interface there.
    pub(super) fn open(ns: &str, source: Ipv4Addr) -> Result<GroupSender, String> {
        let socket = in_namespace(ns, move || {
            let socket = UdpSocket::bind((source, 0))
                .map_err(|e| format!("sender: cannot bind {source}: {e}"))?;
            // IP_MULTICAST_IF: the namespaces have no route for the group.
            SockRef::from(&socket)
                .set_multicast_if_v4(&source)
                .map_err(|e| format!("cannot send multicast from {source}: {e}"))?;
            socket
                .set_multicast_ttl_v4(1)
                .and_then(|()| socket.set_multicast_loop_v4(false))
                .and_then(|()| socket.connect((GROUP, PORT)))
                .map_err(|e| format!("sender on {source}: {e}"))?;
            Ok(socket)
        })?;
        Ok(GroupSender { socket })
    }

    /// Sends one datagram; whether it went out whole.
    pub(super) fn send(&self, bytes: &[u8]) -> bool {
        self.socket.send(bytes).is_ok_and(|n| n == bytes.len())
    }

    /// Sends `datagrams` with as few `sendmmsg` calls as the kernel allows (one per
    /// [`SEND_BATCH`]); returns how many went out. Stops at the first failed call.
    pub(super) fn send_batch(&self, datagrams: &[&[u8]]) -> usize {
        let mut headers = MultiHeaders::<SockaddrIn>::preallocate(SEND_BATCH, None);
        let no_addresses = [None; SEND_BATCH];
        let mut sent = 0;
        for chunk in datagrams.chunks(SEND_BATCH) {
            let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|d| [IoSlice::new(d)]).collect();
            let mut offset = 0;
            while offset < slices.len() {
                let rest = &slices[offset..];
                // The socket is connected: no address per message.
                let result = sendmmsg(
                    self.socket.as_raw_fd(),
                    &mut headers,
                    rest,
                    &no_addresses[..rest.len()],
                    [],
                    MsgFlags::empty(),
                );
                match result.map(Iterator::count) {
                    Ok(count @ 1..) => {
                        offset += count;
                        sent += count;
                    }
                    _ => return sent,
                }
            }
        }
        sent
    }
}

/// Datagrams per `sendmmsg` call.
pub(super) const SEND_BATCH: usize = 64;

/// Writes `keys` (one per line) to `path` with mode 0600, replacing what was there.
pub(super) fn write_key_file(path: &Path, keys: &[&str]) -> Result<PathBuf, String> {
    let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}
