//! Command lines of `omdiscd` and `showmap` (argh), and the one-line usage errors.
//!
//! argh parses the syntax; values are validated afterwards ([`crate::config`]) so every
//! message is ours and fits on one line. [`parse_or_exit`] replaces `argh::from_env`, which
//! prints two lines on an error.

use std::io::Write;
use std::process;

use argh::FromArgs;

/// Exit status for a command-line (usage) error.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for any other startup or runtime failure.
pub const EXIT_FAILURE: i32 = 1;

/// omdiscd: openMosix-style cluster auto-discovery. Announces this node by IP multicast,
/// learns the other nodes, and writes the openMosix map (alpha mode: DIR/om_config and
/// DIR/om_mospe; live mode: /proc/hpc/admin/{config,mospe}).
#[derive(FromArgs, Debug, Default, PartialEq, Eq)]
#[argh(help_triggers("-h", "--help"))]
pub struct OmdiscdArgs {
    /// interfaces to use, comma separated, one to six (default: the interface of the route to
    /// the group)
    #[argh(option, short = 'i', arg_name = "IF[,IF...]")]
    pub interface: Option<String>,

    /// stay in the foreground and log to stderr (default: daemon, syslog)
    #[argh(switch, short = 'n')]
    pub nodaemon: bool,

    /// multicast TTL 1-255 for clusters joined by multicast routing: only the first interface
    /// sends and receives, the others are announced as aliases
    #[argh(option, short = 'm', long = "multicast-ttl", arg_name = "TTL")]
    pub multicast_ttl: Option<String>,

    /// alpha-mode output directory (default /tmp): DIR/om_mospe, DIR/om_config
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<String>,

    /// write the map to /proc/hpc/admin/{mospe,config} (openMosix kernel)
    #[argh(switch)]
    pub live: bool,

    /// pid file (default /var/run/omdiscd.pid when daemonised; none with -n)
    #[argh(option, long = "pid-file", arg_name = "PATH")]
    pub pid_file: Option<String>,

    /// multicast group, IPv4 or IPv6 (default 239.255.77.77)
    #[argh(option, arg_name = "ADDR")]
    pub group: Option<String>,

    /// UDP port (default 7477)
    #[argh(option, arg_name = "N")]
    pub port: Option<String>,

    /// announce interval in seconds, fractions allowed (default 1)
    #[argh(option, arg_name = "SECS")]
    pub interval: Option<String>,

    /// missed intervals after which a silent node is removed (default 5)
    #[argh(option, long = "dead-after", arg_name = "N")]
    pub dead_after: Option<String>,

    /// budget for the whole cluster's announcements in bits per second, UDP/IP headers
    /// included (default 128000); large clusters announce less often to stay within it; 0
    /// turns the budget off
    #[argh(option, arg_name = "BITS_PER_S")]
    pub bandwidth: Option<String>,

    /// most nodes the map holds, 1-65535 (default 65535, the whole id space); the node table
    /// takes about 180 bytes per node, reserved at start
    #[argh(option, long = "max-nodes", arg_name = "N")]
    pub max_nodes: Option<String>,

    /// cluster key file (hex); without it the cluster is unauthenticated
    #[argh(option, long = "key-file", arg_name = "PATH")]
    pub key_file: Option<String>,

    /// node id 1-65535 (default: the last two octets of the first interface's address)
    #[argh(option, long = "node-id", arg_name = "ID")]
    pub node_id: Option<String>,

    /// print the version and the cluster-key support built in, then exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}

/// showmap: print the openMosix map written by omdiscd, in setpe's text format.
#[derive(FromArgs, Debug, Default, PartialEq, Eq)]
#[argh(help_triggers("-h", "--help"))]
pub struct ShowmapArgs {
    /// directory holding om_config and om_mospe (default: /run/omdisc, the omdiscd
    /// service's, if it holds a map, else /tmp)
    #[argh(option, long = "map-dir", arg_name = "DIR")]
    pub map_dir: Option<String>,

    /// read this map file (om_config format) instead
    #[argh(option, short = 'f', arg_name = "FILE")]
    pub file: Option<String>,

    /// read /proc/hpc/admin/{config,mospe}
    #[argh(switch)]
    pub live: bool,

    /// print the membership as JSON
    #[argh(switch)]
    pub json: bool,

    /// print the version and the cluster-key support built in, then exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}

/// Why parsing stopped early: help was asked for, or the command line is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyExit {
    /// Help text (to stdout), or a one-line error (to stderr, prefixed by the program name).
    pub message: String,
    /// `true` for `-h`/`--help`.
    pub is_help: bool,
}

/// Parses `omdiscd`'s arguments (without the program name).
pub fn parse_omdiscd_args(args: &[&str]) -> Result<OmdiscdArgs, EarlyExit> {
    parse("omdiscd", args)
}

/// Parses `showmap`'s arguments (without the program name).
pub fn parse_showmap_args(args: &[&str]) -> Result<ShowmapArgs, EarlyExit> {
    parse("showmap", args)
}

fn parse<T: FromArgs>(program: &str, args: &[&str]) -> Result<T, EarlyExit> {
    T::from_args(&[program], args).map_err(|exit| match exit.status {
        Ok(()) => EarlyExit {
            message: exit.output,
            is_help: true,
        },
        Err(()) => EarlyExit {
            message: one_line(&exit.output),
            is_help: false,
        },
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

/// Parses the process's arguments with `parse_args`; prints help and exits 0, or prints one
/// error line and exits with [`EXIT_USAGE`].
pub fn parse_or_exit<T>(program: &str, parse_args: fn(&[&str]) -> Result<T, EarlyExit>) -> T {
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
    match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(exit) if exit.is_help => {
            let _ = writeln!(std::io::stdout().lock(), "{}", exit.message);
            process::exit(0)
        }
        Err(exit) => usage_exit(program, &format!("{} (see {program} --help)", exit.message)),
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
            assert!(exit.is_help);
            assert!(exit.message.contains("--multicast-ttl"));
            assert!(exit.message.contains("--map-dir"));
        }
        let exit = parse_showmap_args(&["-h"]).unwrap_err();
        assert!(exit.is_help && exit.message.contains("--json"));
    }

    #[test]
    fn unknown_flag_is_one_line_error() {
        let exit = parse_omdiscd_args(&["--bogus"]).unwrap_err();
        assert!(!exit.is_help);
        assert!(exit.message.contains("--bogus"), "{}", exit.message);
        assert!(!exit.message.contains('\n'));
    }

    #[test]
    fn option_without_value_is_an_error() {
        let exit = parse_omdiscd_args(&["-i"]).unwrap_err();
        assert!(!exit.is_help);
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
    fn showmap_options() {
        let args = parse_showmap_args(&["-f", "/tmp/om_config", "--json"]).unwrap();
        assert_eq!(args.file.as_deref(), Some("/tmp/om_config"));
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
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b\n\nc\n"), "a b c");
    }
}
