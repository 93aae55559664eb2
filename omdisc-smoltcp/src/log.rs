//! Logging shims: this crate logs through `log` or, with the `defmt` feature, through
//! `defmt`, like the core. Without either, the macros compile to nothing, so an image pays
//! for no logger it does not want. Arguments must be plain numbers, `&str`, `NodeId` or
//! smoltcp types, which both backends can format. With both features on, `defmt` wins
//! (features stay additive: `--features defmt` works on top of the default `log`).

#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! node_log {
    (debug, $($arg:tt)*) => { ::log::debug!(target: "omdisc_smoltcp", $($arg)*) };
    (info, $($arg:tt)*) => { ::log::info!(target: "omdisc_smoltcp", $($arg)*) };
    (warn, $($arg:tt)*) => { ::log::warn!(target: "omdisc_smoltcp", $($arg)*) };
}

#[cfg(feature = "defmt")]
macro_rules! node_log {
    (debug, $($arg:tt)*) => { ::defmt::debug!($($arg)*) };
    (info, $($arg:tt)*) => { ::defmt::info!($($arg)*) };
    (warn, $($arg:tt)*) => { ::defmt::warn!($($arg)*) };
}

#[cfg(not(any(feature = "log", feature = "defmt")))]
macro_rules! node_log {
    ($level:ident, $($arg:expr),* $(,)?) => {{ $( let _ = &$arg; )* }};
}
