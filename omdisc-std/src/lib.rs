//! Linux frontend of omdisc: the `omdiscd` daemon and the `showmap` tool.
//!
//! The protocol lives in `omdisc-core`; this crate owns what is specific to a Linux host:
//! the command line ([`cli`], [`config`]) and the one-line errors.

#![deny(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemonize;
pub mod interfaces;
pub mod logging;
pub mod map_sink;
pub mod pid_file;
pub mod signals;
pub mod socket;
