//! What the image needs from the device tree the firmware hands over in `a1`:
//! the kernel command line (`/chosen/bootargs`), the `time` CSR's frequency
//! (`/cpus/timebase-frequency`), the virtio-mmio slots with their interrupt
//! lines, the PLIC with the boot hart's contexts, the CLINT and the real-time clock.
//!
//! A single pass over the flattened tree's structure block (no crate: a general reader
//! costs several KiB of code and milliseconds of boot under emulation). Every read is
//! bounds-checked: a broken blob gives an error or leaves things out, never a panic.

/// The most virtio-mmio slots looked at (QEMU's `virt` has eight).
pub const MAX_VIRTIO_SLOTS: usize = 8;

/// Supervisor and machine external interrupt numbers in `interrupts-extended`.
const SUPERVISOR_EXTERNAL_IRQ: u32 = 9;
const MACHINE_EXTERNAL_IRQ: u32 = 11;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Deepest node nesting followed (QEMU's `virt` tree is 4 deep).
const MAX_DEPTH: usize = 8;

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
    /// The context that delivers them to the boot hart in machine mode.
    pub machine_context: Option<usize>,
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
    /// Physical address of the core-local interruptor (machine timer), if there is one.
    pub clint: Option<usize>,
    /// Physical address of the Goldfish real-time clock, if there is one.
    pub rtc: Option<usize>,
}

/// The device tree lacks something the image cannot run without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTreeError {
    /// The blob has no valid header.
    Header,
    /// The structure block ends early or holds an unknown token.
    Structure,
    /// No usable `timebase-frequency` (missing, zero or not 32/64-bit).
    NoTimebase,
}

impl DeviceTreeError {
    /// The error as one line of text (no `core::fmt` needed).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Header => "device tree: bad header",
            Self::Structure => "device tree: broken structure block",
            Self::NoTimebase => "device tree: no usable /cpus/timebase-frequency",
        }
    }
}

/// What a device node is, from its `compatible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Other,
    Virtio,
    Plic,
    Clint,
    Rtc,
}

/// The properties of the node being read that matter, until its first child or its end.
#[derive(Clone, Copy)]
struct Node<'a> {
    kind: Kind,
    reg: Option<&'a [u8]>,
    interrupts: Option<&'a [u8]>,
    interrupts_extended: Option<&'a [u8]>,
    /// `#address-cells` and `#size-cells` for its children.
    child_cells: (u32, u32),
}

