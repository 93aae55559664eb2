//! Logging shims: the core logs through `log` or, with the `defmt` feature, through `defmt`.
//! With both features on (e.g. `--features defmt` on top of the default `log`), `defmt`
//! wins: features stay additive, and a board never pays for `core::fmt` formatting.
//!
//! Like smoltcp's `net_debug!`, these macros compile to nothing when neither feature is on,
//! so the core never forces a logger on an embedded image.

#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! core_log {
    (trace, $($arg:tt)*) => { ::log::trace!(target: "omdisc", $($arg)*) };
    (debug, $($arg:tt)*) => { ::log::debug!(target: "omdisc", $($arg)*) };
    (info, $($arg:tt)*) => { ::log::info!(target: "omdisc", $($arg)*) };
    (warn, $($arg:tt)*) => { ::log::warn!(target: "omdisc", $($arg)*) };
}

#[cfg(feature = "defmt")]
macro_rules! core_log {
    (trace, $($arg:tt)*) => { ::defmt::trace!($($arg)*) };
    (debug, $($arg:tt)*) => { ::defmt::debug!($($arg)*) };
    (info, $($arg:tt)*) => { ::defmt::info!($($arg)*) };
    (warn, $($arg:tt)*) => { ::defmt::warn!($($arg)*) };
}

#[cfg(not(any(feature = "log", feature = "defmt")))]
macro_rules! core_log {
    ($level:ident, $($arg:expr),* $(,)?) => {{ $( let _ = &$arg; )* }};
}
