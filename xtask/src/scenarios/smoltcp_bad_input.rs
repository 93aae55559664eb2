//! Bad input to `omdisc-tap` (issue 6): a missing, down or non-TAP device, a missing map
//! directory, a key file others may read or that holds no valid key, a bad address, a
//! missing option — each gets exactly one line on stderr and a non-zero exit, no panic.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use super::smoltcp_interop::TAP_DEVICE;
use super::{step, Ctx, Scenario};
use crate::testbed::{ip, run_bounded, Netns};

/// Every bad start of `omdisc-tap`.
pub(super) const SMOLTCP_BAD_INPUT: Scenario = Scenario {
    name: "smoltcp-bad-input",
    about: "omdisc-tap on a missing/down/non-TAP device, bad map dir, key or options: one stderr line, non-zero exit",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: smoltcp_bad_input,
};

/// A start that accepted its bad input would run on; it is killed after this.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// A TAP that exists but is down, and an interface that is no TAP.
const DOWN_TAP: &str = "omtapdown";
const NOT_A_TAP: &str = "ombr0";

fn smoltcp_bad_input(ctx: &Ctx) -> Result<String, String> {
    let program = &ctx.binaries()?.omdisc_tap;
    let ns = Netns::new("tapbad")?;
    let name = ns.name();
    ip(&[
        "-n", name, "tuntap", "add", "dev", TAP_DEVICE, "mode", "tap",
    ])?;
    ip(&["-n", name, "link", "set", TAP_DEVICE, "up"])?;
    ip(&["-n", name, "tuntap", "add", "dev", DOWN_TAP, "mode", "tap"])?;
    ip(&["-n", name, "link", "add", NOT_A_TAP, "type", "bridge"])?;
    ip(&["-n", name, "link", "set", NOT_A_TAP, "up"])?;

    let write = |file: &str, text: &str, mode: u32| -> Result<String, String> {
        let path = ctx.dir.join(file);
        std::fs::write(&path, text)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };
    let open_key = write(
        "open.key",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        0o644,
    )?;
    let short_key = write("short.key", "0011223344\n", 0o600)?;
    let missing_dir = ctx.dir.join("no-such-dir").display().to_string();
    let ip_arg = "10.77.11.50/24";

    let base = |tap: &str| {
        vec![
            "--tap".to_string(),
            tap.to_string(),
            "--ip".into(),
            ip_arg.into(),
        ]
    };
    let with = |tap: &str, extra: &[&str]| {
        let mut args = base(tap);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("missing TAP", base("nosuch0"), "ip tuntap add"),
        ("TAP down", base(DOWN_TAP), "is down"),
        ("not a TAP", base(NOT_A_TAP), "is not a TAP device"),
        (
            "missing map dir",
            with(TAP_DEVICE, &["--map-dir", &missing_dir]),
            "does not exist",
        ),
        (
            "key file readable by others",
            with(TAP_DEVICE, &["--key-file", &open_key]),
            "readable by group or others",
        ),
        (
            "key too short",
            with(TAP_DEVICE, &["--key-file", &short_key]),
            "key file",
        ),
        (
            "address without prefix",
            vec![
                "--tap".into(),
                TAP_DEVICE.into(),
                "--ip".into(),
                "10.77.11.50".into(),
            ],
            "invalid --ip",
        ),
        ("no --ip", vec!["--tap".into(), TAP_DEVICE.into()], "--ip"),
        (
            "group of the other family",
            with(TAP_DEVICE, &["--group", "ff05::4d"]),
            "different IP families",
        ),
        (
            "--max-dead-after below --dead-after",
            with(TAP_DEVICE, &["--max-dead-after", "3"]),
            "less than --dead-after 5",
        ),
    ];
    for (what, args, expected) in &cases {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", name])
            .arg(program)
            .args(args);
        let output = run_bounded(&mut command, EXIT_WAIT)
            .map_err(|why| format!("{what}: accepted ({why})"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        match output.status.code() {
            Some(0) => return Err(format!("{what}: exit status 0")),
            None => return Err(format!("{what}: ended by a signal ({})", output.status)),
            Some(_) => {}
        }
        let [line] = lines[..] else {
            return Err(format!(
                "{what}: {} lines on stderr: {lines:?}",
                lines.len()
            ));
        };
        if !line.starts_with("omdisc-tap: error: ") || !line.contains(expected) {
            return Err(format!("{what}: unexpected message {line:?}"));
        }
        if line.contains("panicked") {
            return Err(format!("{what}: panicked: {line}"));
        }
        step(
            &format!(
                "{what}: exit {} — {line}",
                output.status.code().unwrap_or(-1)
            ),
            Duration::ZERO,
        );
    }
    Ok(format!(
        "{} bad starts refused with one line each",
        cases.len()
    ))
}
