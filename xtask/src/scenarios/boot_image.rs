//! A bare-metal boot image in a Linux cluster (issues 7 and 17): QEMU boots the RISC-V image
//! (`boot-image*`) or the Cortex-M4F MPS2 image (`mcu-image*`) on a TAP on the same bridge as
//! three `omdiscd` nodes. Within 2 s of QEMU's start every Linux map lists the image's node
//! and the image's own map (console, or decoded defmt log) lists all three Linux nodes; a
//! SIGKILL'd Linux node expires from the image's map, and a SIGKILL'd QEMU from the Linux
//! maps, each within `interval × dead-after + 1 s`. Reports the image's own
//! boot-to-first-announcement time, its sizes (and the MPS2 image's stack high-water mark
//! under traffic) and QEMU's CPU use while the image idles in `wfi`. The `-key` variants do
//! the same with a cluster key on every node (`--key-file` for the daemons, `key=` for the
//! image).

use std::time::{Duration, Instant};

use super::booted_image::{first_announcement_ms, last_map, stack_high_water, BootedImage};
use super::wire_tools::write_key_file;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::image::Board;
use crate::proc_stats::cpu_time;
use crate::project::Project;
use crate::testbed::{node_id_of, wait_until, Cluster, DaemonHosts};

/// Announce interval of every node, in seconds (daemons and image alike).
const INTERVAL: f64 = 0.5;
/// Missed intervals before expiry.
const DEAD_AFTER: u32 = 3;
/// The daemon arguments every Linux node gets.
const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// The segment's first three octets; Linux nodes are .11, .12, .13.
const SEGMENT: [u8; 3] = [10, 77, 7];
/// The image's address on the segment.
const IMAGE_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 7, 60);
/// The TAP QEMU uses, in the bridge's namespace.
const TAP: &str = "omdtap0";

/// Every map lists everybody within this time after QEMU starts.
const BOOT_BOUND: Duration = Duration::from_secs(2);
/// How long waits go on past a bound, so a failure can say how late it was.
const GRACE: Duration = Duration::from_secs(8);
/// How often the maps and the image's log are looked at.
const POLL: Duration = Duration::from_millis(25);

/// A cluster key (32 bytes in hex) for the `-key` variants; test material only.
const TEST_KEY: &str = "6f6d646973632d626f6f742d696d6167652d746573742d6b65792d30303031";
/// How long QEMU's CPU use is sampled while the image idles (unauthenticated runs only).
const CPU_SAMPLE: Duration = Duration::from_secs(10);

/// The RISC-V image, unauthenticated.
pub(super) const BOOT_IMAGE: Scenario = Scenario {
    name: "boot-image",
    about: "the RISC-V image under QEMU and 3 omdiscd nodes list each other within 2 s of boot; a killed node expires from its map, a killed QEMU from theirs",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, Board::RiscvVirt, false),
};

/// The RISC-V image with a cluster key on every node.
pub(super) const BOOT_IMAGE_KEY: Scenario = Scenario {
    name: "boot-image-key",
    about: "as boot-image, with a cluster key on all nodes (image: key= boot argument)",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, Board::RiscvVirt, true),
};

/// The Cortex-M4F MPS2 image, unauthenticated.
pub(super) const MCU_IMAGE: Scenario = Scenario {
    name: "mcu-image",
    about: "the Cortex-M4F MPS2 image under QEMU and 3 omdiscd nodes list each other within 2 s of boot (its defmt log shows the map); a killed node expires from its map, a killed QEMU from theirs",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, Board::Mps2An386, false),
};

/// The Cortex-M4F MPS2 image with a cluster key on every node.
pub(super) const MCU_IMAGE_KEY: Scenario = Scenario {
    name: "mcu-image-key",
    about: "as mcu-image, with a cluster key on all nodes (image: key= boot argument)",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, Board::Mps2An386, true),
};

/// `interval × dead-after + 1 s`.
fn expiry_bound() -> Duration {
    Duration::from_secs_f64(INTERVAL * f64::from(DEAD_AFTER) + 1.0)
}

