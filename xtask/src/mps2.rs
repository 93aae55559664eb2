//! The Cortex-M4F boot image for QEMU's MPS2 AN386 board (`omdisc-smoltcp/mps2-an386`,
//! outside the host workspace): its build, its microcontroller budget (flash and RAM, with
//! the stack high-water mark measured in QEMU), its QEMU command line, and decoding its
//! defmt log with `defmt-print` (installed with `cargo install` when missing).
//!
//! The image writes its defmt frames to QEMU's stdout (semihosting), which goes to a file of
//! its own; QEMU's own warnings go to stderr, another file, so they never mix into the
//! frames. A [`DefmtLog`] feeds the frames to `defmt-print` as the file grows.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ensure;
use crate::image::ImageCrate;
use crate::project::{run, Project};
use crate::sizes::{section_sizes, symbol_addresses, BUDGET_SECTIONS};

/// The board's name for `--board`.
pub const BOARD: &str = "mps2-an386";
/// The image crate, relative to the project root.
pub const IMAGE_CRATE: &str = "omdisc-smoltcp/mps2-an386";
/// The image's target triple.
pub const IMAGE_TARGET: &str = "thumbv7em-none-eabihf";
/// The image's binary name.
pub const IMAGE_BINARY: &str = "omdisc-mps2-an386";
/// The Debian package that provides `qemu-system-arm`.
pub const QEMU_TOOL: ensure::Tool = ensure::Tool {
    command: "qemu-system-arm",
    package: "qemu-system-arm",
};
/// The defmt decoder, and the version `cargo install` fetches when it is missing.
const DEFMT_PRINT: &str = "defmt-print";
const DEFMT_PRINT_VERSION: &str = "1.2.0";
/// How decoded lines look: time since reset in seconds, level, message.
const LOG_FORMAT: &str = "{t} {L} {s}";

/// The microcontroller budget: 64 KiB of flash, 64 KiB of RAM.
pub const FLASH_BUDGET: u64 = 64 * 1024;
/// See [`FLASH_BUDGET`].
pub const RAM_BUDGET: u64 = 64 * 1024;
/// How long the image runs alone in QEMU to report its stack high-water mark.
const MEASURE_RUN: Duration = Duration::from_millis(1500);

/// The MPS2 image crate.
pub const MPS2_AN386: ImageCrate = ImageCrate {
    dir: IMAGE_CRATE,
    target: IMAGE_TARGET,
    binary: IMAGE_BINARY,
    target_subdir: BOARD,
};

/// Builds the image (release) and returns its ELF file; `<target dir>/mps2-an386`.
pub fn build(project: &Project) -> Result<PathBuf, String> {
    MPS2_AN386.build(project)
}

/// The image crate's own checks: `cargo fmt --check`, clippy for the image and for the
/// host-tested library with its tests (`-D warnings`), the library's unit tests on the host.
pub fn checks(project: &Project) -> Result<String, String> {
    MPS2_AN386.checks(project)
}

/// The `mcu-image` stage of `cargo xtask test`: the crate's own checks, the image within
/// its budget (stack measured alone in QEMU), a bad boot argument refused, then the
/// `mcu-image*` scenarios.
pub fn stage(project: &Project) -> Result<String, String> {
    let started = Instant::now();
    let checks = checks(project)?;
    println!(
        "    checks ({checks}): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let (image, budget, fits) = build_and_budget(project)?;
    println!("    {}", budget.replace('\n', "\n    "));
    println!(
        "    image built and measured: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !fits {
        return Err(format!(
            "over the microcontroller budget: {}",
            budget.replace('\n', "; ")
        ));
    }
    let scratch = project.scratch_dir("mps2-bad-argument")?;
    let refused = refuses_a_bad_argument(project, &image, &scratch)?;
    println!("    `{BAD_BOOTARGS}` ends the boot with exit status 1: {refused}");
    let scenarios = crate::scenarios::group_stage(project, "mcu-image")?;
    Ok(format!(
        "{checks}; within budget; a bad boot argument refused; {scenarios}"
    ))
}

/// Installs `defmt-print` with `cargo install` when it is not on the path (the `tools`
/// stage of `cargo xtask test` starts that in the background; this waits for it).
pub fn ensure_defmt_print(project: &Project) -> Result<PathBuf, String> {
    crate::background::wait("defmt-print");
    install_defmt_print(project, &run)
}

/// `defmt-print`'s path, installed first with `cargo install` (in the tools' cheap profile,
/// [`ensure::CHEAP_PROFILE`]: it decodes a boot image's few hundred lines as fast) when it
/// is missing; `runner` runs the install.
pub fn install_defmt_print(
    project: &Project,
    runner: ensure::Runner<'_>,
) -> Result<PathBuf, String> {
    if let Some(path) = find_defmt_print() {
        return Ok(path);
    }
    runner(ensure::cargo_install(project.cargo()).args([
        "--locked",
        DEFMT_PRINT,
        "--version",
        DEFMT_PRINT_VERSION,
    ]))?;
    find_defmt_print().ok_or_else(|| format!("`cargo install {DEFMT_PRINT}` made no {DEFMT_PRINT}"))
}

fn find_defmt_print() -> Option<PathBuf> {
    ensure::find_command(DEFMT_PRINT).or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        let path = home.join("bin").join(DEFMT_PRINT);
        path.is_file().then_some(path)
    })
}

