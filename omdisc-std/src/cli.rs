//! Command lines of `omdiscd` and `showmap` (argh), and the one-line usage errors.
//!
//! argh parses the syntax and, through the types of [`crate::values`], every value; the
//! checks that relate options to each other follow in [`crate::config`]. Every message is
//! one line: [`parse_or_exit`] replaces `argh::from_env`, which prints two lines on an error,
//! and keeps only our own message when a value is refused.

use std::io::Write;
use std::process;

use argh::FromArgs;

use crate::output_values::{self, HookTimeout, MetricsListen, ShowmapFormat};
use crate::values::{
    Bandwidth, CountersFilePath, DeadAfter, Group, HookPath, InterfaceList, Interval, KeyFilePath,
    MapDir, MapFile, MaxDeadAfter, MaxNodes, MetricsFilePath, NodeIdValue, PeerAddr, PeersFilePath,
    PidFilePath, Port, Ttl,
};

/// Exit status for a command-line (usage) error.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for any other startup or runtime failure.
pub const EXIT_FAILURE: i32 = 1;

/// omdiscd: openMosix-style cluster auto-discovery. Announces this node by IP multicast,
/// learns the other nodes, and writes the openMosix map (alpha mode: DIR/om_config and
/// DIR/om_mospe; live mode: /proc/hpc/admin/{config,mospe}).
#[derive(FromArgs, Debug, Default, PartialEq)]
#[argh(help_triggers("-h", "--help"))]
pub struct OmdiscdArgs {
    /// interfaces to use, comma separated, one to six (default: the interface of the route to
    /// the group)
    #[argh(option, short = 'i', arg_name = "IF[,IF...]")]
    pub interface: Option<InterfaceList>,

    /// stay in the foreground and log to stderr (default: daemon, syslog)
    #[argh(switch, short = 'n')]
    pub nodaemon: bool,

    /// multicast TTL 1-255 for clusters joined by multicast routing: only the first interface
    /// sends and receives, the others are announced as aliases
    #[argh(option, short = 'm', long = "multicast-ttl", arg_name = "TTL")]
    pub multicast_ttl: Option<Ttl>,

    /// alpha-mode output directory (default /tmp): DIR/om_mospe, DIR/om_config
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<MapDir>,

    /// write the map to /proc/hpc/admin/{mospe,config} (openMosix kernel)
    #[argh(switch)]
    pub live: bool,

    /// pid file (default /var/run/omdiscd.pid when daemonised; none with -n)
    #[argh(option, long = "pid-file", arg_name = "PATH")]
    pub pid_file: Option<PidFilePath>,

    /// multicast group, IPv4 or IPv6 (default 239.255.77.77)
    #[argh(option, arg_name = "ADDR")]
    pub group: Option<Group>,

    /// UDP port (default 7477)
    #[argh(option, arg_name = "N")]
    pub port: Option<Port>,

    /// announce interval in seconds, fractions allowed (default 1)
    #[argh(option, arg_name = "SECS")]
    pub interval: Option<Interval>,

    /// missed intervals after which a silent node is removed (default 5)
    #[argh(option, long = "dead-after", arg_name = "N")]
    pub dead_after: Option<DeadAfter>,

    /// most missed intervals before a silent node is removed on a lossy link: each receiver
    /// waits as long as the loss it measures requires, up to N (default 25, at least
    /// --dead-after; equal to --dead-after: a fixed deadline)
    #[argh(option, long = "max-dead-after", arg_name = "N")]
    pub max_dead_after: Option<MaxDeadAfter>,

    /// budget for the whole cluster's announcements in bits per second, UDP/IP headers
    /// included (default 128000); large clusters announce less often to stay within it; 0
    /// turns the budget off
    #[argh(option, arg_name = "BITS_PER_S")]
    pub bandwidth: Option<Bandwidth>,

    /// most nodes the map holds, 1-65535 (default 65535, the whole id space); the node table
    /// grows as nodes come, 160 bytes per node, up to this limit
    #[argh(option, long = "max-nodes", arg_name = "N")]
    pub max_nodes: Option<MaxNodes>,

