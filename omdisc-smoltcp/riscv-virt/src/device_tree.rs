//! What the image needs from the device tree the firmware hands over in `a1`:
//! the kernel command line (`/chosen/bootargs`), the `time` CSR's frequency
//! (`/cpus/timebase-frequency`), the virtio-mmio slots with their interrupt
//! lines, the PLIC with the context of the boot hart's supervisor mode, and the
//! real-time clock.
//!
//! The tree comes from QEMU and OpenSBI, so it is trusted the way a kernel
//! trusts its firmware; the `fdt` crate may panic on a structurally broken
//! blob, which the image's panic handler reports on the console.

use fdt::Fdt;

/// The most virtio-mmio slots looked at (QEMU's `virt` has eight).
pub const MAX_VIRTIO_SLOTS: usize = 8;

/// Supervisor external interrupt number in `interrupts-extended`.
const SUPERVISOR_EXTERNAL_IRQ: u32 = 9;

/// One `virtio,mmio` slot: register window and PLIC interrupt source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioSlot {
    /// Physical address of the register window.
    pub base: usize,
    /// Size of the register window in bytes.
    pub size: usize,
    /// Interrupt source number at the PLIC, if the node names one.
    pub irq: Option<u32>,
}

/// The platform-level interrupt controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlicInfo {
    /// Physical address of its registers.
    pub base: usize,
    /// The context that delivers external interrupts to the boot hart in
    /// supervisor mode.
    pub supervisor_context: usize,
}

/// The parts of the device tree the image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineInfo<'a> {
    /// The kernel command line; empty when there is none.
    pub bootargs: &'a str,
    /// Ticks per second of the `time` CSR.
    pub timebase_hz: u64,
    /// The virtio-mmio slots, in device-tree order.
    pub virtio_slots: [Option<VirtioSlot>; MAX_VIRTIO_SLOTS],
    /// The interrupt controller, if the tree has a usable one.
    pub plic: Option<PlicInfo>,
    /// Physical address of the Goldfish real-time clock, if there is one.
    pub rtc: Option<usize>,
}

/// The device tree lacks something the image cannot run without.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeviceTreeError {
    /// The blob has no valid header.
    Header(fdt::FdtError),
    /// No usable `timebase-frequency` (missing, zero or not 32/64-bit).
    NoTimebase,
}

impl core::fmt::Display for DeviceTreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Header(e) => write!(f, "device tree: bad header: {e:?}"),
            Self::NoTimebase => write!(f, "device tree: no usable /cpus/timebase-frequency"),
        }
    }
}

impl<'a> MachineInfo<'a> {
    /// Reads the tree in `blob`.
    pub fn parse(blob: &'a [u8]) -> Result<Self, DeviceTreeError> {
        Self::from_fdt(&Fdt::new(blob).map_err(DeviceTreeError::Header)?)
    }

    /// Reads the tree at `address`, as handed over by the firmware.
    ///
    /// # Safety
    ///
    /// `address` must point to a device tree blob that stays valid and
    /// unchanged for `'a`.
    pub unsafe fn from_address(address: *const u8) -> Result<Self, DeviceTreeError> {
        // SAFETY: forwarded to the caller.
        let fdt = unsafe { Fdt::from_ptr(address) }.map_err(DeviceTreeError::Header)?;
        Self::from_fdt(&fdt)
    }

    fn from_fdt(fdt: &Fdt<'a>) -> Result<Self, DeviceTreeError> {
        let bootargs = fdt
            .find_node("/chosen")
            .and_then(|chosen| chosen.property("bootargs"))
            .and_then(|p| p.as_str())
            .unwrap_or("");
        let timebase_hz = fdt
            .find_node("/cpus")
            .and_then(|cpus| cpus.property("timebase-frequency"))
            .and_then(|p| p.as_usize())
            .filter(|&hz| hz > 0)
            .ok_or(DeviceTreeError::NoTimebase)? as u64;

        let mut virtio_slots = [None; MAX_VIRTIO_SLOTS];
        let slots = fdt
            .all_nodes()
            .filter(|node| {
                node.compatible()
                    .is_some_and(|c| c.all().any(|s| s == "virtio,mmio"))
            })
            .filter_map(|node| {
                let region = node.reg()?.next()?;
                Some(VirtioSlot {
                    base: region.starting_address as usize,
                    size: region.size?,
                    irq: node
                        .property("interrupts")
                        .and_then(|p| first_cell(p.value)),
                })
            });
        for (entry, slot) in virtio_slots.iter_mut().zip(slots) {
            *entry = Some(slot);
        }

        let plic = fdt
            .find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"])
            .and_then(|node| {
                let base = node.reg()?.next()?.starting_address as usize;
                let contexts = node.property("interrupts-extended")?.value;
                // (phandle, irq) pairs, one per context; hart 0 comes first,
                // so the first supervisor-external entry is the boot hart's.
                let supervisor_context = contexts
                    .chunks_exact(8)
                    .position(|pair| first_cell(&pair[4..]) == Some(SUPERVISOR_EXTERNAL_IRQ))?;
                Some(PlicInfo {
                    base,
                    supervisor_context,
                })
            });

        let rtc = fdt
            .find_compatible(&["google,goldfish-rtc"])
            .and_then(|node| Some(node.reg()?.next()?.starting_address as usize));

        Ok(Self {
            bootargs,
            timebase_hz,
            virtio_slots,
            plic,
            rtc,
        })
    }

    /// The virtio-mmio slots present in the tree.
    pub fn virtio_slots(&self) -> impl Iterator<Item = VirtioSlot> + '_ {
        self.virtio_slots.iter().flatten().copied()
    }
}

fn first_cell(bytes: &[u8]) -> Option<u32> {
    let cell: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dumped from QEMU 7.2 with `-machine virt,dumpdtb=...`,
    /// `-append "ip=10.77.1.61/24 port=7000"` and one virtio-net device.
    const QEMU_VIRT_DTB: &[u8] = include_bytes!("../testdata/qemu-virt.dtb");

    #[test]
    fn reads_qemu_virt_tree() {
        let info = MachineInfo::parse(QEMU_VIRT_DTB).unwrap();
        assert_eq!(info.bootargs, "ip=10.77.1.61/24 port=7000");
        assert_eq!(info.timebase_hz, 10_000_000);
        assert_eq!(info.virtio_slots().count(), 8);
        assert!(info.virtio_slots().any(|s| s
            == VirtioSlot {
                base: 0x1000_8000,
                size: 0x1000,
                irq: Some(8)
            }));
        assert!(info.virtio_slots().any(|s| s
            == VirtioSlot {
                base: 0x1000_1000,
                size: 0x1000,
                irq: Some(1)
            }));
        assert_eq!(
            info.plic,
            Some(PlicInfo {
                base: 0x0c00_0000,
                supervisor_context: 1
            })
        );
        assert_eq!(info.rtc, Some(0x10_1000));
    }

    #[test]
    fn rejects_a_blob_that_is_not_a_tree() {
        assert!(matches!(
            MachineInfo::parse(&[0u8; 64]),
            Err(DeviceTreeError::Header(_))
        ));
    }
}
