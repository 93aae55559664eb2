//! `cargo xtask image` and `cargo xtask qemu`: the bare-metal RISC-V boot image
//! (`omdisc-smoltcp/riscv-virt`, outside the host workspace, with its own target
//! configuration), its build and section sizes, and booting it under QEMU on a TAP that sits
//! on a bridge inside a network namespace (never in the root namespace).

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::ensure;
use crate::project::{run, Project};
use crate::riscv_budget::{self, Footprint};
use crate::testbed::{self, ip, registry, Bridge, Process};

/// The image crate, relative to the project root.
pub const IMAGE_CRATE: &str = "omdisc-smoltcp/riscv-virt";
/// The image's target triple.
pub const IMAGE_TARGET: &str = "riscv64gc-unknown-none-elf";
/// The image's binary name.
pub const IMAGE_BINARY: &str = "omdisc-riscv-virt";
/// The Debian package that provides `qemu-system-riscv64`.
pub const QEMU_TOOL: ensure::Tool = ensure::Tool {
    command: "qemu-system-riscv64",
    package: "qemu-system-misc",
};

/// Default TAP name for `cargo xtask qemu`.
const DEFAULT_TAP: &str = "omdtap0";
/// Default run time of `cargo xtask qemu`, and the longest allowed.
const DEFAULT_SECONDS: u64 = 600;
const MAX_SECONDS: u64 = 24 * 3600;

/// A boot image crate: outside the host workspace, with its own `.cargo/config.toml` (so
/// cargo runs in its directory) and its own target directory under the workspace's.
#[derive(Debug, Clone, Copy)]
pub struct ImageCrate {
    /// The crate, relative to the project root.
    pub dir: &'static str,
    /// Its target triple.
    pub target: &'static str,
    /// Its binary.
    pub binary: &'static str,
    /// Its target directory: `<workspace target dir>/SUBDIR`.
    pub target_subdir: &'static str,
}

/// The RISC-V `virt` image.
pub const RISCV_VIRT: ImageCrate = ImageCrate {
    dir: IMAGE_CRATE,
    target: IMAGE_TARGET,
    binary: IMAGE_BINARY,
    target_subdir: "riscv-virt",
};

impl ImageCrate {
    /// Builds the image (release) and returns the path of the ELF file.
    pub fn build(&self, project: &Project) -> Result<PathBuf, String> {
        ensure::rust_targets(&[self.target])?;
        let target_dir = project.target_dir()?.join(self.target_subdir);
        run(project
            .cargo()
            .current_dir(project.root().join(self.dir))
            .args(["build", "--release", "--config"])
            .arg(crate::path_remap::rustflags_config(
                self.target,
                project.root(),
            ))
            .arg("--target-dir")
            .arg(&target_dir))?;
        let image = target_dir
            .join(self.target)
            .join("release")
            .join(self.binary);
        if image.is_file() {
            Ok(image)
        } else {
            Err(format!("the build made no {}", image.display()))
        }
    }

    /// The crate's own checks (it is outside the workspace, so the workspace-wide ones
    /// miss it): `cargo fmt --check`, clippy for the image target and for the host-tested
    /// library with its tests (`-D warnings`), and the library's unit tests on the host.
    pub fn checks(&self, project: &Project) -> Result<String, String> {
        ensure::rust_targets(&[self.target])?;
        let crate_dir = project.root().join(self.dir);
        let target_dir = project.target_dir()?.join(self.target_subdir);
        let host = host_triple()?;
        let cargo = |args: &[&str]| {
            let mut command = project.cargo();
            command.current_dir(&crate_dir).args(args);
            command
        };
        run(&mut cargo(&["fmt", "--check"]))?;
        let mut clippy_image = cargo(&["clippy", "--release", "--target-dir"]);
        run(clippy_image.arg(&target_dir).args(["--", "-D", "warnings"]))?;
        let mut clippy_lib = cargo(&[
            "clippy",
            "--lib",
            "--tests",
            "--target",
            &host,
            "--target-dir",
        ]);
        run(clippy_lib.arg(&target_dir).args(["--", "-D", "warnings"]))?;
        let mut tests = cargo(&["test", "--lib", "--target", &host, "--target-dir"]);
        run(tests.arg(&target_dir))?;
        Ok(format!(
            "fmt, clippy ({} and {host}), unit tests on {host}",
            self.target
        ))
    }
}

/// Builds the RISC-V image (release) and returns the path of the ELF file.
pub fn build(project: &Project) -> Result<PathBuf, String> {
    RISCV_VIRT.build(project)
}

