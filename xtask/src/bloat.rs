//! What a boot image's bytes are spent on, from its ELF symbol table: code (`.text`) summed
//! by crate, like `cargo bloat --crates`, and the largest statics of `.bss`/`.data`. Names
//! are demangled with `rustc-demangle`; with LTO, code inlined into a function counts for
//! the crate of the function it ended up in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// Symbols of the C ABI that Rust's `compiler_builtins` provides.
const BUILTINS: &[&str] = &["memcpy", "memmove", "memset", "memcmp", "bcmp", "strlen"];

/// One symbol with its size and the crate its code belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    /// Demangled name, without the hash.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The crate (`core`, `smoltcp`, ...), or `[unknown]`.
    pub krate: String,
}

/// The code and the statics of an image.
#[derive(Debug, Clone, Default)]
pub struct Bloat {
    /// `.text` in bytes.
    pub text: u64,
    /// Function symbols in `.text`, one per address, largest first.
    pub functions: Vec<Sized>,
    /// Object symbols in `.bss` and `.data`, largest first.
    pub statics: Vec<Sized>,
}

impl Bloat {
    /// Reads the symbols of the ELF file at `path`; `own_crate` takes the `#[no_mangle]`
    /// entry points (`kernel_main`, `_start`, ...).
    pub fn read(path: &Path, own_crate: &str) -> Result<Bloat, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = object::File::parse(&*bytes)
            .map_err(|e| format!("{} is not an object file: {e}", path.display()))?;
        let text = file.section_by_name(".text").map_or(0, |s| s.size());
        let mut seen = BTreeSet::new();
        let mut functions = Vec::new();
        let mut statics = Vec::new();
        for symbol in file.symbols() {
            if symbol.size() == 0 || !seen.insert((symbol.address(), symbol.kind() as u8)) {
                continue;
            }
            let Some(section) = symbol
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
            else {
                continue;
            };
            let Ok(raw) = symbol.name() else { continue };
            let name = format!("{:#}", rustc_demangle::demangle(raw));
            let entry = Sized {
                krate: crate_of(&name, own_crate),
                name,
                size: symbol.size(),
            };
            match (symbol.kind(), section.kind()) {
                (SymbolKind::Text, SectionKind::Text) => functions.push(entry),
                (
                    SymbolKind::Data | SymbolKind::Unknown,
                    SectionKind::UninitializedData | SectionKind::Data,
                ) => statics.push(entry),
                _ => {}
            }
        }
        functions.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
        statics.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
        Ok(Bloat {
            text,
            functions,
            statics,
        })
    }

    /// Code bytes per crate, largest first.
    pub fn by_crate(&self) -> Vec<(String, u64, usize)> {
        let mut crates: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
        for f in &self.functions {
            let entry = crates.entry(&f.krate).or_default();
            entry.0 += f.size;
            entry.1 += 1;
        }
        let mut rows: Vec<(String, u64, usize)> = crates
            .into_iter()
            .map(|(k, (size, count))| (k.to_string(), size, count))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        rows
    }

    /// A Markdown table of `.text` by crate, then the `top` largest functions and the
    /// statics of at least `min_static` bytes.
    pub fn markdown(&self, top: usize, min_static: u64) -> String {
        let mut out = String::new();
        let pct = |n: u64| 100.0 * n as f64 / self.text.max(1) as f64;
        out.push_str("| crate | `.text` bytes | % | functions |\n|---|---:|---:|---:|\n");
        for (krate, size, count) in self.by_crate() {
            out.push_str(&format!(
                "| {krate} | {size} | {:.1} | {count} |\n",
                pct(size)
            ));
        }
        let listed: u64 = self.functions.iter().map(|f| f.size).sum();
        out.push_str(&format!(
            "| (padding, unnamed) | {} | {:.1} | |\n",
            self.text.saturating_sub(listed),
            pct(self.text.saturating_sub(listed))
        ));
        out.push_str(&format!("| **all** | **{}** | 100 | |\n", self.text));
        out.push_str("\n| largest functions | bytes |\n|---|---:|\n");
        for f in self.functions.iter().take(top) {
            out.push_str(&format!("| `{}` | {} |\n", shorten(&f.name), f.size));
        }
        out.push_str("\n| statics (`.bss`, `.data`) | bytes |\n|---|---:|\n");
        for s in self.statics.iter().filter(|s| s.size >= min_static) {
            out.push_str(&format!("| `{}` | {} |\n", shorten(&s.name), s.size));
        }
        out
    }
}

