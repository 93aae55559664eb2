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

use smoltcp::time::{Duration, Instant};
use static_cell::{ConstStaticCell, StaticCell};

use board::{clock, console, plic::Plic, power, rtc, sleep, stack};
use omdisc_core::map::setpe::{self, SetpeLine};
use omdisc_core::map::MapNode;
use omdisc_core::{Event, NodeEntry, NodeId};
use omdisc_riscv_virt::device_tree::{MachineInfo, VirtioSlot};
use omdisc_riscv_virt::virtio_net::{
    self, Queues, RxBuffers, VirtioNet, Virtqueue, QUEUE_SIZE, RX_BUFFER_LEN,
};
use omdisc_smoltcp::boot::stack::stack_with_margin;
use omdisc_smoltcp::boot::{
    cluster_keys, BootArgsError, BootConfig, BootNode, ImageNode, MapOutput, DEFAULT_BOOTARGS,
    MAP_END, MAP_START,
};
use omdisc_smoltcp::{NodeStorage, Settings};

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

/// The NIC's two virtqueues (memory the device reads and writes).
static QUEUES: ConstStaticCell<Queues> = ConstStaticCell::new([Virtqueue::EMPTY; 2]);

#[no_mangle]
extern "C" fn kernel_main(hart_id: usize, device_tree: usize) -> ! {
    board::entry::install_trap_vector();
    console::start_line(INFO);
    console::write_str("omdisc riscv-virt: hart ");
    console::write_decimal(hart_id as u64);
    console::write_str(", device tree at ");
    console::write_hex(device_tree as u64);
    console::end_line();

    // SAFETY: QEMU's reset vector passes a valid device tree in a1; nothing writes it.
    let machine = unsafe { MachineInfo::from_address(device_tree as *const u8) }
        .unwrap_or_else(|e| fail(e.as_str()));
    clock::set_frequency(machine.timebase_hz);
    let config = BootConfig::parse(DEFAULT_BOOTARGS, machine.bootargs)
        .unwrap_or_else(|e| bad_boot_argument(&e));
    let keys =
        cluster_keys(DEFAULT_BOOTARGS, machine.bootargs).unwrap_or_else(|e| bad_boot_argument(&e));
    print_config(&config, keys.is_some(), machine.bootargs);
    let incarnation = match machine.rtc {
        Some(base) => rtc::unix_nanos(base) / 1_000_000,
        None => {
            console::line(WARN, "no real-time clock: incarnation from the boot clock, restarts may be taken for replays");
            clock::micros() / 1000
        }
    };

    let slot = find_virtio_net(&machine).unwrap_or_else(|| fail("no virtio-net device"));
    let irq = slot.irq;
    // SAFETY: the device tree names this window as a virtio-mmio slot; nothing else drives
    // it, and the image addresses memory physically.
    let mut device = unsafe { VirtioNet::open(slot.base, QUEUES.take(), RX_BUFFERS.take()) }
        .unwrap_or_else(|e| fail(e.as_str()));
    let mac = device.mac_address();
    console::start_line(INFO);
    console::write_str("virtio-net: MAC ");
    console::write_mac(mac.0);
    console::write_str(", interrupt ");
    console::write_decimal(u64::from(irq.unwrap_or(0)));
    console::end_line();

    let plic = machine.plic.and_then(Plic::new);
    match (&plic, irq) {
        (Some(plic), Some(irq)) => plic.enable(irq),
        _ => console::line(
            WARN,
            "no NIC interrupt: frames wait for the next timer wake-up",
        ),
    }
    sleep::enable_wakeups(machine.clint);

    let mut mac_bytes = [0u8; 8];
    mac_bytes[..6].copy_from_slice(&mac.0);
    let seed = clock::ticks() ^ incarnation.rotate_left(17) ^ u64::from_le_bytes(mac_bytes);
    let settings = config
        .settings(mac, keys, incarnation, seed)
        .unwrap_or_else(|_| fail("the address gives no node id (its last two octets are 0)"));
    let mut node = start_node(settings, &mut device);
    console::start_line(INFO);
    console::write_str("node ");
    console::write_decimal(u64::from(node.node().node_id().get()));
    console::write_str(" up, incarnation ");
    console::write_decimal(incarnation);
    console::write_str(", table of ");
    console::write_decimal(NODE_CAPACITY as u64);
    console::write_str(" nodes");
    console::end_line();
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

/// Sets the node up in its static. Never inlined: the engine is made on the stack and
/// moved into `NODE` (about 12 KiB at its largest), and that frame must be gone before the
/// main loop runs; inlined into `kernel_main`, it made the loop's frame larger than the
/// whole stack, which then overwrote the virtqueues and the node table below it.
#[inline(never)]
fn start_node(settings: Settings, device: &mut VirtioNet) -> ClusterNode {
    ClusterNode::setup(
        NODE.uninit(),
        settings,
        device,
        clock::now(),
        SOCKET_STORAGE.take(),
        TABLE.take(),
    )
    .unwrap_or_else(|e| fail(e.summary()))
}

/// Log levels as the console shows them.
const INFO: &str = "INFO";
const WARN: &str = "WARN";
const ERROR: &str = "ERROR";

/// The configuration line (tests look for ` authenticated (bootargs`).
fn print_config(config: &BootConfig, authenticated: bool, bootargs: &str) {
    console::start_line(INFO);
    console::write_str("config: ip=");
    console::write_ipv4(config.address.address());
    console::write_str("/");
    console::write_decimal(u64::from(config.address.prefix_len()));
    console::write_str(" group=");
    console::write_ipv4(config.group);
    console::write_str(" port=");
    console::write_decimal(u64::from(config.port));
    console::write_str(" interval=");
    console::write_decimal(u64::from(config.interval_ms));
    console::write_str("ms dead_after=");
    console::write_decimal(u64::from(config.dead_after));
    console::write_str(if authenticated {
        " authenticated (bootargs \""
    } else {
        " unauthenticated (bootargs \""
    });
    console::write_str(bootargs);
    console::write_str("\")");
    console::end_line();
}

/// The map on the console, one `setpe` line per range or alias between the marker lines
/// tests look for (written here: the core's renderer would link `core::fmt`), then the
/// stack's high-water mark so far; and the events and the first announcement before it.
struct ConsoleMap;

impl MapOutput for ConsoleMap {
    fn write(&mut self, own_id: NodeId, members: impl Iterator<Item = MapNode> + Clone) {
        console::write_str(MAP_START);
        console::write_str(" ");
        console::write_decimal(members.clone().count() as u64);
        console::write_str(" members ===\n# this node is ");
        console::write_decimal(u64::from(own_id.get()));
        console::write_str("\n");
        for line in setpe::ranges(members.clone()).chain(setpe::aliases(members)) {
            let (id, ip, count) = match line {
                SetpeLine::Range { first, ip, count } => (first, ip, Some(count)),
                SetpeLine::Alias { id, ip } => (id, ip, None),
            };
            console::write_decimal(u64::from(id.get()));
            console::write_str(" ");
            console::write_ipv4(ip);
            console::write_str(" ");
            match count {
                Some(count) => console::write_decimal(u64::from(count)),
                None => console::write_str("ALIAS"),
            }
            console::write_str("\n");
        }
        console::write_str(MAP_END);
        console::write_str("\n");
        let used = stack::high_water();
        console::start_line(INFO);
        console::write_str("stack high-water mark ");
        console::write_decimal(used as u64);
        console::write_str(" B of ");
        console::write_decimal(stack::size() as u64);
        console::write_str(" B (with margin ");
        console::write_decimal(stack_with_margin(used) as u64);
        console::write_str(" B)");
        console::end_line();
    }

    fn event(&mut self, event: &Event, capacity: usize) {
        let (level, id, what) = match event {
            Event::Joined(id) => (INFO, id, " joined"),
            Event::Changed(id) => (INFO, id, " changed"),
            Event::Left(id) => (INFO, id, " left"),
            Event::Expired(id) => (INFO, id, " expired"),
            Event::Suspected(id) => (INFO, id, " suspected"),
            Event::Conflict { id, .. } => (WARN, id, " claimed by two hosts"),
            Event::ConflictEnded { id, .. } => (INFO, id, ": conflict over"),
            Event::TableFull(id) => (WARN, id, " left out: the node table is full"),
            Event::LocalChanged => return console::line(INFO, "this node's own entry changed"),
            Event::Overflow => {
                return console::line(WARN, "membership events were dropped; map re-read")
            }
            _ => return console::line(INFO, "membership event of another kind"),
        };
        let _ = capacity;
        console::start_line(level);
        console::write_str("node ");
        console::write_decimal(u64::from(id.get()));
        console::write_str(what);
        console::end_line();
    }

    fn first_announcement(&mut self, millis: i64) {
        console::start_line(INFO);
        console::write_str("first announcement sent ");
        console::write_decimal(millis.max(0) as u64);
        console::write_str(" ms after machine reset");
        console::end_line();
    }
}

fn deadline_ticks(at: Instant) -> u64 {
    clock::micros_to_ticks(u64::try_from(at.total_micros()).unwrap_or(0))
}

/// The first virtio-mmio slot holding a network device. QEMU fills the
/// slots from the top, so all of them are looked at.
fn find_virtio_net(machine: &MachineInfo<'_>) -> Option<VirtioSlot> {
    machine.virtio_slots().find(|slot| {
        // SAFETY: the device tree names this window as a virtio-mmio slot; reading its
        // identification registers has no side effects.
        unsafe { virtio_net::is_legacy_net(slot.base) }
    })
}

/// Reports a bad boot argument on one line and powers off with a failure status.
fn bad_boot_argument(error: &BootArgsError<'_>) -> ! {
    console::start_line(ERROR);
    console::write_str("bad boot argument: ");
    error.write_pieces(console::write_str);
    console::end_line();
    power::shutdown_failed()
}

/// Reports a fatal error on one line and powers off with a failure status.
fn fail(message: &str) -> ! {
    console::line(ERROR, message);
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
