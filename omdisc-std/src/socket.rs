//! One UDP socket per active interface (a leg), and batched receive (`recvmmsg`).
//!
//! Each [`LegSocket`] is bound to the port on every address (so it takes the group's
//! datagrams and unicast ones alike) and to its interface (`SO_BINDTODEVICE`: each leg's
//! socket gets what arrives on its interface, unicast included, and sends unicast through
//! it). Unless the node is unicast-only ([`SocketPlan::multicast`] false) it is joined to
//! the group on exactly its interface, sends to the group on that interface
//! (`IP_MULTICAST_IF`, needed where there is no default route), with the configured TTL and
//! multicast loopback off. `IP_MULTICAST_ALL` is off, so the socket only gets the group on
//! the interfaces it joined. Unicast goes out with [`LegSocket::send_to`], the kernel
//! routing it (through a gateway on the interface if need be).
//!
//! The ingress interface of a datagram is the socket's: the kernel delivers to a socket
//! bound with `SO_BINDTODEVICE` only what arrived on that device (the bound device is part
//! of the UDP socket lookup, unicast and multicast alike), so no `IP_PKTINFO` control
//! message is asked for. Each datagram would cost one (`put_cmsg` in the kernel, a control
//! message walk here) for an answer the binding already guarantees.
//!
//! The sockets of a gateway share the group and port through `SO_REUSEADDR` only: with
//! `SO_REUSEPORT` they form a reuse-port group, and Linux (seen on 6.18) then hands a
//! multicast datagram to one socket of the group, whatever interface it arrived on, so a
//! gateway heard one of its networks and dropped the other's traffic as misdelivered.

use std::fmt;
use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::interfaces::{is_link_local_v6, Interface};

/// Receive buffer asked for per socket.
pub const RECEIVE_BUFFER_BYTES: usize = 2 << 20;

/// What every leg's socket is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketPlan {
    /// The multicast group (its family is the socket's).
    pub group: IpAddr,
    /// The UDP port, bound and sent to.
    pub port: u16,
    /// Multicast TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Whether the group is joined and sent to; `false` with `--no-multicast`.
    pub multicast: bool,
}

/// A leg's socket: bound to the port on its interface, joined to the group there (unless
/// unicast-only).
#[derive(Debug)]
pub struct LegSocket {
    socket: Socket,
    interface_name: String,
    interface_index: u32,
    /// The group and port on this interface (with its scope for link-local IPv6 groups).
    destination: SockAddr,
    /// Whether the group is joined (and may be sent to).
    multicast: bool,
}

/// A step of socket setup that failed, with the interface it was for. One line.
#[derive(Debug)]
pub struct SocketError {
    /// What was being done, e.g. `"join 239.255.77.77 on"`.
    pub step: String,
    /// The interface.
    pub interface: String,
    /// The system error.
    pub error: io::Error,
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: {}", self.step, self.interface, self.error)
    }
}

impl std::error::Error for SocketError {}

impl LegSocket {
    /// Opens a nonblocking socket on `interface` as `plan` says.
    pub fn open(interface: &Interface, plan: SocketPlan) -> Result<LegSocket, SocketError> {
        let SocketPlan {
            group,
            port,
            ttl,
            multicast,
        } = plan;
        let fail = |step: String| {
            let name = interface.name.clone();
            move |error: io::Error| SocketError {
                step,
                interface: name,
                error,
            }
        };
        let domain = if group.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let socket = Socket::new(
            domain,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(fail("create a UDP socket for".into()))?;
        socket
            .set_reuse_address(true)
            .map_err(fail("set SO_REUSEADDR on the socket for".into()))?;
        // Not SO_REUSEPORT: see the module docs.
        socket
            .bind_device(Some(interface.name.as_bytes()))
            .map_err(fail("bind the socket (SO_BINDTODEVICE) to".into()))?;
        // Room for bursts (a large cluster answering a join, a flood): the kernel caps the
        // request at net.core.rmem_max, and a smaller buffer still works.
        if let Err(error) = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES) {
            log::debug!("SO_RCVBUF on {}: {error}", interface.name);
        }
        let destination = match group {
            IpAddr::V4(group) => {
                setup_ipv4(&socket, interface, group, port, ttl, multicast, &fail)?;
                SockAddr::from(SocketAddr::new(group.into(), port))
            }
            IpAddr::V6(group) => {
                let scope = if needs_scope(group) {
                    interface.index
                } else {
                    0
                };
                let address = SocketAddrV6::new(group, port, 0, scope);
                setup_ipv6(&socket, interface, address, ttl, multicast, &fail)?;
                SockAddr::from(address)
            }
        };
        Ok(LegSocket {
            socket,
            interface_name: interface.name.clone(),
            interface_index: interface.index,
            destination,
            multicast,
        })
    }

