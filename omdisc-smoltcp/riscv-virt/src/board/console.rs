//! The console: the 16550 UART at 0x1000_0000 (QEMU's model sends without set-up), and log
//! lines on it stamped with the time since reset, written piece by piece: the image links
//! no `core::fmt` formatting for them (numbers, addresses and text have small writers here).

use core::net::Ipv4Addr;

const UART_BASE: usize = 0x1000_0000;
const THR: usize = 0;
const LSR: usize = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

fn put(byte: u8) {
    let base = UART_BASE as *mut u8;
    // SAFETY: the 16550 registers are MMIO at UART_BASE on `virt`; volatile byte accesses
    // are what the device expects.
    unsafe {
        while base.add(LSR).read_volatile() & LSR_THR_EMPTY == 0 {}
        base.add(THR).write_volatile(byte);
    }
}

/// Writes `text` as it is (a `\n` goes out as `\r\n`).
pub fn write_str(text: &str) {
    for byte in text.bytes() {
        if byte == b'\n' {
            put(b'\r');
        }
        put(byte);
    }
}

/// Writes `n` in decimal, at least `width` digits (zero-padded).
pub fn write_decimal_padded(mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    start = start.min(digits.len().saturating_sub(width));
    digits[start..].iter().for_each(|&d| put(d));
}

/// Writes `n` in decimal.
pub fn write_decimal(n: u64) {
    write_decimal_padded(n, 1);
}

/// Writes `n` in hex with a `0x` prefix.
pub fn write_hex(n: u64) {
    write_str("0x");
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        put(b"0123456789abcdef"[(n >> (i * 4) & 0xf) as usize]);
    }
}

/// Writes an IPv4 address in dotted-quad notation.
pub fn write_ipv4(ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            put(b'.');
        }
        write_decimal(u64::from(octet));
    }
}

/// Writes an Ethernet address as six dash-separated hex bytes.
pub fn write_mac(mac: [u8; 6]) {
    for (i, byte) in mac.into_iter().enumerate() {
        if i > 0 {
            put(b'-');
        }
        put(b"0123456789abcdef"[usize::from(byte >> 4)]);
        put(b"0123456789abcdef"[usize::from(byte & 0xf)]);
    }
}

/// Starts a log line: `[    0.028759] INFO  ` (seconds since reset, then the level padded
/// to five characters). End it with [`end_line`].
pub fn start_line(level: &str) {
    let micros = super::clock::micros();
    let seconds = micros / 1_000_000;
    write_str("[");
    for _ in digit_count(seconds)..5 {
        put(b' ');
    }
    write_decimal(seconds);
    write_str(".");
    write_decimal_padded(micros % 1_000_000, 6);
    write_str("] ");
    write_str(level);
    for _ in level.len()..6 {
        put(b' ');
    }
}

/// Ends a log line.
pub fn end_line() {
    write_str("\n");
}

/// A whole log line of text.
pub fn line(level: &str, text: &str) {
    start_line(level);
    write_str(text);
    end_line();
}

fn digit_count(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}
