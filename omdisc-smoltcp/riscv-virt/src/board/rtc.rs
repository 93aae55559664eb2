//! The Goldfish real-time clock of QEMU's `virt` machine: wall-clock time, used for the
//! engine's incarnation (which must grow from one boot to the next).

const TIME_LOW: usize = 0x00;
const TIME_HIGH: usize = 0x04;

/// Nanoseconds since the Unix epoch from the RTC at `base`.
pub fn unix_nanos(base: usize) -> u64 {
    // SAFETY: the RTC's registers at the device tree's address; reading TIME_LOW latches
    // TIME_HIGH, so the two halves belong together.
    unsafe {
        let low = ((base + TIME_LOW) as *const u32).read_volatile();
        let high = ((base + TIME_HIGH) as *const u32).read_volatile();
        u64::from(high) << 32 | u64::from(low)
    }
}
