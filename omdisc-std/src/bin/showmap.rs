//! `showmap`: prints the map `omdiscd` wrote, in setpe's text format or as JSON.

use std::io::{self, Write};

use omdisc_std::cli::{self, fail_exit, usage_exit, ShowmapArgs};
use omdisc_std::showmap::{self, MapSource};
use omdisc_std::version;

const PROGRAM: &str = "showmap";

fn main() {
    let args: ShowmapArgs = cli::parse_or_exit(PROGRAM);
    version::exit_if_asked(PROGRAM, args.version);
    let source =
        MapSource::from_args(&args).unwrap_or_else(|e| usage_exit(PROGRAM, &e.to_string()));
    let map = showmap::load(&source).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()));
    let output = if args.json {
        let mut text = showmap::render_json(&map).to_string();
        text.push('\n');
        text
    } else {
        showmap::render_text(&map).unwrap_or_else(|e| fail_exit(PROGRAM, &e.to_string()))
    };
    match io::stdout().lock().write_all(output.as_bytes()) {
        Ok(()) => {}
        // A reader that stops early (`showmap | head -1`) is not an error.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
        Err(error) => fail_exit(PROGRAM, &format!("cannot write the map: {error}")),
    }
}
