//! A virtio-net NIC on QEMU's legacy virtio-mmio transport as a `smoltcp::phy::Device`: a
//! driver of its own, about 300 lines, instead of a general crate (several KiB of code, and
//! page-granular queue memory).
//!
//! Two virtqueues of [`QUEUE_SIZE`] descriptors (receive, transmit) live in the caller's
//! [`Queues`] (a static): the legacy transport lets the driver choose the guest page size
//! and the used ring's alignment, so each queue takes 224 bytes instead of two pages.
//! Receive buffers are the caller's too and stay queued at the device: every buffer the
//! device filled is handed to smoltcp once and queued again on the next `receive` or
//! `transmit` call. Transmission copies the frame after a zeroed virtio-net header into one
//! transmit buffer and waits (bounded) for the device to take it, so a frame is on its way
//! when `TxToken::consume` returns.
//!
//! Only what the image needs is negotiated: the MAC address feature, no offloads, no
//! mergeable receive buffers (so the header is 10 bytes).

use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{fence, Ordering};

use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;

/// Descriptors per virtqueue and number of receive buffers.
pub const QUEUE_SIZE: usize = 8;

/// Size of one receive buffer: the virtio-net header and a full Ethernet frame.
pub const RX_BUFFER_LEN: usize = 1536;

/// Largest Ethernet frame sent or received (no VLAN tag, no FCS).
pub const MAX_FRAME_LEN: usize = 1514;

/// The legacy virtio-net header without mergeable buffers: 10 bytes, all zero on transmit.
const HEADER_LEN: usize = 10;

/// One receive buffer.
pub type RxBuffer = [u8; RX_BUFFER_LEN];

/// The buffers the device receives into; lives as long as the device.
pub type RxBuffers = [RxBuffer; QUEUE_SIZE];

// virtio-mmio registers (legacy layout, version 1).
const MAGIC: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
const HOST_FEATURES: usize = 0x010;
const GUEST_FEATURES: usize = 0x020;
const GUEST_PAGE_SIZE: usize = 0x028;
const QUEUE_SEL: usize = 0x030;
const QUEUE_NUM_MAX: usize = 0x034;
const QUEUE_NUM: usize = 0x038;
const QUEUE_ALIGN: usize = 0x03c;
const QUEUE_PFN: usize = 0x040;
const QUEUE_NOTIFY: usize = 0x050;
const INTERRUPT_STATUS: usize = 0x060;
const INTERRUPT_ACK: usize = 0x064;
const STATUS: usize = 0x070;
const CONFIG: usize = 0x100;

const MAGIC_VALUE: u32 = 0x7472_6976; // "virt"
const NETWORK_DEVICE: u32 = 1;
const FEATURE_MAC: u32 = 1 << 5;
const STATUS_ACKNOWLEDGE: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const DESC_F_WRITE: u16 = 2;
/// The guest "page" the queue addresses count in: the queues' alignment.
const PAGE_SHIFT: u32 = 4;
/// The used ring's alignment within a queue.
const USED_ALIGN: u32 = 4;
const RX_QUEUE: u32 = 0;
const TX_QUEUE: u32 = 1;
/// Polls of the transmit queue before a frame counts as lost.
const TX_SPIN_LIMIT: u32 = 1_000_000;

