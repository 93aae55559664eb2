//! `omdiscd`: the cluster auto-discovery daemon. Thin: the work is in the `omdisc_std` lib.

use omdisc_std::cli::{self, fail_exit, usage_exit, OmdiscdArgs, EXIT_FAILURE};
use omdisc_std::config::{describe_expiry, DaemonConfig, InterfaceMode, MapTarget};
use omdisc_std::daemon::Daemon;
use omdisc_std::daemonize::{daemonize, Detached};
use omdisc_std::logging::{self, LogDestination};
use omdisc_std::sd_notify::Notifier;
use omdisc_std::signals::{self, SignalReceiver};
use omdisc_std::startup::{self, Prepared};
use omdisc_std::version;

const PROGRAM: &str = "omdiscd";

fn main() {
    let args: OmdiscdArgs = cli::parse_or_exit(PROGRAM);
    version::exit_if_asked(PROGRAM, args.version);
    // Read (and cleared) before anything else runs: systemd's socket for READY=1 and co.
    let notifier =
        Notifier::from_env().unwrap_or_else(|error| fail_exit(PROGRAM, &error.to_string()));
    let config = DaemonConfig::from_args(args)
        .unwrap_or_else(|error| usage_exit(PROGRAM, &error.to_string()));
    // Block the handled signals first: a SIGTERM during startup then waits for the loop,
    // which leaves the cluster cleanly.
    signals::block_handled_signals()
        .unwrap_or_else(|error| fail_exit(PROGRAM, &format!("cannot block signals: {error}")));
    let mut prepared =
        startup::prepare(config).unwrap_or_else(|error| fail_exit(PROGRAM, &error.to_string()));

    let mut detached = if prepared.config.daemonize {
        let detached = daemonize(PROGRAM).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
        logging::init(PROGRAM, LogDestination::Syslog);
        Some(detached)
    } else {
        logging::init(PROGRAM, LogDestination::Stderr);
        None
    };
    let signals = SignalReceiver::open().unwrap_or_else(|error| {
        startup_failed(detached.take(), &format!("cannot open a signalfd: {error}"))
    });
    let mut pid_file = prepared.pid_file.take();
    if let Some(pid_file) = &mut pid_file {
        if let Err(error) = pid_file.write_pid(std::process::id()) {
            startup_failed(detached.take(), &error.to_string());
        }
    }
    log_startup(&prepared);
    let mut daemon = match Daemon::new(prepared, signals, notifier) {
        Ok(daemon) => daemon,
        Err(error) => {
            if let Some(pid_file) = pid_file {
                let _ = pid_file.remove();
            }
            startup_failed(
                detached.take(),
                &format!("cannot make the epoll set the main loop waits on: {error}"),
            )
        }
    };
    if let Some(detached) = detached {
        detached.ready();
    }

    let result = daemon.run();
    if let Some(pid_file) = pid_file {
        if let Err(error) = pid_file.remove() {
            log::warn!("{error}");
        }
    }
    match result {
        Ok(signal) => {
            log::info!("stopped ({signal})");
            std::process::exit(0)
        }
        Err(error) => {
            log::error!("main loop failed: {error}");
            std::process::exit(EXIT_FAILURE)
        }
    }
}

/// Reports a failure after logging started: to the log, and to the terminal (directly, or
/// through the waiting parent when detached); then exits.
fn startup_failed(detached: Option<Detached>, message: &str) -> ! {
    log::error!("{message}");
    match detached {
        Some(detached) => detached.failed(message),
        None => cli::print_error_line(PROGRAM, message),
    }
    std::process::exit(EXIT_FAILURE)
}

fn log_startup(prepared: &Prepared) {
    let config = &prepared.config;
    let active = config.active_interface_count();
    let interfaces: Vec<String> = config
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, name)| match i < active {
            true => name.to_string(),
            false => format!("{name} (alias)"),
        })
        .collect();
    let interfaces = match (interfaces.is_empty(), config.multicast) {
        (true, true) => "the interface of the route to the group".to_owned(),
        (true, false) => "the interface of the route to the seeds".to_owned(),
        (false, _) => interfaces.join(", "),
    };
    let mode = match config.mode {
        _ if !config.multicast => "unicast only, never joined".to_owned(),
        InterfaceMode::Relay if active > 1 => "gateway, relaying".to_owned(),
        InterfaceMode::Relay => "TTL 1".to_owned(),
        InterfaceMode::NoRelay => "TTL 1, not relaying".to_owned(),
        InterfaceMode::MulticastTtl(ttl) => format!("multicast TTL {ttl}"),
    };
    let map = match &config.map_target {
        MapTarget::Alpha(_) | MapTarget::Live => prepared.sink.paths().config.display(),
    };
    let budget = match config.bandwidth {
        0 => "no bandwidth budget".to_owned(),
        bits => format!("cluster budget {bits} bit/s"),
    };
    log::info!(
        "{} on {interfaces}; group {} port {} ({mode}); interval {} s, {}, {budget}; map {map}",
        config
            .node_id
            .map_or("node id from the address".to_owned(), |id| format!(
                "node {id}"
            )),
        config.group,
        config.port,
        config.interval.as_secs_f64(),
        describe_expiry(config.expiry),
    );
    match prepared.engine.keyring() {
        Some(keys) => log::info!(
            "cluster key from {}: {} key(s), messages authenticated",
            config
                .key_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            keys.keys().len()
        ),
        None => log::warn!("no --key-file: the cluster is unauthenticated"),
    }
}
