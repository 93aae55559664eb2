//! Bad input (issue 3): each bad command line gets exactly one line on stderr and a
//! non-zero exit, without a panic, and leaves the map files already written untouched.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use super::{binaries_and_dir, Ctx, Scenario};
use crate::testbed::{run_bounded, Binaries, Bridge, Netns};

/// Every bad `omdiscd` and `showmap` invocation of the contract.
pub(super) const BAD_INPUT: Scenario = Scenario {
    name: "bad-input",
    about: "bad options, interfaces, TTLs, map dirs, files: one stderr line, non-zero exit",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: bad_input,
};

/// A daemon that accepted a bad command line would run on; it is stopped after this.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What is in the map files before each bad start (must still be there after).
const SENTINEL_CONFIG: &[u8] = b"sentinel om_config written before the bad start\n";
const SENTINEL_MOSPE: &[u8] = b"sentinel om_mospe\n";

fn bad_input(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let bridge = Bridge::new("sw")?;
    let host = Netns::new("bad")?;
    // Seven interfaces with addresses (so seven is rejected for its count).
    for k in 0..7 {
        bridge.attach(
            &host,
            &format!("omd{k}"),
            &format!("10.77.{}.11/24", 20 + k),
            None,
        )?;
    }

    let map_dir = dir.join("maps");
    std::fs::create_dir_all(&map_dir)
        .map_err(|e| format!("cannot create {}: {e}", map_dir.display()))?;
    let a_file = dir.join("a-regular-file");
    std::fs::write(&a_file, "not a directory\n")
        .map_err(|e| format!("cannot write {}: {e}", a_file.display()))?;
    let map_dir_arg = map_dir.display().to_string();
    let file_arg = a_file.display().to_string();
    let missing_key = dir.join("no-such-key").display().to_string();
    let bad_peers = dir.join("bad-peers");
    std::fs::write(&bad_peers, "# seeds\n10.77.20.12\n10.77.20.13:0\n")
        .map_err(|e| format!("cannot write {}: {e}", bad_peers.display()))?;
    let bad_peers_arg = bad_peers.display().to_string();
    let missing_peers = dir.join("no-such-peers").display().to_string();
    let many_peers: Vec<String> = (1..=33).map(|i| format!("10.77.21.{i}")).collect();
    let many_peers_file = dir.join("many-peers");
    std::fs::write(&many_peers_file, many_peers.join("\n"))
        .map_err(|e| format!("cannot write {}: {e}", many_peers_file.display()))?;
    let many_peers_arg = many_peers_file.display().to_string();

    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "seven interfaces",
            vec![
                "-i",
                "omd0,omd1,omd2,omd3,omd4,omd5,omd6",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "unknown interface",
            vec!["-i", "nosuch0", "--map-dir", &map_dir_arg],
        ),
        (
            "interface without multicast (lo)",
            vec!["-i", "lo", "--map-dir", &map_dir_arg],
        ),
        (
            "TTL 0",
            vec!["-i", "omd0", "-m", "0", "--map-dir", &map_dir_arg],
        ),
        (
            "TTL 300",
            vec!["-i", "omd0", "-m", "300", "--map-dir", &map_dir_arg],
        ),
        (
            "unknown flag",
            vec!["-i", "omd0", "--bogus", "--map-dir", &map_dir_arg],
        ),
        (
            "--max-dead-after below --dead-after",
            vec![
                "-i",
                "omd0",
                "--dead-after",
                "8",
                "--max-dead-after",
                "6",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "map dir is a regular file",
            vec!["-i", "omd0", "--map-dir", &file_arg],
        ),
        (
            "map dir cannot be written (/proc)",
            vec!["-i", "omd0", "--map-dir", "/proc"],
        ),
        (
            "unreadable key file",
            vec![
                "-i",
                "omd0",
                "--key-file",
                &missing_key,
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "--peer that is no address",
            vec![
                "-i",
                "omd0",
                "--peer",
                "10.77.20.x",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "--peer with port 0",
            vec![
                "-i",
                "omd0",
                "--peer",
                "10.77.20.12:0",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "--peer that is a multicast group",
            vec![
                "-i",
                "omd0",
                "--peer",
                "239.255.77.77",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "IPv6 --peer in an IPv4 cluster",
            vec![
                "-i",
                "omd0",
                "--peer",
                "[fd00::1]:7477",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "peers file with a bad line",
            vec![
                "-i",
                "omd0",
                "--peers-file",
                &bad_peers_arg,
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "missing peers file",
            vec![
                "-i",
                "omd0",
                "--peers-file",
                &missing_peers,
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "33 seeds",
            vec![
                "-i",
                "omd0",
                "--peers-file",
                &many_peers_arg,
                "--map-dir",
                &map_dir_arg,
            ],
        ),
        (
            "--no-multicast with -m",
            vec![
                "-i",
                "omd0",
                "--no-multicast",
                "-m",
                "2",
                "--map-dir",
                &map_dir_arg,
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (what, args) in &cases {
        std::fs::write(map_dir.join("om_config"), SENTINEL_CONFIG).map_err(|e| e.to_string())?;
        std::fs::write(map_dir.join("om_mospe"), SENTINEL_MOSPE).map_err(|e| e.to_string())?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", host.name()])
            .arg(&binaries.omdiscd)
            .arg("-n")
            .args(args);
        let verdict = judge(run_bounded(&mut command, EXIT_WAIT)).and_then(|line| {
            sentinels_intact(&map_dir)?;
            names_what_is_wrong(what, &line)?;
            Ok(line)
        });
        report(&format!("omdiscd, {what}"), verdict, &mut failures);
    }
    showmap_cases(binaries, dir, &mut failures)?;
    drop(host);
    drop(bridge);
    if failures.is_empty() {
        Ok(format!(
            "{} bad inputs each refused with one line",
            cases.len() + SHOWMAP_CASES
        ))
    } else {
        Err(failures.join("; "))
    }
}

/// Number of showmap cases below.
const SHOWMAP_CASES: usize = 4;

fn showmap_cases(
    binaries: &Binaries,
    dir: &Path,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let empty_dir = dir.join("empty-map-dir");
    std::fs::create_dir_all(&empty_dir).map_err(|e| e.to_string())?;
    let corrupt = dir.join("corrupt-om_config");
    std::fs::write(&corrupt, b"\x00\x01garbage that is no map\xff\xfe")
        .map_err(|e| e.to_string())?;
    let missing = dir.join("no-such-om_config");
    let cases: [(&str, Vec<String>); SHOWMAP_CASES] = [
        (
            "missing file",
            vec!["-f".into(), missing.display().to_string()],
        ),
        (
            "corrupt file",
            vec!["-f".into(), corrupt.display().to_string()],
        ),
        (
            "map dir without map",
            vec!["--map-dir".into(), empty_dir.display().to_string()],
        ),
        ("unknown flag", vec!["--bogus".into()]),
    ];
    for (what, args) in cases {
        let mut command = Command::new(&binaries.showmap);
        command.args(&args);
        report(
            &format!("showmap, {what}"),
            judge(run_bounded(&mut command, EXIT_WAIT)),
            failures,
        );
    }
    Ok(())
}

/// One line on stderr, a non-zero exit code (not a signal), no panic: the line, or why not.
fn judge(output: Result<Output, String>) -> Result<String, String> {
    let output = output.map_err(|why| format!("was not refused: {why}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match output.status.code() {
        Some(0) => return Err(format!("exit status 0 (stderr: {:?})", stderr.trim())),
        None => return Err(format!("ended by a signal ({})", output.status)),
        Some(_) => {}
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("panicked: {:?}", stderr.trim()));
    }
    match lines[..] {
        [line] => Ok(format!(
            "exit {}: {line}",
            output.status.code().unwrap_or(-1)
        )),
        [] => Err("no error message on stderr".into()),
        _ => Err(format!(
            "{} lines on stderr: {:?}",
            lines.len(),
            stderr.trim()
        )),
    }
}

/// The cases whose line must say where the error is: the peers file's line number.
fn names_what_is_wrong(what: &str, line: &str) -> Result<(), String> {
    if what.starts_with("peers file with a bad line") && !line.contains("line 3: invalid peer") {
        return Err(format!("the error does not name the file's line 3: {line}"));
    }
    Ok(())
}

fn sentinels_intact(map_dir: &Path) -> Result<(), String> {
    for (name, expected) in [("om_config", SENTINEL_CONFIG), ("om_mospe", SENTINEL_MOSPE)] {
        let now = std::fs::read(map_dir.join(name)).unwrap_or_default();
        if now != expected {
            return Err(format!(
                "{name} written before the bad start was changed or removed"
            ));
        }
    }
    Ok(())
}

fn report(what: &str, verdict: Result<String, String>, failures: &mut Vec<String>) {
    match verdict {
        Ok(line) => println!("    {what}: ok ({line})"),
        Err(why) => {
            println!("    {what}: FAILED: {why}");
            failures.push(format!("{what}: {why}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn output(code: i32, stderr: &str) -> Result<Output, String> {
        Ok(Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        })
    }

    #[test]
    fn one_line_and_non_zero_exit_passes() {
        assert_eq!(
            judge(output(2, "omdiscd: TTL 0 out of range 1-255\n")).unwrap(),
            "exit 2: omdiscd: TTL 0 out of range 1-255"
        );
    }

    #[test]
    fn everything_else_fails() {
        assert!(judge(output(0, "ok\n")).is_err());
        assert!(judge(output(1, "")).is_err());
        assert!(judge(output(1, "a\nb\n")).is_err());
        assert!(judge(output(101, "thread 'main' panicked at src/main.rs\n")).is_err());
        assert!(judge(Err("did not finish".into())).is_err());
        let killed = Ok(Output {
            status: ExitStatus::from_raw(9),
            stdout: Vec::new(),
            stderr: Vec::new(),
        });
        assert!(judge(killed).is_err());
    }
}