#[repr(C)]
#[derive(Clone, Copy)]
struct Descriptor {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UsedElem {
    id: u32,
    len: u32,
}

/// One virtqueue in the legacy layout: descriptors, the available ring, and the used ring
/// at the next 4-byte boundary (no event-index fields: that feature is not negotiated).
#[repr(C, align(16))]
pub struct Virtqueue {
    desc: [Descriptor; QUEUE_SIZE],
    avail_flags: u16,
    avail_idx: u16,
    avail_ring: [u16; QUEUE_SIZE],
    used_flags: u16,
    used_idx: u16,
    used_ring: [UsedElem; QUEUE_SIZE],
}

const _: () = {
    let avail_end = 16 * QUEUE_SIZE + 4 + 2 * QUEUE_SIZE;
    let used = avail_end.next_multiple_of(USED_ALIGN as usize);
    assert!(core::mem::offset_of!(Virtqueue, used_flags) == used);
    assert!(core::mem::offset_of!(Virtqueue, used_ring) == used + 4);
};

impl Virtqueue {
    /// An empty queue.
    pub const EMPTY: Virtqueue = Virtqueue {
        desc: [Descriptor {
            addr: 0,
            len: 0,
            flags: 0,
            next: 0,
        }; QUEUE_SIZE],
        avail_flags: 0,
        avail_idx: 0,
        avail_ring: [0; QUEUE_SIZE],
        used_flags: 0,
        used_idx: 0,
        used_ring: [UsedElem { id: 0, len: 0 }; QUEUE_SIZE],
    };
}

/// The receive and transmit queues; lives as long as the device.
pub type Queues = [Virtqueue; 2];

/// The driver's view of one queue: where it is and how far it got.
struct Ring {
    queue: *mut Virtqueue,
    /// The next available-ring index the driver fills.
    avail: u16,
    /// The next used-ring index the driver reads.
    used: u16,
}

impl Ring {
    /// The driver's view of `queue`, emptied first.
    fn new(queue: &'static mut Virtqueue) -> Ring {
        *queue = Virtqueue::EMPTY;
        Ring {
            queue,
            avail: 0,
            used: 0,
        }
    }

    fn used_idx(&self) -> u16 {
        // SAFETY: `queue` points to the caller's static queue; the device writes this field,
        // so it is read volatile.
        unsafe { addr_of!((*self.queue).used_idx).read_volatile() }
    }

    /// Offers descriptor `id` to the device (the caller notifies).
    fn offer(&mut self, id: u16) {
        let slot = usize::from(self.avail) % QUEUE_SIZE;
        // SAFETY: as in `used_idx`; the slot and index are the driver's to write.
        unsafe {
            addr_of_mut!((*self.queue).avail_ring[slot]).write_volatile(id);
            fence(Ordering::SeqCst);
            self.avail = self.avail.wrapping_add(1);
            addr_of_mut!((*self.queue).avail_idx).write_volatile(self.avail);
        }
        fence(Ordering::SeqCst);
    }

    /// The next element the device has used, if any.
    fn take_used(&mut self) -> Option<UsedElem> {
        if self.used_idx() == self.used {
            return None;
        }
        fence(Ordering::SeqCst);
        let slot = usize::from(self.used) % QUEUE_SIZE;
        // SAFETY: as in `used_idx`; the device wrote this element before the index.
        let elem = unsafe { addr_of!((*self.queue).used_ring[slot]).read_volatile() };
        self.used = self.used.wrapping_add(1);
        Some(elem)
    }

    /// Writes descriptor `id`.
    fn set_descriptor(&mut self, id: usize, addr: u64, len: u32, flags: u16) {
        let desc = Descriptor {
            addr,
            len,
            flags,
            next: 0,
        };
        // SAFETY: as in `used_idx`; `id` < QUEUE_SIZE, and the device reads the descriptor
        // only after it is offered.
        unsafe { addr_of_mut!((*self.queue).desc[id % QUEUE_SIZE]).write_volatile(desc) };
    }
}

/// A virtio-net device that smoltcp can poll.
pub struct VirtioNet {
    base: usize,
    mac: EthernetAddress,
    rx: Ring,
    tx: Ring,
    rx_buffers: &'static mut RxBuffers,
    /// A buffer lent to smoltcp by the last `receive`, to queue again.
    rx_slot_to_requeue: Option<u16>,
    tx_buffer: [u8; HEADER_LEN + MAX_FRAME_LEN],
    counters: DeviceCounters,
}

/// Frame counts since the device was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Frames handed to smoltcp.
    pub received: u64,
    /// Frames given to the device to send.
    pub sent: u64,
    /// Frames lost on the way: a malformed completion, a send the device did not take.
    pub errors: u64,
}

