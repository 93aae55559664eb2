//! The omdisc boot image for QEMU's RISC-V `virt` machine: reads its
//! configuration from the device tree, opens the virtio-net NIC, and runs the
//! node over smoltcp, sleeping in `wfi` between deadlines.
//!
//! Boot: `qemu-system-riscv64 -machine virt -bios default -nographic
//! -kernel IMAGE -append "ip=A.B.C.D/P" -netdev tap,... -device
//! virtio-net-device,netdev=...` (see `scripts/` and `cargo xtask qemu`).
#![no_std]
#![no_main]

mod board;

use core::fmt;
use core::ptr::NonNull;

use smoltcp::time::{Duration, Instant};
use static_cell::ConstStaticCell;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use board::{clock, console, dma::StaticDmaHal, plic::Plic, sbi, sleep};
use omdisc_riscv_virt::boot_config::{BootConfig, DEFAULT_BOOTARGS};
use omdisc_riscv_virt::device_tree::MachineInfo;
use omdisc_riscv_virt::echo_node::{EchoNode, EchoPayloads, EchoStorage, UDP_BUFFER_LEN};
use omdisc_riscv_virt::virtio_net::{RxBuffers, VirtioNetDevice, QUEUE_SIZE, RX_BUFFER_LEN};

/// Longest sleep between two polls, whatever the deadlines say.
const MAX_SLEEP: Duration = Duration::from_secs(1);

static RX_BUFFERS: ConstStaticCell<RxBuffers> =
    ConstStaticCell::new([[0; RX_BUFFER_LEN]; QUEUE_SIZE]);
static ECHO_STORAGE: ConstStaticCell<EchoStorage> = ConstStaticCell::new(EchoStorage::new());
static ECHO_PAYLOADS: ConstStaticCell<EchoPayloads> =
    ConstStaticCell::new([[0; UDP_BUFFER_LEN]; 2]);

type NetDevice = VirtioNetDevice<StaticDmaHal, MmioTransport<'static>>;

#[no_mangle]
extern "C" fn kernel_main(hart_id: usize, device_tree: usize) -> ! {
    board::entry::install_trap_vector();
    console::init_logger(log::LevelFilter::Info);
    log::info!("omdisc riscv-virt: hart {hart_id}, device tree at {device_tree:#x}");

    // SAFETY: OpenSBI passes a valid device tree in a1 and leaves it alone.
    let machine = unsafe { MachineInfo::from_address(device_tree as *const u8) }
        .unwrap_or_else(|e| fail(format_args!("{e}")));
    clock::set_frequency(machine.timebase_hz);
    let config = BootConfig::parse(DEFAULT_BOOTARGS, machine.bootargs)
        .unwrap_or_else(|e| fail(format_args!("bad boot argument: {e}")));
    log::info!(
        "config: ip={} group={} port={} interval={}ms (bootargs \"{}\")",
        config.address,
        config.group,
        config.port,
        config.interval_ms,
        machine.bootargs
    );

    let (transport, irq) =
        find_virtio_net(&machine).unwrap_or_else(|| fail(format_args!("no virtio-net device")));
    let mut device =
        NetDevice::open(transport, RX_BUFFERS.take()).unwrap_or_else(|e| fail(format_args!("{e}")));
    let mac = device.mac_address();
    log::info!("virtio-net: MAC {mac}, interrupt {irq:?}");

    let plic = machine.plic.map(Plic::new);
    match (&plic, irq) {
        (Some(plic), Some(irq)) => plic.enable(irq),
        _ => log::warn!("no NIC interrupt: frames wait for the next timer wake-up"),
    }
    sleep::enable_wakeups();

    let seed = clock::ticks()
        ^ u64::from_le_bytes([
            mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0, 0,
        ]);
    let mut node = EchoNode::new(
        &mut device,
        mac,
        config,
        seed,
        clock::now(),
        ECHO_STORAGE.take(),
        ECHO_PAYLOADS.take(),
    )
    .unwrap_or_else(|e| fail(format_args!("{e}")));

    let mut reported_first_hello = false;
    loop {
        if let Some(plic) = &plic {
            while let Some(source) = plic.claim() {
                device.ack_interrupt();
                plic.complete(source);
            }
        }
        let now = clock::now();
        let next = node.poll(now, &mut device);
        if !reported_first_hello {
            if let Some(at) = node.first_hello_at() {
                reported_first_hello = true;
                log::info!(
                    "first hello sent {} ms after machine reset",
                    at.total_millis()
                );
            }
        }
        sleep::wait_until(deadline_ticks(next.min(now + MAX_SLEEP)));
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
    sbi::shutdown_failed()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print!("\npanic: {info}\n");
    sbi::shutdown_failed()
}
