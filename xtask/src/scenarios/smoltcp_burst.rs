//! A burst on a real wire (issue 6): a Linux host sends 200 announcements back to back
//! (`omdisc-smoltcp`'s `announce_burst` example, relayed messages of 200 distinct nodes);
//! `omdisc-tap` must take in every one — its map lists all 200 — although smoltcp reads the
//! TAP's whole queue in one go (an 8-slot socket queue drained after smoltcp's own poll
//! once lost most of such a burst).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::smoltcp_interop::{TapHost, GRACE, POLL, TAP_IP};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::project::{run, Project};
use crate::testbed::{ip, node_id_of, run_bounded, wait_until, Bridge, Netns};

/// Datagrams in the burst.
const BURST: u32 = 200;
/// The sender's address on the segment; it "relays" the burst, as node 2068.
const SENDER_IP: &str = "10.77.8.20/24";
const SENDER_ID: &str = "2068";
/// The first burst node's address (ids 7681 and up).
const FIRST_NODE: Ipv4Addr = Ipv4Addr::new(10, 77, 30, 1);

/// Every datagram of a burst reaches the smoltcp node's map.
pub(super) const SMOLTCP_BURST: Scenario = Scenario {
    name: "smoltcp-burst",
    about: "omdisc-tap takes in a 200-datagram burst whole: its map lists all 200 senders",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: smoltcp_burst,
};

/// Builds the `announce_burst` example in release and returns its path.
fn build_announce_burst(project: &Project) -> Result<PathBuf, String> {
    run(project.cargo().args([
        "build",
        "--release",
        "-p",
        "omdisc-smoltcp",
        "--example",
        "announce_burst",
    ]))?;
    let path = project
        .target_dir()?
        .join("release")
        .join("examples")
        .join("announce_burst");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("the build made no {}", path.display()))
    }
}

fn smoltcp_burst(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let project = Project::from_manifest_dir();
    let program = &binaries.omdisc_tap;
    let sender_program = build_announce_burst(&project)?;

    let segment = Bridge::new("sw")?;
    let sender = Netns::new("burst")?;
    let _sender_leg = segment.attach(&sender, "omd0", SENDER_IP, None)?;
    ip(&[
        "-n",
        sender.name(),
        "route",
        "add",
        "224.0.0.0/4",
        "dev",
        "omd0",
    ])?;
    let mut tap = TapHost::new(&segment, program, dir)?;
    tap.start(&[])?;
    let tap_id = node_id_of(TAP_IP);
    wait_until(GRACE, POLL, || {
        tap.map(binaries).is_ok_and(|m| m.ids() == [tap_id])
    })
    .map_err(|_| "omdisc-tap did not write its first map".to_string())?;

    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", sender.name()])
        .arg(&sender_program)
        .args([
            "239.255.77.77",
            "7477",
            &BURST.to_string(),
            &FIRST_NODE.to_string(),
            SENDER_ID,
        ]);
    let sent = Instant::now();
    let output = run_bounded(&mut command, Duration::from_secs(10))?;
    if !output.status.success() {
        return Err(format!(
            "announce_burst failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let send_took = sent.elapsed();
    step(
        &format!("{BURST} announcements sent back to back"),
        send_took,
    );

    let expected = BURST as usize + 1;
    let mut last = 0;
    let took = wait_until(GRACE, POLL, || {
        last = tap.map(binaries).map_or(last, |m| m.len());
        last == expected
    });
    tap.check_running()?;
    let took = took.map_err(|_| {
        format!(
            "the smoltcp node's map lists {last} nodes, not {expected}: {} of {BURST} lost",
            expected.saturating_sub(last)
        )
    })?;
    step(
        &format!("the smoltcp node's map lists all {BURST} (and itself)"),
        took,
    );
    Ok(format!(
        "{BURST} of {BURST} datagrams taken in; sent in {:.1} ms, all in the map {:.2}s later",
        send_took.as_secs_f64() * 1000.0,
        took.as_secs_f64()
    ))
}
