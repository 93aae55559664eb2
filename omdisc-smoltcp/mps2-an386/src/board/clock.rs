//! Time since reset from SysTick, the core's 24-bit down-counter at the 25 MHz core clock,
//! run tickless: [`sleep_for`] reloads it so that its next wrap falls on the deadline, and
//! [`now`] adds up the periods. Nothing else wakes the CPU for time, so an idle image
//! wakes only when something is due (at the latest every 2^24 cycles, 0.67 s).
//!
//! There is no SysTick handler (interrupts stay masked): a wrap sets `COUNTFLAG`, which
//! [`now`] reads, and pends the exception, which ends `wfi`.

use core::cell::Cell;

use cortex_m::peripheral::{SCB, SYST};
use critical_section::Mutex;
use smoltcp::time::{Duration, Instant};

/// SysTick's clock: the core clock of the MPS2 boards.
pub const CORE_HZ: u32 = 25_000_000;
/// The longest SysTick period, in cycles (its counter has 24 bits).
const MAX_PERIOD: u32 = 1 << 24;
/// Sleeps shorter than this are not worth reprogramming the timer (40 µs).
const MIN_PERIOD: u32 = 1000;

const CSR_ENABLE: u32 = 1 << 0;
const CSR_TICKINT: u32 = 1 << 1;
const CSR_CLKSOURCE_CORE: u32 = 1 << 2;
const CSR_COUNTFLAG: u32 = 1 << 16;

/// Cycles at the start of the current period, and the period's reload value.
#[derive(Clone, Copy)]
struct Period {
    start: u64,
    reload: u32,
}

static PERIOD: Mutex<Cell<Period>> = Mutex::new(Cell::new(Period {
    start: 0,
    reload: MAX_PERIOD - 1,
}));

fn syst() -> &'static cortex_m::peripheral::syst::RegisterBlock {
    // SAFETY: SysTick's registers are always mapped; this module is their only user.
    unsafe { &*SYST::PTR }
}

/// Starts SysTick on the core clock with the longest period; pends its exception (which
/// only wakes `wfi`) at each wrap. Takes the peripheral so nobody else programs it.
pub fn start(_syst: SYST) {
    let syst = syst();
    // SAFETY: plain register writes; the reload fits in 24 bits.
    unsafe {
        syst.csr.write(0);
        syst.rvr.write(MAX_PERIOD - 1);
        syst.cvr.write(0);
        syst.csr
            .write(CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CORE);
    }
}

/// Core clock cycles since [`start`]. Monotonic as long as it is called at least once per
/// period (the main loop wakes at every wrap).
fn cycles(period: &Cell<Period>) -> u64 {
    let syst = syst();
    loop {
        let mut p = period.get();
        if syst.csr.read() & CSR_COUNTFLAG != 0 {
            p.start += u64::from(p.reload) + 1;
            period.set(p);
        }
        let value = syst.cvr.read() & (MAX_PERIOD - 1);
        if syst.csr.read() & CSR_COUNTFLAG == 0 {
            // Zero: just reloaded by a write, or at the wrap that was just counted.
            let elapsed = if value == 0 { 0 } else { p.reload + 1 - value };
            return p.start + u64::from(elapsed);
        }
        // It wrapped while we looked: count the wrap and look again.
        p.start += u64::from(p.reload) + 1;
        period.set(p);
    }
}

/// Time since reset.
pub fn now() -> Instant {
    let cycles = critical_section::with(|cs| cycles(PERIOD.borrow(cs)));
    Instant::from_micros((cycles / u64::from(CORE_HZ / 1_000_000)) as i64)
}

/// Reloads SysTick so that it wraps `delay` from now (at most 0.67 s), then waits in `wfi`
/// for that wrap or another enabled interrupt (the NIC). A zero or tiny delay returns at
/// once.
pub fn sleep_for(delay: Duration) {
    let micros = delay.total_micros().min(u64::from(MAX_PERIOD));
    let period = (micros * u64::from(CORE_HZ / 1_000_000)).min(u64::from(MAX_PERIOD)) as u32;
    if period < MIN_PERIOD {
        return;
    }
    critical_section::with(|cs| {
        let cell = PERIOD.borrow(cs);
        let start = cycles(cell);
        let syst = syst();
        // SAFETY: plain register writes; the reload fits in 24 bits. Writing the current
        // value clears it and COUNTFLAG: the new period starts now.
        unsafe {
            syst.rvr.write(period - 1);
            syst.cvr.write(0);
        }
        cell.set(Period {
            start,
            reload: period - 1,
        });
    });
    // A wrap before the reload may have left the exception pending: it would end `wfi` at
    // once.
    SCB::clear_pendst();
    cortex_m::asm::wfi();
}
