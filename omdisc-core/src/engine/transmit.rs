//! Handing out datagrams to send: LEAVE, relayed messages, then this node's own rounds.

use core::net::SocketAddr;

use super::relay::take_lowest_iface;
use super::{Engine, Phase};
use crate::addr::IfaceId;
use crate::table::TableStorage;
use crate::time::Instant;
use crate::wire::{Message, MessageKind, MAX_DATAGRAM_LEN};

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Destination {
    /// The multicast group, on the transmit's interface. Never used when
    /// [`Config::multicast`](crate::Config::multicast) is off.
    Group,
    /// One peer, by unicast: send from the socket of the transmit's interface to this
    /// address and port (the kernel routes it).
    Peer(SocketAddr),
}

/// A datagram written by [`Engine::poll_transmit`]: send `buf[..len]` to `to`, from
/// interface `iface`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// The interface to send on (for a [`Destination::Peer`], the leg whose socket sends).
    pub iface: IfaceId,
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// The group or one peer.
    pub to: Destination,
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Writes the next datagram to send into `buf` and says where to send it, or returns
    /// `None` when nothing is waiting. Call until `None` after every `handle_*` call.
    ///
    /// The buffer type guarantees room for the longest datagram.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8; MAX_DATAGRAM_LEN],
    ) -> Option<Transmit> {
        self.now = self.now.max(now);
        loop {
            let transmit = self
                .next_leave(buf)
                .or_else(|| self.next_goodbye(buf))
                .or_else(|| self.next_relay(buf))
                .or_else(|| self.next_own(buf))
                .or_else(|| self.next_unicast(buf))?;
            if transmit.to == Destination::Group && !self.config.multicast {
                // Without multicast nothing goes to the group (each source above drains,
                // so this loop ends).
                continue;
            }
            self.stats.tx_datagrams = self.stats.tx_datagrams.wrapping_add(1);
            if transmit.to != Destination::Group {
                self.stats.tx_unicast = self.stats.tx_unicast.wrapping_add(1);
            }
            return Some(transmit);
        }
    }

    pub(super) fn has_pending_transmit(&self) -> bool {
        self.leave_round.is_some()
            || self.farewell.is_some()
            || self.own_round.is_some()
            || !self.relay_queue.is_empty()
            || !self.unicast_queue.is_empty()
    }

    /// The LEAVE of an identity this node no longer has (see the `local` module).
    fn next_goodbye(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        let (msg, iface) = self.next_farewell()?;
        self.encode(&msg, iface, buf)
    }

    fn next_leave(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        let mut round = self.leave_round?;
        let Some(iface) = take_lowest_iface(&mut round.pending) else {
            self.leave_round = None;
            self.phase = Phase::Stopped;
            return None;
        };
        self.leave_round = (round.pending != 0).then_some(round);
        if round.pending == 0 {
            self.phase = Phase::Stopped;
        }
        let msg = self.own_message(MessageKind::Leave, iface, round.sequence, false);
        self.encode(&msg, iface, buf)
    }

    fn next_relay(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        loop {
            let serving = self.serving();
            let job = self.relay_queue.front_mut()?;
            // An interface that stopped serving since the job was queued is skipped.
            job.pending &= serving;
            let Some(iface) = take_lowest_iface(&mut job.pending) else {
                self.relay_queue.pop_front();
                continue;
            };
            let written = job.body.emit(buf, self.keys.as_ref());
            if job.pending == 0 {
                self.relay_queue.pop_front();
            }
            match written {
                Ok(len) => {
                    self.stats.tx_relayed = self.stats.tx_relayed.wrapping_add(1);
                    return Some(Transmit {
                        iface,
                        len,
                        to: Destination::Group,
                    });
                }
                // MAX_DATAGRAM_LEN fits every datagram; if one ever did not, it is dropped
                // and counted rather than sent truncated.
                Err(_) => self.stats.relay_dropped = self.stats.relay_dropped.wrapping_add(1),
            }
        }
    }

    fn next_own(&mut self, buf: &mut [u8; MAX_DATAGRAM_LEN]) -> Option<Transmit> {
        let mut round = self.own_round?;
        round.pending &= self.serving();
        let Some(iface) = take_lowest_iface(&mut round.pending) else {
            self.own_round = None;
            return None;
        };
        round.started = true;
        self.own_round = (round.pending != 0).then_some(round);
        let join = round.join & iface.bit() != 0;
        let msg = self.own_message(MessageKind::Announce, iface, round.sequence, join);
        self.announced = true;
        self.encode(&msg, iface, buf)
    }

    pub(super) fn own_message(
        &self,
        kind: MessageKind,
        iface: IfaceId,
        sequence: u32,
        join: bool,
    ) -> Message {
        Message {
            kind,
            join,
            unicast: false,
            gateway: self.is_gateway(),
            hops: 0,
            relayer: None,
            origin: self.config.node_id,
            incarnation: self.config.incarnation,
            sequence,
            interval: self.advertised,
            addrs: self.announced_addresses(iface),
        }
    }

    pub(super) fn encode(
        &mut self,
        msg: &Message,
        iface: IfaceId,
        buf: &mut [u8; MAX_DATAGRAM_LEN],
    ) -> Option<Transmit> {
        // MAX_DATAGRAM_LEN fits every message, so this cannot fail; if it ever did, the
        // datagram is dropped and logged rather than sent truncated.
        match msg.emit(buf, self.keys.as_ref()) {
            Ok(len) => {
                if msg.kind == MessageKind::Announce && msg.hops == 0 {
                    let ip = msg.addrs.first().map(|a| a.ip);
                    self.sched.observe(super::schedule::wire_size(len, ip));
                }
                Some(Transmit {
                    iface,
                    len,
                    to: Destination::Group,
                })
            }
            Err(_e) => {
                core_log!(
                    warn,
                    "could not encode a message of node {}",
                    msg.origin.get()
                );
                None
            }
        }
    }
}
