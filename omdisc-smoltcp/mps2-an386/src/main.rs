//! The omdisc boot image for QEMU's MPS2 AN386 board (Cortex-M4F): reads its boot
//! arguments through semihosting, brings up the LAN9118, and runs the node over smoltcp,
//! sleeping in `wfi` between deadlines. Logs with defmt over semihosting.
//!
//! Boot: `qemu-system-arm -machine mps2-an386 -kernel IMAGE -append "ip=A.B.C.D/P"
//! -semihosting-config enable=on,target=native -serial null -monitor none -display none
//! -nic tap,...  | defmt-print -e IMAGE` (see `cargo xtask qemu --board mps2-an386`).
#![no_std]
#![no_main]

mod board;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use defmt_semihosting as _;
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, Ipv4Address};

use board::{clock, semihost, stack, wakeup};
use omdisc_core::map::setpe::{self, SetpeLine};
use omdisc_core::map::MapNode;
use omdisc_core::{Keyring, NodeEntry, NodeId};
use omdisc_mps2_an386::command_line::boot_arguments;
use omdisc_mps2_an386::lan9118::{InitError, Lan9118, Mmio};
use omdisc_smoltcp::boot::stack::stack_with_margin;
use omdisc_smoltcp::boot::{
    cluster_keys, BootConfig, BootNode, ImageNode, MapOutput, DEFAULT_BOOTARGS,
};
use omdisc_smoltcp::{group_mac, NodeStorage};
use static_cell::{ConstStaticCell, StaticCell};

/// The LAN9118's registers on the AN386.
const LAN9118_BASE: usize = 0x4020_0000;
/// Node-table capacity: members, shadowed contenders and tombstones.
const NODE_CAPACITY: usize = 64;
/// Longest sleep between two polls (SysTick wraps every 0.67 s anyway).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The node this image runs.
type ClusterNode = BootNode<'static, NODE_CAPACITY>;

static LINE_BUFFER: ConstStaticCell<[MaybeUninit<u8>; semihost::MAX_COMMAND_LINE]> =
    ConstStaticCell::new([MaybeUninit::uninit(); semihost::MAX_COMMAND_LINE]);
/// The node table, in `.bss` (a constant initialiser would put 10 KiB of it into `.data`,
/// that is into flash too); filled with vacant entries before use.
static TABLE: StaticCell<[NodeEntry; NODE_CAPACITY]> = StaticCell::new();
/// The UDP socket's queues: two datagrams each way (the node hands every received datagram to
/// the engine before it takes in the next frame, and sends one per round).
static STORAGE: StaticCell<NodeStorage<'static, 2, 2>> = StaticCell::new();
static DEVICE: StaticCell<Lan9118<Mmio>> = StaticCell::new();
static NODE: StaticCell<ImageNode<'static, NODE_CAPACITY>> = StaticCell::new();

defmt::timestamp!("{=u64:us}", clock::now().total_micros() as u64);

#[entry]
fn main() -> ! {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        fail("peripherals taken twice")
    };
    clock::start(peripherals.SYST);
    defmt::info!(
        "omdisc mps2-an386: Cortex-M4F, SysTick at {=u32} Hz",
        clock::CORE_HZ
    );
    let (config, keys) = boot_config();
    let device = start_nic(config.group);
    wakeup::enable(peripherals.NVIC);
    let mut node = start_node(config, keys, device);
    node.write_map(&mut LoggedMap);

    loop {
        device.ack_interrupt();
        wakeup::clear();
        let delay = node.step(clock::now, device, MAX_SLEEP, &mut LoggedMap);
        clock::sleep_for(delay);
    }
}

// The set-up steps are functions of their own, never inlined into `main`: their stack frames
// are gone before the drive loop starts, instead of all adding up in `main`'s.

/// The boot arguments from semihosting's command line, logged; a bad one ends the boot.
#[inline(never)]
fn boot_config() -> (BootConfig, Option<Keyring>) {
    let command_line = semihost::command_line(LINE_BUFFER.take()).unwrap_or_else(|e| match e {
        semihost::CommandLineError::Refused => {
            fail("cannot read the command line through semihosting (is it on, and the line under 512 bytes?)")
        }
        semihost::CommandLineError::NotText => fail("the command line is not UTF-8"),
    });
    let bootargs = boot_arguments(command_line);
    let config = BootConfig::parse(DEFAULT_BOOTARGS, bootargs).unwrap_or_else(|e| {
        defmt::error!("bad boot argument: {}", e);
        semihost::exit(false)
    });
    let keys = cluster_keys(DEFAULT_BOOTARGS, bootargs).unwrap_or_else(|e| {
        defmt::error!("bad boot argument: {}", e);
        semihost::exit(false)
    });
    defmt::info!(
        "config: ip={} group={} port={=u16} interval={=u32}ms dead_after={=u16} {=str} (bootargs \"{=str}\")",
        config.address,
        config.group,
        config.port,
        config.interval_ms,
        config.dead_after,
        if keys.is_some() { "authenticated" } else { "unauthenticated" },
        bootargs
    );
    (config, keys)
}

