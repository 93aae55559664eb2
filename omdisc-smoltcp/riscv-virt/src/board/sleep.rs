//! Sleeping until a deadline or a device interrupt: `wfi` with the machine timer (the
//! CLINT's `mtimecmp`) and machine external interrupts enabled in `mie` but globally off in
//! `mstatus`, so a pending interrupt ends the wait without a trap and is then handled in the
//! main loop.

use core::sync::atomic::{AtomicUsize, Ordering};

const MIE_MTIE: usize = 1 << 7;
const MIE_MEIE: usize = 1 << 11;
const MSTATUS_MIE: usize = 1 << 3;
/// `mtimecmp` of hart 0, from the CLINT's base.
const MTIMECMP: usize = 0x4000;

/// The CLINT's base address (QEMU `virt`'s until the device tree says otherwise).
static CLINT: AtomicUsize = AtomicUsize::new(0x200_0000);

/// Enables the timer and external interrupts as wake-up sources; the timer is the CLINT
/// at `clint` (from the device tree).
pub fn enable_wakeups(clint: Option<usize>) {
    if let Some(base) = clint {
        CLINT.store(base, Ordering::Relaxed);
    }
    set_timer(u64::MAX);
    // SAFETY: sets interrupt-enable bits; with mstatus.MIE clear no trap is ever taken,
    // pending interrupts only end `wfi`.
    unsafe {
        core::arch::asm!("csrc mstatus, {}", in(reg) MSTATUS_MIE);
        core::arch::asm!("csrs mie, {}", in(reg) MIE_MTIE | MIE_MEIE);
    }
}

/// Raises the machine timer interrupt once `time` reaches `deadline` (in ticks), and
/// clears a pending one.
fn set_timer(deadline: u64) {
    let mtimecmp = (CLINT.load(Ordering::Relaxed) + MTIMECMP) as *mut u64;
    // SAFETY: hart 0's `mtimecmp` in the CLINT; an aligned 64-bit volatile write.
    unsafe { mtimecmp.write_volatile(deadline) };
}

/// Waits until `deadline` (ticks) or an enabled interrupt, whichever is first.
pub fn wait_until(deadline: u64) {
    set_timer(deadline);
    if super::clock::ticks() < deadline {
        // SAFETY: wfi only waits.
        unsafe { core::arch::asm!("wfi") };
    }
}
