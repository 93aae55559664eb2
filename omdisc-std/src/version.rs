//! `--version` (`-V`) of `omdiscd` and `showmap`: the release, the wire protocol version and
//! the cluster-key support built in, on one line.

use std::io::Write;

/// The version line of `program`, e.g.
/// `omdiscd 0.1.0 (wire protocol 1; cluster key: HMAC-SHA-256)`.
pub fn line(program: &str) -> String {
    format!(
        "{program} {} (wire protocol {}; cluster key: {})",
        env!("CARGO_PKG_VERSION"),
        omdisc_core::wire::VERSION,
        KEY_SUPPORT
    )
}

/// The message authentication built in for `--key-file` (always: the MAC is part of the core).
pub const KEY_SUPPORT: &str = "HMAC-SHA-256";

/// Prints the version line on stdout and exits 0 when `asked`.
pub fn exit_if_asked(program: &str, asked: bool) {
    if asked {
        let _ = writeln!(std::io::stdout().lock(), "{}", line(program));
        std::process::exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_program_release_protocol_and_key_support() {
        let text = line("showmap");
        assert!(text.starts_with(&format!("showmap {} ", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("wire protocol 1") && text.contains("HMAC-SHA-256"));
        assert!(!text.contains('\n'));
    }
}
