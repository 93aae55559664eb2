//! The binaries' command-line contract, run as real processes (no network needed): help,
//! and one stderr line with a non-zero exit for every bad input that fails before any
//! socket is opened.

use std::path::PathBuf;
use std::process::{Command, Output};

fn omdiscd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omdiscd"))
        .args(args)
        .output()
        .expect("omdiscd runs")
}

fn showmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_showmap"))
        .args(args)
        .output()
        .expect("showmap runs")
}

/// Asserts exit code `code`, nothing on stdout and exactly one line on stderr, starting with
/// `prefix`; returns that line.
fn assert_one_line_error(output: &Output, code: i32, prefix: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    assert!(stderr.starts_with(prefix), "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"));
    stderr
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omdisc-cli-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn help_goes_to_stdout_with_exit_0() {
    for program in [omdiscd(&["-h"]), omdiscd(&["--help"]), showmap(&["--help"])] {
        assert_eq!(program.status.code(), Some(0));
        let text = String::from_utf8_lossy(&program.stdout);
        assert!(text.starts_with("Usage: "), "{text}");
        assert!(program.stderr.is_empty());
    }
}

#[test]
fn version_is_one_line_on_stdout_with_exit_0() {
    let cases = [
        ("omdiscd", omdiscd(&["-V"])),
        ("omdiscd", omdiscd(&["--version"])),
        ("showmap", showmap(&["-V"])),
        ("showmap", showmap(&["--version"])),
    ];
    for (program, output) in cases {
        assert_eq!(output.status.code(), Some(0));
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(text.lines().count(), 1, "{text}");
        let expected = format!("{program} {} ", env!("CARGO_PKG_VERSION"));
        assert!(text.starts_with(&expected), "{text}");
        assert!(text.contains("cluster key: HMAC-SHA-256"), "{text}");
        assert!(output.stderr.is_empty());
    }
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &["-i", "a,b,c,d,e,f,g"],
        &["-m", "0"],
        &["-m", "300"],
        &["--bogus"],
        &["-i"],
        &["--interval", "0"],
        &["--interval", "abc"],
        &["--dead-after", "1"],
        &["--max-dead-after", "1"],
        &["--dead-after", "9", "--max-dead-after", "8"],
        &["--port", "70000"],
        &["--group", "10.1.2.3"],
        &["--node-id", "0"],
        &["--bandwidth", "12"],
        &["--bandwidth", "fast"],
        &["--max-nodes", "0"],
        &["--live", "--map-dir", "/tmp"],
        &["stray-positional"],
    ];
    for args in cases {
        assert_one_line_error(&omdiscd(args), 2, "omdiscd: error: ");
    }
}

#[test]
fn unknown_interface_exits_1_with_one_line() {
    let line = assert_one_line_error(&omdiscd(&["-n", "-i", "nosuch0"]), 1, "omdiscd: error: ");
    assert!(line.contains("nosuch0"));
}

#[test]
fn showmap_bad_inputs_are_one_line() {
    let dir = temp_dir("showmap");
    let missing = dir.join("nothing-here");
    let line = assert_one_line_error(
        &showmap(&["-f", missing.to_str().unwrap()]),
        1,
        "showmap: error: ",
    );
    assert!(line.contains("does not exist"));
    let corrupt = dir.join("om_config");
    std::fs::write(&corrupt, b"OMCF\x09garbage").unwrap();
    assert_one_line_error(
        &showmap(&["--map-dir", dir.to_str().unwrap()]),
        1,
        "showmap: error: ",
    );
    assert_one_line_error(&showmap(&["--bogus"]), 2, "showmap: error: ");
    assert_one_line_error(&showmap(&["-f", "x", "--live"]), 2, "showmap: error: ");
    std::fs::remove_dir_all(dir).unwrap();
}