/// The `image-checks` stage: the RISC-V image crate's own checks ([`ImageCrate::checks`]),
/// then its `.text` and `.bss` within their limits and its measured stack high-water mark,
/// with the margin, within its stack ([`riscv_budget`]).
pub fn checks(project: &Project) -> Result<String, String> {
    let crate_checks = RISCV_VIRT.checks(project)?;
    let (_, footprint, measured) = riscv_budget::build_and_measure(project)?;
    println!("    sizes: {}", footprint.line());
    println!(
        "    {}",
        measured.lines(footprint.stack).replace('\n', "\n    ")
    );
    footprint.check()?;
    measured.check_stack(footprint.stack)?;
    Ok(format!(
        "{crate_checks}; .text {} and .bss {} within limits; stack high-water mark {} B in {} B",
        footprint.text, footprint.bss, measured.stack_high_water, footprint.stack
    ))
}

/// The host's target triple, from `rustc -vV`.
pub(crate) fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV printed no host triple".to_string())
}

/// One line with the image's sections, `.text` and `.bss` against their limits, and the
/// stack.
pub fn size_line(image: &Path) -> Result<String, String> {
    Ok(Footprint::read(image)?.line())
}

/// The QEMU command line that boots `image` with `bootargs` on TAP `tap` (in the calling
/// namespace), console on stdout, no display, no monitor.
pub fn qemu_command(image: &Path, bootargs: &str, tap: &str) -> Command {
    let mut command = Command::new(QEMU_TOOL.command);
    command
        .args(["-machine", "virt", "-bios", "none", "-display", "none"])
        .args(["-monitor", "none", "-serial", "stdio", "-kernel"])
        .arg(image)
        .args(["-append", bootargs])
        .arg("-netdev")
        .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
        .args(["-device", "virtio-net-device,netdev=n0"]);
    command
}

/// Adds TAP `name` to the bridge `br0` inside namespace `ns` and brings it up.
pub fn add_tap(ns: &str, name: &str) -> Result<(), String> {
    ip(&["-n", ns, "tuntap", "add", "dev", name, "mode", "tap"])?;
    ip(&["-n", ns, "link", "set", name, "master", "br0"])?;
    ip(&["-n", ns, "link", "set", name, "up"])?;
    Ok(())
}

/// `cargo xtask image`: builds the image, prints its section sizes and path.
pub fn run_image(project: &Project, mut args: Args) -> ExitCode {
    let board = board_option(&mut args);
    if let Err(why) = args.finish().and(board.clone()) {
        eprintln!("cargo xtask image: {why}");
        return ExitCode::from(2);
    }
    if board == Ok(Board::Mps2An386) {
        return report(mps2_image(project), "cargo xtask image");
    }
    report(riscv_image(project), "cargo xtask image")
}

/// `cargo xtask image` for the RISC-V board: builds the image, prints its sections against
/// the limits and what its code is spent on; fails over the limits.
fn riscv_image(project: &Project) -> Result<(), String> {
    let (image, footprint, measured) = riscv_budget::build_and_measure(project)?;
    println!("image: {}", image.display());
    println!("sizes: {}", footprint.line());
    println!("{}", measured.lines(footprint.stack));
    println!("\n{}", riscv_budget::bloat_table(&image)?);
    footprint.check()?;
    measured.check_stack(footprint.stack)
}

/// The boards `--board` picks (the RISC-V one by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Board {
    /// QEMU's RISC-V `virt` machine (`omdisc-smoltcp/riscv-virt`), console on a UART.
    RiscvVirt,
    /// QEMU's Cortex-M4F MPS2 AN386 board (`omdisc-smoltcp/mps2-an386`), defmt log.
    Mps2An386,
}

/// QEMU booting an image on a TAP inside a namespace, and where its output goes.
pub(crate) struct TapLaunch {
    /// `ip netns exec NS qemu-system-...`, ready for [`Process::spawn`].
    pub(crate) command: Command,
    /// Where [`Process::spawn`] sends QEMU's output: the console (RISC-V) or the image's
    /// defmt frames (MPS2).
    pub(crate) output: PathBuf,
    /// QEMU's text: the console (RISC-V), or QEMU's own warnings (MPS2).
    pub(crate) text_log: PathBuf,
    /// The MPS2 image's defmt decoder, fed from `output`.
    pub(crate) defmt: Option<crate::mps2::DefmtLog>,
}