/// The LAN9118, reset and receiving the group's frames (and IGMP queries), in its static.
#[inline(never)]
fn start_nic(group: Ipv4Address) -> &'static mut Lan9118<Mmio> {
    // SAFETY: the AN386 maps a LAN9118 at this address; nothing else drives it.
    let registers = unsafe { Mmio::new(LAN9118_BASE) };
    let device = Lan9118::new_in(DEVICE.uninit(), registers).unwrap_or_else(|e| {
        match e {
            InitError::NotFound(v) => defmt::error!(
                "no LAN9118 at {=usize:#x} (BYTE_TEST {=u32:#x})",
                LAN9118_BASE,
                v
            ),
            InitError::Timeout => defmt::error!("the LAN9118 did not come out of reset"),
        }
        semihost::exit(false)
    });
    for group in [group, Ipv4Address::new(224, 0, 0, 1)] {
        if device.accept_multicast(group_mac(group)).is_err() {
            fail("the LAN9118's hash filter cannot be written");
        }
    }
    defmt::info!(
        "LAN9118 (ID {=u32:#x}): MAC {}, interrupt {=u16}",
        device.id_rev(),
        device.mac_address(),
        wakeup::ETHERNET_IRQ
    );
    device
}

/// The node, built in its static, announcing from the first step on.
#[inline(never)]
fn start_node(
    config: BootConfig,
    keys: Option<Keyring>,
    device: &mut Lan9118<Mmio>,
) -> ClusterNode {
    let mac = device.mac_address();
    let incarnation = incarnation(mac);
    let seed = clock::now().total_micros() as u64 ^ incarnation.rotate_left(17);
    let settings = config
        .settings(mac, keys, incarnation, seed)
        .unwrap_or_else(|_| fail("the address gives no node id (its last two octets are 0)"));
    ClusterNode::setup(
        NODE.uninit(),
        settings,
        device,
        clock::now(),
        STORAGE.init(NodeStorage::new()),
        vacant_table(),
    )
    .unwrap_or_else(|e| fail(e.summary()))
}

/// The map in the log: one defmt frame per `setpe` line between the marker lines that
/// `omdisc_smoltcp::boot::TextMap` writes too (the host formats it; no `core::fmt` in the
/// image), then the stack's high-water mark.
struct LoggedMap;

impl MapOutput for LoggedMap {
    fn write(&mut self, own_id: NodeId, members: impl Iterator<Item = MapNode> + Clone) {
        defmt::info!("=== map: {=usize} members ===", members.clone().count());
        defmt::info!("# this node is {}", own_id);
        for line in setpe::ranges(members.clone()).chain(setpe::aliases(members)) {
            match line {
                SetpeLine::Range { first, ip, count } => {
                    defmt::info!("{} {} {=u16}", first, ip, count)
                }
                SetpeLine::Alias { id, ip } => defmt::info!("{} {} ALIAS", id, ip),
            }
        }
        defmt::info!("=== end of map ===");
        let used = stack::high_water();
        defmt::info!(
            "stack high-water mark {=usize} B of {=usize} B (with margin {=usize} B)",
            used,
            stack::size(),
            stack_with_margin(used)
        );
    }
}

/// The node table, every entry vacant, written in place (not built on the stack).
fn vacant_table() -> &'static mut [NodeEntry; NODE_CAPACITY] {
    let table = TABLE.uninit();
    let first = table.as_mut_ptr().cast::<NodeEntry>();
    for i in 0..NODE_CAPACITY {
        // SAFETY: `i` is within the array, whose memory `uninit` lent us exclusively.
        unsafe { first.add(i).write(NodeEntry::VACANT) };
    }
    // SAFETY: every element was written just above.
    unsafe { table.assume_init_mut() }
}

/// The incarnation: the board has no real-time clock, so it is drawn from the MAC and the
/// boot time; a restart may be taken for a replay by keyed peers until the old entry
/// expires.
fn incarnation(mac: EthernetAddress) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..6].copy_from_slice(&mac.0);
    1 + (u64::from_le_bytes(bytes) ^ clock::now().total_micros() as u64) % 1_000_000
}

/// Logs `why` as an error and ends QEMU with a failure status.
fn fail(why: &str) -> ! {
    defmt::error!("{=str}", why);
    semihost::exit(false)
}

/// A fault (a bad address, an undefined instruction) ends QEMU with a failure status and a
/// log line instead of a silent loop. (A stack overflow faults while the exception is being
/// entered, on the stack region's lower end: the core locks up and the log just stops.)
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#x}", frame.pc());
    semihost::exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    semihost::exit(false)
}
