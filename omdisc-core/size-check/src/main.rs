//! The smallest image that pulls the omdisc-core engine in, for `cargo xtask test`'s size
//! report: a reset handler that initialises RAM and runs the engine's drive loop (256-node
//! table) against stand-ins for a NIC and a timer, and a panic handler that spins.
#![no_std]
#![no_main]

use core::ptr::{addr_of, addr_of_mut};

use core::net::{IpAddr, Ipv4Addr};

use omdisc_core::{
    Config, Engine, IfaceId, Instant, InterfaceSpec, NodeEntry, NodeId, MAX_DATAGRAM_LEN,
};

mod rt;

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
    let Ok(id) = NodeId::from_ip(ip) else {
        rt::halt()
    };
    let interfaces = [InterfaceSpec::with_address(ip)];
    // SAFETY: single-threaded, and the only reference to TABLE ever made.
    let table: &'static mut [NodeEntry] = unsafe { &mut *addr_of_mut!(TABLE) };
    let Ok(mut engine) = Engine::new(
        Config::new(id, now().total_millis()),
        &interfaces,
        table,
        0x5eed,
    ) else {
        rt::halt()
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
                    core::net::SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 10, 1)), 7477),
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
