//! The daemon's wait: an epoll set of the fds that live long (the signal fd, the rtnetlink
//! socket, one socket per leg), and `poll` only for the short-lived fds of the hook and the
//! metrics clients.
//!
//! An idle daemon wakes some 20 times a second (announcements, probes, timers), and in a
//! virtual machine the wake is most of what it costs. `poll(2)` puts the caller on every
//! fd's wait queue and takes it off again on every call; an epoll set is registered once,
//! and `epoll_wait(2)` only sleeps on the set. So the long-lived fds are registered when
//! they are opened ([`WaitSet::watch`]) and a wait with no other fd is one `epoll_wait`.
//! While a hook runs or a metrics client is connected, their fds (which come and go every
//! turn) are polled together with the epoll fd, and the set is read without waiting when
//! it is readable.
//!
//! The set is level-triggered, as `poll` is: a socket left with datagrams (the batch limit
//! of a wake) is reported again by the next wait.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::values::MAX_INTERFACES;

/// What a registered fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The signal fd.
    Signals,
    /// The rtnetlink socket.
    Network,
    /// The socket of leg `slot`.
    Socket(usize),
}

impl Source {
    fn tag(self) -> u64 {
        match self {
            Source::Signals => 0,
            Source::Network => 1,
            Source::Socket(slot) => 2 + slot as u64,
        }
    }

    fn from_tag(tag: u64) -> Option<Source> {
        match tag {
            0 => Some(Source::Signals),
            1 => Some(Source::Network),
            n => usize::try_from(n - 2).ok().map(Source::Socket),
        }
    }
}

/// Which registered fds a wait found readable (or in error: the reader finds out which).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// The signal fd.
    pub signals: bool,
    /// The rtnetlink socket.
    pub network: bool,
    /// Socket `i` (of the daemon's legs).
    pub sockets: [bool; MAX_INTERFACES],
}

impl Ready {
    fn mark(&mut self, source: Source) {
        match source {
            Source::Signals => self.signals = true,
            Source::Network => self.network = true,
            Source::Socket(slot) => {
                if let Some(ready) = self.sockets.get_mut(slot) {
                    *ready = true;
                }
            }
        }
    }
}

/// Most readiness reports one `epoll_wait` returns: every registered fd fits.
const EVENTS: usize = 2 + MAX_INTERFACES;

/// The epoll set of the daemon's long-lived fds.
#[derive(Debug)]
pub struct WaitSet {
    epoll: Epoll,
}

impl WaitSet {
    /// An empty set.
    pub fn new() -> io::Result<WaitSet> {
        Ok(WaitSet {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
        })
    }