/// The QEMU command line that boots `image` with `bootargs` (defmt frames on stdout, nothing
/// else there), its NIC on TAP `tap` (in the calling namespace) with Ethernet address `mac`,
/// or no network with `None`.
pub fn qemu_command(image: &Path, bootargs: &str, nic: Option<(&str, &str)>) -> Command {
    let mut command = Command::new(QEMU_TOOL.command);
    command
        .args([
            "-machine",
            "mps2-an386",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .args(["-serial", "null", "-kernel"])
        .arg(image)
        .args(["-append", bootargs])
        .args(["-semihosting-config", "enable=on,target=native"]);
    match nic {
        Some((tap, mac)) => command.arg("-nic").arg(format!(
            "tap,ifname={tap},script=no,downscript=no,mac={mac}"
        )),
        None => command.args(["-nic", "none"]),
    };
    command
}

/// `qemu` run in namespace `ns` with its stderr appended to `stderr_log` (the caller sends
/// stdout, the frames, elsewhere). The shell `exec`s QEMU, so the PID is QEMU's own.
pub fn in_namespace(ns: &str, qemu: &Command, stderr_log: &Path) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns, "sh", "-c"])
        .arg(format!("exec \"$0\" \"$@\" 2>>'{}'", stderr_log.display()))
        .arg(qemu.get_program())
        .args(qemu.get_args());
    command
}

/// A locally administered Ethernet address for the image at IPv4 address `ip`.
pub fn mac_for(ip: std::net::Ipv4Addr) -> String {
    let [_, b, c, d] = ip.octets();
    format!("02:6f:6d:{b:02x}:{c:02x}:{d:02x}")
}

/// `defmt-print` fed from a growing file of frames; its decoded lines go to `decoded`
/// (a file) or, with `None`, to this process's stdout.
pub struct DefmtLog {
    frames: PathBuf,
    offset: u64,
    decoder: Child,
    stdin: Option<ChildStdin>,
    decoded: Option<PathBuf>,
}

impl DefmtLog {
    /// Starts `defmt-print` for `image`.
    pub fn start(
        project: &Project,
        image: &Path,
        frames: &Path,
        decoded: Option<&Path>,
    ) -> Result<Self, String> {
        let defmt_print = ensure_defmt_print(project)?;
        let mut command = Command::new(defmt_print);
        command
            .arg("-e")
            .arg(image)
            .args(["--log-format", LOG_FORMAT])
            .stdin(Stdio::piped());
        if let Some(path) = decoded {
            let file =
                File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            command.stdout(file);
        }
        let mut decoder = command
            .spawn()
            .map_err(|e| format!("cannot start defmt-print: {e}"))?;
        let stdin = decoder.stdin.take();
        Ok(DefmtLog {
            frames: frames.to_path_buf(),
            offset: 0,
            decoder,
            stdin,
            decoded: decoded.map(Path::to_path_buf),
        })
    }

    /// Hands `defmt-print` what the image wrote since the last call.
    pub fn feed(&mut self) {
        let Ok(mut file) = File::open(&self.frames) else {
            return;
        };
        let mut fresh = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_ok() && file.read_to_end(&mut fresh).is_ok() {
            self.offset += fresh.len() as u64;
            if let Some(stdin) = self.stdin.as_mut() {
                let _ = stdin.write_all(&fresh);
                let _ = stdin.flush();
            }
        }
    }

