//! The smallest image that pulls the omdisc-core engine in, for `cargo xtask test`'s size
//! report: a reset handler that initialises RAM and runs the engine's drive loop against
//! memory-mapped stand-ins for a NIC and a timer, and a panic handler that spins.
#![no_std]
#![no_main]

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

/// Copies `.data` from flash, zeroes `.bss`, then runs [`main`].
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
    main()
}

/// The drive loop (filled in when the engine's API is in place).
fn main() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