/// A name cut to 90 characters, with `|` escaped for Markdown.
fn shorten(name: &str) -> String {
    let mut short: String = name.chars().take(90).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    short.replace('|', "\\|")
}

/// The crate a demangled symbol's code belongs to: the first path segment of its type, or,
/// for a trait method on a primitive or a reference (`<&T as core::fmt::Debug>::fmt`), of
/// the trait.
pub fn crate_of(name: &str, own_crate: &str) -> String {
    if !name.contains("::") {
        let bare = name.trim_start_matches('_');
        return if BUILTINS.contains(&name) || name.starts_with("__") {
            "compiler_builtins".into()
        } else if !bare.is_empty() {
            own_crate.into()
        } else {
            "[unknown]".into()
        };
    }
    if let Some(rest) = name.strip_prefix('<') {
        let (ty, tr) = match rest.split_once(" as ") {
            Some((ty, tr)) => (ty, Some(tr)),
            None => (rest, None),
        };
        if let Some(krate) = path_crate(ty) {
            return krate;
        }
        if let Some(krate) = tr.and_then(path_crate) {
            return krate;
        }
        // An inherent impl on a primitive (`<str>::trim`, `<char>::is_whitespace`).
        return "core".into();
    }
    path_crate(name).unwrap_or_else(|| "[unknown]".into())
}

/// The first segment of a path (`smoltcp::iface::...` gives `smoltcp`), after references,
/// pointers, slices and tuples; `None` for a primitive or a generic parameter.
fn path_crate(ty: &str) -> Option<String> {
    let ty = ty
        .trim_start_matches(['&', '*', '[', '(', '<', ' '])
        .trim_start_matches("mut ")
        .trim_start_matches("const ")
        .trim_start_matches("dyn ")
        .trim_start_matches(['&', '*', '[', '(', '<', ' ']);
    let end = ty.find("::")?;
    let head = &ty[..end];
    let valid = !head.is_empty()
        && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !ty[..end].contains(['<', ' ', ',', '>']);
    valid.then(|| head.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_come_from_the_type_or_the_trait() {
        let c = |n| crate_of(n, "image");
        assert_eq!(c("smoltcp::iface::route::Routes::lookup"), "smoltcp");
        assert_eq!(c("<u32 as core::fmt::Display>::fmt"), "core");
        assert_eq!(c("<&T as core::fmt::Debug>::fmt"), "core");
        assert_eq!(
            c("<omdisc_smoltcp::boot::map_lines::MapLines<F> as core::fmt::Write>::write_str"),
            "omdisc_smoltcp"
        );
        assert_eq!(
            c("omdisc_core::engine::transmit::<impl omdisc_core::engine::Engine<S,_,_>>::encode"),
            "omdisc_core"
        );
        assert_eq!(c("<str>::trim_end_matches"), "core");
        assert_eq!(c("memcpy"), "compiler_builtins");
        assert_eq!(c("__udivti3"), "compiler_builtins");
        assert_eq!(c("kernel_main"), "image");
        assert_eq!(c("<(U,T) as core::fmt::Debug>::fmt"), "core");
    }

    #[test]
    fn reads_its_own_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let bloat = Bloat::read(&exe, "xtask").unwrap();
        assert!(bloat.text > 1000);
        assert!(!bloat.functions.is_empty());
        let crates = bloat.by_crate();
        assert!(crates.iter().any(|(k, _, _)| k == "xtask"), "{crates:?}");
        let table = bloat.markdown(5, 1 << 20);
        assert!(table.starts_with("| crate |"), "{table}");
        assert!(table.contains("| **all** |"), "{table}");
    }
}
