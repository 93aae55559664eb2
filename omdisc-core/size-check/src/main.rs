//! The smallest image that pulls the omdisc-core engine in, for `cargo xtask test`'s size
//! report: a reset handler that initialises RAM and runs the engine's drive loop (256-node
//! table) against stand-ins for a NIC and a timer, and a panic handler that spins.
#![no_std]
#![no_main]

use core::net::{IpAddr, Ipv4Addr};
use core::panic::PanicInfo;
use core::ptr::{addr_of, addr_of_mut};

use omdisc_core::{
    Config, Engine, IfaceId, Instant, InterfaceSpec, NodeEntry, NodeId, MAX_DATAGRAM_LEN,
};

/// Second word of the vector table: where the core starts after reset.
#[link_section = ".vector_table.reset"]
#[no_mangle]
pub static RESET_VECTOR: unsafe extern "C" fn() -> ! = reset;

extern "C" {
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
    static mut _sbss: u32;
    static mut _ebss: u32;
}

/// Copies `.data` from flash, zeroes `.bss`, then runs [`main`].
///
/// # Safety
///
/// Only the hardware calls this, once, from reset.
#[no_mangle]
pub unsafe extern "C" fn reset() -> ! {
    let mut dst = addr_of_mut!(_sdata);
    let mut src = addr_of!(_sidata);
    while dst < addr_of_mut!(_edata) {
        dst.write_volatile(src.read());
        dst = dst.add(1);
        src = src.add(1);
    }
    let mut bss = addr_of_mut!(_sbss);
    while bss < addr_of_mut!(_ebss) {
        bss.write_volatile(0);
        bss = bss.add(1);
    }
    main()
}

/// Node-table capacity of a microcontroller build.
const CAPACITY: usize = 256;

/// The node table, in `.bss`.
static mut TABLE: [NodeEntry; CAPACITY] = [NodeEntry::VACANT; CAPACITY];

/// Stand-ins for a NIC's receive/transmit buffers and a millisecond timer: the image
/// reads and writes them with volatile accesses, so nothing is optimised away.
static mut RX_BUF: [u8; MAX_DATAGRAM_LEN] = [0; MAX_DATAGRAM_LEN];
static mut RX_LEN: usize = 0;
static mut TX_BUF: [u8; MAX_DATAGRAM_LEN] = [0; MAX_DATAGRAM_LEN];
static mut TX_LEN: usize = 0;
static mut TICKS_MS: u64 = 0;
static mut MEMBERS: usize = 0;

/// The node's address (a real firmware reads it from its configuration).
const OWN_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 220);

/// The engine's drive loop: feed received datagrams and timeouts, drain transmits and
/// events, ask for the next deadline.
fn main() -> ! {
    let ip = IpAddr::V4(OWN_IP);
    let Ok(id) = NodeId::from_ip(ip) else { halt() };
    let interfaces = [InterfaceSpec::with_address(ip)];
    // SAFETY: single-threaded, and the only reference to TABLE ever made.
    let table: &'static mut [NodeEntry] = unsafe { &mut *addr_of_mut!(TABLE) };
    let Ok(mut engine) = Engine::new(
        Config::new(id, now().total_millis()),
        &interfaces,
        table,
        0x5eed,
    ) else {
        halt()
    };
    engine.start(now());
    loop {
        // SAFETY: plain volatile accesses to this image's own statics (no other thread).
        unsafe {
            let len = addr_of!(RX_LEN).read_volatile();
            if len > 0 && len <= MAX_DATAGRAM_LEN {
                let rx = &*addr_of!(RX_BUF);
                let _ = engine.handle_datagram(
                    now(),
                    IfaceId::FIRST,
                    IpAddr::V4(Ipv4Addr::new(192, 168, 10, 1)),
                    &rx[..len],
                );
                addr_of_mut!(RX_LEN).write_volatile(0);
            }
            engine.handle_timeout(now());
            let tx = &mut *addr_of_mut!(TX_BUF);
            while let Some(transmit) = engine.poll_transmit(now(), tx) {
                addr_of_mut!(TX_LEN).write_volatile(transmit.len);
            }
            while engine.poll_event().is_some() {
                addr_of_mut!(MEMBERS).write_volatile(engine.members().count());
            }
            let deadline = engine.poll_timeout().map_or(u64::MAX, |t| t.total_millis());
            while now().total_millis() < deadline && addr_of!(RX_LEN).read_volatile() == 0 {
                core::hint::spin_loop();
            }
        }
    }
}

/// The millisecond clock.
fn now() -> Instant {
    // SAFETY: a volatile read of this image's own static.
    Instant::from_millis(unsafe { addr_of!(TICKS_MS).read_volatile() })
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    halt()
}
