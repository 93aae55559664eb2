//! The smallest image that runs an omdisc-smoltcp node, for `cargo xtask test`'s size
//! report: a reset handler that initialises RAM and runs the node's drive loop (256-node
//! table, default socket queues, no logging) over a stand-in Ethernet NIC whose frame
//! buffers and timer are statics read and written with volatile accesses, so nothing is
//! optimised away. The same table size and memory layout as `omdisc-core/size-check`, so
//! the difference between the two is the cost of smoltcp and the frontend.
#![no_std]
#![no_main]

use core::ptr::{addr_of, addr_of_mut};

use omdisc_core::NodeEntry;
use omdisc_smoltcp::{Node, NodeStorage, Settings};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};

#[path = "../../../omdisc-core/size-check/src/rt.rs"]
mod rt;

/// Node-table capacity of a microcontroller build (as in omdisc-core/size-check).
const CAPACITY: usize = 256;
/// Largest Ethernet frame the stand-in NIC holds.
const FRAME_LEN: usize = 1514;

/// The node table and the socket storage, in `.bss`.
static mut TABLE: [NodeEntry; CAPACITY] = [NodeEntry::VACANT; CAPACITY];
static mut STORAGE: NodeStorage<'static> = NodeStorage::new();

/// The stand-in NIC's one receive and one transmit frame, and a microsecond timer.
static mut RX_FRAME: [u8; FRAME_LEN] = [0; FRAME_LEN];
static mut RX_LEN: usize = 0;
static mut TX_FRAME: [u8; FRAME_LEN] = [0; FRAME_LEN];
static mut TX_LEN: usize = 0;
static mut TICKS_US: i64 = 0;
static mut MEMBERS: usize = 0;

/// A NIC with one frame buffer each way, as a smoltcp device.
struct StandInNic;

struct RxToken;
struct TxToken;

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        // SAFETY: single-threaded; the only accesses to these statics are volatile ones and
        // this shared borrow, which ends before anything writes them.
        unsafe {
            let len = addr_of!(RX_LEN).read_volatile().min(FRAME_LEN);
            let frame = &*addr_of!(RX_FRAME);
            let result = f(&frame[..len]);
            addr_of_mut!(RX_LEN).write_volatile(0);
            result
        }
    }
}

impl phy::TxToken for TxToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // SAFETY: as above; this is the only borrow of TX_FRAME while it lives.
        unsafe {
            let len = len.min(FRAME_LEN);
            let frame = &mut *addr_of_mut!(TX_FRAME);
            let result = f(&mut frame[..len]);
            addr_of_mut!(TX_LEN).write_volatile(len);
            result
        }
    }
}

impl Device for StandInNic {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken)> {
        // SAFETY: a volatile read of this image's own static.
        let waiting = unsafe { addr_of!(RX_LEN).read_volatile() } > 0;
        waiting.then_some((RxToken, TxToken))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken> {
        Some(TxToken)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_LEN;
        caps
    }
}

/// The node's drive loop: poll, drain events, wait until the deadline or a frame.
fn main() -> ! {
    let mac = EthernetAddress([0x02, 0x6f, 0x6d, 0x0a, 0xdc, 0x01]);
    let ip = IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(192, 168, 10, 220), 24));
    let Ok(settings) = Settings::new(mac, ip, now().total_millis() as u64, 0x5eed) else {
        rt::halt()
    };
    let mut nic = StandInNic;
    // SAFETY: single-threaded, and the only references to TABLE and STORAGE ever made.
    let (table, storage) = unsafe { (&mut *addr_of_mut!(TABLE), &mut *addr_of_mut!(STORAGE)) };
    let Ok(mut node) = Node::new(settings, &mut nic, now(), storage, table) else {
        rt::halt()
    };
    loop {
        let delay = node.poll(now(), &mut nic);
        while node.poll_event().is_some() {
            // SAFETY: a volatile write of this image's own static.
            unsafe { addr_of_mut!(MEMBERS).write_volatile(node.engine().members().count()) };
        }
        let deadline = delay.map_or(i64::MAX, |d| now().total_micros() + d.total_micros() as i64);
        // SAFETY: volatile reads of this image's own statics.
        while now().total_micros() < deadline && unsafe { addr_of!(RX_LEN).read_volatile() } == 0 {
            core::hint::spin_loop();
        }
    }
}

/// The microsecond clock.
fn now() -> Instant {
    // SAFETY: a volatile read of this image's own static.
    Instant::from_micros(unsafe { addr_of!(TICKS_US).read_volatile() })
}
