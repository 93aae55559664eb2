//! Section sizes of an ELF image (`.text`, `.rodata`, `.data`, `.bss`), read with `object`.

use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol};

/// The sections a flash/RAM budget is made of.
pub const BUDGET_SECTIONS: &[&str] = &[".vector_table", ".text", ".rodata", ".data", ".bss"];

/// Size in bytes of each named section of the ELF file at `path` (0 when absent).
pub fn section_sizes(path: &Path, names: &[&str]) -> Result<Vec<(String, u64)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| format!("{} is not an object file: {e}", path.display()))?;
    Ok(names
        .iter()
        .map(|name| {
            let size = file.section_by_name(name).map_or(0, |s| s.size());
            (name.to_string(), size)
        })
        .collect())
}

/// The addresses of the named symbols of the ELF file at `path` (e.g. the linker's
/// `_stack_start`); an error names the first one missing.
pub fn symbol_addresses(path: &Path, names: &[&str]) -> Result<Vec<u64>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| format!("{} is not an object file: {e}", path.display()))?;
    names
        .iter()
        .map(|name| {
            file.symbols()
                .find(|s| s.name() == Ok(*name))
                .map(|s| s.address())
                .ok_or_else(|| format!("{} has no symbol {name}", path.display()))
        })
        .collect()
}

/// One line like `.text 1234  .rodata 56  .data 0  .bss 789  (flash 1290, RAM 789)`.
pub fn summary_line(sizes: &[(String, u64)]) -> String {
    let size_of = |name: &str| sizes.iter().find(|(n, _)| n == name).map_or(0, |(_, s)| *s);
    let flash = size_of(".vector_table") + size_of(".text") + size_of(".rodata") + size_of(".data");
    let ram = size_of(".data") + size_of(".bss");
    let parts: Vec<String> = sizes.iter().map(|(n, s)| format!("{n} {s}")).collect();
    format!(
        "{}  (flash {flash} B, static RAM {ram} B)",
        parts.join("  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sections_of_a_real_elf_file() {
        let exe = std::env::current_exe().unwrap();
        let sizes = section_sizes(&exe, &[".text", ".no-such-section"]).unwrap();
        assert_eq!(sizes[0].0, ".text");
        assert!(sizes[0].1 > 1000, "a test binary has code: {sizes:?}");
        assert_eq!(sizes[1], (".no-such-section".to_string(), 0));
    }

    #[test]
    fn reads_symbol_addresses_and_names_a_missing_one() {
        let exe = std::env::current_exe().unwrap();
        let found = symbol_addresses(&exe, &["main"]).unwrap();
        assert_ne!(found[0], 0);
        assert!(symbol_addresses(&exe, &["main", "no_such_symbol_anywhere"])
            .unwrap_err()
            .contains("no_such_symbol_anywhere"));
    }

    #[test]
    fn a_non_elf_file_is_an_error() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(section_sizes(&manifest, &[".text"])
            .unwrap_err()
            .contains("not an object file"));
    }

    #[test]
    fn summary_adds_flash_and_ram() {
        let sizes = [
            (".text".to_string(), 100),
            (".data".to_string(), 8),
            (".bss".to_string(), 40),
        ];
        assert_eq!(
            summary_line(&sizes),
            ".text 100  .data 8  .bss 40  (flash 108 B, static RAM 48 B)"
        );
    }
}
