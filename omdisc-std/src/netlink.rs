//! Watching the kernel's network state through rtnetlink: interfaces, their IPv4 and IPv6
//! addresses, and (when the daemon picks its interface from the route to the group) routes.
//!
//! [`NetlinkWatcher`] subscribes to the notification groups first and only then dumps the
//! links and the addresses, so no change between the dump and the subscription is missed.
//! It accepts only messages the kernel sent (port 0). Notifications the kernel could not
//! queue are reported by `ENOBUFS` on the next read (`NETLINK_NO_ENOBUFS` is never set):
//! the watcher then reads the whole state again, as it does when a dump says it was
//! interrupted (`NLM_F_DUMP_INTR`). Everything read lands in a [`NetworkView`]; the caller
//! reacts once per poll turn to whatever changed, however many messages that was.
//!
//! `netlink-sys` (the socket) and `netlink-packet-route` (the message types) are the
//! rust-netlink project's synchronous crates, also under `rtnetlink`: typed, bounds-checked
//! parsing of every message instead of hand-written `struct ifaddrmsg` decoding, and no
//! async runtime in a daemon that is one `poll` loop.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::network_view::{Generation, LinkUpdate, NetworkUpdate, NetworkView};

/// Receive buffer asked for the netlink socket: room for a burst of about 2 000
/// notifications (a flapping interface, a script adding addresses) between two reads.
pub const RECEIVE_BUFFER_BYTES: usize = 1 << 20;
/// Largest datagram read: the kernel fills dump datagrams up to 32 KiB.
const DATAGRAM_BYTES: usize = 64 * 1024;
/// Most datagrams read per [`NetlinkWatcher::receive`] call, so a storm cannot keep the
/// daemon from its sockets and timers; the rest waits for the next turn.
const DATAGRAMS_PER_CALL: usize = 256;
/// How long the first read of the state may take at start.
const INITIAL_DUMP_TIMEOUT: Duration = Duration::from_secs(5);

/// What is being dumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dump {
    /// Nothing; notifications only.
    Idle,
    /// The links, then the addresses, of generation `.0`; request sequence `.1`.
    Links(Generation, u32),
    /// The addresses of generation `.0`; request sequence `.1`.
    Addresses(Generation, u32),
}

/// Counters of the watcher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetlinkCounters {
    /// Netlink messages read (notifications and dump lines).
    pub messages: u64,
    /// Messages not sent by the kernel (ignored).
    pub foreign: u64,
    /// Messages that did not parse (ignored).
    pub malformed: u64,
    /// Full re-reads after `ENOBUFS` or an interrupted dump.
    pub rereads: u64,
}

/// An rtnetlink socket subscribed to link, address and (optionally) route changes.
#[derive(Debug)]
pub struct NetlinkWatcher {
    socket: Socket,
    buffer: Vec<u8>,
    sequence: u32,
    dump: Dump,
    /// Another full read is due once the current dump is done.
    reread_pending: bool,
    counters: NetlinkCounters,
}