    /// Sends one datagram to the group on this socket's interface. A unicast-only socket
    /// sends nothing there (`ErrorKind::Unsupported`: the engine never asks for it).
    pub fn send(&self, payload: &[u8]) -> io::Result<()> {
        if !self.multicast {
            // The engine never asks for it; no message, so no allocation either.
            return Err(io::ErrorKind::Unsupported.into());
        }
        self.send_to_address(payload, &self.destination)
    }

    /// Sends one datagram by unicast to `peer`, from this socket (its port and interface).
    /// A link-local IPv6 peer without a scope is taken to be on this interface.
    pub fn send_to(&self, payload: &[u8], peer: SocketAddr) -> io::Result<()> {
        let peer = match peer {
            SocketAddr::V6(v6) if v6.scope_id() == 0 && is_link_local_v6(v6.ip()) => {
                SocketAddr::V6(SocketAddrV6::new(
                    *v6.ip(),
                    v6.port(),
                    v6.flowinfo(),
                    self.interface_index,
                ))
            }
            other => other,
        };
        self.send_to_address(payload, &SockAddr::from(peer))
    }

    fn send_to_address(&self, payload: &[u8], destination: &SockAddr) -> io::Result<()> {
        let sent = self.socket.send_to(payload, destination)?;
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", payload.len()),
            ));
        }
        Ok(())
    }

    /// Name of the interface this socket serves.
    pub fn interface_name(&self) -> &str {
        &self.interface_name
    }

    /// Kernel index of the interface this socket serves.
    pub fn interface_index(&self) -> u32 {
        self.interface_index
    }
}

impl AsFd for LegSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

fn setup_ipv4<F, G>(
    socket: &Socket,
    interface: &Interface,
    group: Ipv4Addr,
    port: u16,
    ttl: u8,
    multicast: bool,
    fail: &F,
) -> Result<(), SocketError>
where
    F: Fn(String) -> G,
    G: FnOnce(io::Error) -> SocketError,
{
    let Some(&local) = interface.ipv4.first() else {
        return Err(fail("use (no IPv4 address)".into())(io::Error::from(
            io::ErrorKind::AddrNotAvailable,
        )));
    };
    socket
        .set_multicast_all_v4(false)
        .map_err(fail("clear IP_MULTICAST_ALL for".into()))?;
    socket
        .bind(&SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port).into())
        .map_err(fail(format!("bind port {port} for")))?;
    if !multicast {
        return Ok(());
    }
    socket
        .join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(interface.index))
        .map_err(fail(format!("join {group} on")))?;
    socket
        .set_multicast_if_v4(&local)
        .map_err(fail("set IP_MULTICAST_IF to".into()))?;
    socket
        .set_multicast_ttl_v4(u32::from(ttl))
        .map_err(fail(format!("set multicast TTL {ttl} on")))?;
    socket
        .set_multicast_loop_v4(false)
        .map_err(fail("turn multicast loopback off on".into()))?;
    Ok(())
}

fn setup_ipv6<F, G>(
    socket: &Socket,
    interface: &Interface,
    address: SocketAddrV6,
    hops: u8,
    multicast: bool,
    fail: &F,
) -> Result<(), SocketError>
where
    F: Fn(String) -> G,
    G: FnOnce(io::Error) -> SocketError,
{
    let group = *address.ip();
    let port = address.port();
    socket
        .set_only_v6(true)
        .map_err(fail("set IPV6_V6ONLY on".into()))?;
    socket
        .set_multicast_all_v6(false)
        .map_err(fail("clear IPV6_MULTICAST_ALL for".into()))?;
    socket
        .bind(&SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port).into())
        .map_err(fail(format!("bind port {port} for")))?;
    if !multicast {
        return Ok(());
    }
    socket
        .join_multicast_v6(&group, interface.index)
        .map_err(fail(format!("join {group} on")))?;
    socket
        .set_multicast_if_v6(interface.index)
        .map_err(fail("set IPV6_MULTICAST_IF to".into()))?;
    socket
        .set_multicast_hops_v6(u32::from(hops))
        .map_err(fail(format!("set multicast hop limit {hops} on")))?;
    socket
        .set_multicast_loop_v6(false)
        .map_err(fail("turn multicast loopback off on".into()))?;
    Ok(())
}

/// Whether binding to or sending to `group` needs an interface scope (interface- and
/// link-local multicast).
fn needs_scope(group: Ipv6Addr) -> bool {
    let scope = group.segments()[0] & 0x000f;
    group.is_multicast() && scope <= 2
}

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Sender's address and port. (It arrived on the socket's interface: see the module
    /// docs.)
    pub source: SocketAddr,
    /// The payload.
    pub payload: &'a [u8],
    /// The datagram was longer than the buffer and cut (`MSG_TRUNC`): never valid.
    pub truncated: bool,
}

/// Per-datagram facts gathered by one `recvmmsg` call.
#[derive(Debug, Clone, Copy)]
struct Received {
    len: usize,
    source: Option<SocketAddr>,
    truncated: bool,
}

