//! [`MulticastRouter`]: Debian's `smcrouted` running in a router namespace with static
//! (*,G) routes, so that multicast crosses between segments the way it does between real
//! networks (the TTL is decremented at each hop, and a datagram sent with TTL 1 stays on
//! its own segment).
//!
//! Its configuration, pid file, control socket and log live in a directory of the
//! scenario; it runs in the foreground (`-n`) as a [`Process`] of ours, so it is ended by
//! PID when the guard drops (and by the registry on Ctrl-C or a scenario timeout).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::Process;
use super::wait::wait_until;
use crate::ensure::find_command;

/// How long `smcrouted` gets to read its configuration and write its pid file.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// One static (*,G) route: `group` arriving on `inbound` is forwarded to `outbound`.
#[derive(Debug, Clone)]
pub struct MulticastRoute {
    /// Interface the traffic arrives on.
    pub inbound: String,
    /// The group.
    pub group: IpAddr,
    /// Interfaces it is forwarded to.
    pub outbound: Vec<String>,
}

/// A running `smcrouted`.
#[derive(Debug)]
pub struct MulticastRouter {
    process: Process,
    config: PathBuf,
}

impl MulticastRouter {
    /// Starts `smcrouted` in namespace `ns` with `routes`; files go to `dir/smcroute.*`.
    /// Returns once it has read its configuration (its pid file exists).
    pub fn start(ns: &str, dir: &Path, routes: &[MulticastRoute]) -> Result<Self, String> {
        let program = find_command("smcrouted").ok_or(
            "smcrouted not found: install Debian's smcroute (cargo xtask test --only tools)",
        )?;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let config = dir.join("smcroute.conf");
        let pid_file = dir.join("smcroute.pid");
        let socket = dir.join("smcroute.sock");
        let _ = std::fs::remove_file(&pid_file);
        std::fs::write(&config, config_text(routes))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let args: Vec<String> = vec![
            "-n".into(),
            "-f".into(),
            config.display().to_string(),
            "-P".into(),
            pid_file.display().to_string(),
            "-u".into(),
            socket.display().to_string(),
            "-l".into(),
            "debug".into(),
        ];
        let mut process =
            Process::spawn_in(ns, "smcrouted", &program, &args, &dir.join("smcroute.log"))?;
        let ready = wait_until(READY_TIMEOUT, Duration::from_millis(20), || {
            pid_file.exists() || process.try_exit().is_some()
        });
        if let Some(status) = process.try_exit() {
            return Err(format!(
                "smcrouted exited at once ({status}): {}",
                super::cluster::tail(&process.output(), 3)
            ));
        }
        if ready.is_err() {
            return Err(format!(
                "smcrouted did not write its pid file within {READY_TIMEOUT:?}"
            ));
        }
        let router = MulticastRouter { process, config };
        // A route on an interface smcrouted does not know is skipped with a log line only.
        if router.output().contains("matches no valid phyint") {
            return Err(format!(
                "smcrouted skipped a route of {}: {}",
                router.config.display(),
                router.output()
            ));
        }
        Ok(router)
    }

    /// What `smcrouted` logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.try_exit().is_none()
    }
}

/// The `smcroute.conf` text for `routes`: one `mroute from IF group G to IF...` line each.
fn config_text(routes: &[MulticastRoute]) -> String {
    let mut text = String::from("# written by cargo xtask for one scenario\n");
    for route in routes {
        let _ = writeln!(
            text,
            "mroute from {} group {} to {}",
            route.inbound,
            route.group,
            route.outbound.join(" ")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_become_mroute_lines() {
        let routes = [
            MulticastRoute {
                inbound: "r0".into(),
                group: "239.255.77.77".parse().unwrap(),
                outbound: vec!["r1".into()],
            },
            MulticastRoute {
                inbound: "r1".into(),
                group: "239.255.77.77".parse().unwrap(),
                outbound: vec!["r0".into(), "r2".into()],
            },
        ];
        let text = config_text(&routes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "mroute from r0 group 239.255.77.77 to r1",
                "mroute from r1 group 239.255.77.77 to r0 r2"
            ]
        );
    }
}
