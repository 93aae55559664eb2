//! A virtio-net NIC (virtio-drivers' `VirtIONetRaw`) as a `smoltcp::phy::Device`.
//!
//! Receive buffers are caller-provided (`&'static mut`, normally a static
//! array) and stay queued at the device: every buffer the device filled is
//! handed to smoltcp once and queued again on the next `receive`/`transmit`
//! call. Transmission copies the frame into one transmit buffer and waits
//! for the device to take it (virtio-drivers' blocking `send`; QEMU completes
//! it within the notifying MMIO write's exit), so a frame is on the wire when
//! `TxToken::consume` returns.

use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;
use virtio_drivers::Hal;

/// Descriptors per virtqueue and number of receive buffers.
pub const QUEUE_SIZE: usize = 8;

/// Size of one receive buffer: a virtio-net header and a full Ethernet frame
/// (virtio-drivers requires at least 1526 bytes).
pub const RX_BUFFER_LEN: usize = 1536;

/// Largest Ethernet frame sent or received (no VLAN tag, no FCS).
pub const MAX_FRAME_LEN: usize = 1514;

/// One receive buffer.
pub type RxBuffer = [u8; RX_BUFFER_LEN];

/// The buffers the device receives into; lives as long as the device.
pub type RxBuffers = [RxBuffer; QUEUE_SIZE];

/// A virtio-net device that smoltcp can poll.
pub struct VirtioNetDevice<H: Hal, T: Transport> {
    driver: VirtIONetRaw<H, T, QUEUE_SIZE>,
    rx_buffers: &'static mut RxBuffers,
    /// Receive buffer index by descriptor token (tokens are < `QUEUE_SIZE`).
    rx_slot_by_token: [Option<usize>; QUEUE_SIZE],
    /// A buffer lent to smoltcp by the last `receive`, to queue again.
    rx_slot_to_requeue: Option<usize>,
    tx_buffer: [u8; MAX_FRAME_LEN],
    counters: DeviceCounters,
}

/// Frame counts since the device was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Frames handed to smoltcp.
    pub received: u64,
    /// Frames given to the device to send.
    pub sent: u64,
    /// Frames lost on the way: a driver error while receiving or sending.
    pub errors: u64,
}

/// Why the device could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// virtio-drivers failed to initialise the device or to queue a buffer.
    Driver(virtio_drivers::Error),
    /// The device returned a descriptor token outside the queue.
    BadToken(u16),
}

impl OpenError {
    /// The error in one line, without the driver's detail (no `core::fmt` needed).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Driver(_) => "virtio-net: the driver could not set up the device",
            Self::BadToken(_) => "virtio-net: a descriptor token outside the queue",
        }
    }
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Driver(e) => write!(f, "virtio-net: {e}"),
            Self::BadToken(t) => write!(f, "virtio-net: descriptor token {t} outside the queue"),
        }
    }
}

impl<H: Hal, T: Transport> VirtioNetDevice<H, T> {
    /// Initialises the device on `transport` and queues every receive buffer.
    pub fn open(transport: T, rx_buffers: &'static mut RxBuffers) -> Result<Self, OpenError> {
        let driver = VirtIONetRaw::new(transport).map_err(OpenError::Driver)?;
        let mut device = Self {
            driver,
            rx_buffers,
            rx_slot_by_token: [None; QUEUE_SIZE],
            rx_slot_to_requeue: None,
            tx_buffer: [0; MAX_FRAME_LEN],
            counters: DeviceCounters::default(),
        };
        for slot in 0..QUEUE_SIZE {
            device.queue_rx_buffer(slot)?;
        }
        device.driver.enable_interrupts();
        Ok(device)
    }

    /// The NIC's MAC address (from the device's configuration space).
    pub fn mac_address(&self) -> EthernetAddress {
        EthernetAddress(self.driver.mac_address())
    }

    /// Frame counts since the device was opened.
    pub fn counters(&self) -> DeviceCounters {
        self.counters
    }

