//! The stack high-water mark: cortex-m-rt paints the stack (`_stack_end` up to
//! `_stack_start`) at reset; `omdisc_smoltcp::boot::stack` reads how much paint is left.

use omdisc_smoltcp::boot::stack::{self, PAINT};

const _: () = assert!(PAINT == cortex_m_rt::STACK_PAINT_VALUE);

extern "C" {
    static _stack_end: u32;
    static _stack_start: u32;
}

/// The stack area's size in bytes.
pub fn size() -> usize {
    top() - bottom()
}

/// The most stack used since reset, in bytes.
pub fn high_water() -> usize {
    let area = bottom() as *const u32;
    let words = (0..size() / 4).map(|i| {
        // SAFETY: the area between the linker's `_stack_end` and `_stack_start` is RAM,
        // word-aligned, and the stack's own; it is only read.
        unsafe { area.add(i).read_volatile() }
    });
    stack::high_water(size(), words)
}

fn bottom() -> usize {
    // SAFETY: only the symbol's address is taken.
    core::ptr::addr_of!(_stack_end) as usize
}

fn top() -> usize {
    // SAFETY: only the symbol's address is taken.
    core::ptr::addr_of!(_stack_start) as usize
}
