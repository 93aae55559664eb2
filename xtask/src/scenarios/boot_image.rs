//! The bare-metal boot image in a Linux cluster (issue 7): QEMU boots the RISC-V image on a
//! TAP on the same bridge as three `omdiscd` nodes. Within 2 s of QEMU's start every Linux
//! map lists the image's node and the image's console map lists all three Linux nodes;
//! after QEMU is killed the Linux nodes expire the image within `interval × dead-after` +
//! 1 s. Reports the image's own boot-to-first-announcement time, its section sizes and
//! QEMU's CPU use while the image idles in `wfi`. `boot-image-key` does the same with a
//! cluster key on every node (`--key-file` for the daemons, `key=` for the image).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::image::{self, add_tap};
use crate::proc_stats::cpu_time;
use crate::project::Project;
use crate::testbed::{node_id_of, wait_until, Cluster, Membership, Process};

/// Announce interval of every node, in seconds (daemons and image alike).
const INTERVAL: f64 = 0.5;
/// Missed intervals before expiry.
const DEAD_AFTER: u32 = 3;
/// The daemon arguments every Linux node gets.
const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// The segment's first three octets; Linux nodes are .11, .12, .13.
const SEGMENT: [u8; 3] = [10, 77, 7];
/// The image's address on the segment.
const IMAGE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 7, 60);
/// The TAP QEMU uses, in the bridge's namespace.
const TAP: &str = "omdtap0";

/// Every map lists everybody within this time after QEMU starts.
const BOOT_BOUND: Duration = Duration::from_secs(2);
/// How long waits go on past a bound, so a failure can say how late it was.
const GRACE: Duration = Duration::from_secs(8);
/// How often the maps and the console are looked at.
const POLL: Duration = Duration::from_millis(25);

/// A cluster key (32 bytes in hex) for `boot-image-key`; test material only.
const TEST_KEY: &str = "6f6d646973632d626f6f742d696d6167652d746573742d6b65792d30303031";
/// How long QEMU's CPU use is sampled while the image idles.
const CPU_SAMPLE: Duration = Duration::from_secs(2);

/// The scenario, unauthenticated.
pub(super) const BOOT_IMAGE: Scenario = Scenario {
    name: "boot-image",
    about: "the RISC-V image under QEMU and 3 omdiscd nodes list each other within 2 s of boot; killing QEMU expires it",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, false),
};

/// The scenario with a cluster key on every node.
pub(super) const BOOT_IMAGE_KEY: Scenario = Scenario {
    name: "boot-image-key",
    about: "as boot-image, with a cluster key on all nodes (image: key= boot argument)",
    timeout: Duration::from_secs(240),
    needs_daemon: true,
    run: |ctx| boot_image(ctx, true),
};

/// `interval × dead-after + 1 s`.
fn expiry_bound() -> Duration {
    Duration::from_secs_f64(INTERVAL * f64::from(DEAD_AFTER) + 1.0)
}