    /// cluster key file (hex); without it the cluster is unauthenticated
    #[argh(option, long = "key-file", arg_name = "PATH")]
    pub key_file: Option<KeyFilePath>,

    /// node id 1-65535 (default: the last two octets of the first interface's address)
    #[argh(option, long = "node-id", arg_name = "ID")]
    pub node_id: Option<NodeIdValue>,

    /// write the counters as JSON to PATH (atomically) at start, on SIGUSR1 and when
    /// stopping
    #[argh(option, long = "counters-file", arg_name = "PATH")]
    pub counters_file: Option<CountersFilePath>,

    /// with several interfaces: announce the other legs as aliases on each network but
    /// relay nothing between them (default without -m: relay, a gateway)
    #[argh(switch, long = "no-relay")]
    pub no_relay: bool,

    /// run the executable PATH (directly, no shell) on each membership event: argv[1] is
    /// the event, OMDISC_* variables describe it, stdin holds the map as JSON
    #[argh(option, arg_name = "PATH")]
    pub hook: Option<HookPath>,

    /// kill a hook (and its process group) still running after SECS seconds (default 30)
    #[argh(option, long = "hook-timeout", arg_name = "SECS")]
    pub hook_timeout: Option<HookTimeout>,

    /// serve Prometheus metrics on GET /metrics at ADDR:PORT (a port alone: 127.0.0.1)
    #[argh(option, long = "metrics-listen", arg_name = "ADDR:PORT")]
    pub metrics_listen: Option<MetricsListen>,

    /// write the Prometheus metrics to PATH (atomically) once per interval, for
    /// node_exporter's textfile collector
    #[argh(option, long = "metrics-file", arg_name = "PATH")]
    pub metrics_file: Option<MetricsFilePath>,

    /// a seed to contact by unicast, IPv4 or IPv6 (IPv6 with a port as [ADDR]:PORT; port
    /// default: --port); repeatable; one live seed is enough to learn every member
    #[argh(option, arg_name = "ADDR[:PORT]")]
    pub peer: Vec<PeerAddr>,

    /// read seeds from PATH, one ADDR[:PORT] a line, # comments; read again on SIGHUP
    #[argh(option, long = "peers-file", arg_name = "PATH")]
    pub peers_file: Option<PeersFilePath>,

    /// never join the multicast group: reach the other members by unicast only (through
    /// --peer or --peers-file, or members that name this node)
    #[argh(switch, long = "no-multicast")]
    pub no_multicast: bool,

    /// print the version and the cluster-key support built in, then exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}

/// showmap: print the openMosix map written by omdiscd, in setpe's text format.
#[derive(FromArgs, Debug, Default, PartialEq)]
#[argh(help_triggers("-h", "--help"))]
pub struct ShowmapArgs {
    /// directory holding om_config and om_mospe (default: /run/omdisc, the omdiscd
    /// service's, if it holds a map, else /tmp)
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<MapDir>,

    /// read this map file (om_config format) instead
    #[argh(option, short = 'f', arg_name = "FILE")]
    pub file: Option<MapFile>,

    /// read /proc/hpc/admin/{config,mospe}
    #[argh(switch)]
    pub live: bool,

    /// print the membership as JSON (same as --format json)
    #[argh(switch)]
    pub json: bool,

    /// output format: setpe (default), json, hosts (/etc/hosts lines), hostfile (MPI), or
    /// prometheus-sd (file_sd targets)
    #[argh(option, arg_name = "FORMAT")]
    pub format: Option<ShowmapFormat>,

    /// port of the prometheus-sd targets (default 9477)
    #[argh(
        option,
        long = "sd-port",
        arg_name = "N",
        from_str_fn(output_values::sd_port)
    )]
    pub sd_port: Option<u16>,

    /// print again whenever the map changes (inotify on the map directory), until
    /// interrupted; with --format json one document per line
    #[argh(switch)]
    pub watch: bool,

    /// print the version and the cluster-key support built in, then exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}