    /// Acknowledges the device's interrupt (call before polling, after a
    /// wake-up by the interrupt controller) so the line drops until new
    /// frames arrive.
    pub fn ack_interrupt(&mut self) {
        let _ = self.driver.ack_interrupt();
    }

    fn queue_rx_buffer(&mut self, slot: usize) -> Result<(), OpenError> {
        let buffer = &mut self.rx_buffers[slot];
        // SAFETY: the buffer is 'static, and it is not touched again until
        // the device returns it under this token (see `receive`).
        let token = unsafe { self.driver.receive_begin(buffer) }.map_err(OpenError::Driver)?;
        let entry = self
            .rx_slot_by_token
            .get_mut(usize::from(token))
            .ok_or(OpenError::BadToken(token))?;
        *entry = Some(slot);
        Ok(())
    }

    fn requeue_lent_buffer(&mut self) {
        if let Some(slot) = self.rx_slot_to_requeue.take() {
            if let Err(e) = self.queue_rx_buffer(slot) {
                self.counters.errors += 1;
                log::warn!("{e}; receive buffer {slot} dropped from the ring");
            }
        }
    }
}

impl<H: Hal, T: Transport> Device for VirtioNetDevice<H, T> {
    type RxToken<'a>
        = VirtioRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTxToken<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.requeue_lent_buffer();
        let token = self.driver.poll_receive()?;
        let Some(slot) = self
            .rx_slot_by_token
            .get_mut(usize::from(token))
            .and_then(Option::take)
        else {
            self.counters.errors += 1;
            log::error!("virtio-net: completed receive token {token} was never queued");
            return None;
        };
        let buffer = &mut self.rx_buffers[slot];
        // SAFETY: `buffer` is the one queued under `token` in `queue_rx_buffer`.
        let completed = unsafe { self.driver.receive_complete(token, buffer) };
        self.rx_slot_to_requeue = Some(slot);
        let frame = match completed {
            Ok((header_len, frame_len)) => buffer.get(header_len..header_len + frame_len),
            Err(_) => None,
        };
        let Some(frame) = frame else {
            self.counters.errors += 1;
            log::warn!("virtio-net: dropped a malformed receive completion");
            return None;
        };
        self.counters.received += 1;
        Some((
            VirtioRxToken { frame },
            VirtioTxToken {
                driver: &mut self.driver,
                buffer: &mut self.tx_buffer,
                counters: &mut self.counters,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        self.requeue_lent_buffer();
        if !self.driver.can_send() {
            return None;
        }
        Some(VirtioTxToken {
            driver: &mut self.driver,
            buffer: &mut self.tx_buffer,
            counters: &mut self.counters,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME_LEN;
        caps.max_burst_size = Some(1);
        caps
    }
}

/// A received frame, borrowed from its receive buffer.
pub struct VirtioRxToken<'a> {
    frame: &'a [u8],
}

impl smoltcp::phy::RxToken for VirtioRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Permission to send one frame.
pub struct VirtioTxToken<'a, H: Hal, T: Transport> {
    driver: &'a mut VirtIONetRaw<H, T, QUEUE_SIZE>,
    buffer: &'a mut [u8; MAX_FRAME_LEN],
    counters: &'a mut DeviceCounters,
}

impl<H: Hal, T: Transport> smoltcp::phy::TxToken for VirtioTxToken<'_, H, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than `max_transmission_unit`; should
        // it, the frame is dropped and counted instead of cut short.
        if len > MAX_FRAME_LEN {
            self.counters.errors += 1;
            log::error!("virtio-net: dropped a {len}-byte frame (max {MAX_FRAME_LEN})");
            return f(&mut self.buffer[..]);
        }
        let frame = &mut self.buffer[..len];
        let result = f(frame);
        match self.driver.send(frame) {
            Ok(()) => self.counters.sent += 1,
            Err(e) => {
                self.counters.errors += 1;
                log::warn!("virtio-net: send failed: {e}");
            }
        }
        result
    }
}
