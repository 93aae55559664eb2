//! The bare-metal runtime of the size-check images (this crate's and
//! `omdisc-smoltcp/size-check`'s, which includes this file): the reset vector, RAM
//! initialisation, and a panic handler that spins. The image's `main` is the caller's.

use core::panic::PanicInfo;
use core::ptr::{addr_of, addr_of_mut};

/// Second word of the vector table: where the core starts after reset.
#[link_section = ".vector_table.reset"]
#[no_mangle]
pub static RESET_VECTOR: unsafe extern "C" fn() -> ! = reset;

extern "C" {
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
    static mut _sbss: u32;
    static mut _ebss: u32;
}

/// Copies `.data` from flash, zeroes `.bss`, then runs the image's `main`.
///
/// # Safety
///
/// Only the hardware calls this, once, from reset.
#[no_mangle]
pub unsafe extern "C" fn reset() -> ! {
    let mut dst = addr_of_mut!(_sdata);
    let mut src = addr_of!(_sidata);
    while dst < addr_of_mut!(_edata) {
        dst.write_volatile(src.read());
        dst = dst.add(1);
        src = src.add(1);
    }
    let mut bss = addr_of_mut!(_sbss);
    while bss < addr_of_mut!(_ebss) {
        bss.write_volatile(0);
        bss = bss.add(1);
    }
    crate::main()
}

/// Stops the core for good.
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    halt()
}