impl<'a> MachineInfo<'a> {
    /// Reads the tree in `blob`.
    pub fn parse(blob: &'a [u8]) -> Result<Self, DeviceTreeError> {
        let total = be32(blob, 4).ok_or(DeviceTreeError::Header)? as usize;
        if be32(blob, 0) != Some(FDT_MAGIC) || total > blob.len() {
            return Err(DeviceTreeError::Header);
        }
        let blob = &blob[..total];
        let structure = be32(blob, 8).ok_or(DeviceTreeError::Header)? as usize;
        let strings = be32(blob, 12).ok_or(DeviceTreeError::Header)? as usize;
        let strings = blob.get(strings..).ok_or(DeviceTreeError::Header)?;
        let mut info = MachineInfo {
            bootargs: "",
            timebase_hz: 0,
            virtio_slots: [None; MAX_VIRTIO_SLOTS],
            plic: None,
            clint: None,
            rtc: None,
        };
        // cells[d]: #address-cells/#size-cells for nodes at depth d (the root's are 2/1
        // until it says otherwise).
        let mut cells = [(2u32, 1u32); MAX_DEPTH + 1];
        let mut names: [&[u8]; MAX_DEPTH + 1] = [b""; MAX_DEPTH + 1];
        let mut open: Option<Node<'a>> = None;
        let mut depth = 0usize;
        let mut at = structure;
        loop {
            let token = be32(blob, at).ok_or(DeviceTreeError::Structure)?;
            at += 4;
            match token {
                FDT_BEGIN_NODE => {
                    if let Some(node) = open.take() {
                        info.take(&node, cells[depth]);
                        cells[depth + 1] = node.child_cells;
                    }
                    let name_len = blob
                        .get(at..)
                        .and_then(|rest| rest.iter().position(|&b| b == 0))
                        .ok_or(DeviceTreeError::Structure)?;
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(DeviceTreeError::Structure);
                    }
                    names[depth] = &blob[at..at + name_len];
                    at = (at + name_len + 1).next_multiple_of(4);
                    open = Some(Node {
                        kind: Kind::Other,
                        reg: None,
                        interrupts: None,
                        interrupts_extended: None,
                        child_cells: (2, 1),
                    });
                }
                FDT_END_NODE => {
                    if let Some(node) = open.take() {
                        info.take(&node, cells[depth]);
                    }
                    depth = depth.checked_sub(1).ok_or(DeviceTreeError::Structure)?;
                }
                FDT_PROP => {
                    let len = be32(blob, at).ok_or(DeviceTreeError::Structure)? as usize;
                    let name_at = be32(blob, at + 4).ok_or(DeviceTreeError::Structure)? as usize;
                    let value = blob
                        .get(at + 8..at + 8 + len)
                        .ok_or(DeviceTreeError::Structure)?;
                    at = (at + 8 + len).next_multiple_of(4);
                    let name = strings
                        .get(name_at..)
                        .and_then(|s| s.split(|&b| b == 0).next())
                        .unwrap_or(b"");
                    info.property(&mut open, (depth, names[depth]), name, value);
                }
                FDT_NOP => {}
                FDT_END => break,
                _ => return Err(DeviceTreeError::Structure),
            }
        }
        if info.timebase_hz == 0 {
            return Err(DeviceTreeError::NoTimebase);
        }
        Ok(info)
    }

    /// Reads the tree at `address`, as handed over by the firmware.
    ///
    /// # Safety
    ///
    /// `address` must point to a device tree blob that stays valid and
    /// unchanged for `'a`.
    pub unsafe fn from_address(address: *const u8) -> Result<Self, DeviceTreeError> {
        // SAFETY: the caller vouches for a readable blob; its header is read first to learn
        // its size, and only that many bytes are looked at.
        let header = unsafe { core::slice::from_raw_parts(address, 8) };
        let total = be32(header, 4).ok_or(DeviceTreeError::Header)? as usize;
        if be32(header, 0) != Some(FDT_MAGIC) {
            return Err(DeviceTreeError::Header);
        }
        // SAFETY: as above; `total` is the blob's own size.
        Self::parse(unsafe { core::slice::from_raw_parts(address, total) })
    }

    /// One property of the node (`depth`: the root is 1; `node`: its name) being read.
    fn property(
        &mut self,
        open: &mut Option<Node<'a>>,
        (depth, node): (usize, &[u8]),
        name: &[u8],
        value: &'a [u8],
    ) {
        if depth == 2 && same(node, b"chosen") && same(name, b"bootargs") {
            let text = value.split(|&b| b == 0).next().unwrap_or(b"");
            self.bootargs = core::str::from_utf8(text).unwrap_or("");
        }
        if depth == 2 && same(node, b"cpus") && same(name, b"timebase-frequency") {
            self.timebase_hz = match value.len() {
                4 => u64::from(be32(value, 0).unwrap_or(0)),
                8 => be64(value, 0).unwrap_or(0),
                _ => 0,
            };
        }
        let Some(current) = open.as_mut() else {
            return;
        };
        match position(&PROPERTIES, name) {
            Some(0) => {
                current.kind = value
                    .split(|&b| b == 0)
                    .find_map(|c| position(&COMPATIBLE, c).and_then(|i| KINDS.get(i).copied()))
                    .unwrap_or(Kind::Other);
            }
            Some(1) => current.reg = Some(value),
            Some(2) => current.interrupts = Some(value),
            Some(3) => current.interrupts_extended = Some(value),
            Some(4) => current.child_cells.0 = be32(value, 0).unwrap_or(2),
            Some(5) => current.child_cells.1 = be32(value, 0).unwrap_or(1),
            _ => {}
        }
    }

    /// Keeps what the image needs of a node whose properties are all read; its `reg` is in
    /// `(address, size)` cells of its parent.
    fn take(&mut self, node: &Node<'a>, (address_cells, size_cells): (u32, u32)) {
        let region = node.reg.and_then(|reg| {
            let base = cells(reg, 0, address_cells)?;
            let size = cells(reg, address_cells as usize * 4, size_cells)?;
            Some((base as usize, size as usize))
        });
        let Some((base, size)) = region else {
            return;
        };
        match node.kind {
            Kind::Virtio => {
                if let Some(entry) = self.virtio_slots.iter_mut().find(|s| s.is_none()) {
                    *entry = Some(VirtioSlot {
                        base,
                        size,
                        irq: node.interrupts.and_then(|i| be32(i, 0)),
                    });
                }
            }
            Kind::Plic if self.plic.is_none() => {
                // (phandle, irq) pairs, one per context; hart 0 comes first, so the first
                // entry of each kind is the boot hart's.
                let contexts = node.interrupts_extended.unwrap_or(&[]);
                let context_of = |irq| {
                    contexts
                        .chunks_exact(8)
                        .position(|pair| be32(pair, 4) == Some(irq))
                };
                if let Some(supervisor_context) = context_of(SUPERVISOR_EXTERNAL_IRQ) {
                    self.plic = Some(PlicInfo {
                        base,
                        supervisor_context,
                        machine_context: context_of(MACHINE_EXTERNAL_IRQ),
                    });
                }
            }
            Kind::Clint if self.clint.is_none() => self.clint = Some(base),
            Kind::Rtc if self.rtc.is_none() => self.rtc = Some(base),
            _ => {}
        }
    }

    /// The virtio-mmio slots present in the tree.
    pub fn virtio_slots(&self) -> impl Iterator<Item = VirtioSlot> + '_ {
        self.virtio_slots.iter().flatten().copied()
    }
}