fn boot_image(ctx: &Ctx, board: Board, keyed: bool) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let project = Project::from_manifest_dir();
    let built = Instant::now();
    let (image, sizes) = BootedImage::build(&project, board)?;
    step(&format!("image built: {sizes}"), built.elapsed());

    let mut daemon_args: Vec<String> = DAEMON_ARGS.iter().map(|s| s.to_string()).collect();
    let mut bootargs = format!("ip={IMAGE_IP}/24 interval={INTERVAL} dead_after={DEAD_AFTER}");
    if keyed {
        let key_file = write_key_file(&dir.join("cluster.key"), &[TEST_KEY])?;
        daemon_args.extend(["--key-file".to_string(), key_file.display().to_string()]);
        bootargs.push_str(&format!(" key={TEST_KEY}"));
    }
    let daemon_args: Vec<&str> = daemon_args.iter().map(String::as_str).collect();
    let mut cluster = Cluster::new(binaries, dir, SEGMENT, 3, &daemon_args)?;
    let linux = [0, 1, 2];
    for i in linux {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&linux, &linux, GRACE)?;
    step("3 Linux nodes converged", took);

    let ns = cluster.bridge().namespace().to_string();
    let booted = Instant::now();
    let mut qemu = BootedImage::boot(&project, board, &image, &bootargs, (&ns, TAP), dir)?;

    // Everybody lists everybody: the Linux maps the image, the image's map all of them.
    let image_id = node_id_of(IMAGE_IP);
    let mut everybody = cluster.expected(&linux).primaries();
    everybody.insert(image_id, Some(IMAGE_IP));
    let mut linux_done = None;
    let mut image_done = None;
    let outcome = wait_until(BOOT_BOUND + GRACE, POLL, || {
        if qemu.try_exit().is_some() {
            return true;
        }
        if linux_done.is_none()
            && linux
                .iter()
                .all(|&o| cluster.map(o).is_ok_and(|m| m.primaries() == everybody))
        {
            linux_done = Some(booted.elapsed());
        }
        if image_done.is_none() && last_map(&qemu.log()).as_ref() == Some(&everybody) {
            image_done = Some(booted.elapsed());
        }
        linux_done.is_some() && image_done.is_some()
    });
    if let Some(status) = qemu.try_exit() {
        return Err(format!(
            "QEMU exited ({status}): {}",
            crate::testbed::tail(&qemu.log(), 5)
        ));
    }
    let (Ok(_), Some(linux_took), Some(image_took)) = (outcome, linux_done, image_done) else {
        return Err(format!(
            "{:.2}s after boot: Linux maps: {}; image's last map: {:?}; its log ends: {}",
            booted.elapsed().as_secs_f64(),
            cluster.describe_maps(&linux),
            last_map(&qemu.log()),
            crate::testbed::tail(&qemu.log(), 5)
        ));
    };
    step(
        "every Linux map lists the image, after QEMU start",
        linux_took,
    );
    step("the image's map lists all 3 Linux nodes", image_took);
    if linux_took > BOOT_BOUND || image_took > BOOT_BOUND {
        return Err(format!(
            "took {:.2}s (Linux maps) and {:.2}s (image map) after boot; bound {BOOT_BOUND:?}",
            linux_took.as_secs_f64(),
            image_took.as_secs_f64()
        ));
    }
    if keyed && !qemu.log().contains(" authenticated (bootargs") {
        return Err("the image did not report running authenticated".into());
    }
    let idle_cpu = if keyed {
        None
    } else {
        cpu_percent(qemu.pid(), CPU_SAMPLE)
    };

    // A Linux node killed: it expires from the image's map.
    let bound = expiry_bound();
    let killed = Instant::now();
    cluster.signal(2, nix::sys::signal::Signal::SIGKILL)?;
    let mut rest = everybody.clone();
    rest.remove(&cluster.id(2));
    let node_gone = wait_until(bound + GRACE, POLL, || {
        last_map(&qemu.log()).as_ref() == Some(&rest)
    })
    .map_err(|waited| {
        format!(
            "{:.2}s after {} was killed the image's map is {:?}",
            waited.as_secs_f64(),
            cluster.label(2),
            last_map(&qemu.log())
        )
    })?;
    step(
        "the killed Linux node expired from the image's map",
        killed.elapsed(),
    );
    if node_gone > bound {
        return Err(format!(
            "the killed Linux node stayed {:.2}s in the image's map (bound {bound:?})",
            node_gone.as_secs_f64()
        ));
    }
    let first_send = first_announcement_ms(&qemu.log());
    let stack = stack_high_water(&qemu.log());

    // QEMU killed: the image sends nothing more and expires from the other Linux maps.
    let survivors = [0, 1];
    let killed = Instant::now();
    qemu.kill()?;
    let image_gone = cluster.wait_for_maps(&survivors, &survivors, bound + GRACE)?;
    step(
        "the killed image expired from the 2 Linux maps",
        killed.elapsed(),
    );
    if image_gone > bound {
        return Err(format!(
            "the killed image stayed {:.2}s in the maps (bound {bound:?})",
            image_gone.as_secs_f64()
        ));
    }
    let mut note = format!(
        "first announcement {} ms after machine reset; all maps complete {:.2}s after QEMU start; a killed node left the image's map in {:.2}s, the killed image the Linux maps in {:.2}s",
        first_send.map_or("?".to_string(), |ms| ms.to_string()),
        linux_took.max(image_took).as_secs_f64(),
        node_gone.as_secs_f64(),
        image_gone.as_secs_f64(),
    );
    if let Some(cpu) = idle_cpu {
        note.push_str(&format!(
            "; QEMU CPU while idle {cpu:.1}% (over {} s)",
            CPU_SAMPLE.as_secs()
        ));
    }
    if let Some(stack) = stack {
        note.push_str(&format!("; stack high-water mark {stack} B"));
    }
    note.push_str(&format!("; {sizes}"));
    Ok(note)
}

/// CPU time (user + system) of process `pid` over `sample`, in percent of one core.
fn cpu_percent(pid: i32, sample: Duration) -> Option<f64> {
    let before = cpu_time(pid).ok()?;
    std::thread::sleep(sample);
    let after = cpu_time(pid).ok()?;
    Some(100.0 * after.saturating_sub(before).as_secs_f64() / sample.as_secs_f64())
}
