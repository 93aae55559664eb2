//! What every boot image runs around its [`Node`](crate::Node), whatever the board: the boot
//! arguments (`ip=`, `group=`, `port=`, `interval=`, `dead_after=`, `key=`) and the node
//! set up from them, and [`BootNode`], one wake-up of the drive loop that logs membership
//! changes and hands the map to a [`MapOutput`] ([`TextMap`] for a text console), and the
//! stack high-water mark of a painted stack ([`stack`]). The board keeps its clock, NIC, sleep
//! and console.
//!
//! The RISC-V `virt` image (console through `log`) and the Cortex-M4 MPS2 image (`defmt`)
//! both use it; the log lines go through this crate's logging backend.

mod args;
mod map_lines;
mod node;
pub mod stack;

pub use args::{cluster_keys, BootArgsError, BootConfig, DEFAULT_BOOTARGS, MAX_INTERVAL_MS};
pub use map_lines::{MapLines, MAX_MAP_LINE};
pub use node::{BootNode, ImageNode, MapOutput, TextMap, MAP_END, MAP_START};
