//! The `docs` stage: the documentation a user reads first stays true.
//!
//! * every man page in `docs/man/` renders with `man -l` without a single groff warning;
//! * every option `omdiscd --help` and `showmap --help` list is documented in their man
//!   page, and every option a man page documents exists;
//! * the README starts with exactly the two set-up commands (`cargo xtask demo`,
//!   `cargo xtask test`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::project::{run, Project};

/// The man pages and the binary each one documents.
const MAN_PAGES: &[(&str, &str)] = &[
    ("docs/man/omdiscd.8", "omdiscd"),
    ("docs/man/showmap.8", "showmap"),
];

/// The README's first code block must hold exactly these commands.
const SETUP_COMMANDS: &[&str] = &["cargo xtask demo", "cargo xtask test"];

/// Runs the checks; `Ok` says what was checked.
pub fn check(project: &Project) -> Result<String, String> {
    let root = project.root();
    // The binaries of the `tests` stage's build (a no-op after that stage): target/debug/.
    run(project
        .cargo()
        .args(["test", "--workspace", "--no-run", "--quiet"])
        .args(crate::checks::WORKSPACE_FEATURES))?;
    let bin_dir = project.target_dir()?.join("debug");
    let mut options = 0;
    for (page, binary) in MAN_PAGES {
        let path = root.join(page);
        let text = render(&path)?;
        if !text.contains("SYNOPSIS") || !text.contains("DESCRIPTION") {
            return Err(format!("{page}: no SYNOPSIS or DESCRIPTION section"));
        }
        let source =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {page}: {e}"))?;
        options += compare_options(&bin_dir.join(binary), page, &source)?;
    }
    readme_starts_with_setup(root)?;
    Ok(format!(
        "{} man pages render without warnings, {options} options documented, README set-up commands in place",
        MAN_PAGES.len()
    ))
}

/// `man -l PAGE` with groff warnings on; any warning is an error.
fn render(path: &Path) -> Result<String, String> {
    let output = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(path)
        .env("MANWIDTH", "80")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run man (install man-db): {e}"))?;
    let warnings = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() || !warnings.trim().is_empty() {
        return Err(format!(
            "man -l {} failed or warned: {}",
            path.display(),
            warnings.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Long options (`--name`) in `text`; in roff source the dashes are written `\-\-`.
fn long_options(text: &str) -> BTreeSet<String> {
    let text = text.replace("\\-", "-");
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("--") {
        let name: String = text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if name.len() > 1 {
            found.insert(format!("--{name}"));
        }
    }
    found
}

/// The options of `binary --help` and of its man page must be the same set.
fn compare_options(path: &Path, page: &str, source: &str) -> Result<usize, String> {
    let binary = path.file_name().unwrap_or_default().to_string_lossy();
    let output = Command::new(path)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} --help: {e}", path.display()))?;
    let help = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let in_help = long_options(&help);
    if in_help.is_empty() {
        return Err(format!("{binary} --help lists no options: {}", help.trim()));
    }
    let in_page = long_options(source);
    let undocumented: Vec<_> = in_help.difference(&in_page).collect();
    if !undocumented.is_empty() {
        return Err(format!("{page} does not document {undocumented:?}"));
    }
    // The page may mention other programs' options (e.g. smcroute's); it must document
    // every one of the binary's, and each option it puts in its OPTIONS list must exist.
    let listed = options_section(source);
    let unknown: Vec<_> = listed.difference(&in_help).collect();
    if !unknown.is_empty() {
        return Err(format!(
            "{page} documents {unknown:?}, which `{binary} --help` does not list"
        ));
    }
    Ok(in_help.len())
}

/// Long options introduced by the `.TP` entries of the man page's OPTIONS section.
fn options_section(source: &str) -> BTreeSet<String> {
    let mut in_options = false;
    let mut after_tp = false;
    let mut found = BTreeSet::new();
    for line in source.lines() {
        if let Some(section) = line.strip_prefix(".SH") {
            in_options = section.trim().trim_matches('"') == "OPTIONS";
            continue;
        }
        if !in_options {
            continue;
        }
        if line.starts_with(".TP") {
            after_tp = true;
            continue;
        }
        if after_tp {
            found.extend(long_options(line));
            after_tp = false;
        }
    }
    found
}

/// The README's first fenced code block holds exactly the two set-up commands.
fn readme_starts_with_setup(root: &Path) -> Result<(), String> {
    let readme = std::fs::read_to_string(root.join("README.md"))
        .map_err(|e| format!("cannot read README.md: {e}"))?;
    let block: Vec<&str> = readme
        .split("```")
        .nth(1)
        .ok_or("README.md has no code block")?
        .lines()
        .skip(1) // the fence's language tag
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    if block != SETUP_COMMANDS {
        return Err(format!(
            "README.md's first code block is {block:?}, not the set-up commands {SETUP_COMMANDS:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_options_are_found_in_help_and_roff() {
        let help = "  -i, --interface   x\n  --map-dir DIR\n  --dead-after N\n  --help";
        let found = long_options(help);
        assert!(found.contains("--map-dir") && found.contains("--dead-after"));
        assert!(found.contains("--interface") && found.contains("--help"));
        let roff = ".BR \\-\\-key\\-file \" PATH\"";
        assert!(long_options(roff).contains("--key-file"));
    }

    #[test]
    fn options_section_reads_tp_entries_only() {
        let page =
            ".SH OPTIONS\n.TP\n.BR \\-\\-live\ntext about \\-\\-other\n.SH SEE ALSO\n.TP\n\\-\\-no";
        let found = options_section(page);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), vec!["--live"]);
    }
}
