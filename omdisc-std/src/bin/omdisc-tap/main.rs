//! `omdisc-tap`: an omdisc node on smoltcp, on a Linux TAP device with its own MAC and IP
//! address — the embedded frontend (`omdisc_smoltcp::Node`) on a real wire, next to
//! `omdiscd` nodes. Thin: checks its command line, opens the TAP, the key and the map
//! output, and runs [`tap_node::TapNode`].
//!
//! ```text
//! ip tuntap add dev tap0 mode tap && ip link set tap0 up   # and bridge tap0 to the segment
//! omdisc-tap --tap tap0 --ip 10.77.1.50/24 --map-dir /tmp/tapmap
//! showmap --map-dir /tmp/tapmap
//! ```

#![deny(unsafe_code)]

mod cli;
mod tap_device;
mod tap_node;

use std::time::Instant as StdInstant;

use omdisc_core::NodeIdError;
use omdisc_smoltcp::{Node, NodeStorage, Settings};
use omdisc_std::cli::{fail_exit, parse_or_exit, print_error_line, usage_exit};
use omdisc_std::growing_table::GrowingTable;
use omdisc_std::key_file;
use omdisc_std::logging::{self, LogDestination};
use omdisc_std::map_sink::MapSink;
use omdisc_std::map_writer::MapWriter;
use omdisc_std::signals::{self, SignalReceiver};
use omdisc_std::startup::{incarnation, seed, TABLE_CAPACITY};
use smoltcp::time::Instant;

use cli::{TapArgs, TapConfig, TapValueError};
use tap_node::TapNode;

/// The program's name in messages.
pub(crate) const PROGRAM: &str = "omdisc-tap";

/// Datagrams the UDP socket queues on receive. The node hands each frame's datagram to the
/// engine before the next frame, so this is headroom, not a burst limit.
const RX_SLOTS: usize = 64;
/// Datagrams the UDP socket queues on send.
const TX_SLOTS: usize = 16;
/// Frames taken in per poll before timers and signals get their turn (the TAP's kernel
/// queue holds 1000 by default).
const INGRESS_BUDGET: usize = 256;

fn main() {
    let args: TapArgs = parse_or_exit(PROGRAM);
    let config = TapConfig::from_args(args).unwrap_or_else(|e| usage_exit(PROGRAM, &e.to_string()));
    // Blocked first: a SIGTERM during startup waits for the loop, which leaves cleanly.
    signals::block_handled_signals()
        .unwrap_or_else(|e| fail_exit(PROGRAM, &format!("cannot block signals: {e}")));
    logging::init(PROGRAM, LogDestination::Stderr);
    install_panic_hook();

    let keyring = config.key_file.as_ref().map(|path| {
        key_file::load_keyring(path).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()))
    });
    let map = config.map_dir.as_ref().map(|dir| {
        let sink = MapSink::alpha(dir).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
        MapWriter::new(sink)
    });
    let mut device = tap_device::open(config.tap.as_str())
        .unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));

    let mut settings = settings(&config).unwrap_or_else(|e| usage_exit(PROGRAM, &e.to_string()));
    let authenticated = keyring.is_some();
    settings.keyring = keyring;
    let origin = StdInstant::now();
    let storage: &'static mut NodeStorage<'static, RX_SLOTS, TX_SLOTS> =
        Box::leak(Box::new(NodeStorage::new()));
    let table = GrowingTable::new(TABLE_CAPACITY);
    let node = Node::new(settings, &mut device, Instant::ZERO, storage, table)
        .unwrap_or_else(|e| fail_exit(PROGRAM, &format!("{}: {e}", config.tap)));
    let signals = SignalReceiver::open()
        .unwrap_or_else(|e| fail_exit(PROGRAM, &format!("cannot open a signalfd: {e}")));

    log::info!(
        "node {} ({}, MAC {}) on TAP {}; group {} port {}; interval {} s, {}; map {}",
        config.node_id,
        config.cidr,
        config.mac,
        config.tap,
        config.group,
        config.port,
        config.interval.as_secs_f64(),
        omdisc_std::config::describe_expiry(config.expiry),
        map.as_ref().map_or("not written".to_owned(), |m| m
            .sink()
            .paths()
            .config
            .display()
            .to_string()),
    );
    if authenticated {
        log::info!("cluster key loaded: messages are authenticated");
    } else {
        log::info!("no --key-file: the cluster is unauthenticated");
    }

    let mut tap_node = TapNode {
        node,
        device,
        signals,
        map,
        key_file: config.key_file.clone(),
        origin,
    };
    match tap_node.run() {
        Ok(signal) => {
            log::info!("stopped ({signal})");
            std::process::exit(0)
        }
        Err(error) => fail_exit(PROGRAM, &format!("main loop failed: {error}")),
    }
}

/// The node's settings from the validated command line.
fn settings(config: &TapConfig) -> Result<Settings, TapValueError> {
    let address = config.cidr.address().into();
    let mut settings = Settings::new(config.mac, config.cidr, incarnation(), seed())
        .map_err(|e: NodeIdError| TapValueError::NodeId(address, e))?;
    settings.group = config.group.into();
    settings.port = config.port;
    let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
    settings.engine.interval = omdisc_core::Duration::from_millis(interval_ms);
    settings.engine.dead_after = config.expiry.min;
    settings.engine.max_dead_after = config.expiry.max;
    settings.ingress_budget = INGRESS_BUDGET;
    Ok(settings)
}

/// smoltcp's TAP device panics on I/O errors (a TAP deleted or taken down under it): make
/// that one error line instead of a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        print_error_line(
            PROGRAM,
            &format!("fatal: {message} (did the TAP device go away?)"),
        );
    }));
}
