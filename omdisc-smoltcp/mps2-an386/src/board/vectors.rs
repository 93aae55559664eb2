//! The device-specific part of the vector table: entries up to the NIC's interrupt (13)
//! and no further, instead of cortex-m-rt's default of 240 (960 bytes of flash). Every
//! entry is cortex-m-rt's default handler: interrupts are masked and only end `wfi`.

use super::wakeup::ETHERNET_IRQ;

extern "C" {
    fn DefaultHandler();
}

/// The external interrupts' vectors, placed after the core's exceptions by `link.x`.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
static __INTERRUPTS: [unsafe extern "C" fn(); ETHERNET_IRQ as usize + 1] =
    [DefaultHandler; ETHERNET_IRQ as usize + 1];
