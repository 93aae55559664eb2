//! The omdisc boot image for QEMU's RISC-V `virt` machine: reads its
//! configuration from the device tree, opens the virtio-net NIC, and runs the
//! node over smoltcp, sleeping in `wfi` between deadlines.
//!
//! Boot: `qemu-system-riscv64 -machine virt -bios none -nographic
//! -kernel IMAGE -append "ip=A.B.C.D/P" -netdev tap,... -device
//! virtio-net-device,netdev=...` (see `scripts/` and `cargo xtask qemu`).
#![no_std]
#![no_main]

mod board;

use core::fmt;
use core::ptr::NonNull;

use smoltcp::time::{Duration, Instant};
use static_cell::{ConstStaticCell, StaticCell};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use board::{clock, console, dma::StaticDmaHal, plic::Plic, power, rtc, sleep, stack};
use omdisc_core::map::MapNode;
use omdisc_core::{NodeEntry, NodeId};
use omdisc_riscv_virt::device_tree::MachineInfo;
use omdisc_riscv_virt::virtio_net::{RxBuffers, VirtioNetDevice, QUEUE_SIZE, RX_BUFFER_LEN};
use omdisc_smoltcp::boot::stack::stack_with_margin;
use omdisc_smoltcp::boot::{
    cluster_keys, BootConfig, BootNode, ImageNode, MapOutput, TextMap, DEFAULT_BOOTARGS,
};
use omdisc_smoltcp::NodeStorage;

/// Longest sleep between two polls, whatever the deadlines say.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Node-table capacity: members, shadowed contenders and tombstones.
const NODE_CAPACITY: usize = 64;

/// The node this image runs.
type ClusterNode = BootNode<'static, NODE_CAPACITY>;

static RX_BUFFERS: ConstStaticCell<RxBuffers> =
    ConstStaticCell::new([[0; RX_BUFFER_LEN]; QUEUE_SIZE]);
static SOCKET_STORAGE: ConstStaticCell<NodeStorage<'static>> =
    ConstStaticCell::new(NodeStorage::new());
static TABLE: ConstStaticCell<[NodeEntry; NODE_CAPACITY]> =
    ConstStaticCell::new([NodeEntry::VACANT; NODE_CAPACITY]);
static NODE: StaticCell<ImageNode<'static, NODE_CAPACITY>> = StaticCell::new();

type NetDevice = VirtioNetDevice<StaticDmaHal, MmioTransport<'static>>;

