//! The smoltcp frontend with a cluster key (issues 5 and 6): `omdisc-tap --key-file` and
//! three `omdiscd --key-file` nodes with the same key list each other; an `omdisc-tap` with
//! another key, or with none, never enters the Linux maps. With another key its own map
//! holds only itself; without a key it may list the keyed nodes (an unkeyed node checks
//! nothing: the key protects the maps of the nodes that have it).

use std::time::Duration;

use nix::sys::signal::Signal;

use super::map_watch::never_listed;
use super::smoltcp_interop::{
    expected, gone_from_linux, join, setup, TapHost, COMMON_ARGS, GRACE, TAP_IP,
};
use super::wire_tools::write_key_file;
use super::{step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{node_id_of, Binaries, Cluster};

/// Cluster keys (32 bytes in hex); test material only.
const KEY: &str = "6f6d646973632d736d6f6c7463702d696e7465726f702d6b65792d3030303031";
const OTHER_KEY: &str = "6f6d646973632d736d6f6c7463702d696e7465726f702d6b65792d3030303032";

/// How long an intruder is watched: several announce intervals.
const WATCH: Duration = Duration::from_secs(2);

/// Keyed smoltcp and Linux nodes; a wrong key and no key stay out.
pub(super) const SMOLTCP_KEY: Scenario = Scenario {
    name: "smoltcp-key",
    about: "with a cluster key, omdisc-tap and 3 omdiscd nodes list each other; a wrong key or none stays out",
    timeout: Duration::from_secs(180),
    needs_daemon: true,
    run: smoltcp_key,
};

fn smoltcp_key(ctx: &Ctx) -> Result<String, String> {
    let key = write_key_file(&ctx.dir.join("cluster.key"), &[KEY])?;
    let other_key = write_key_file(&ctx.dir.join("other.key"), &[OTHER_KEY])?;
    let key_arg = key.display().to_string();
    let mut daemon_args = COMMON_ARGS.to_vec();
    daemon_args.extend(["--key-file", &key_arg]);
    let (mut cluster, mut tap, binaries) = setup(ctx, [10, 77, 8], &daemon_args)?;
    let linux = [0, 1, 2];

    let with_key = ["--key-file".to_string(), key_arg.clone()];
    let joined = join(&mut cluster, &mut tap, &binaries, "same key", &with_key)?;
    if !tap
        .process()?
        .output()
        .contains("messages are authenticated")
    {
        return Err("omdisc-tap did not report running authenticated".into());
    }
    stop(&mut tap)?;
    gone_from_linux(&mut cluster, &mut tap, &binaries, &linux, GRACE)?;

    let wrong_key = ["--key-file".to_string(), other_key.display().to_string()];
    stays_out(
        &mut cluster,
        &mut tap,
        &binaries,
        "another key",
        &wrong_key,
        true,
    )?;
    stop(&mut tap)?;
    stays_out(&mut cluster, &mut tap, &binaries, "no key", &[], false)?;
    Ok(format!(
        "keyed nodes joined in {:.2}s; another key and no key stayed out for {:.1}s each",
        joined.as_secs_f64(),
        WATCH.as_secs_f64()
    ))
}

/// Stops the smoltcp node with SIGTERM: it leaves and exits 0.
fn stop(tap: &mut TapHost) -> Result<(), String> {
    tap.process()?.signal(Signal::SIGTERM)?;
    tap.wait_left()
}

/// Starts the smoltcp node with `args` and checks for [`WATCH`] that no Linux map lists it;
/// then that the Linux maps still list exactly the three and, if `alone`, that its own map
/// lists only itself.
fn stays_out(
    cluster: &mut Cluster,
    tap: &mut TapHost,
    binaries: &Binaries,
    what: &str,
    args: &[String],
    alone: bool,
) -> Result<(), String> {
    let linux = [0, 1, 2];
    let tap_id = node_id_of(TAP_IP);
    tap.start(args)?;
    never_listed(cluster, &linux, tap_id, WATCH).map_err(|why| format!("{what}: {why}"))?;
    tap.check_running()?;
    let only_linux = expected(cluster, &linux, false);
    for o in linux {
        let map = cluster.map(o)?;
        if map.primaries() != only_linux {
            return Err(format!("{what}: {} has {map}", cluster.label(o)));
        }
    }
    let own = tap.map(binaries)?;
    if alone && own.ids() != [tap_id] {
        return Err(format!("{what}: the smoltcp node's map is {own}"));
    }
    step(
        &format!("{what}: smoltcp node kept out of the Linux maps"),
        WATCH,
    );
    Ok(())
}
