//! Watching the kernel's network state through rtnetlink: interfaces, their IPv4 and IPv6
//! addresses, and (when the daemon picks its interface from a route, to the group or to a
//! seed) routes.
//!
//! [`NetlinkWatcher`] subscribes to the notification groups first and only then dumps the
//! links and the addresses, so no change between the dump and the subscription is missed.
//! It accepts only messages the kernel sent (port 0). Notifications the kernel could not
//! queue are reported by `ENOBUFS` on the next read (`NETLINK_NO_ENOBUFS` is never set):
//! the watcher then reads the whole state again, as it does when a dump says it was
//! interrupted (`NLM_F_DUMP_INTR`). Everything read lands in a [`NetworkView`]; the caller
//! reacts once per poll turn to whatever changed, however many messages that was.
//!
//! `netlink-sys` (the socket, from the rust-netlink project, without an async runtime in a
//! daemon that is one `poll` loop) carries the messages; [`crate::rtnetlink_codec`]
//! decodes the few it needs, bounds-checked.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::network_view::{Generation, NetworkView};
use crate::rtnetlink_codec::{self, DumpOf, Payload, NLM_F_DUMP_INTR};

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
            let handled = rtnetlink_codec::split_messages(buffer.get(..len).unwrap_or(&[]))
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
        let sequence = self.send_dump(DumpOf::Links)?;
        self.dump = Dump::Links(generation, sequence);
        Ok(())
    }

    fn send_dump(&mut self, of: DumpOf) -> io::Result<u32> {
        self.sequence = self.sequence.wrapping_add(1);
        let bytes = rtnetlink_codec::dump_request(of, self.sequence);
        self.socket.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;
        Ok(self.sequence)
    }

    /// One message of a datagram; returns whether the view changed.
    fn handle_message(&mut self, bytes: &[u8], view: &mut NetworkView) -> io::Result<bool> {
        self.counters.messages += 1;
        let (header, payload) = match rtnetlink_codec::decode(bytes) {
            Ok(message) => message,
            Err(error) => {
                self.counters.malformed += 1;
                log::debug!("netlink: ignored a message that does not parse: {error}");
                return Ok(false);
            }
        };
        let sequence = header.sequence;
        let in_dump = match self.dump {
            Dump::Links(_, s) | Dump::Addresses(_, s) => s == sequence && sequence != 0,
            Dump::Idle => false,
        };
        if in_dump && header.flags & NLM_F_DUMP_INTR != 0 {
            self.reread_pending = true;
        }
        match payload {
            Payload::Update(update) => Ok(update.is_some_and(|update| view.apply(update))),
            Payload::Done if in_dump => self.dump_done(view),
            Payload::Error(error) if in_dump => {
                let error = io::Error::from_raw_os_error(-error);
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
                let sequence = self.send_dump(DumpOf::Addresses)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_kernel_lists_loopback_at_open() {
        let mut view = NetworkView::new();
        let watcher = NetlinkWatcher::open(true, &mut view).unwrap();
        assert!(!watcher.is_dumping());
        let lo = view.by_name("lo").expect("lo is listed");
        assert!(lo.index > 0);
        assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST) || !lo.is_up);
        assert_eq!(watcher.counters().foreign, 0);
        assert_eq!(watcher.counters().malformed, 0);
    }
}