/// How QEMU boots `image` (of `board`) with `bootargs` on TAP `tap` in namespace `ns`,
/// its logs in `dir`; the MPS2 image's decoded log goes to `decoded` (a file) or stdout.
pub(crate) fn launch_on_tap(
    project: &Project,
    board: Board,
    image: &Path,
    bootargs: &str,
    (ns, tap): (&str, &str),
    dir: &Path,
    decoded: Option<&Path>,
) -> Result<TapLaunch, String> {
    let console = dir.join("console.log");
    match board {
        Board::RiscvVirt => {
            ensure::tools(&[QEMU_TOOL])?;
            let qemu = qemu_command(image, bootargs, tap);
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]);
            command.arg(qemu.get_program()).args(qemu.get_args());
            Ok(TapLaunch {
                command,
                output: console.clone(),
                text_log: console,
                defmt: None,
            })
        }
        Board::Mps2An386 => {
            ensure::tools(&[crate::mps2::QEMU_TOOL])?;
            let frames = dir.join("defmt.frames");
            let _ = std::fs::remove_file(&frames);
            let mac = crate::mps2::mac_for_bootargs(bootargs);
            let qemu = crate::mps2::qemu_command(image, bootargs, Some((tap, &mac)));
            let defmt = crate::mps2::DefmtLog::start(project, image, &frames, decoded)?;
            // QEMU's stdout carries the frames; its warnings go to the console log.
            Ok(TapLaunch {
                command: crate::mps2::in_namespace(ns, &qemu, &console),
                output: frames,
                text_log: console,
                defmt: Some(defmt),
            })
        }
    }
}

fn board_option(args: &mut Args) -> Result<Board, String> {
    match args.value("--board")?.as_deref() {
        None | Some("riscv-virt") => Ok(Board::RiscvVirt),
        Some(crate::mps2::BOARD) => Ok(Board::Mps2An386),
        Some(other) => Err(format!(
            "--board {other}: expected riscv-virt or {}",
            crate::mps2::BOARD
        )),
    }
}

fn report(outcome: Result<(), String>, what: &str) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("{what}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask image --board mps2-an386`: builds the image, runs it alone in QEMU for its
/// stack high-water mark, prints flash and RAM against the budget; fails over budget.
fn mps2_image(project: &Project) -> Result<(), String> {
    let (image, budget, fits) = crate::mps2::build_and_budget(project)?;
    println!("image: {}", image.display());
    println!("{budget}");
    if fits {
        Ok(())
    } else {
        Err("over the microcontroller budget (64 KiB flash, 64 KiB RAM)".into())
    }
}

/// What `cargo xtask qemu` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QemuOptions {
    board: Board,
    bootargs: String,
    tap: String,
    seconds: u64,
}

fn parse_qemu_options(mut args: Args) -> Result<QemuOptions, String> {
    let board = board_option(&mut args)?;
    let address = args.value("--ip")?;
    let tap = args
        .value("--tap")?
        .unwrap_or_else(|| DEFAULT_TAP.to_string());
    let extra = args.value("--append")?;
    let seconds = match args.value("--seconds")? {
        None => DEFAULT_SECONDS,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=MAX_SECONDS).contains(n))
            .ok_or_else(|| format!("--seconds {s}: expected 1..{MAX_SECONDS}"))?,
    };
    args.finish()?;
    if !valid_interface_name(&tap) {
        return Err(format!(
            "--tap {tap}: expected 1..15 characters of A-Z a-z 0-9 . _ -"
        ));
    }
    let mut bootargs = Vec::new();
    if let Some(address) = address {
        check_address(&address)?;
        bootargs.push(format!("ip={address}"));
    }
    bootargs.extend(extra);
    Ok(QemuOptions {
        board,
        bootargs: bootargs.join(" "),
        tap,
        seconds,
    })
}

fn valid_interface_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn check_address(value: &str) -> Result<(), String> {
    let bad = || format!("--ip {value}: expected A.B.C.D/PREFIX with a prefix of 1..32");
    let (address, prefix) = value.split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if !(1..=32).contains(&prefix) || address.is_multicast() || address.is_unspecified() {
        return Err(bad());
    }
    Ok(())
}

/// `cargo xtask qemu [--ip A/P] [--tap NAME] [--append "k=v ..."] [--seconds N]`: builds the
/// image and boots it on TAP `NAME`, bridged (`br0`) inside a namespace of its own, with the
/// console on stdout, for N seconds (default 600) or until Ctrl-C; then removes it all.
/// Attach Linux hosts to that bridge with a veth into the printed namespace.
pub fn run_qemu(project: &Project, args: Args) -> ExitCode {
    let options = match parse_qemu_options(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("cargo xtask qemu: {why}");
            eprintln!("usage: cargo xtask qemu [--board riscv-virt|mps2-an386] [--ip A.B.C.D/P] [--tap NAME] [--append \"key=value ...\"] [--seconds N]");
            return ExitCode::from(2);
        }
    };
    match boot_on_tap(project, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cargo xtask qemu: {why}");
            ExitCode::FAILURE
        }
    }
}