impl NetlinkWatcher {
    /// Opens the socket, subscribes (links, IPv4 and IPv6 addresses, and routes if
    /// `watch_routes`), then reads the current state into `view`, waiting at most a few
    /// seconds for the kernel's answer.
    pub fn open(watch_routes: bool, view: &mut NetworkView) -> io::Result<NetlinkWatcher> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        let mut groups =
            (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        if watch_routes {
            groups |= (libc::RTMGRP_IPV4_ROUTE | libc::RTMGRP_IPV6_ROUTE) as u32;
        }
        // Subscribe before dumping: a change made while the dump runs is then either in
        // the dump or in a notification after it.
        socket.bind(&SocketAddr::new(0, groups))?;
        if let Err(error) = socket.set_rx_buf_sz(RECEIVE_BUFFER_BYTES) {
            log::debug!("netlink receive buffer: {error}");
        }
        socket.set_non_blocking(true)?;
        let mut watcher = NetlinkWatcher {
            socket,
            buffer: vec![0; DATAGRAM_BYTES],
            sequence: 0,
            dump: Dump::Idle,
            reread_pending: false,
            counters: NetlinkCounters::default(),
        };
        watcher.start_reread(view)?;
        let deadline = Instant::now() + INITIAL_DUMP_TIMEOUT;
        while watcher.is_dumping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not list the interfaces",
                ));
            }
            let mut fds = [PollFd::new(watcher.socket.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
            watcher.receive(view)?;
        }
        Ok(watcher)
    }

    /// Whether a dump is still being read.
    pub fn is_dumping(&self) -> bool {
        self.dump != Dump::Idle
    }

    /// The watcher's counters.
    pub fn counters(&self) -> NetlinkCounters {
        self.counters
    }

    /// Reads what is waiting (up to a bounded number of datagrams) into `view`. Returns
    /// whether the view changed or a route changed. Errors are those of the socket, other
    /// than "nothing waiting" and `ENOBUFS` (which starts a full re-read).
    pub fn receive(&mut self, view: &mut NetworkView) -> io::Result<bool> {
        let mut changed = false;
        for _ in 0..DATAGRAMS_PER_CALL {
            let received = {
                let mut buffer = &mut self.buffer[..];
                self.socket.recv_from(&mut buffer, libc::MSG_DONTWAIT)
            };
            let (len, sender) = match received {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                    log::info!(
                        "netlink: the kernel dropped network change notifications; reading the whole state again"
                    );
                    self.counters.rereads += 1;
                    self.request_reread(view)?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if len == 0 {
                break;
            }
            if sender.port_number() != 0 {
                // Only the kernel speaks for the network state.
                self.counters.foreign += 1;
                continue;
            }
            let buffer = std::mem::take(&mut self.buffer);
            let handled = split_messages(buffer.get(..len).unwrap_or(&[]))
                .into_iter()
                .try_fold(false, |changed, message| {
                    Ok::<_, io::Error>(self.handle_message(message, view)? | changed)
                });
            self.buffer = buffer;
            changed |= handled?;
        }
        Ok(changed)
    }

    /// Asks for a full re-read now, or after the dump in progress.
    fn request_reread(&mut self, view: &mut NetworkView) -> io::Result<()> {
        if self.is_dumping() {
            self.reread_pending = true;
            Ok(())
        } else {
            self.start_reread(view)
        }
    }

    fn start_reread(&mut self, view: &mut NetworkView) -> io::Result<()> {
        let generation = view.begin_generation();
        let sequence = self.send_dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
        self.dump = Dump::Links(generation, sequence);
        Ok(())
    }

    fn send_dump(&mut self, request: RouteNetlinkMessage) -> io::Result<u32> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.sequence;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::from(request));
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        self.socket.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;
        Ok(self.sequence)
    }

    /// One message of a datagram; returns whether the view changed.
    fn handle_message(&mut self, bytes: &[u8], view: &mut NetworkView) -> io::Result<bool> {
        self.counters.messages += 1;
        let message = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
            Ok(message) => message,
            Err(error) => {
                self.counters.malformed += 1;
                log::debug!("netlink: ignored a message that does not parse: {error}");
                return Ok(false);
            }
        };
        let sequence = message.header.sequence_number;
        let in_dump = match self.dump {
            Dump::Links(_, s) | Dump::Addresses(_, s) => s == sequence && sequence != 0,
            Dump::Idle => false,
        };
        if in_dump && message.header.flags & NLM_F_DUMP_INTR != 0 {
            self.reread_pending = true;
        }
        match message.payload {
            NetlinkPayload::InnerMessage(inner) => Ok(updates_of(inner)
                .into_iter()
                .fold(false, |changed, update| view.apply(update) | changed)),
            NetlinkPayload::Done(_) if in_dump => self.dump_done(view),
            NetlinkPayload::Error(error) if in_dump => {
                log::warn!("netlink: the kernel refused to list the network state: {error}");
                self.dump = Dump::Idle;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// The current dump ended: drop what it did not list, go on to the next one.
    fn dump_done(&mut self, view: &mut NetworkView) -> io::Result<bool> {
        match self.dump {
            Dump::Links(generation, _) => {
                let changed = view.drop_unseen_links(generation);
                let sequence =
                    self.send_dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
                self.dump = Dump::Addresses(generation, sequence);
                Ok(changed)
            }
            Dump::Addresses(generation, _) => {
                let changed = view.drop_unseen_addresses(generation);
                self.dump = Dump::Idle;
                if std::mem::take(&mut self.reread_pending) {
                    self.start_reread(view)?;
                }
                Ok(changed)
            }
            Dump::Idle => Ok(false),
        }
    }
}

impl AsFd for NetlinkWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The netlink messages of one datagram (each starts with its 4-byte length, padded to 4).
fn split_messages(datagram: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    let mut rest = datagram;
    while let Some(length) = rest.get(..4) {
        let length = u32::from_ne_bytes([length[0], length[1], length[2], length[3]]) as usize;
        if length < 16 || length > rest.len() {
            break;
        }
        messages.push(&rest[..length]);
        let padded = (length + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    messages
}

/// What a route-family message says about the network.
fn updates_of(message: RouteNetlinkMessage) -> Vec<NetworkUpdate> {
    match message {
        RouteNetlinkMessage::NewLink(link) => link_update(&link)
            .map(NetworkUpdate::Link)
            .into_iter()
            .collect(),
        RouteNetlinkMessage::DelLink(link) => vec![NetworkUpdate::LinkGone(link.header.index)],
        RouteNetlinkMessage::NewAddress(address) => {
            address_update(&address, true).into_iter().collect()
        }
        RouteNetlinkMessage::DelAddress(address) => {
            address_update(&address, false).into_iter().collect()
        }
        RouteNetlinkMessage::NewRoute(_) | RouteNetlinkMessage::DelRoute(_) => {
            vec![NetworkUpdate::Route]
        }
        _ => Vec::new(),
    }
}

fn link_update(link: &LinkMessage) -> Option<LinkUpdate> {
    let name = link
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        })?;
    let flags = link.header.flags;
    Some(LinkUpdate {
        index: link.header.index,
        name,
        is_up: flags.contains(LinkFlags::Up),
        has_carrier: flags.contains(LinkFlags::Running) || flags.contains(LinkFlags::LowerUp),
        supports_multicast: flags.contains(LinkFlags::Multicast),
    })
}

/// An address message: the local address (`IFA_LOCAL`, which differs from `IFA_ADDRESS`
/// on point-to-point links), usable unless tentative or DAD failed.
fn address_update(message: &AddressMessage, added: bool) -> Option<NetworkUpdate> {
    let mut local = None;
    let mut address = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(message.header.flags.bits()));
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            // The 32-bit flags attribute supersedes the header's 8 bits.
            AddressAttribute::Flags(all) => flags = *all,
            _ => {}
        }
    }
    let address: IpAddr = local.or(address)?;
    let index = message.header.index;
    if !added {
        return Some(NetworkUpdate::AddressGone { index, address });
    }
    Some(NetworkUpdate::Address {
        index,
        address,
        usable: !flags.intersects(AddressFlags::Tentative | AddressFlags::Dadfailed),
        secondary: flags.contains(AddressFlags::Secondary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::AddressHeaderFlags;
    use netlink_packet_route::AddressFamily;
    use std::net::Ipv4Addr;

    fn serialized(message: RouteNetlinkMessage) -> Vec<u8> {
        let mut message = NetlinkMessage::new(NetlinkHeader::default(), message.into());
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        bytes
    }

    fn address_message(ip: IpAddr, flags: AddressFlags) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header.index = 4;
        message.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        message.header.flags = AddressHeaderFlags::from_bits_retain(flags.bits() as u8);
        message.attributes.push(AddressAttribute::Address(ip));
        message.attributes.push(AddressAttribute::Flags(flags));
        message
    }

    #[test]
    fn several_messages_in_one_datagram_are_split() {
        let mut datagram = serialized(RouteNetlinkMessage::NewAddress(address_message(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
            AddressFlags::Permanent,
        )));
        let first = datagram.len();
        datagram.extend(serialized(RouteNetlinkMessage::DelLink(
            LinkMessage::default(),
        )));
        let messages = split_messages(&datagram);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].len(), first);
        // A length past the end stops the split instead of reading beyond it.
        datagram[first] = 0xff;
        assert_eq!(split_messages(&datagram).len(), 1);
        assert!(split_messages(&[1, 2]).is_empty());
    }

    #[test]
    fn tentative_ipv6_addresses_are_not_usable_yet() {
        let ip: IpAddr = "fd00::5".parse().unwrap();
        let tentative = address_message(ip, AddressFlags::Tentative | AddressFlags::Permanent);
        assert_eq!(
            address_update(&tentative, true),
            Some(NetworkUpdate::Address {
                index: 4,
                address: ip,
                usable: false,
                secondary: false
            })
        );
        let done = address_message(ip, AddressFlags::Permanent);
        assert!(matches!(
            address_update(&done, true),
            Some(NetworkUpdate::Address { usable: true, .. })
        ));
        assert_eq!(
            address_update(&done, false),
            Some(NetworkUpdate::AddressGone {
                index: 4,
                address: ip
            })
        );
    }

    #[test]
    fn the_local_address_wins_on_point_to_point_links() {
        let mut message = address_message(
            IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)),
            AddressFlags::Secondary,
        );
        message
            .attributes
            .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
                10, 0, 0, 7,
            ))));
        assert_eq!(
            address_update(&message, true),
            Some(NetworkUpdate::Address {
                index: 4,
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
                usable: true,
                secondary: true
            })
        );
    }

    #[test]
    fn links_carry_name_flags_and_index() {
        let mut message = LinkMessage::default();
        message.header.index = 12;
        message.header.flags = LinkFlags::Up | LinkFlags::Multicast;
        message
            .attributes
            .push(LinkAttribute::IfName("omd0".into()));
        let update = link_update(&message).unwrap();
        assert_eq!(update.index, 12);
        assert_eq!(update.name, "omd0");
        assert!(update.is_up && update.supports_multicast && !update.has_carrier);
        assert!(link_update(&LinkMessage::default()).is_none(), "no name");
    }

    #[test]
    fn the_kernel_lists_loopback_at_open() {
        let mut view = NetworkView::new();
        let watcher = NetlinkWatcher::open(true, &mut view).unwrap();
        assert!(!watcher.is_dumping());
        let lo = view.by_name("lo").expect("lo is listed");
        assert!(lo.index > 0);
        assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST) || !lo.is_up);
        assert_eq!(watcher.counters().foreign, 0);
    }
}