/// The properties a device node is read for, by their index in [`MachineInfo::property`].
const PROPERTIES: [&[u8]; 6] = [
    b"compatible",
    b"reg",
    b"interrupts",
    b"interrupts-extended",
    b"#address-cells",
    b"#size-cells",
];
/// The `compatible` strings looked for, and what each is.
const COMPATIBLE: [&[u8]; 6] = [
    b"virtio,mmio",
    b"riscv,plic0",
    b"sifive,plic-1.0.0",
    b"riscv,clint0",
    b"sifive,clint0",
    b"google,goldfish-rtc",
];
const KINDS: [Kind; 6] = [
    Kind::Virtio,
    Kind::Plic,
    Kind::Plic,
    Kind::Clint,
    Kind::Clint,
    Kind::Rtc,
];

/// Whether two names are the same: one comparison routine, not one inlined per constant
/// (which costs a small image hundreds of bytes).
#[inline(never)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a == b
}

/// Where `name` is in `names`.
fn position(names: &[&[u8]], name: &[u8]) -> Option<usize> {
    names.iter().position(|n| same(n, name))
}

/// The big-endian 32-bit word at `at`.
fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(be32(bytes, at)?) << 32 | u64::from(be32(bytes, at + 4)?))
}

/// A number of `count` (1 or 2) big-endian cells at `at`.
fn cells(bytes: &[u8], at: usize, count: u32) -> Option<u64> {
    match count {
        1 => be32(bytes, at).map(u64::from),
        2 => be64(bytes, at),
        _ => None,
    }
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
                supervisor_context: 1,
                machine_context: Some(0),
            })
        );
        assert_eq!(info.rtc, Some(0x10_1000));
        assert_eq!(info.clint, Some(0x200_0000));
    }

    #[test]
    fn a_cut_blob_is_an_error_not_a_panic() {
        for len in [8, 40, 200, QEMU_VIRT_DTB.len() / 2] {
            let mut cut = QEMU_VIRT_DTB[..len].to_vec();
            if cut.len() >= 8 {
                // Claim the cut length, so the walk runs off the structure block's end.
                cut[4..8].copy_from_slice(&(len as u32).to_be_bytes());
            }
            assert!(MachineInfo::parse(&cut).is_err(), "{len}");
        }
    }

    #[test]
    fn rejects_a_blob_that_is_not_a_tree() {
        assert!(matches!(
            MachineInfo::parse(&[0u8; 64]),
            Err(DeviceTreeError::Header)
        ));
    }
}
