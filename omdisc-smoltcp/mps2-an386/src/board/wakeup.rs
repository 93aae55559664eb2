//! What ends `wfi`: interrupts stay masked (PRIMASK), so nothing runs a handler, but an
//! enabled interrupt that becomes pending still wakes the core. The NIC's line is enabled at
//! the NVIC; after waking, the main loop acknowledges it at the chip and clears it here.

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;

/// The LAN9118's interrupt line on the MPS2 boards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetIrq;

/// Its number at the NVIC.
pub const ETHERNET_IRQ: u16 = 13;

// SAFETY: 13 is a valid external interrupt number on the MPS2 AN386's NVIC.
unsafe impl InterruptNumber for EthernetIrq {
    fn number(self) -> u16 {
        ETHERNET_IRQ
    }
}

/// Masks interrupts for good, clears a stale pending NIC interrupt and enables it at the
/// NVIC, so that it wakes `wfi` without running a handler.
pub fn enable(_nvic: NVIC) {
    cortex_m::interrupt::disable();
    NVIC::unpend(EthernetIrq);
    // SAFETY: interrupts are masked (PRIMASK): enabling the line cannot run a handler.
    unsafe { NVIC::unmask(EthernetIrq) };
}

/// Clears the NIC interrupt at the NVIC (after the chip has dropped its line).
pub fn clear() {
    NVIC::unpend(EthernetIrq);
}
