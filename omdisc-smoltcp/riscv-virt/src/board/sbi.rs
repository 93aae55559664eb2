//! Calls into the supervisor binary interface (OpenSBI) for the timer, and
//! power-off.

const EXT_TIME: usize = 0x5449_4D45;
const EXT_SYSTEM_RESET: usize = 0x5352_5354;
const EXT_LEGACY_SHUTDOWN: usize = 0x08;

fn call(extension: usize, function: usize, arg0: usize, arg1: usize) -> (isize, usize) {
    let (error, value);
    // SAFETY: an SBI call only traps into the firmware, which returns here
    // with a0/a1 set and all other registers preserved.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") arg0 => error,
            inlateout("a1") arg1 => value,
            in("a6") function,
            in("a7") extension,
            options(nostack),
        );
    }
    (error, value)
}

/// Raises the supervisor timer interrupt once `time` reaches `deadline`
/// (in ticks), and clears a pending one.
pub fn set_timer(deadline: u64) {
    call(EXT_TIME, 0, deadline as usize, 0);
}

/// QEMU `virt`'s test device (`sifive,test1`): writing `code << 16 | 0x3333`
/// ends QEMU with exit status `code`. OpenSBI's shutdown always reports
/// success, so a failure goes here first.
const VIRT_TEST_DEVICE: usize = 0x10_0000;
const TEST_FAIL: u32 = 0x3333;

/// Powers the machine off with a failure status (QEMU exits with status 1).
pub fn shutdown_failed() -> ! {
    // SAFETY: the test device's register on `virt`; a 32-bit volatile write.
    unsafe { (VIRT_TEST_DEVICE as *mut u32).write_volatile(1 << 16 | TEST_FAIL) };
    // System reset extension: type 0 = shutdown, reason 1 = system failure.
    call(EXT_SYSTEM_RESET, 0, 0, 1);
    call(EXT_LEGACY_SHUTDOWN, 0, 0, 0);
    loop {
        // SAFETY: wfi only waits.
        unsafe { core::arch::asm!("wfi") };
    }
}