    /// Registers `fd` as `source` (readable or in error wakes a wait).
    pub fn watch(&self, fd: BorrowedFd<'_>, source: Source) -> io::Result<()> {
        self.epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, source.tag()))?;
        Ok(())
    }

    /// Takes `fd` out of the set before it is closed (closing it would too, unless a copy
    /// of it stayed open somewhere, e.g. in a hook process being started).
    pub fn forget(&self, fd: BorrowedFd<'_>) {
        if let Err(error) = self.epoll.delete(fd) {
            log::debug!("epoll: could not remove a closed socket: {error}");
        }
    }

    /// Sleeps until a registered fd or one of `others` is ready, or `timeout` passes, and
    /// says which registered fds are ready (`others` are looked at by their owners).
    /// Interrupted by a signal, it returns nothing ready.
    pub fn wait<'a>(
        &self,
        others: impl Iterator<Item = (BorrowedFd<'a>, PollFlags)>,
        timeout: PollTimeout,
    ) -> io::Result<Ready> {
        // The poll set lives on the stack; the epoll fd and the integrations' fds fit.
        let mut fds: heapless::Vec<PollFd<'_>, { 1 + crate::integrations::MAX_POLL_INTEREST }> =
            heapless::Vec::new();
        let _ = fds.push(PollFd::new(self.epoll.0.as_fd(), PollFlags::POLLIN));
        for (fd, flags) in others {
            let _ = fds.push(PollFd::new(fd, flags));
        }
        let timeout = if fds.len() == 1 {
            timeout
        } else {
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(Ready::default()),
                Err(errno) => return Err(errno.into()),
            }
            let set_ready = fds
                .first()
                .and_then(PollFd::revents)
                .is_some_and(|r| r.intersects(PollFlags::POLLIN));
            if !set_ready {
                return Ok(Ready::default());
            }
            PollTimeout::ZERO
        };
        self.read(timeout)
    }

    /// One `epoll_wait`.
    fn read(&self, timeout: PollTimeout) -> io::Result<Ready> {
        let mut events = [EpollEvent::empty(); EVENTS];
        let mut ready = Ready::default();
        let count = match self.epoll.wait(&mut events, timeout) {
            Ok(count) => count,
            Err(Errno::EINTR) => return Ok(ready),
            Err(errno) => return Err(errno.into()),
        };
        for event in events.iter().take(count) {
            if let Some(source) = Source::from_tag(event.data()) {
                ready.mark(source);
            }
        }
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        (a, b)
    }

    #[test]
    fn a_readable_socket_is_reported_as_its_leg_until_it_is_read() {
        let set = WaitSet::new().unwrap();
        let (receiver, sender) = pair();
        set.watch(receiver.as_fd(), Source::Socket(2)).unwrap();
        let nothing = set.wait(std::iter::empty(), PollTimeout::ZERO).unwrap();
        assert_eq!(nothing, Ready::default());
        sender
            .send_to(b"x", receiver.local_addr().unwrap())
            .unwrap();
        let ready = set
            .wait(std::iter::empty(), PollTimeout::from(1000u16))
            .unwrap();
        assert!(ready.sockets[2] && !ready.signals && !ready.network);
        // Level-triggered: still there until read.
        let again = set.wait(std::iter::empty(), PollTimeout::ZERO).unwrap();
        assert!(again.sockets[2]);
        let mut buffer = [0u8; 8];
        receiver.recv(&mut buffer).unwrap();
        let read = set.wait(std::iter::empty(), PollTimeout::ZERO).unwrap();
        assert_eq!(read, Ready::default());
    }

    #[test]
    fn other_fds_wake_the_wait_without_being_reported() {
        let set = WaitSet::new().unwrap();
        let (leg, _) = pair();
        set.watch(leg.as_fd(), Source::Socket(0)).unwrap();
        let (other, sender) = pair();
        sender.send_to(b"x", other.local_addr().unwrap()).unwrap();
        let started = std::time::Instant::now();
        let ready = set
            .wait(
                std::iter::once((other.as_fd(), PollFlags::POLLIN)),
                PollTimeout::from(5000u16),
            )
            .unwrap();
        assert_eq!(ready, Ready::default());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "woken by the other fd, not by the timeout"
        );
        // The leg's datagram comes through the set while the other fd is polled too.
        let (_, sender) = pair();
        sender.send_to(b"y", leg.local_addr().unwrap()).unwrap();
        let ready = set
            .wait(
                std::iter::once((other.as_fd(), PollFlags::POLLIN)),
                PollTimeout::from(1000u16),
            )
            .unwrap();
        assert!(ready.sockets[0]);
    }

    #[test]
    fn a_forgotten_socket_is_no_longer_reported() {
        let set = WaitSet::new().unwrap();
        let (receiver, sender) = pair();
        set.watch(receiver.as_fd(), Source::Network).unwrap();
        set.forget(receiver.as_fd());
        sender
            .send_to(b"x", receiver.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ready = set.wait(std::iter::empty(), PollTimeout::ZERO).unwrap();
        assert_eq!(ready, Ready::default());
    }

    #[test]
    fn tags_name_their_sources() {
        for source in [
            Source::Signals,
            Source::Network,
            Source::Socket(0),
            Source::Socket(7),
        ] {
            assert_eq!(Source::from_tag(source.tag()), Some(source));
        }
    }
}
