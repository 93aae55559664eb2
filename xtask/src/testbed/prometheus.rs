//! [`Prometheus`]: Debian's Prometheus server run inside a namespace, scraping targets from
//! a `file_sd` file, and asked through its HTTP API; [`promtool_check_metrics`] lints an
//! exposition with `promtool check metrics`. Both come from Debian's `prometheus` package,
//! which [`PROMETHEUS_TOOLS`] names for [`crate::ensure::tools`].

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::http::http_get_in;
use super::process::Process;
use crate::ensure::Tool;

/// The commands of Debian's `prometheus` package the scenarios run.
pub const PROMETHEUS_TOOLS: &[Tool] = &[
    Tool {
        command: "prometheus",
        package: "prometheus",
    },
    Tool {
        command: "promtool",
        package: "prometheus",
    },
];

/// Where the server listens inside its namespace (its own loopback).
const LISTEN: &str = "127.0.0.1:9090";

/// A Prometheus server in a namespace. Dropping it ends the server.
#[derive(Debug)]
pub struct Prometheus {
    process: Process,
    ns: String,
    address: SocketAddr,
}

/// One sample of a query result: its labels and value.
pub type Sample = (BTreeMap<String, String>, String);

impl Prometheus {
    /// Starts `prometheus` in namespace `ns` with its configuration, data and log under
    /// `dir`, scraping job `job` every second from the targets in the `file_sd` file
    /// `targets` (re-read every second).
    pub fn start(ns: &str, dir: &Path, job: &str, targets: &Path) -> Result<Prometheus, String> {
        let config = dir.join("prometheus.yml");
        let yaml = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {job}\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
            targets.display()
        );
        std::fs::write(&config, yaml)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let program =
            crate::ensure::find_command("prometheus").ok_or("prometheus is not installed")?;
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address={LISTEN}"),
            "--log.level=warn".to_string(),
        ];
        let process = Process::spawn_in(
            ns,
            "prometheus",
            &program,
            &args,
            &dir.join("prometheus.log"),
        )?;
        Ok(Prometheus {
            process,
            ns: ns.to_string(),
            address: LISTEN.parse().map_err(|e| format!("{LISTEN}: {e}"))?,
        })
    }

    /// Fails if the server has exited (with its last lines).
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.process.try_exit() {
            Some(status) => Err(format!(
                "prometheus exited ({status}): {}",
                super::cluster::tail(&self.process.output(), 3)
            )),
            None => Ok(()),
        }
    }

    /// The instant vector of `expr` now (`/api/v1/query`).
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let (status, body) = http_get_in(&self.ns, self.address, &path)?;
        if status != 200 {
            return Err(format!("query {expr:?}: status {status}: {}", body.trim()));
        }
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| format!("query {expr:?}: not JSON: {e}"))?;
        let result = answer["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("query {expr:?}: no data.result in {body}"))?;
        Ok(result
            .iter()
            .map(|sample| {
                let labels = sample["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = sample["value"][1].as_str().unwrap_or_default().to_string();
                (labels, value)
            })
            .collect())
    }
}

/// `promtool check metrics` on `exposition` (on its stdin): `Ok` when it finds no problem.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let program = crate::ensure::find_command("promtool").ok_or("promtool is not installed")?;
    let mut child = Command::new(program)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(exposition.as_bytes())
            .map_err(|e| format!("cannot feed promtool: {e}"))?;
    }
    let output = super::exec::wait_output(child, Duration::from_secs(20))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics ({}): {}",
            output.status,
            said.trim()
        ))
    }
}

/// `expr` for a URL query string: unreserved characters as they are, the rest as `%XX`.
fn percent_encode(expr: &str) -> String {
    expr.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode("up{job=\"omdisc\"}"),
            "up%7Bjob%3D%22omdisc%22%7D"
        );
        assert_eq!(percent_encode("omdisc_members"), "omdisc_members");
    }
}
