//! Power-off through QEMU `virt`'s test device (`sifive,test1`): writing
//! `code << 16 | 0x3333` ends QEMU with exit status `code`.

const VIRT_TEST_DEVICE: usize = 0x10_0000;
const TEST_FAIL: u32 = 0x3333;

/// Powers the machine off with a failure status (QEMU exits with status 1).
pub fn shutdown_failed() -> ! {
    // SAFETY: the test device's register on `virt`; a 32-bit volatile write.
    unsafe { (VIRT_TEST_DEVICE as *mut u32).write_volatile(1 << 16 | TEST_FAIL) };
    loop {
        // SAFETY: wfi only waits.
        unsafe { core::arch::asm!("wfi") };
    }
}