/// Why the device could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a legacy (version 1) virtio-mmio network device.
    NotLegacyNet,
    /// A queue holds fewer than [`QUEUE_SIZE`] descriptors.
    QueueTooSmall,
}

impl OpenError {
    /// The error in one line (no `core::fmt` needed).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotLegacyNet => "virtio-net: not a legacy virtio-mmio network device",
            Self::QueueTooSmall => "virtio-net: the device's queues are too small",
        }
    }
}

/// Whether the virtio-mmio window at `base` holds a legacy network device.
///
/// # Safety
///
/// `base` must be a virtio-mmio register window (from the device tree).
pub unsafe fn is_legacy_net(base: usize) -> bool {
    // SAFETY: forwarded to the caller.
    unsafe {
        read(base, MAGIC) == MAGIC_VALUE
            && read(base, VERSION) == 1
            && read(base, DEVICE_ID) == NETWORK_DEVICE
    }
}

/// # Safety
///
/// `base + offset` must be a virtio-mmio register.
unsafe fn read(base: usize, offset: usize) -> u32 {
    // SAFETY: forwarded to the caller; an aligned 32-bit volatile read.
    unsafe { ((base + offset) as *const u32).read_volatile() }
}

/// # Safety
///
/// As [`read`].
unsafe fn write(base: usize, offset: usize, value: u32) {
    // SAFETY: forwarded to the caller; an aligned 32-bit volatile write.
    unsafe { ((base + offset) as *mut u32).write_volatile(value) }
}

