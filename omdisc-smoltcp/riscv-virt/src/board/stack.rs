//! The stack high-water mark: the entry stub paints the stack (`__stack_bottom` up to
//! `__stack_top`, `link.x`) before anything runs on it; `omdisc_smoltcp::boot::stack` reads
//! how much paint is left.

use omdisc_smoltcp::boot::stack;

extern "C" {
    static __stack_bottom: u32;
    static __stack_top: u32;
}

/// The stack's size in bytes.
pub fn size() -> usize {
    top() - bottom()
}

/// The most stack used since reset, in bytes.
pub fn high_water() -> usize {
    let area = bottom() as *const u32;
    let words = (0..size() / 4).map(|i| {
        // SAFETY: the stack section between the linker's symbols is RAM, 16-byte aligned and
        // the stack's own; it is only read.
        unsafe { area.add(i).read_volatile() }
    });
    stack::high_water(size(), words)
}

fn bottom() -> usize {
    // SAFETY: only the symbol's address is taken.
    core::ptr::addr_of!(__stack_bottom) as usize
}

fn top() -> usize {
    // SAFETY: only the symbol's address is taken.
    core::ptr::addr_of!(__stack_top) as usize
}
