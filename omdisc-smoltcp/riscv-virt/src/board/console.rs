//! The console: the 16550 UART at 0x1000_0000 (QEMU's model sends without set-up)
//! and a `log` logger on it that stamps every line with the time since reset.

use core::fmt::{self, Write};

const UART_BASE: usize = 0x1000_0000;
const THR: usize = 0;
const LSR: usize = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Writes text to the UART, waiting for room byte by byte.
pub struct Console;

impl Console {
    fn put(byte: u8) {
        let base = UART_BASE as *mut u8;
        // SAFETY: the 16550 registers are MMIO at UART_BASE on `virt`;
        // volatile byte accesses are what the device expects.
        unsafe {
            while base.add(LSR).read_volatile() & LSR_THR_EMPTY == 0 {}
            base.add(THR).write_volatile(byte);
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                Self::put(b'\r');
            }
            Self::put(byte);
        }
        Ok(())
    }
}

/// Writes `text` to the console as it is, without `core::fmt`.
pub fn write_str(text: &str) {
    let _ = Console.write_str(text);
}

/// Writes `n` in decimal, without `core::fmt`.
pub fn write_decimal(mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        Console::put(digit);
    }
}

/// Prints to the console without a timestamp.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::board::console::Console, format_args!($($arg)*));
    }};
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _metadata: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let micros = super::clock::micros();
        let _ = writeln!(
            Console,
            "[{:>5}.{:06}] {:<5} {}",
            micros / 1_000_000,
            micros % 1_000_000,
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Routes `log` records to the console at `level` and above.
pub fn init_logger(level: log::LevelFilter) {
    // Fails only if a logger is already set, which then stays in place.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