fn boot_on_tap(project: &Project, options: &QemuOptions) -> Result<(), String> {
    testbed::require_root("cargo xtask qemu")?;
    let scratch = project.scratch_dir("qemu")?;
    registry::install_signal_cleanup();
    let bridge = Bridge::new("qemu")?;
    let ns = bridge.namespace().to_string();
    add_tap(&ns, &options.tap)?;
    let image = match options.board {
        Board::RiscvVirt => {
            let image = build(project)?;
            println!("sizes: {}", size_line(&image)?);
            image
        }
        Board::Mps2An386 => {
            let (image, budget, _fits) = crate::mps2::build_and_budget(project)?;
            println!("{budget}");
            image
        }
    };
    let launch = launch_on_tap(
        project,
        options.board,
        &image,
        &options.bootargs,
        (&ns, &options.tap),
        &scratch,
        None,
    )?;
    let mut defmt = launch.defmt;
    println!(
        "booting {} on TAP {} (bridge br0 in namespace {ns}), bootargs \"{}\", for {} s",
        image.display(),
        options.tap,
        options.bootargs,
        options.seconds
    );
    println!("attach a host: ip -n {ns} link add v0 type veth peer name v1 netns HOSTNS; ip -n {ns} link set v0 master br0 up");
    let mut qemu = Process::spawn(launch.command, "qemu", &launch.output)?;
    let status = follow(
        &mut qemu,
        &launch.text_log,
        defmt.as_mut(),
        Duration::from_secs(options.seconds),
    );
    match status {
        Some(status) if !status.success() => Err(format!("QEMU ended with {status}")),
        Some(_) => Ok(()),
        None => {
            qemu.stop(Duration::from_secs(2));
            println!("\n{} s are up: QEMU stopped", options.seconds);
            Ok(())
        }
    }
}

/// Copies what `process` writes to `log` onto stdout until it exits (its status) or
/// `limit` passes (`None`).
/// With `defmt`, the image's decoded defmt log is fed along.
fn follow(
    process: &mut Process,
    log: &Path,
    mut defmt: Option<&mut crate::mps2::DefmtLog>,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    let mut offset = 0;
    let mut stdout = std::io::stdout();
    loop {
        let status = process.try_exit();
        if let Some(defmt) = defmt.as_mut() {
            defmt.feed();
        }
        if let Ok(mut file) = std::fs::File::open(log) {
            let mut fresh = Vec::new();
            if file.seek(SeekFrom::Start(offset)).is_ok() && file.read_to_end(&mut fresh).is_ok() {
                offset += fresh.len() as u64;
                let _ = stdout.write_all(&fresh);
                let _ = stdout.flush();
            }
        }
        if status.is_some() || Instant::now() >= end {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(list: &[&str]) -> Result<QemuOptions, String> {
        parse_qemu_options(Args::new(list.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn qemu_options_default_to_the_image_defaults() {
        assert_eq!(
            options(&[]).unwrap(),
            QemuOptions {
                board: Board::RiscvVirt,
                bootargs: String::new(),
                tap: DEFAULT_TAP.into(),
                seconds: DEFAULT_SECONDS
            }
        );
    }

    #[test]
    fn ip_and_append_become_bootargs() {
        let o = options(&[
            "--ip",
            "10.77.1.61/24",
            "--append",
            "interval=0.5",
            "--tap",
            "t1",
        ])
        .unwrap();
        assert_eq!(o.bootargs, "ip=10.77.1.61/24 interval=0.5");
        assert_eq!(o.tap, "t1");
    }

    #[test]
    fn bad_qemu_options_are_one_line_errors() {
        assert!(options(&["--ip", "10.0.0.1"])
            .unwrap_err()
            .contains("--ip 10.0.0.1"));
        assert!(options(&["--ip", "239.0.0.1/24"]).is_err());
        assert!(options(&["--tap", "a-name-that-is-too-long"]).is_err());
        assert!(options(&["--tap", "bad/name"]).is_err());
        assert!(options(&["--seconds", "0"]).is_err());
        assert!(options(&["--frobnicate"])
            .unwrap_err()
            .contains("--frobnicate"));
    }

    #[test]
    fn qemu_boots_the_image_on_the_tap() {
        let command = qemu_command(Path::new("/img"), "ip=10.0.0.2/24", "tap9");
        let shown = crate::project::show(&command);
        assert!(shown.starts_with("qemu-system-riscv64 -machine virt -bios none"));
        assert!(shown.contains("-kernel /img -append ip=10.0.0.2/24"));
        assert!(shown.contains("-netdev tap,id=n0,ifname=tap9,script=no,downscript=no"));
        assert!(shown.ends_with("-device virtio-net-device,netdev=n0"));
    }
}
