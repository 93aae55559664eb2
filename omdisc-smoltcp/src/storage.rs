//! [`NodeStorage`]: the memory a [`Node`](crate::Node) runs in, supplied by the caller (a
//! `static` on a microcontroller), so the crate needs no heap.

use omdisc_core::MAX_DATAGRAM_LEN;
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::socket::udp;

#[cfg(feature = "probes")]
use crate::unicast::{UnicastStorage, UNICAST_SOCKETS};

/// Sockets of a node: the group socket and, with feature `probes`, the direct-datagram
/// sockets.
#[cfg(feature = "probes")]
const SOCKETS: usize = 1 + UNICAST_SOCKETS;
#[cfg(not(feature = "probes"))]
const SOCKETS: usize = 1;

/// The direct-datagram sockets [`NodeStorage::split`] hands out (none without `probes`).
#[cfg(feature = "probes")]
pub(crate) type UnicastParts<'a> = [udp::Socket<'a>; UNICAST_SOCKETS];
/// The direct-datagram sockets [`NodeStorage::split`] hands out (none without `probes`).
#[cfg(not(feature = "probes"))]
pub(crate) type UnicastParts<'a> = core::marker::PhantomData<&'a ()>;

/// Default receive queue of the UDP socket, in datagrams.
///
/// The node hands every received frame's datagram to the engine before it takes in the next
/// frame, so the queue never holds more than one datagram from a burst; a few slots are
/// plenty.
pub const DEFAULT_RX_SLOTS: usize = 4;
/// Default send queue of the UDP socket, in datagrams (a node sends one datagram per round).
pub const DEFAULT_TX_SLOTS: usize = 4;

/// The socket set slots and the UDP socket's queues: `RX_SLOTS` and `TX_SLOTS` datagrams of up
/// to [`MAX_DATAGRAM_LEN`] bytes each way (about `(RX_SLOTS + TX_SLOTS) × 170` bytes); with
/// feature `probes`, also the send queues of the direct-datagram sockets (one datagram each,
/// [`UNICAST_SOCKETS`](crate::UNICAST_SOCKETS) of them).
///
/// `const fn new`, so it can be a `static`, e.g. in a `static_cell::ConstStaticCell`
/// handed out once as `&'static mut`:
///
/// ```
/// use omdisc_smoltcp::NodeStorage;
/// // 16 datagrams in, 4 out, built at compile time.
/// const EMPTY: NodeStorage<'static, 16, 4> = NodeStorage::new();
/// ```
pub struct NodeStorage<
    'a,
    const RX_SLOTS: usize = DEFAULT_RX_SLOTS,
    const TX_SLOTS: usize = DEFAULT_TX_SLOTS,
> {
    socket: [SocketStorage<'a>; SOCKETS],
    #[cfg(feature = "probes")]
    unicast: [UnicastStorage; UNICAST_SOCKETS],
    rx_meta: [udp::PacketMetadata; RX_SLOTS],
    tx_meta: [udp::PacketMetadata; TX_SLOTS],
    rx_payload: [[u8; MAX_DATAGRAM_LEN]; RX_SLOTS],
    tx_payload: [[u8; MAX_DATAGRAM_LEN]; TX_SLOTS],
}

impl<const RX_SLOTS: usize, const TX_SLOTS: usize> NodeStorage<'_, RX_SLOTS, TX_SLOTS> {
    /// Empty storage.
    pub const fn new() -> Self {
        NodeStorage {
            socket: [SocketStorage::EMPTY; SOCKETS],
            #[cfg(feature = "probes")]
            unicast: [const { UnicastStorage::new() }; UNICAST_SOCKETS],
            rx_meta: [udp::PacketMetadata::EMPTY; RX_SLOTS],
            tx_meta: [udp::PacketMetadata::EMPTY; TX_SLOTS],
            rx_payload: [[0; MAX_DATAGRAM_LEN]; RX_SLOTS],
            tx_payload: [[0; MAX_DATAGRAM_LEN]; TX_SLOTS],
        }
    }
}

impl<const RX_SLOTS: usize, const TX_SLOTS: usize> Default for NodeStorage<'_, RX_SLOTS, TX_SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, const RX_SLOTS: usize, const TX_SLOTS: usize> NodeStorage<'a, RX_SLOTS, TX_SLOTS> {
    /// The socket set, the group socket over these buffers and the direct-datagram
    /// sockets.
    pub(crate) fn split(&'a mut self) -> (SocketSet<'a>, udp::Socket<'a>, UnicastParts<'a>) {
        let rx = udp::PacketBuffer::new(&mut self.rx_meta[..], self.rx_payload.as_flattened_mut());
        let tx = udp::PacketBuffer::new(&mut self.tx_meta[..], self.tx_payload.as_flattened_mut());
        #[cfg(feature = "probes")]
        let unicast = self.unicast.each_mut().map(UnicastStorage::socket);
        #[cfg(not(feature = "probes"))]
        let unicast = core::marker::PhantomData;
        (
            SocketSet::new(&mut self.socket[..]),
            udp::Socket::new(rx, tx),
            unicast,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_hold_the_configured_number_of_largest_datagrams() {
        let mut storage = NodeStorage::<3, 2>::new();
        let (_, socket, _) = storage.split();
        assert_eq!(socket.packet_recv_capacity(), 3);
        assert_eq!(socket.packet_send_capacity(), 2);
        assert_eq!(socket.payload_recv_capacity(), 3 * MAX_DATAGRAM_LEN);
        assert_eq!(socket.payload_send_capacity(), 2 * MAX_DATAGRAM_LEN);
    }
}