#[no_mangle]
extern "C" fn kernel_main(hart_id: usize, device_tree: usize) -> ! {
    board::entry::install_trap_vector();
    console::init_logger(log::LevelFilter::Info);
    log::info!("omdisc riscv-virt: hart {hart_id}, device tree at {device_tree:#x}");

    // SAFETY: QEMU's reset vector passes a valid device tree in a1; nothing writes it.
    let machine = unsafe { MachineInfo::from_address(device_tree as *const u8) }
        .unwrap_or_else(|e| fail(format_args!("{}", e.as_str())));
    clock::set_frequency(machine.timebase_hz);
    let config = BootConfig::parse(DEFAULT_BOOTARGS, machine.bootargs)
        .unwrap_or_else(|e| fail(format_args!("bad boot argument: {e}")));
    let keys = cluster_keys(DEFAULT_BOOTARGS, machine.bootargs)
        .unwrap_or_else(|e| fail(format_args!("bad boot argument: {e}")));
    log::info!(
        "config: ip={} group={} port={} interval={}ms dead_after={} {} (bootargs \"{}\")",
        config.address,
        config.group,
        config.port,
        config.interval_ms,
        config.dead_after,
        if keys.is_some() {
            "authenticated"
        } else {
            "unauthenticated"
        },
        machine.bootargs
    );
    let incarnation = match machine.rtc {
        Some(base) => rtc::unix_nanos(base) / 1_000_000,
        None => {
            log::warn!("no real-time clock: incarnation from the boot clock, restarts may be taken for replays");
            clock::micros() / 1000
        }
    };

    let (transport, irq) =
        find_virtio_net(&machine).unwrap_or_else(|| fail(format_args!("no virtio-net device")));
    let mut device =
        NetDevice::open(transport, RX_BUFFERS.take()).unwrap_or_else(|e| fail(format_args!("{e}")));
    let mac = device.mac_address();
    log::info!("virtio-net: MAC {mac}, interrupt {}", irq.unwrap_or(0));

    let plic = machine.plic.and_then(Plic::new);
    match (&plic, irq) {
        (Some(plic), Some(irq)) => plic.enable(irq),
        _ => log::warn!("no NIC interrupt: frames wait for the next timer wake-up"),
    }
    sleep::enable_wakeups(machine.clint);

    let mut mac_bytes = [0u8; 8];
    mac_bytes[..6].copy_from_slice(&mac.0);
    let seed = clock::ticks() ^ incarnation.rotate_left(17) ^ u64::from_le_bytes(mac_bytes);
    let settings = config
        .settings(mac, keys, incarnation, seed)
        .unwrap_or_else(|e| fail(format_args!("no node id for {}: {e}", config.address)));
    let mut node = ClusterNode::setup(
        NODE.uninit(),
        settings,
        &mut device,
        clock::now(),
        SOCKET_STORAGE.take(),
        TABLE.take(),
    )
    .unwrap_or_else(|e| fail(format_args!("{e}")));
    let mut console_map = ConsoleMap;
    node.write_map(&mut console_map);

    loop {
        if let Some(plic) = &plic {
            while let Some(source) = plic.claim() {
                device.ack_interrupt();
                plic.complete(source);
            }
        }
        let now = clock::now();
        let delay = node.step(clock::now, &mut device, MAX_SLEEP, &mut console_map);
        sleep::wait_until(deadline_ticks(now + delay));
    }
}

/// The map on the console as text (tests look for its marker lines), then the stack's
/// high-water mark so far.
struct ConsoleMap;

impl MapOutput for ConsoleMap {
    fn write(&mut self, own_id: NodeId, members: impl Iterator<Item = MapNode> + Clone) {
        TextMap(|line: &str| {
            console::write_str(line);
            console::write_str("\n");
        })
        .write(own_id, members);
        let used = stack::high_water();
        log::info!(
            "stack high-water mark {used} B of {} B (with margin {} B)",
            stack::size(),
            stack_with_margin(used)
        );
    }
}

fn deadline_ticks(at: Instant) -> u64 {
    clock::micros_to_ticks(u64::try_from(at.total_micros()).unwrap_or(0))
}

/// The first virtio-mmio slot holding a network device. QEMU fills the
/// slots from the top, so all of them are looked at.
fn find_virtio_net(machine: &MachineInfo<'_>) -> Option<(MmioTransport<'static>, Option<u32>)> {
    machine.virtio_slots().find_map(|slot| {
        let header = NonNull::new(slot.base as *mut VirtIOHeader)?;
        // SAFETY: the device tree names this window as a virtio-mmio slot;
        // nothing else maps it, and it stays valid until power-off.
        let transport = unsafe { MmioTransport::new(header, slot.size) }.ok()?;
        (transport.device_type() == DeviceType::Network).then_some((transport, slot.irq))
    })
}

/// Reports a fatal error on one line and powers off with a failure status.
fn fail(message: fmt::Arguments<'_>) -> ! {
    log::error!("{message}");
    power::shutdown_failed()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Only where: formatting the message would link `core::fmt`'s formatting of every
    // panic payload into the image.
    console::write_str("\npanic at ");
    if let Some(at) = info.location() {
        console::write_str(at.file());
        console::write_str(":");
        console::write_decimal(u64::from(at.line()));
    }
    console::write_str("\n");
    power::shutdown_failed()
}
