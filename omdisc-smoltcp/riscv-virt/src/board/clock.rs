//! The monotonic clock: the `time` CSR (ticks since machine reset) at the
//! device tree's `timebase-frequency` (10 MHz on QEMU's `virt`).

use core::sync::atomic::{AtomicU64, Ordering};

static TICKS_PER_SECOND: AtomicU64 = AtomicU64::new(10_000_000);

/// Sets the tick rate read from the device tree.
pub fn set_frequency(hz: u64) {
    TICKS_PER_SECOND.store(hz.max(1), Ordering::Relaxed);
}

/// Ticks since machine reset.
pub fn ticks() -> u64 {
    let ticks: u64;
    // SAFETY: rdtime reads a counter and has no side effects.
    unsafe { core::arch::asm!("rdtime {}", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// Microseconds since machine reset.
pub fn micros() -> u64 {
    ticks_to_micros(ticks())
}

/// The current time as smoltcp sees it.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(micros() as i64)
}

/// `ticks` in microseconds (no overflow for any u64 tick count).
pub fn ticks_to_micros(ticks: u64) -> u64 {
    let hz = TICKS_PER_SECOND.load(Ordering::Relaxed);
    (ticks / hz) * 1_000_000 + (ticks % hz) * 1_000_000 / hz
}

/// `micros` in ticks, rounded up so a deadline is never early.
pub fn micros_to_ticks(micros: u64) -> u64 {
    let hz = TICKS_PER_SECOND.load(Ordering::Relaxed);
    let whole = (micros / 1_000_000).saturating_mul(hz);
    whole.saturating_add(((micros % 1_000_000) * hz).div_ceil(1_000_000))
}
