//! [`BootedImage`]: a boot image of either board running under QEMU on a TAP in a scenario's
//! namespace, and its log as text — the RISC-V console, or the MPS2 image's defmt frames
//! decoded by `defmt-print` — with the map and the first-announcement time read from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::image::{self, Board};
use crate::mps2::{self, DefmtLog};
use crate::project::Project;
use crate::testbed::{Membership, Process};

/// A boot image under QEMU; QEMU is ended (by PID) when it is dropped.
pub(crate) struct BootedImage {
    qemu: Process,
    defmt: Option<DefmtLog>,
}

impl BootedImage {
    /// Builds `board`'s image; returns it and one line about its size.
    pub(crate) fn build(project: &Project, board: Board) -> Result<(PathBuf, String), String> {
        match board {
            Board::RiscvVirt => {
                let image = image::build(project)?;
                let sizes = image::size_line(&image)?;
                Ok((image, sizes))
            }
            Board::Mps2An386 => {
                let image = mps2::build(project)?;
                let flash = mps2::flash_line(&image)?;
                Ok((image, flash))
            }
        }
    }

    /// Boots `image` with `bootargs` on TAP `tap` (on the bridge in namespace `ns`), its
    /// logs in `dir`.
    pub(crate) fn boot(
        project: &Project,
        board: Board,
        image: &Path,
        bootargs: &str,
        (ns, tap): (&str, &str),
        dir: &Path,
    ) -> Result<Self, String> {
        image::add_tap(ns, tap)?;
        let decoded = dir.join("defmt.log");
        let launch = image::launch_on_tap(
            project,
            board,
            image,
            bootargs,
            (ns, tap),
            dir,
            Some(&decoded),
        )?;
        let qemu = Process::spawn(launch.command, "qemu", &launch.output)?;
        Ok(BootedImage {
            qemu,
            defmt: launch.defmt,
        })
    }

    /// The image's log so far, one message per line (defmt's time and level left out).
    pub(crate) fn log(&mut self) -> String {
        match self.defmt.as_mut() {
            Some(defmt) => messages(&defmt.text()),
            None => self.qemu.output(),
        }
    }

    /// QEMU's exit status, if it has ended.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        self.qemu.try_exit()
    }

    /// QEMU's PID.
    pub(crate) fn pid(&self) -> i32 {
        self.qemu.pid()
    }

    /// Ends QEMU with SIGKILL and waits for it.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        self.qemu.signal(nix::sys::signal::Signal::SIGKILL)?;
        self.qemu
            .wait_exit(Duration::from_secs(5))
            .map(drop)
            .ok_or_else(|| "QEMU did not die on SIGKILL".to_string())
    }
}

/// The messages of decoded defmt lines (`TIME LEVEL MESSAGE`).
fn messages(decoded: &str) -> String {
    decoded
        .lines()
        .map(mps2::message)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The primaries of the last complete map in the image's log, between its
/// `=== map: N members ===` and `=== end of map ===` lines.
pub(crate) fn last_map(log: &str) -> Option<BTreeMap<u16, Option<Ipv4Addr>>> {
    let text = log.replace('\r', "");
    let end = text.rfind("=== end of map ===")?;
    let start = text[..end].rfind("=== map:")?;
    let body = text[start..end].split_once('\n')?.1;
    Membership::parse(body).ok().map(|m| m.primaries())
}

/// The image's own `first announcement sent N ms after machine reset`.
pub(crate) fn first_announcement_ms(log: &str) -> Option<u64> {
    crate::riscv_budget::first_announcement_ms(log)
}

/// The deepest stack the image reported in its log (both images do with every map).
pub(crate) fn stack_high_water(log: &str) -> Option<u64> {
    mps2::stack_high_water(log)
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
    fn the_last_complete_map_counts() {
        let map = last_map(CONSOLE).unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            vec![
                (1803, Some(Ipv4Addr::new(10, 77, 7, 11))),
                (1852, Some(Ipv4Addr::new(10, 77, 7, 60)))
            ]
        );
    }

    #[test]
    fn first_announcement_time_is_read_from_the_log() {
        assert_eq!(first_announcement_ms(CONSOLE), Some(57));
        assert_eq!(first_announcement_ms("nothing"), None);
        assert_eq!(last_map("=== map: 1 members ===\n1 10.0.0.1 1\n"), None);
    }

    #[test]
    fn a_decoded_defmt_map_reads_like_the_console() {
        let decoded = "0.020135 INFO  === map: 2 members ===\n\
            0.020168 INFO  # this node is 1852\n\
            0.020422 INFO  1803 10.77.7.11 1\n\
            0.020500 INFO  1852 10.77.7.60 1\n\
            0.020695 INFO  === end of map ===\n\
            0.020779 INFO  stack high-water mark 5120 B of 8192 B (with margin 6400 B)\n";
        let log = messages(decoded);
        assert_eq!(last_map(&log).map(|m| m.len()), Some(2));
        assert_eq!(stack_high_water(&log), Some(5120));
    }
}
