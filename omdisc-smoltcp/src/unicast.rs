//! [`UnicastSockets`]: the node's direct datagrams (PINGs, ACKs, PING-REQs, gossip, contacts)
//! and the sockets they go out through, apart from the group socket (feature `probes`).
//!
//! A smoltcp UDP socket sends its queue in order, and a datagram whose next hop does not
//! answer ARP or neighbour solicitation (a crashed member) stays at the head of it, retried
//! once a second, with everything behind it waiting. So the group socket carries only
//! group datagrams (they need no neighbour), and direct datagrams go through
//! [`UNICAST_SOCKETS`] sockets of one datagram each: a datagram to a peer whose neighbour
//! is unknown holds one socket only, and datagrams to other peers take the others. A socket
//! whose datagram has waited [`Settings::unicast_wait`](crate::Settings::unicast_wait) is
//! reset (its datagram dropped and counted); while every socket is busy, new direct
//! datagrams are dropped and counted. Nothing waits longer than that bound, and group
//! announcements never wait behind a direct datagram.

use omdisc_core::MAX_DATAGRAM_LEN;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp::{self, SendError};
use smoltcp::socket::AnySocket;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use crate::error::SetupError;
use crate::settings::Settings;

/// Sockets for direct datagrams, one datagram each: how many peers whose neighbour is not
/// known yet can be waited for at once while the others are still served.
pub const UNICAST_SOCKETS: usize = 4;

/// Default of [`Settings::unicast_wait`](crate::Settings::unicast_wait): smoltcp asks for a
/// neighbour again after one second, so a direct datagram gets two ARP requests (or
/// neighbour solicitations) before it is dropped.
pub const DEFAULT_UNICAST_WAIT: Duration = Duration::from_millis(1_500);

/// The send queue of one direct-datagram socket: one datagram of up to
/// [`MAX_DATAGRAM_LEN`] bytes; it receives nothing (the group socket, bound to the same
/// port and first in the socket set, takes every datagram in).
pub(crate) struct UnicastStorage {
    tx_meta: [udp::PacketMetadata; 1],
    tx_payload: [u8; MAX_DATAGRAM_LEN],
}

impl UnicastStorage {
    /// Empty storage.
    pub(crate) const fn new() -> Self {
        UnicastStorage {
            tx_meta: [udp::PacketMetadata::EMPTY; 1],
            tx_payload: [0; MAX_DATAGRAM_LEN],
        }
    }

    /// The socket over this storage.
    pub(crate) fn socket(&mut self) -> udp::Socket<'_> {
        let rx = udp::PacketBuffer::new(&mut [][..], &mut [][..]);
        let tx = udp::PacketBuffer::new(&mut self.tx_meta[..], &mut self.tx_payload[..]);
        udp::Socket::new(rx, tx)
    }
}

/// One direct-datagram socket and what it holds.
#[derive(Clone, Copy, Debug)]
struct Slot {
    handle: SocketHandle,
    /// Where its datagram goes (the last one, once sent).
    to: Option<IpEndpoint>,
    /// When its datagram was queued.
    since: Instant,
}

/// The direct-datagram sockets of a node, in its socket set after the group socket.
#[derive(Debug)]
pub(crate) struct UnicastSockets {
    slots: [Slot; UNICAST_SOCKETS],
    port: u16,
    /// How long a datagram may wait for its next hop.
    wait: Duration,
}

impl UnicastSockets {
    /// Binds `sockets` to the settings' port (replies come back to the group socket on it)
    /// and adds them to `set`, after the group socket.
    pub(crate) fn add<'a>(
        set: &mut SocketSet<'a>,
        sockets: [udp::Socket<'a>; UNICAST_SOCKETS],
        settings: &Settings,
    ) -> Result<Self, SetupError> {
        let port = settings.port;
        let mut bound = Ok(());
        let slots = sockets.map(|mut socket| {
            if let Err(error) = socket.bind(port) {
                bound = Err(error);
            }
            Slot {
                handle: set.add(socket),
                to: None,
                since: Instant::ZERO,
            }
        });
        bound.map_err(SetupError::Bind)?;
        Ok(UnicastSockets {
            slots,
            port,
            wait: settings.unicast_wait,
        })
    }

    /// Queues `payload` to `to` on a free socket at `now`. `BufferFull` when a socket
    /// already holds a datagram to `to` (it goes the same way: wait for it) or every socket
    /// is busy.
    pub(crate) fn send(
        &mut self,
        set: &mut SocketSet<'_>,
        payload: &[u8],
        to: IpEndpoint,
        now: Instant,
    ) -> Result<(), SendError> {
        let busy = |slot: &Slot| set.get::<udp::Socket>(slot.handle).send_queue() > 0;
        if self.slots.iter().any(|s| s.to == Some(to) && busy(s)) {
            return Err(SendError::BufferFull);
        }
        let slot = self
            .slots
            .iter_mut()
            .find(|s| !busy(s))
            .ok_or(SendError::BufferFull)?;
        set.get_mut::<udp::Socket>(slot.handle)
            .send_slice(payload, to)?;
        slot.to = Some(to);
        slot.since = now;
        Ok(())
    }

    /// Resets every socket whose datagram has waited its time by `now` (its next hop never
    /// answered): the datagram is dropped, and the socket comes back with a fresh neighbour
    /// state, free for another peer at once. Returns how many datagrams were dropped.
    pub(crate) fn reset_stuck(&mut self, set: &mut SocketSet<'_>, now: Instant) -> u64 {
        let mut dropped = 0;
        for slot in &mut self.slots {
            if set.get::<udp::Socket>(slot.handle).send_queue() == 0 || now < slot.since + self.wait
            {
                continue;
            }
            // Removed and added again: smoltcp keeps a socket's wait for its missing
            // neighbour in the set, not in the socket.
            let mut socket = set.remove(slot.handle);
            if let Some(udp) = udp::Socket::downcast_mut(&mut socket) {
                udp.close();
                // Bound before to the same port: cannot fail.
                let _ = udp.bind(self.port);
            }
            slot.handle = set.add(socket);
            dropped += 1;
            if let Some(to) = slot.to {
                node_log!(
                    debug,
                    "direct datagram to {} dropped: its next hop never answered",
                    to.addr
                );
            }
        }
        dropped
    }

    /// The earliest instant a waiting datagram is due to be dropped.
    pub(crate) fn deadline(&self, set: &SocketSet<'_>) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| set.get::<udp::Socket>(s.handle).send_queue() > 0)
            .map(|s| s.since + self.wait)
            .min()
    }
}
