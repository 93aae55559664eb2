//! One-shot commands with a time limit: `ip ...`, and any command inside a namespace.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::project::show;

/// Time limit for `ip` and for [`exec_in`] commands.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `command` to completion with stdout/stderr captured, killing it after `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let shown = show(command);
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    wait_output(child, timeout).map_err(|why| format!("`{shown}` {why}"))
}

/// Collects the output of `child` (spawned with piped stdout and stderr) and waits for it
/// to exit, killing it after `timeout`.
pub(super) fn wait_output(mut child: Child, timeout: Duration) -> Result<Output, String> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {timeout:?}"));
            }
            Err(e) => return Err(format!("cannot be waited for: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Reads a pipe to its end on a thread (so a chatty command never blocks on a full pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// `ip ARGS`; its stdout on success, else an error with its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("ip");
    command.args(args);
    let output = run_bounded(&mut command, COMMAND_TIMEOUT)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed: {}",
            show(&command),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `argv` inside namespace `ns` (`ip netns exec NS ...`) and returns its output,
/// whatever its exit status.
pub fn exec_in(ns: &str, argv: &[&str]) -> Result<Output, String> {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).args(argv);
    run_bounded(&mut command, COMMAND_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_are_captured() {
        let output = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    }

    #[test]
    fn a_command_over_its_time_is_killed() {
        let started = Instant::now();
        let err =
            run_bounded(Command::new("sleep").arg("5"), Duration::from_millis(100)).unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
