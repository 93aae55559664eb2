//! [`GroupListener`]: a passive UDP socket on the omdisc group inside a namespace, to see
//! every datagram that crosses a segment, and [`listen`]: records what a set of listeners
//! hear for a while, decoded far enough (the fixed header of `docs/protocol.md`) to tell
//! which message round each datagram carries. This is how the gateway scenarios count how
//! often each announcement crosses each segment.
//!
//! The socket is created by a short-lived thread that first enters the namespace
//! (`setns(CLONE_NEWNET)` affects only the calling thread); a socket stays in the namespace
//! it was created in, so it can be read from any thread afterwards.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::net::if_::if_nametoindex;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socket2::{InterfaceIndexOrAddress, SockRef};

use super::netns::in_namespace;

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
        let socket = in_namespace(&ns_owned, move || open_socket(&if_owned, group, port))
            .map_err(|why| format!("{label}: {why}"))?;
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

/// Binds the group's port and joins the group on `ifname` (in the current namespace).
fn open_socket(ifname: &str, group: IpAddr, port: u16) -> Result<UdpSocket, String> {
    let index = if_nametoindex(ifname)
        .map_err(|_| format!("no interface {ifname} in the listener's namespace"))?;
    match group {
        IpAddr::V4(group) => {
            let socket = UdpSocket::bind(SocketAddr::new(group.into(), port))
                .map_err(|e| format!("cannot bind {group}:{port}: {e}"))?;
            // By interface index (ip_mreqn): the leg needs no IPv4 address.
            SockRef::from(&socket)
                .join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))
                .map_err(|e| format!("cannot join {group} on {ifname}: {e}"))?;
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

/// Whether `bytes` is a message of the probe protocol (PING, ACK, PING-REQ, GOSSIP: kinds
/// 3-6 of version 1, `docs/protocol.md`). Members send GOSSIP to the group too (a death or
/// LEAVE, a newcomer learned by unicast); it is an omdisc message, but not a round of
/// announcements, which is what the listeners record.
fn is_probe_protocol(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes.get(..3) == Some(&b"OM\x01"[..])
        && matches!(bytes.get(3), Some(3..=6))
}

/// Reads every listener for `duration` (bounded: it returns when the time is up) and
/// returns the announcements and LEAVEs they heard, in order of arrival (messages of the
/// probe protocol are passed over). Datagrams that are not omdisc messages are an error
/// (nothing else uses the group in a test).
pub fn listen(listeners: &[GroupListener], duration: Duration) -> Result<Vec<Heard>, String> {
    let deadline = Instant::now() + duration;
    let mut heard = Vec::new();
    let mut buffer = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(heard);
        }
        let mut fds: Vec<PollFd<'_>> = listeners
            .iter()
            .map(|l| PollFd::new(l.socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = PollTimeout::try_from((deadline - now).max(Duration::from_millis(1)))
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, wait) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(format!("poll on the listeners failed: {error}")),
        }
        for (index, listener) in listeners.iter().enumerate() {
            loop {
                match listener.socket.recv_from(&mut buffer) {
                    Ok((len, source)) => {
                        let bytes = &buffer[..len];
                        if is_probe_protocol(bytes) {
                            continue;
                        }
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
        assert!(!is_probe_protocol(&bytes));
        let mut unknown_kind = bytes;
        unknown_kind[3] = 3;
        assert!(decode_header(&unknown_kind).is_none());
        assert!(is_probe_protocol(&unknown_kind));
        unknown_kind[3] = 7;
        assert!(!is_probe_protocol(&unknown_kind));
    }
}
