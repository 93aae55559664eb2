//! [`GroupListener`]: a passive UDP socket on the omdisc group inside a namespace, to see
//! every datagram that crosses a segment, and [`listen`]: records what a set of listeners
//! hear for a while, decoded far enough (the fixed header of `docs/protocol.md`) to tell
//! which message round each datagram carries. This is how the gateway scenarios count how
//! often each announcement crosses each segment.
//!
//! The socket is created by a short-lived thread that first enters the namespace
//! (`setns(CLONE_NEWNET)` affects only the calling thread); a socket stays in the namespace
//! it was created in, so it can be read from any thread afterwards.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The identity of one message round: the same key on two datagrams means copies of one
/// message (the original and relayed copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// Node id of the node the message is about.
    pub origin: u16,
    /// 1 = ANNOUNCE, 2 = LEAVE.
    pub kind: u8,
    /// The origin's incarnation.
    pub incarnation: u64,
    /// The round's sequence number.
    pub sequence: u32,
}

/// One datagram a listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// When it was read.
    pub at: Instant,
    /// Index of the listener (in the slice given to [`listen`]).
    pub listener: usize,
    /// Its source address.
    pub source: IpAddr,
    /// Which round of which node it carries.
    pub key: MessageKey,
    /// Gateways it crossed.
    pub hops: u8,
    /// The last gateway (0 when `hops` is 0).
    pub relayer: u16,
}

/// Length of the fixed message header (`docs/protocol.md`).
const HEADER_LEN: usize = 28;

/// Decodes the fixed header of an omdisc datagram: `(key, hops, relayer)`, or `None` for
/// anything that is not version 1 of the protocol.
pub fn decode_header(bytes: &[u8]) -> Option<(MessageKey, u8, u16)> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[..2] != *b"OM" || header[2] != 1 || !matches!(header[3], 1 | 2) {
        return None;
    }
    let u16_at = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let mut incarnation = [0u8; 8];
    incarnation.copy_from_slice(&header[12..20]);
    let mut sequence = [0u8; 4];
    sequence.copy_from_slice(&header[20..24]);
    let key = MessageKey {
        origin: u16_at(8),
        kind: header[3],
        incarnation: u64::from_be_bytes(incarnation),
        sequence: u32::from_be_bytes(sequence),
    };
    Some((key, header[5], u16_at(6)))
}

/// A socket bound to the group's port in a namespace, joined on one interface.
#[derive(Debug)]
pub struct GroupListener {
    socket: UdpSocket,
    label: String,
}

impl GroupListener {
    /// Joins `group`:`port` on `ifname` (which must have an IPv4 address for an IPv4 group)
    /// in namespace `ns`.
    pub fn open(ns: &str, ifname: &str, group: IpAddr, port: u16) -> Result<Self, String> {
        let label = format!("listener on {ifname} in {ns}");
        let (ns_owned, if_owned) = (ns.to_string(), ifname.to_string());
        let socket = std::thread::spawn(move || -> Result<UdpSocket, String> {
            enter_namespace(&ns_owned)?;
            open_socket(&if_owned, group, port)
        })
        .join()
        .map_err(|_| format!("{label}: the setup thread panicked"))??;
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("{label}: cannot make it nonblocking: {e}"))?;
        Ok(GroupListener { socket, label })
    }

    /// What it is, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Moves the calling thread into network namespace `ns` (as made by `ip netns add`).
fn enter_namespace(ns: &str) -> Result<(), String> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
    // SAFETY: setns on a valid namespace fd; it changes only this thread's namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "cannot enter namespace {ns}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Binds the group's port and joins the group on `ifname` (in the current namespace).
fn open_socket(ifname: &str, group: IpAddr, port: u16) -> Result<UdpSocket, String> {
    let name = std::ffi::CString::new(ifname).map_err(|_| "bad interface name".to_string())?;
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(format!("no interface {ifname} in the listener's namespace"));
    }
    match group {
        IpAddr::V4(group) => {
            let socket = UdpSocket::bind(SocketAddr::new(group.into(), port))
                .map_err(|e| format!("cannot bind {group}:{port}: {e}"))?;
            join_v4_by_index(&socket, group, index)?;
            Ok(socket)
        }
        IpAddr::V6(group) => {
            let socket = UdpSocket::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port))
                .map_err(|e| format!("cannot bind [::]:{port}: {e}"))?;
            socket
                .join_multicast_v6(&group, index)
                .map_err(|e| format!("cannot join {group} on {ifname}: {e}"))?;
            Ok(socket)
        }
    }
}

/// `IP_ADD_MEMBERSHIP` with `ip_mreqn` (by interface index: the leg needs no IPv4 address).
fn join_v4_by_index(socket: &UdpSocket, group: Ipv4Addr, index: u32) -> Result<(), String> {
    let request = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(group).to_be(),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: i32::try_from(index).map_err(|_| "interface index out of range")?,
    };
    // SAFETY: setsockopt reads `size_of::<ip_mreqn>()` bytes from a live ip_mreqn.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            std::ptr::from_ref(&request).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(format!(
            "cannot join {group}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Reads every listener for `duration` (bounded: it returns when the time is up) and
/// returns what they heard, in order of arrival. Datagrams that are not omdisc messages
/// are an error (nothing else uses the group in a test).
pub fn listen(listeners: &[GroupListener], duration: Duration) -> Result<Vec<Heard>, String> {
    let deadline = Instant::now() + duration;
    let mut heard = Vec::new();
    let mut buffer = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(heard);
        }
        let mut fds: Vec<libc::pollfd> = listeners
            .iter()
            .map(|l| libc::pollfd {
                fd: l.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let wait_ms = i32::try_from((deadline - now).as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: poll writes only the `revents` of the `fds.len()` entries it is given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll on the listeners failed: {error}"));
        }
        for (index, listener) in listeners.iter().enumerate() {
            loop {
                match listener.socket.recv_from(&mut buffer) {
                    Ok((len, source)) => {
                        let bytes = &buffer[..len];
                        let (key, hops, relayer) = decode_header(bytes).ok_or_else(|| {
                            format!(
                                "{} heard a datagram from {source} that is not an omdisc message",
                                listener.label
                            )
                        })?;
                        heard.push(Heard {
                            at: Instant::now(),
                            listener: index,
                            source: source.ip(),
                            key,
                            hops,
                            relayer,
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("{}: receive failed: {e}", listener.label)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_header_is_decoded() {
        let mut bytes = vec![
            b'O', b'M', 1, 1, 0x02, 2, 0x01, 0x2c, 0x05, 0x07, 1, 0, // .. naddr, reserved
            0, 0, 0, 0, 0, 0, 0x01, 0x00, // incarnation 256
            0, 0, 0, 9, // sequence 9
            0, 0, 0x01, 0xf4, // interval 500
        ];
        bytes.extend_from_slice(&[4, 0, 10, 1, 5, 7]);
        let (key, hops, relayer) = decode_header(&bytes).unwrap();
        assert_eq!(
            key,
            MessageKey {
                origin: 1287,
                kind: 1,
                incarnation: 256,
                sequence: 9
            }
        );
        assert_eq!((hops, relayer), (2, 300));
        assert!(decode_header(&bytes[..27]).is_none());
        let mut other_version = bytes.clone();
        other_version[2] = 2;
        assert!(decode_header(&other_version).is_none());
        let mut unknown_kind = bytes;
        unknown_kind[3] = 3;
        assert!(decode_header(&unknown_kind).is_none());
    }
}
