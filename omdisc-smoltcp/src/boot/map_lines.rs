//! [`MapLines`]: a `fmt::Write` that hands out whole lines, so a map rendered with
//! `core::fmt` can go to a line-oriented log (one `defmt` frame per line) without a buffer
//! for the whole map.

use core::fmt;

/// Longest line handed out in one piece; a longer one is handed out in several pieces
/// (never cut short). setpe lines are far shorter.
pub const MAX_MAP_LINE: usize = 120;

/// Collects what is written and calls `out` with each complete line (without its `\n`).
/// Call [`finish`](Self::finish) at the end for a last line without `\n`.
pub struct MapLines<F: FnMut(&str)> {
    line: heapless::String<MAX_MAP_LINE>,
    out: F,
}

impl<F: FnMut(&str)> MapLines<F> {
    /// Lines go to `out`.
    pub fn new(out: F) -> Self {
        MapLines {
            line: heapless::String::new(),
            out,
        }
    }

    /// Hands out what is left of an unterminated last line.
    pub fn finish(mut self) {
        if !self.line.is_empty() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        (self.out)(&self.line);
        self.line.clear();
    }
}

impl<F: FnMut(&str)> fmt::Write for MapLines<F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if c == '\n' {
                self.flush();
                continue;
            }
            if self.line.push(c).is_err() {
                // A full buffer: hand this piece out and keep going with the rest.
                self.flush();
                self.line.push(c).map_err(|_| fmt::Error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn lines_of(pieces: &[&str]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut writer = MapLines::new(|l: &str| lines.push(l.to_string()));
        for piece in pieces {
            writer.write_str(piece).unwrap();
        }
        writer.finish();
        lines
    }

    #[test]
    fn lines_come_out_whole_however_they_were_written() {
        assert_eq!(
            lines_of(&["# map\n1 10.0", ".0.1 2\n", "\n3 10.0.0.3 1"]),
            ["# map", "1 10.0.0.1 2", "", "3 10.0.0.3 1"]
        );
    }

    #[test]
    fn an_overlong_line_is_split_not_cut() {
        let long = "x".repeat(MAX_MAP_LINE + 5);
        let lines = lines_of(&[&long, "\n"]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines.concat(), long);
    }
}
