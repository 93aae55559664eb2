//! Opening the TAP device: the checks smoltcp's `TunTapInterface` does not make.
//!
//! smoltcp attaches to (or creates) the named device and panics on any later I/O error
//! other than "would block". A device it creates itself is down, and writing to a TAP that
//! is down fails with EIO, so the program insists on an existing TAP that is up, and says
//! how to make one when it is not.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use smoltcp::phy::{Medium, TunTapInterface};

/// `IFF_UP` in `/sys/class/net/NAME/flags`.
const IFF_UP: u32 = 0x1;
/// `IFF_TAP` in `/sys/class/net/NAME/tun_flags`.
const IFF_TAP: u32 = 0x2;

/// Why the TAP device cannot be used. `Display` is one line.
#[derive(Debug)]
pub enum TapError {
    /// No interface of that name in this network namespace.
    Missing(String),
    /// An interface that is not a TUN/TAP device, or a TUN device.
    NotTap(String),
    /// The TAP is down.
    Down(String),
    /// Opening `/dev/net/tun` or attaching failed.
    Open(String, io::Error),
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::Missing(name) => write!(
                f,
                "no TAP device {name} in this network namespace (create it: ip tuntap add dev {name} mode tap; ip link set {name} up)"
            ),
            TapError::NotTap(name) => write!(f, "{name} is not a TAP device"),
            TapError::Down(name) => {
                write!(f, "TAP device {name} is down (ip link set {name} up)")
            }
            TapError::Open(name, error) => write!(f, "cannot attach to TAP device {name}: {error}"),
        }
    }
}

impl std::error::Error for TapError {}

/// Checks that `name` is an existing TAP device that is up, and attaches to it.
pub fn open(name: &str) -> Result<TunTapInterface, TapError> {
    let sys = Path::new("/sys/class/net").join(name);
    if !sys.exists() {
        return Err(TapError::Missing(name.to_owned()));
    }
    match read_hex(&sys.join("tun_flags")) {
        Some(flags) if flags & IFF_TAP != 0 => {}
        _ => return Err(TapError::NotTap(name.to_owned())),
    }
    if read_hex(&sys.join("flags")).is_none_or(|flags| flags & IFF_UP == 0) {
        return Err(TapError::Down(name.to_owned()));
    }
    TunTapInterface::new(name, Medium::Ethernet).map_err(|e| TapError::Open(name.to_owned(), e))
}

/// A `0x...` number from a sysfs file.
fn read_hex(path: &Path) -> Option<u32> {
    let text = fs::read_to_string(path).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_says_how_to_make_one() {
        let error = open("omdt-nosuch0").unwrap_err();
        assert!(matches!(error, TapError::Missing(_)));
        assert!(error
            .to_string()
            .contains("ip tuntap add dev omdt-nosuch0 mode tap"));
    }

    #[test]
    fn loopback_is_not_a_tap() {
        assert!(matches!(open("lo"), Err(TapError::NotTap(_))));
    }
}
