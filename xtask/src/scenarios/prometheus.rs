//! Metrics (issue 14): three daemons serve `GET /metrics` (one also writes
//! `--metrics-file`); every exposition passes `promtool check metrics`; a real Prometheus
//! server (Debian's package, installed if missing, run in a namespace of its own on the
//! segment) scrapes the targets `showmap --format prometheus-sd` lists and reports all
//! three up with `omdisc_members` = 3.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::gateways::{COMMON_ARGS, GRACE};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{
    addr_of, http_get_in, node_id_in, promtool_check_metrics, wait_until, DaemonHosts, Leg,
    Prometheus, Topology, PROMETHEUS_TOOLS,
};

/// The metrics port of every node.
const METRICS_PORT: u16 = 9477;
/// Prometheus' job name.
const JOB: &str = "omdisc";
/// From Prometheus' start to all targets up with their member counts (it scrapes every
/// second and re-reads the targets every second; its own start takes a few seconds on a
/// loaded machine).
const SCRAPE_BOUND: Duration = Duration::from_secs(30);

/// Three daemons scraped by Prometheus.
pub(super) const METRICS_PROMETHEUS: Scenario = Scenario {
    name: "metrics-prometheus",
    about: "3 daemons' metrics pass promtool and a real Prometheus (targets from showmap --format prometheus-sd) scrapes all 3 up with omdisc_members 3",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: metrics_prometheus,
};

fn metrics_prometheus(ctx: &Ctx) -> Result<String, String> {
    let installed = crate::ensure::tools(PROMETHEUS_TOOLS)?;
    step(&installed, Duration::ZERO);
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let lan = topo.add_segment("lan")?;
    let addresses = ["10.77.42.11/24", "10.77.42.12/24", "10.77.42.13/24"];
    let mut hosts = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        hosts.push(topo.add_host(&format!("p{}", i + 1), &[Leg::v4(lan, "omd0", address)])?);
    }
    let scraper = topo.add_host("prom", &[Leg::v4(lan, "omd0", "10.77.42.50/24")])?;
    let metrics_file = dir.join("p1.prom");
    let _ = std::fs::remove_file(&metrics_file);
    let mut endpoints = Vec::new();
    for (i, &h) in hosts.iter().enumerate() {
        let endpoint = SocketAddr::new(addr_of::<IpAddr>(addresses[i]), METRICS_PORT);
        let listen = endpoint.to_string();
        let file = metrics_file.display().to_string();
        let mut args = vec!["-i", "omd0", "--metrics-listen", listen.as_str()];
        if i == 0 {
            args.extend(["--metrics-file", file.as_str()]);
        }
        args.extend_from_slice(COMMON_ARGS);
        topo.start(h, &args)?;
        endpoints.push(endpoint);
    }
    let ids: BTreeSet<u16> = addresses.iter().map(|a| node_id_in(a)).collect();
    let took = topo.wait_for_ids(&hosts, &ids, Duration::from_secs(2) + GRACE)?;
    step("3 daemons converged", took);

    // Each endpoint, from the scraper's namespace, and the file: valid, linted expositions.
    for (i, endpoint) in endpoints.iter().enumerate() {
        let (status, body) = http_get_in(topo.namespace(scraper), *endpoint, "/metrics")?;
        if status != 200 || !body.contains("omdisc_members 3\n") {
            return Err(format!(
                "{}: GET /metrics answered {status}: {body}",
                topo.label(hosts[i])
            ));
        }
        promtool_check_metrics(&body).map_err(|why| format!("{}: {why}", topo.label(hosts[i])))?;
        let (status, _) = http_get_in(topo.namespace(scraper), *endpoint, "/")?;
        if status != 404 {
            return Err(format!(
                "{}: GET / answered {status}, not 404",
                topo.label(hosts[i])
            ));
        }
    }
    let mut file_text = String::new();
    wait_until(Duration::from_secs(3), Duration::from_millis(25), || {
        file_text = std::fs::read_to_string(&metrics_file).unwrap_or_default();
        file_text.contains("omdisc_members 3\n")
    })
    .map_err(|_| {
        format!(
            "{} never showed 3 members: {file_text:?}",
            metrics_file.display()
        )
    })?;
    promtool_check_metrics(&file_text)
        .map_err(|why| format!("{}: {why}", metrics_file.display()))?;
    step(
        "3 endpoints and the metrics file pass promtool check metrics",
        Duration::ZERO,
    );

    // The scrape list, as showmap prints it.
    let map_dir = topo.map_dir(hosts[0]).display().to_string();
    let port = METRICS_PORT.to_string();
    let targets = binaries.showmap(&[
        "--map-dir",
        &map_dir,
        "--format",
        "prometheus-sd",
        "--sd-port",
        &port,
    ])?;
    let targets_file = dir.join("targets.json");
    std::fs::write(&targets_file, &targets)
        .map_err(|e| format!("cannot write {}: {e}", targets_file.display()))?;

    let mut prometheus = Prometheus::start(topo.namespace(scraper), dir, JOB, &targets_file)?;
    let mut last = String::from("no answer yet");
    let all_up = wait_until(SCRAPE_BOUND, Duration::from_millis(250), || {
        if prometheus.check_running().is_err() {
            return true;
        }
        let up = prometheus.query(&format!("up{{job=\"{JOB}\"}}"));
        let members = prometheus.query("omdisc_members");
        let ok = match (&up, &members) {
            (Ok(up), Ok(members)) => {
                let node_ids: BTreeSet<u16> = up
                    .iter()
                    .filter(|(_, value)| value == "1")
                    .filter_map(|(labels, _)| labels.get("omdisc_node_id")?.parse().ok())
                    .collect();
                node_ids == ids && members.len() == 3 && members.iter().all(|(_, v)| v == "3")
            }
            _ => false,
        };
        last = format!("up: {up:?}; omdisc_members: {members:?}");
        ok
    });
    prometheus.check_running()?;
    let took = all_up.map_err(|_| {
        format!("Prometheus did not report 3 targets up with omdisc_members 3 within {SCRAPE_BOUND:?}: {last}")
    })?;
    step(
        "Prometheus: 3 targets up (labelled with their node ids), omdisc_members 3 on each",
        took,
    );
    drop(prometheus);
    topo.check_running(&hosts)?;
    Ok(format!(
        "promtool clean; Prometheus scraped all 3 {:.1}s after its start",
        took.as_secs_f64()
    ))
}
