//! An in-memory smoltcp device for this crate's unit tests: frames to receive are pushed
//! into a queue, frames sent are kept, and the room to transmit can be limited.

use std::collections::VecDeque;
use std::vec::Vec;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frames in, frames out.
pub(crate) struct MemoryDevice {
    /// Frames waiting to be received.
    pub(crate) inbox: VecDeque<Vec<u8>>,
    /// Frames sent, oldest first.
    pub(crate) sent: Vec<Vec<u8>>,
    /// How many more frames the device accepts for sending.
    pub(crate) tx_room: usize,
    /// The MTU it reports.
    pub(crate) mtu: usize,
}

impl MemoryDevice {
    pub(crate) fn new() -> Self {
        MemoryDevice {
            inbox: VecDeque::new(),
            sent: Vec::new(),
            tx_room: usize::MAX,
            mtu: 1514,
        }
    }
}

pub(crate) struct RxToken(Vec<u8>);

pub(crate) struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = std::vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Device for MemoryDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.sent)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        if self.tx_room == 0 {
            return None;
        }
        self.tx_room = self.tx_room.saturating_sub(1);
        Some(TxToken(&mut self.sent))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}
