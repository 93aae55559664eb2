//! Sleeping until a deadline or a device interrupt: `wfi` with the
//! supervisor timer (SBI `set_timer`) and external interrupts enabled in
//! `sie` but globally off in `sstatus`, so a pending interrupt ends the wait
//! without a trap and is then handled in the main loop.

const SIE_STIE: usize = 1 << 5;
const SIE_SEIE: usize = 1 << 9;

/// Enables the timer and external interrupts as wake-up sources.
pub fn enable_wakeups() {
    // SAFETY: sets interrupt-enable bits; with sstatus.SIE clear no trap is
    // ever taken, pending interrupts only end `wfi`.
    unsafe {
        core::arch::asm!("csrc sstatus, {}", in(reg) 1usize << 1);
        core::arch::asm!("csrs sie, {}", in(reg) SIE_STIE | SIE_SEIE);
    }
}

/// Waits until `deadline` (ticks) or an enabled interrupt, whichever is first.
pub fn wait_until(deadline: u64) {
    super::sbi::set_timer(deadline);
    if super::clock::ticks() < deadline {
        // SAFETY: wfi only waits.
        unsafe { core::arch::asm!("wfi") };
    }
}
