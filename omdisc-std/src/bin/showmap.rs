//! `showmap`: prints the map `omdiscd` wrote, in setpe's text format, as JSON, as hosts
//! lines, an MPI hostfile or Prometheus targets; with `--watch`, again on every change.

use std::io::{self, Write};

use omdisc_std::cli::{self, fail_exit, usage_exit, ShowmapArgs};
use omdisc_std::map_watch::{self, Reading, WatchTarget};
use omdisc_std::output_values::{ShowmapFormat, DEFAULT_METRICS_PORT};
use omdisc_std::showmap::{self, MapSource, DEFAULT_DIRS};
use omdisc_std::showmap_formats;
use omdisc_std::version;

const PROGRAM: &str = "showmap";

fn main() {
    let args: ShowmapArgs = cli::parse_or_exit(PROGRAM);
    version::exit_if_asked(PROGRAM, args.version);
    let source =
        MapSource::from_args(&args).unwrap_or_else(|e| usage_exit(PROGRAM, &e.to_string()));
    let format = match (args.json, args.format) {
        (true, Some(format)) if format != ShowmapFormat::Json => usage_exit(
            PROGRAM,
            &format!("--json and --format {} exclude each other", format.name()),
        ),
        (true, _) => ShowmapFormat::Json,
        (false, format) => format.unwrap_or_default(),
    };
    if args.sd_port.is_some() && format != ShowmapFormat::PrometheusSd {
        usage_exit(PROGRAM, "--sd-port needs --format prometheus-sd");
    }
    let sd_port = args.sd_port.unwrap_or(DEFAULT_METRICS_PORT);
    let render = |map: &showmap::LoadedMap| showmap_formats::render(format, map, sd_port);
    if !args.watch {
        let map = showmap::load(&source).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
        let output = render(&map).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
        print(&output);
        return;
    }
    if source == MapSource::Live {
        usage_exit(PROGRAM, &map_watch::WatchError::Live.to_string());
    }
    let source = source
        .resolve(&DEFAULT_DIRS)
        .unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
    let target = WatchTarget::of(&source).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
    let result = map_watch::watch(
        &target,
        || map_watch::read_map(&source, render),
        |reading| match reading {
            // JSON stays one document per line; the other formats are printed whole.
            Reading::Map(text) => print(text),
            Reading::Missing => true,
            Reading::Failed(line) => {
                cli::print_error_line(PROGRAM, line);
                true
            }
        },
    );
    if let Err(error) = result {
        fail_exit(PROGRAM, &error.to_string());
    }
}

/// Writes `text` to stdout and flushes; `false` when the reader has gone (`showmap | head
/// -1`, not an error). Any other write error ends the program.
fn print(text: &str) -> bool {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => false,
        Err(error) => fail_exit(PROGRAM, &format!("cannot write the map: {error}")),
    }
}