    /// The decoded lines so far (empty when they go to stdout).
    pub fn text(&mut self) -> String {
        self.feed();
        // defmt-print needs a moment to decode what it was just handed.
        std::thread::sleep(Duration::from_millis(20));
        self.decoded
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Feeds the rest, closes `defmt-print`'s input and waits for it to finish.
    pub fn finish(mut self) -> String {
        self.feed();
        drop(self.stdin.take());
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.decoder.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.decoder.kill();
        let _ = self.decoder.wait();
        self.decoded
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}

impl Drop for DefmtLog {
    fn drop(&mut self) {
        let _ = self.decoder.kill();
        let _ = self.decoder.wait();
    }
}

/// The message of a decoded line (`TIME LEVEL MESSAGE`).
pub fn message(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    let (_, _, rest) = (parts.next(), parts.next(), parts.next());
    rest.map(str::trim_start).unwrap_or("")
}

/// The deepest stack the log reports (`stack high-water mark N B ...`), in decoded lines or
/// their messages.
pub fn stack_high_water(log: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.split("stack high-water mark ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .max()
}

/// The image's budget report: flash and RAM, what each part costs, and whether everything
/// fits: flash and RAM (the stack's region of its own, `.data`, `.bss`) in the budget, and
/// the stack's region sized to the measured stack high-water mark `high_water` with its
/// margin ([`stack_size`](crate::stack_size)).
pub fn budget(image: &Path, high_water: u64) -> Result<(String, bool), String> {
    let layout = Layout::read(image)?;
    let sized = crate::stack_size::check(high_water, layout.stack, "memory.x");
    let fits = layout.flash() <= FLASH_BUDGET && layout.ram() <= RAM_BUDGET && sized.is_ok();
    let text = format!(
        "{}\nRAM {} B of {RAM_BUDGET} (stack region {}, .data {}, .bss {})\nstack: {}{}",
        layout.flash_text(),
        layout.ram(),
        layout.stack,
        layout.data,
        layout.bss,
        crate::stack_size::describe(high_water, layout.stack),
        sized.err().map_or(String::new(), |why| format!("\n{why}")),
    );
    Ok((text, fits))
}

/// One line of the image's flash and RAM, without a stack measurement.
pub fn flash_line(image: &Path) -> Result<String, String> {
    let layout = Layout::read(image)?;
    Ok(format!(
        "{}; RAM {} B (stack region {}, .data {}, .bss {})",
        layout.flash_text(),
        layout.ram(),
        layout.stack,
        layout.data,
        layout.bss
    ))
}

/// What the image's sections and its stack region take, in bytes.
struct Layout {
    vector_table: u64,
    text: u64,
    rodata: u64,
    data: u64,
    bss: u64,
    /// From the linker's `_stack_end` up to `_stack_start` (`memory.x`).
    stack: u64,
}

impl Layout {
    fn read(image: &Path) -> Result<Layout, String> {
        let sizes = section_sizes(image, BUDGET_SECTIONS)?;
        let size = |name: &str| sizes.iter().find(|(n, _)| n == name).map_or(0, |(_, s)| *s);
        let stack = symbol_addresses(image, &["_stack_end", "_stack_start"])?;
        Ok(Layout {
            vector_table: size(".vector_table"),
            text: size(".text"),
            rodata: size(".rodata"),
            data: size(".data"),
            bss: size(".bss"),
            stack: stack[1].saturating_sub(stack[0]),
        })
    }

    /// `.vector_table` + `.text` + `.rodata` + `.data` (its initial values).
    fn flash(&self) -> u64 {
        self.vector_table + self.text + self.rodata + self.data
    }

    /// The stack's region + `.data` + `.bss`.
    fn ram(&self) -> u64 {
        self.stack + self.data + self.bss
    }

    fn flash_text(&self) -> String {
        format!(
            "flash {} B of {FLASH_BUDGET} (.vector_table {}, .text {}, .rodata {}, .data {})",
            self.flash(),
            self.vector_table,
            self.text,
            self.rodata,
            self.data
        )
    }
}

/// The Ethernet address for the image with these boot arguments (from its `ip=`), so that
/// two images on one bridge do not share QEMU's default.
pub fn mac_for_bootargs(bootargs: &str) -> String {
    let ip = bootargs
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("ip="))
        .next_back()
        .and_then(|v| v.split('/').next()?.parse().ok())
        .unwrap_or(std::net::Ipv4Addr::new(10, 77, 1, 60));
    mac_for(ip)
}

/// Builds the image, measures its stack alone in QEMU, and returns its path, its budget
/// report and whether it fits; an error if it reported no stack.
pub fn build_and_budget(project: &Project) -> Result<(PathBuf, String, bool), String> {
    let image = build(project)?;
    let scratch = project.scratch_dir("mps2-budget")?;
    let log = measure_alone(project, &image, &scratch)?;
    let high_water = stack_high_water(&log).ok_or_else(|| {
        format!(
            "the image reported no stack high-water mark in {} s alone; its log:\n{log}",
            MEASURE_RUN.as_secs_f64()
        )
    })?;
    let (text, fits) = budget(&image, high_water)?;
    Ok((image, text, fits))
}

/// Boots the image without a network for a moment and returns its decoded log (it reports
/// its stack high-water mark with every map).
pub fn measure_alone(project: &Project, image: &Path, scratch: &Path) -> Result<String, String> {
    let (_, log) = run_alone(
        project,
        image,
        scratch,
        "ip=10.77.1.61/24 interval=0.2",
        MEASURE_RUN,
    )?;
    Ok(log)
}

/// The boot arguments [`refuses_a_bad_argument`] gives the image: the last one is bad.
const BAD_BOOTARGS: &str = "ip=10.77.1.61/24 interval=0.2 dead_after=0";
/// How long a refused boot may take to end QEMU.
const BAD_ARGUMENT_EXIT: Duration = Duration::from_secs(10);

/// Boots the image alone with a bad boot argument: it must log one error line naming it
/// and end QEMU with exit status 1, within a few seconds.
pub fn refuses_a_bad_argument(
    project: &Project,
    image: &Path,
    scratch: &Path,
) -> Result<String, String> {
    let (status, log) = run_alone(project, image, scratch, BAD_BOOTARGS, BAD_ARGUMENT_EXIT)?;
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    let named = errors.len() == 1 && errors[0].contains("dead_after=0");
    match status.and_then(|s| s.code()) {
        Some(1) if named => Ok(message(errors[0]).to_string()),
        code => Err(format!(
            "with `{BAD_BOOTARGS}` QEMU ended with {code:?} (wanted 1) and the image logged {} error line(s): {log}",
            errors.len()
        )),
    }
}

/// Runs the image without a network (`bootargs`) until it ends QEMU or `limit` passes (then
/// QEMU is killed): its exit status if it ended on its own, and its decoded log.
fn run_alone(
    project: &Project,
    image: &Path,
    scratch: &Path,
    bootargs: &str,
    limit: Duration,
) -> Result<(Option<std::process::ExitStatus>, String), String> {
    ensure::tools(&[QEMU_TOOL])?;
    let frames = scratch.join("alone.defmt");
    let decoded = scratch.join("alone.log");
    let _ = std::fs::remove_file(&frames);
    let mut log = DefmtLog::start(project, image, &frames, Some(&decoded))?;
    let frames_file =
        File::create(&frames).map_err(|e| format!("cannot create {}: {e}", frames.display()))?;
    let mut qemu = qemu_command(image, bootargs, None)
        .stdin(Stdio::null())
        .stdout(frames_file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", QEMU_TOOL.command))?;
    let end = Instant::now() + limit;
    let mut status = None;
    while status.is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        status = qemu.try_wait().ok().flatten();
    }
    if status.is_none() {
        let _ = qemu.kill();
        let _ = qemu.wait();
    }
    log.feed();
    Ok((status, log.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "0.031 INFO  === map: 1 members ===\n\
        0.032 INFO  stack high-water mark 33556 B of 39928 B (with margin 41952 B)\n\
        1.032 INFO  stack high-water mark 33600 B of 39928 B (with margin 42000 B)\n";

    #[test]
    fn the_deepest_reported_stack_counts() {
        assert_eq!(stack_high_water(LOG), Some(33600));
        assert_eq!(stack_high_water("nothing"), None);
        assert_eq!(
            message("0.031 INFO  === map: 1 members ==="),
            "=== map: 1 members ==="
        );
    }

    #[test]
    fn qemu_runs_the_board_with_frames_to_a_file() {
        let c = qemu_command(
            Path::new("/img"),
            "ip=10.0.0.2/24",
            Some(("tap9", "02:00:00:00:00:01")),
        );
        let shown = crate::project::show(&c);
        assert!(
            shown.starts_with("qemu-system-arm -machine mps2-an386"),
            "{shown}"
        );
        assert!(
            shown.contains("-serial null -kernel /img -append ip=10.0.0.2/24"),
            "{shown}"
        );
        assert!(
            shown.contains("-semihosting-config enable=on,target=native"),
            "{shown}"
        );
        assert!(
            shown.ends_with("-nic tap,ifname=tap9,script=no,downscript=no,mac=02:00:00:00:00:01"),
            "{shown}"
        );
        assert_eq!(
            mac_for(std::net::Ipv4Addr::new(10, 77, 7, 61)),
            "02:6f:6d:4d:07:3d"
        );
    }
}