/// Why parsing stopped early: help was asked for, or the command line is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyExit {
    /// Help text (to stdout), or a one-line error (to stderr, prefixed by the program name).
    pub message: String,
    /// What stopped parsing.
    pub kind: EarlyExitKind,
}

/// What stopped parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyExitKind {
    /// `-h`/`--help`.
    Help,
    /// The syntax is wrong (unknown option, missing value, ...): the message ends with a
    /// pointer to `--help`.
    Usage,
    /// A value was refused; the message is the [`crate::values::ValueError`] line.
    BadValue,
}

/// Parses `omdiscd`'s arguments (without the program name).
pub fn parse_omdiscd_args(args: &[&str]) -> Result<OmdiscdArgs, EarlyExit> {
    parse_args("omdiscd", args)
}

/// Parses `showmap`'s arguments (without the program name).
pub fn parse_showmap_args(args: &[&str]) -> Result<ShowmapArgs, EarlyExit> {
    parse_args("showmap", args)
}

/// Parses `program`'s arguments (without the program name) into `T`.
pub fn parse_args<T: FromArgs>(program: &str, args: &[&str]) -> Result<T, EarlyExit> {
    T::from_args(&[program], args).map_err(|exit| match exit.status {
        Ok(()) => EarlyExit {
            message: exit.output,
            kind: EarlyExitKind::Help,
        },
        Err(()) => match refused_value(&exit.output, args) {
            Some(message) => EarlyExit {
                message: one_line(message),
                kind: EarlyExitKind::BadValue,
            },
            None => EarlyExit {
                message: format!("{} (see {program} --help)", one_line(&exit.output)),
                kind: EarlyExitKind::Usage,
            },
        },
    })
}

/// Our message in argh's report of a value its parser refused, `Error parsing option
/// 'OPTION' with value 'VALUE': MESSAGE`; the prefix is rebuilt from the arguments rather
/// than searched for, since a value may hold any text.
fn refused_value<'a>(output: &'a str, args: &[&str]) -> Option<&'a str> {
    args.windows(2).find_map(|pair| {
        let [option, value] = pair else { return None };
        output.strip_prefix(&format!(
            "Error parsing option '{option}' with value '{value}': "
        ))
    })
}

/// Joins a possibly multi-line message into one line.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses the process's arguments into `T`; prints help and exits 0, or prints one error
/// line and exits with [`EXIT_USAGE`].
pub fn parse_or_exit<T: FromArgs>(program: &str) -> T {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(arg) => usage_exit(
                program,
                &format!("argument {:?} is not valid UTF-8", arg.to_string_lossy()),
            ),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match parse_args(program, &args) {
        Ok(parsed) => parsed,
        Err(exit) if exit.kind == EarlyExitKind::Help => {
            let _ = writeln!(std::io::stdout().lock(), "{}", exit.message);
            process::exit(0)
        }
        Err(exit) => usage_exit(program, &exit.message),
    }
}

/// Prints `program: error: message` on stderr and exits with [`EXIT_USAGE`].
pub fn usage_exit(program: &str, message: &str) -> ! {
    print_error_line(program, message);
    process::exit(EXIT_USAGE)
}

/// Prints `program: error: message` as one line on stderr (a closed stderr is ignored),
/// at error priority in the systemd journal.
pub fn print_error_line(program: &str, message: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}{program}: error: {}",
        crate::journal::error_prefix(),
        one_line(message)
    );
}

