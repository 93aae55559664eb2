//! The machine-specific half of the image: what only runs on the Cortex-M4 of QEMU's MPS2
//! AN386 board.

pub mod clock;
pub mod semihost;
pub mod stack;
pub mod vectors;
pub mod wakeup;
