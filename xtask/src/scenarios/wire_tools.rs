//! Wire tools of the security scenarios: code run inside a namespace, a capture of the
//! group's datagrams (source and bytes, to replay them later), a sender that puts any bytes
//! on the group from an address its namespace owns, key files, and readings of a running
//! daemon (its CPU time).
//!
//! Sockets are created by a short-lived thread that enters the namespace first
//! (`setns(CLONE_NEWNET)` moves only the calling thread); a socket stays in the namespace it
//! was created in, so any thread may use it afterwards. Nothing here touches the root
//! namespace's interfaces.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The daemons' default group and port (the scenarios do not change them).
pub(super) const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// See [`GROUP`].
pub(super) const PORT: u16 = 7477;

/// Most datagrams one capture keeps.
const CAPTURE_LIMIT: usize = 100_000;

/// Runs `f` on a thread inside network namespace `ns` (as made by `ip netns add`).
pub(super) fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
        // SAFETY: setns on an open namespace fd; it changes only this thread's namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "cannot enter {path}: {}",
                std::io::Error::last_os_error()
            ));
        }
        f()
    })
    .join()
    .map_err(|_| "a namespace thread panicked".to_string())?
}

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
pub(super) struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Captured>>>,
}

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
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut heard = Vec::new();
            let mut buffer = [0u8; 2048];
            while !flag.load(Ordering::SeqCst)
                && started.elapsed() < limit
                && heard.len() < CAPTURE_LIMIT
            {
                if let Ok((len, source)) = socket.recv_from(&mut buffer) {
                    heard.push(Captured {
                        source,
                        bytes: buffer[..len].to_vec(),
                    });
                }
            }
            heard
        });
        Ok(Capture {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops recording; everything heard, in order.
    pub(super) fn finish(mut self) -> Vec<Captured> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Capture {
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
            set_multicast_interface(&socket, source)?;
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
        let mut sent = 0;
        for chunk in datagrams.chunks(SEND_BATCH) {
            let mut iovecs: Vec<libc::iovec> = chunk
                .iter()
                .map(|d| libc::iovec {
                    iov_base: d.as_ptr().cast_mut().cast(),
                    iov_len: d.len(),
                })
                .collect();
            let mut headers: Vec<libc::mmsghdr> = iovecs
                .iter_mut()
                .map(|iovec| {
                    // SAFETY: mmsghdr is plain data; all-zero is a valid value (no name, no
                    // control data), and the fields set below point at live buffers.
                    let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    header.msg_hdr.msg_iov = iovec;
                    header.msg_hdr.msg_iovlen = 1;
                    header
                })
                .collect();
            let mut offset = 0;
            while offset < headers.len() {
                let rest = &mut headers[offset..];
                // SAFETY: `rest` holds `rest.len()` initialised headers whose iovecs point
                // into `datagrams`, which outlive the call; the socket is connected.
                let result = unsafe {
                    libc::sendmmsg(
                        self.socket.as_raw_fd(),
                        rest.as_mut_ptr(),
                        rest.len() as libc::c_uint,
                        0,
                    )
                };
                if result <= 0 {
                    return sent;
                }
                offset += result as usize;
                sent += result as usize;
            }
        }
        sent
    }
}

/// Datagrams per `sendmmsg` call.
pub(super) const SEND_BATCH: usize = 64;

/// `IP_MULTICAST_IF` (the namespaces have no default route for the group).
fn set_multicast_interface(socket: &UdpSocket, local: Ipv4Addr) -> Result<(), String> {
    let address = libc::in_addr {
        s_addr: u32::from(local).to_be(),
    };
    // SAFETY: setsockopt reads `size_of::<in_addr>()` bytes from a live in_addr.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&address as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot send multicast from {local}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

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

/// CPU time (user + system) the process `pid` used so far.
pub(super) fn cpu_time(pid: i32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3; utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err(format!("unexpected /proc/{pid}/stat: {stat:?}"));
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100);
    Ok(Duration::from_millis((user + system) * 1000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_this_process_is_readable() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(cpu_time(pid).is_ok());
    }
}
