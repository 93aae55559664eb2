//! Where things are: the project root, cargo's target directory, and running commands
//! (echoed, with a one-line error when they fail).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The checked-out project that xtask works on.
#[derive(Debug)]
pub struct Project {
    root: PathBuf,
    target_dir: OnceLock<Result<PathBuf, String>>,
}

impl Project {
    /// The project whose `xtask/` crate this binary was built from.
    pub fn from_manifest_dir() -> Self {
        let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf();
        Project {
            root,
            target_dir: OnceLock::new(),
        }
    }

    /// The workspace root (where the top-level `Cargo.toml` is).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Cargo's target directory for this workspace, honouring `CARGO_TARGET_DIR` and cargo
    /// config (asked from `cargo metadata` once).
    pub fn target_dir(&self) -> Result<&Path, String> {
        self.target_dir
            .get_or_init(|| self.ask_target_dir())
            .as_deref()
            .map_err(Clone::clone)
    }

    /// A directory for this xtask run's scratch files (logs, map dirs), created if needed.
    pub fn scratch_dir(&self, what: &str) -> Result<PathBuf, String> {
        let dir = self
            .target_dir()?
            .join("xtask")
            .join(format!("{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// `cargo` (the one running us, if known) with the project root as working directory.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(&self.root);
        command
    }

    fn ask_target_dir(&self) -> Result<PathBuf, String> {
        let mut cargo = self.cargo();
        cargo.args(["metadata", "--format-version", "1", "--no-deps"]);
        let output = cargo
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("cargo metadata failed: {}", stderr.trim()));
        }
        target_directory(&output.stdout)
    }
}

/// `target_directory` of `cargo metadata --format-version 1` output.
fn target_directory(metadata: &[u8]) -> Result<PathBuf, String> {
    let json: serde_json::Value = serde_json::from_slice(metadata)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    json.get("target_directory")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata printed no target_directory".to_string())
}

/// Runs `command` with inherited stdio, echoing it first; a non-zero exit is an error
/// naming the command.
pub fn run(command: &mut Command) -> Result<(), String> {
    let shown = show(command);
    println!("$ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// The command line of `command` as one would type it (program and arguments).
pub fn show(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_directory_is_read_from_metadata_json() {
        let json = br#"{"packages":[],"target_directory":"/work/t\\x \"q\"","version":1}"#;
        assert_eq!(
            target_directory(json),
            Ok(PathBuf::from(r#"/work/t\x "q""#))
        );
        assert!(target_directory(br#"{"workspace_root":"/w"}"#).is_err());
        assert!(target_directory(br#"{"target_directory":"/unterminated"#).is_err());
    }

    #[test]
    fn root_holds_the_workspace_manifest() {
        let project = Project::from_manifest_dir();
        assert!(project.root().join("xtask").join("Cargo.toml").is_file());
    }

    #[test]
    fn commands_are_shown_as_typed() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["fmt", "--check"]);
        assert_eq!(show(&command), "cargo fmt --check");
    }
}