/// Most datagrams one `recvmmsg` call of a [`ReceiveBatch`] asks for: the call's I/O vector
/// lives on the stack, this many entries long.
pub const MAX_BATCH: usize = 32;

/// Buffers for receiving up to `batch` datagrams per system call, made once: a call
/// allocates nothing.
#[derive(Debug)]
pub struct ReceiveBatch {
    buffers: Vec<u8>,
    datagram_capacity: usize,
    headers: MultiHeaders<SockaddrStorage>,
    received: Vec<Received>,
}

impl ReceiveBatch {
    /// Buffers for `batch` datagrams (1 to [`MAX_BATCH`]) of at most `datagram_capacity`
    /// bytes each.
    pub fn new(batch: usize, datagram_capacity: usize) -> ReceiveBatch {
        let batch = batch.clamp(1, MAX_BATCH);
        let datagram_capacity = datagram_capacity.max(1);
        ReceiveBatch {
            buffers: vec![0; batch * datagram_capacity],
            datagram_capacity,
            // No control messages (no IP_PKTINFO: see the module docs).
            headers: MultiHeaders::preallocate(batch, None),
            received: Vec::with_capacity(batch),
        }
    }

    /// Most datagrams one call returns.
    pub fn batch_size(&self) -> usize {
        self.buffers.len() / self.datagram_capacity
    }

    /// Receives what is waiting on `socket` (one `recvmmsg`, nonblocking) and hands each
    /// datagram to `on_datagram`. Returns how many were received; 0 when none was waiting.
    pub fn receive(
        &mut self,
        socket: &LegSocket,
        mut on_datagram: impl FnMut(Datagram<'_>),
    ) -> io::Result<usize> {
        self.received.clear();
        {
            // One I/O vector entry per buffer, on the stack (entries past the batch are
            // empty and not handed to the kernel).
            let batch = self.batch_size();
            let mut buffers = self.buffers.chunks_exact_mut(self.datagram_capacity);
            let mut slices: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(buffers.next().unwrap_or_default())]);
            let results = match recvmmsg(
                socket.socket.as_raw_fd(),
                &mut self.headers,
                slices.iter_mut().take(batch),
                MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(results) => results,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return Ok(0),
                Err(errno) => return Err(errno.into()),
            };
            for message in results {
                self.received.push(Received {
                    len: message.bytes,
                    source: message.address.as_ref().and_then(socket_addr),
                    truncated: message.flags.contains(MsgFlags::MSG_TRUNC),
                });
            }
        }
        let mut delivered = 0;
        for (received, buffer) in self
            .received
            .iter()
            .zip(self.buffers.chunks_exact(self.datagram_capacity))
        {
            // A datagram without a source address cannot be from a peer: skip it.
            let Some(source) = received.source else {
                continue;
            };
            let len = received.len.min(buffer.len());
            on_datagram(Datagram {
                source,
                payload: &buffer[..len],
                truncated: received.truncated || received.len > buffer.len(),
            });
            delivered += 1;
        }
        Ok(delivered)
    }
}

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    if let Some(v6) = storage.as_sockaddr_in6() {
        return Some(SocketAddr::V6(SocketAddrV6::new(
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id(),
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_ipv6_groups_need_a_scope() {
        assert!(needs_scope("ff02::4d".parse().unwrap()));
        assert!(needs_scope("ff01::4d".parse().unwrap()));
        assert!(!needs_scope("ff05::4d".parse().unwrap()));
        assert!(!needs_scope("ff0e::4d".parse().unwrap()));
    }

    /// `lo` as the interface list shows it (index 1 in every namespace).
    fn loopback() -> Interface {
        Interface {
            name: "lo".into(),
            index: 1,
            ipv4: vec![Ipv4Addr::LOCALHOST],
            ipv6: Vec::new(),
            is_up: true,
            supports_multicast: false,
        }
    }

    #[test]
    fn a_unicast_only_socket_takes_unicast_on_its_interface_and_never_sends_to_the_group() {
        // A free port on loopback (nothing leaves the host).
        let port = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .unwrap()
            .port();
        let plan = SocketPlan {
            group: IpAddr::V4(Ipv4Addr::new(239, 255, 77, 77)),
            port,
            ttl: 1,
            multicast: false,
        };
        let socket = LegSocket::open(&loopback(), plan).unwrap();
        let own = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        socket.send_to(b"unicast", own).unwrap();
        assert!(socket.send(b"group").is_err());
        let mut batch = ReceiveBatch::new(4, 64);
        let mut heard = Vec::new();
        let received = batch
            .receive(&socket, |d| heard.push((d.source, d.payload.to_vec())))
            .unwrap();
        assert_eq!(received, 1);
        assert_eq!(heard, [(own, b"unicast".to_vec())]);
    }

    #[test]
    fn batch_has_requested_size() {
        let batch = ReceiveBatch::new(16, 1500);
        assert_eq!(batch.batch_size(), 16);
    }
}
