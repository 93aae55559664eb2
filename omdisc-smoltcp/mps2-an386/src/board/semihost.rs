//! Semihosting calls to QEMU: the command line (`-kernel IMAGE -append ARGS`) and the
//! exit status. (defmt's frames go out through semihosting too, as writes to stdout.)

use core::mem::MaybeUninit;

use semihosting::sys::arm_compat::sys_get_cmdline_uninit;

/// Longest command line read (the image's path, then the boot arguments).
pub const MAX_COMMAND_LINE: usize = 512;

/// Why the command line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandLineError {
    /// QEMU refused (semihosting off, or longer than [`MAX_COMMAND_LINE`] bytes).
    Refused,
    /// Not UTF-8.
    NotText,
}

/// The command line QEMU hands out, read into `buffer`.
pub fn command_line(
    buffer: &'static mut [MaybeUninit<u8>; MAX_COMMAND_LINE],
) -> Result<&'static str, CommandLineError> {
    let bytes = sys_get_cmdline_uninit(buffer).map_err(|_| CommandLineError::Refused)?;
    core::str::from_utf8(bytes).map_err(|_| CommandLineError::NotText)
}

/// Ends QEMU with exit status 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}