fn boot_image(ctx: &Ctx, keyed: bool) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let project = Project::from_manifest_dir();
    let built = Instant::now();
    let image = image::build(&project)?;
    let sizes = image::size_line(&image)?;
    step(&format!("image built: {sizes}"), built.elapsed());

    let mut daemon_args: Vec<String> = DAEMON_ARGS.iter().map(|s| s.to_string()).collect();
    let mut bootargs = format!("ip={IMAGE_IP}/24 interval={INTERVAL} dead_after={DEAD_AFTER}");
    if keyed {
        let key_file = dir.join("cluster.key");
        std::fs::write(&key_file, format!("{TEST_KEY}\n"))
            .and_then(|()| {
                std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            })
            .map_err(|e| format!("cannot write {}: {e}", key_file.display()))?;
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
    add_tap(&ns, TAP)?;
    let qemu = image::qemu_command(&image, &bootargs, TAP);
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &ns])
        .arg(qemu.get_program())
        .args(qemu.get_args());
    let console = dir.join("console.log");
    let booted = Instant::now();
    let mut qemu = Process::spawn(command, "qemu", &console)?;

    // Everybody lists everybody: the Linux maps the image, the image's console all of them.
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
        if image_done.is_none() && last_console_map(&qemu.output()).as_ref() == Some(&everybody) {
            image_done = Some(booted.elapsed());
        }
        linux_done.is_some() && image_done.is_some()
    });
    if let Some(status) = qemu.try_exit() {
        return Err(format!(
            "QEMU exited ({status}): {}",
            crate::testbed::tail(&qemu.output(), 5)
        ));
    }
    let first_send = first_announcement_ms(&qemu.output());
    let (Ok(_), Some(linux_took), Some(image_took)) = (outcome, linux_done, image_done) else {
        return Err(format!(
            "{:.2}s after boot: Linux maps: {}; image's last console map: {:?}",
            booted.elapsed().as_secs_f64(),
            cluster.describe_maps(&linux),
            last_console_map(&qemu.output())
        ));
    };
    step(
        "every Linux map lists the image, after QEMU start",
        linux_took,
    );
    step(
        "the image's console map lists all 3 Linux nodes",
        image_took,
    );
    if linux_took > BOOT_BOUND || image_took > BOOT_BOUND {
        return Err(format!(
            "took {:.2}s (Linux maps) and {:.2}s (image map) after boot; bound {BOOT_BOUND:?}",
            linux_took.as_secs_f64(),
            image_took.as_secs_f64()
        ));
    }

    if keyed && !qemu.output().contains(" authenticated (bootargs") {
        return Err("the image did not report running authenticated".into());
    }
    let idle_cpu = cpu_percent(qemu.pid(), CPU_SAMPLE);

    // QEMU killed: the image sends nothing more and expires from every Linux map.
    let killed = Instant::now();
    qemu.signal(Signal::SIGKILL)?;
    qemu.wait_exit(Duration::from_secs(5))
        .ok_or("QEMU did not die on SIGKILL")?;
    let bound = expiry_bound();
    let gone = cluster.wait_for_maps(&linux, &linux, bound + GRACE)?;
    step(
        "the killed image expired from the 3 Linux maps",
        killed.elapsed(),
    );
    if gone > bound {
        return Err(format!(
            "the killed image stayed {:.2}s in the maps (bound {bound:?})",
            gone.as_secs_f64()
        ));
    }
    Ok(format!(
        "first announcement {} ms after machine reset; all maps complete {:.2}s after QEMU start; expired in {:.2}s; QEMU CPU while idle {}; {sizes}",
        first_send.map_or("?".to_string(), |ms| ms.to_string()),
        linux_took.max(image_took).as_secs_f64(),
        gone.as_secs_f64(),
        idle_cpu.map_or("?".to_string(), |p| format!("{p:.1}%"))
    ))
}

/// CPU time (user + system) of process `pid` over `sample`, in percent of one core.
fn cpu_percent(pid: i32, sample: Duration) -> Option<f64> {
    let before = cpu_time(pid).ok()?;
    std::thread::sleep(sample);
    let after = cpu_time(pid).ok()?;
    Some(100.0 * after.saturating_sub(before).as_secs_f64() / sample.as_secs_f64())
}

/// The primaries of the last complete map the image printed between its
/// `=== map: N members ===` and `=== end of map ===` lines.
fn last_console_map(console: &str) -> Option<BTreeMap<u16, Option<Ipv4Addr>>> {
    let text = console.replace('\r', "");
    let end = text.rfind("=== end of map ===")?;
    let start = text[..end].rfind("=== map:")?;
    let body = text[start..end].split_once('\n')?.1;
    Membership::parse(body).ok().map(|m| m.primaries())
}

/// The image's own `first announcement sent N ms after machine reset`.
fn first_announcement_ms(console: &str) -> Option<u64> {
    let line = console
        .lines()
        .find(|l| l.contains("first announcement sent"))?;
    let after = line.split("first announcement sent ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "[    0.1] INFO  node 1852 up\r\n\
        [    0.1] INFO  first announcement sent 57 ms after machine reset\r\n\
        === map: 1 members ===\r\n\
        1852 10.77.7.60 1\r\n\
        === end of map ===\r\n\
        === map: 2 members ===\r\n\
        # omdisc map (setpe format): this node is 1852, 2 nodes in 2 lines\r\n\
        1803 10.77.7.11 1\r\n\
        1852 10.77.7.60 1\r\n\
        === end of map ===\r\n\
        === map: 3 members ===\r\n\
        1803 10.77.7.11 2\r\n";

    #[test]
    fn the_last_complete_console_map_counts() {
        let map = last_console_map(CONSOLE).unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            vec![
                (1803, Some(Ipv4Addr::new(10, 77, 7, 11))),
                (1852, Some(Ipv4Addr::new(10, 77, 7, 60)))
            ]
        );
    }

    #[test]
    fn first_announcement_time_is_read_from_the_console() {
        assert_eq!(first_announcement_ms(CONSOLE), Some(57));
        assert_eq!(first_announcement_ms("nothing"), None);
        assert_eq!(
            last_console_map("=== map: 1 members ===\n1 10.0.0.1 1\n"),
            None
        );
    }
}