impl VirtioNet {
    /// Resets and sets up the device at `base` with `queues` and `rx_buffers`, and queues
    /// every receive buffer.
    ///
    /// # Safety
    ///
    /// `base` must be a virtio-mmio register window that nothing else drives, and the
    /// machine must address memory physically (no paging, no IOMMU).
    pub unsafe fn open(
        base: usize,
        queues: &'static mut Queues,
        rx_buffers: &'static mut RxBuffers,
    ) -> Result<Self, OpenError> {
        // SAFETY: `base` is the device's window, as the caller vouches.
        unsafe {
            if !is_legacy_net(base) {
                return Err(OpenError::NotLegacyNet);
            }
            write(base, STATUS, 0);
            write(base, STATUS, STATUS_ACKNOWLEDGE);
            write(base, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
            let features = read(base, HOST_FEATURES) & FEATURE_MAC;
            write(base, GUEST_FEATURES, features);
            write(base, GUEST_PAGE_SIZE, 1 << PAGE_SHIFT);
        }
        let [rx_queue, tx_queue] = queues;
        let rx = Ring::new(rx_queue);
        let tx = Ring::new(tx_queue);
        for (index, ring) in [(RX_QUEUE, &rx), (TX_QUEUE, &tx)] {
            // SAFETY: as above; the queue is a static the device may use from now on.
            unsafe {
                write(base, QUEUE_SEL, index);
                if (read(base, QUEUE_NUM_MAX) as usize) < QUEUE_SIZE {
                    return Err(OpenError::QueueTooSmall);
                }
                write(base, QUEUE_NUM, QUEUE_SIZE as u32);
                write(base, QUEUE_ALIGN, USED_ALIGN);
                write(base, QUEUE_PFN, (ring.queue as usize >> PAGE_SHIFT) as u32);
            }
        }
        let mut mac = [0u8; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            // SAFETY: the configuration space's MAC bytes; byte-wide volatile reads.
            *byte = unsafe { ((base + CONFIG + i) as *const u8).read_volatile() };
        }
        let mut device = VirtioNet {
            base,
            mac: EthernetAddress(mac),
            rx,
            tx,
            rx_buffers,
            rx_slot_to_requeue: None,
            tx_buffer: [0; HEADER_LEN + MAX_FRAME_LEN],
            counters: DeviceCounters::default(),
        };
        for slot in 0..QUEUE_SIZE as u16 {
            device.queue_rx_buffer(slot);
        }
        // SAFETY: as above.
        unsafe {
            write(
                base,
                STATUS,
                STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
            );
        }
        device.notify(RX_QUEUE);
        Ok(device)
    }

    /// The NIC's MAC address (from the device's configuration space).
    pub fn mac_address(&self) -> EthernetAddress {
        self.mac
    }

    /// Frame counts since the device was opened.
    pub fn counters(&self) -> DeviceCounters {
        self.counters
    }

    /// Acknowledges the device's interrupt (call before polling, after a wake-up by the
    /// interrupt controller) so the line drops until new frames arrive.
    pub fn ack_interrupt(&mut self) {
        // SAFETY: the device's registers (see `open`).
        unsafe {
            let status = read(self.base, INTERRUPT_STATUS);
            write(self.base, INTERRUPT_ACK, status);
        }
    }

    fn notify(&self, queue: u32) {
        // SAFETY: the device's registers (see `open`).
        unsafe { write(self.base, QUEUE_NOTIFY, queue) };
    }

    fn queue_rx_buffer(&mut self, slot: u16) {
        let buffer = &mut self.rx_buffers[usize::from(slot) % QUEUE_SIZE];
        let addr = buffer.as_mut_ptr() as u64;
        self.rx
            .set_descriptor(usize::from(slot), addr, RX_BUFFER_LEN as u32, DESC_F_WRITE);
        self.rx.offer(slot);
    }

    fn requeue_lent_buffer(&mut self) {
        if let Some(slot) = self.rx_slot_to_requeue.take() {
            self.queue_rx_buffer(slot);
            self.notify(RX_QUEUE);
        }
    }
}

impl Device for VirtioNet {
    type RxToken<'a>
        = VirtioRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.requeue_lent_buffer();
        let used = self.rx.take_used()?;
        let slot = (used.id as usize % QUEUE_SIZE) as u16;
        self.rx_slot_to_requeue = Some(slot);
        let buffer = &self.rx_buffers[usize::from(slot)];
        let Some(frame) = buffer.get(HEADER_LEN..used.len as usize) else {
            self.counters.errors += 1;
            return None;
        };
        self.counters.received += 1;
        Some((
            VirtioRxToken { frame },
            VirtioTxToken {
                base: self.base,
                tx: &mut self.tx,
                buffer: &mut self.tx_buffer,
                counters: &mut self.counters,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        self.requeue_lent_buffer();
        Some(VirtioTxToken {
            base: self.base,
            tx: &mut self.tx,
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
pub struct VirtioTxToken<'a> {
    base: usize,
    tx: &'a mut Ring,
    buffer: &'a mut [u8; HEADER_LEN + MAX_FRAME_LEN],
    counters: &'a mut DeviceCounters,
}

impl smoltcp::phy::TxToken for VirtioTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than `max_transmission_unit`; should it, the frame is
        // dropped and counted instead of cut short.
        let len = if len > MAX_FRAME_LEN {
            self.counters.errors += 1;
            return f(&mut self.buffer[HEADER_LEN..]);
        } else {
            len
        };
        let (header, rest) = self.buffer.split_at_mut(HEADER_LEN);
        header.fill(0);
        let result = f(&mut rest[..len]);
        let addr = self.buffer.as_ptr() as u64;
        self.tx
            .set_descriptor(0, addr, (HEADER_LEN + len) as u32, 0);
        self.tx.offer(0);
        // SAFETY: the device's registers (see `VirtioNet::open`).
        unsafe { write(self.base, QUEUE_NOTIFY, TX_QUEUE) };
        // The device takes the frame from the buffer before it marks it used: wait, so the
        // buffer can be written again.
        let mut spins = 0;
        while self.tx.take_used().is_none() {
            spins += 1;
            if spins == TX_SPIN_LIMIT {
                self.counters.errors += 1;
                return result;
            }
            core::hint::spin_loop();
        }
        self.counters.sent += 1;
        result
    }
}
