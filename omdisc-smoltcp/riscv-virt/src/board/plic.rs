//! The platform-level interrupt controller, used only to let one device's
//! interrupt wake the hart from `wfi` (machine external interrupt).

use omdisc_riscv_virt::device_tree::PlicInfo;

const PRIORITY_BASE: usize = 0x0;
const ENABLE_BASE: usize = 0x2000;
const ENABLE_STRIDE: usize = 0x80;
const CONTEXT_BASE: usize = 0x20_0000;
const CONTEXT_STRIDE: usize = 0x1000;
const THRESHOLD: usize = 0x0;
const CLAIM_COMPLETE: usize = 0x4;

/// The PLIC, seen from one context (the boot hart's machine mode).
pub struct Plic {
    base: usize,
    context: usize,
}

impl Plic {
    /// The PLIC described by the device tree, seen from the boot hart's machine mode (the
    /// image runs without firmware); `None` if the tree names no such context.
    pub fn new(info: PlicInfo) -> Option<Self> {
        Some(Self {
            base: info.base,
            context: info.machine_context?,
        })
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        (self.base + offset) as *mut u32
    }

    /// Lets interrupt `source` reach this context (priority 1, threshold 0).
    pub fn enable(&self, source: u32) {
        let source = source as usize;
        let enable_word = ENABLE_BASE + self.context * ENABLE_STRIDE + (source / 32) * 4;
        let context = CONTEXT_BASE + self.context * CONTEXT_STRIDE;
        // SAFETY: PLIC registers per the PLIC spec at the device tree's
        // base; 32-bit volatile accesses.
        unsafe {
            self.reg(PRIORITY_BASE + source * 4).write_volatile(1);
            let word = self.reg(enable_word);
            word.write_volatile(word.read_volatile() | 1 << (source % 32));
            self.reg(context + THRESHOLD).write_volatile(0);
        }
    }

    /// Takes the highest pending interrupt, if any; hand it to [`Self::complete`].
    pub fn claim(&self) -> Option<u32> {
        let context = CONTEXT_BASE + self.context * CONTEXT_STRIDE;
        // SAFETY: as in `enable`.
        let source = unsafe { self.reg(context + CLAIM_COMPLETE).read_volatile() };
        (source != 0).then_some(source)
    }

    /// Ends the handling of a claimed interrupt.
    pub fn complete(&self, source: u32) {
        let context = CONTEXT_BASE + self.context * CONTEXT_STRIDE;
        // SAFETY: as in `enable`.
        unsafe { self.reg(context + CLAIM_COMPLETE).write_volatile(source) };
    }
}