/// Prints `program: error: message` on stderr and exits with [`EXIT_FAILURE`].
pub fn fail_exit(program: &str, message: &str) -> ! {
    print_error_line(program, message);
    process::exit(EXIT_FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_recognised_with_short_and_long_flags() {
        for flag in ["-h", "--help"] {
            let exit = parse_omdiscd_args(&[flag]).unwrap_err();
            assert_eq!(exit.kind, EarlyExitKind::Help);
            assert!(exit.message.contains("--multicast-ttl"));
            assert!(exit.message.contains("--map-dir"));
        }
        let exit = parse_showmap_args(&["-h"]).unwrap_err();
        assert!(exit.kind == EarlyExitKind::Help && exit.message.contains("--json"));
    }

    #[test]
    fn unknown_flag_is_one_line_error() {
        let exit = parse_omdiscd_args(&["--bogus"]).unwrap_err();
        assert_ne!(exit.kind, EarlyExitKind::Help);
        assert!(exit.message.contains("--bogus"), "{}", exit.message);
        assert!(!exit.message.contains('\n'));
    }

    #[test]
    fn option_without_value_is_an_error() {
        let exit = parse_omdiscd_args(&["-i"]).unwrap_err();
        assert_ne!(exit.kind, EarlyExitKind::Help);
        assert!(!exit.message.contains('\n'));
    }

    #[test]
    fn positional_arguments_are_rejected() {
        assert!(parse_omdiscd_args(&["eth0"]).is_err());
        assert!(parse_showmap_args(&["/tmp"]).is_err());
    }

    #[test]
    fn repeated_option_is_rejected() {
        assert!(parse_omdiscd_args(&["-i", "a", "-i", "b"]).is_err());
    }

    #[test]
    fn peers_repeat_and_no_multicast_is_a_switch() {
        let args = parse_omdiscd_args(&[
            "--peer",
            "10.0.0.1",
            "--peer",
            "[fd00::1]:9000",
            "--peers-file",
            "/etc/omdisc/peers",
            "--no-multicast",
        ])
        .unwrap();
        let peers: Vec<String> = args
            .peer
            .iter()
            .map(|p| p.socket_addr(7477).to_string())
            .collect();
        assert_eq!(peers, ["10.0.0.1:7477", "[fd00::1]:9000"]);
        assert!(args.no_multicast && args.peers_file.is_some());
        let exit = parse_omdiscd_args(&["--peer", "10.0.0.1:x"]).unwrap_err();
        assert_eq!(exit.kind, EarlyExitKind::BadValue);
        assert!(
            exit.message.starts_with("invalid --peer \"10.0.0.1:x\""),
            "{exit:?}"
        );
        assert!(parse_omdiscd_args(&["--peers-file", ""]).is_err());
    }

    #[test]
    fn showmap_options() {
        let args = parse_showmap_args(&["-f", "/tmp/om_config", "--json"]).unwrap();
        assert_eq!(
            args.file.map(MapFile::into_path),
            Some(std::path::PathBuf::from("/tmp/om_config"))
        );
        assert!(args.json);
        assert!(!args.live);
    }

    #[test]
    fn version_is_asked_with_short_and_long_flags() {
        for flag in ["-V", "--version"] {
            assert!(parse_omdiscd_args(&[flag]).unwrap().version);
            assert!(parse_showmap_args(&[flag]).unwrap().version);
        }
        assert!(!parse_showmap_args(&[]).unwrap().version);
    }

    #[test]
    fn a_refused_value_is_our_message_alone() {
        let exit = parse_omdiscd_args(&["-n", "--port", "0"]).unwrap_err();
        assert_eq!(exit.kind, EarlyExitKind::BadValue);
        assert_eq!(
            exit.message,
            "invalid --port \"0\": expected a whole number from 1 to 65535"
        );
        // A value that looks like argh's own report changes nothing.
        let value = "x': y";
        let exit = parse_omdiscd_args(&["--group", value]).unwrap_err();
        assert!(
            exit.message.starts_with("invalid --group \"x': y\""),
            "{exit:?}"
        );
    }

    #[test]
    fn a_syntax_error_points_to_help() {
        let exit = parse_showmap_args(&["--bogus"]).unwrap_err();
        assert_eq!(exit.kind, EarlyExitKind::Usage);
        assert!(exit.message.ends_with("(see showmap --help)"), "{exit:?}");
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b\n\nc\n"), "a b c");
    }
}
