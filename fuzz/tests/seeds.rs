//! The committed seed corpus is exactly what the shared test vectors give, and every seed
//! passes its target's checks.

use std::fs;
use std::path::{Path, PathBuf};

use omdisc_fuzz::seeds::{self, Seed};
use omdisc_fuzz::{engine, map, wire, TARGETS};

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn committed(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seeds_dir().join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Rewrites `seeds/` from the vectors (run with `OMDISC_WRITE_SEEDS=1`).
fn write_seeds(all: &[Seed]) {
    for target in TARGETS {
        let dir = seeds_dir().join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
    }
    for seed in all {
        fs::write(seeds_dir().join(seed.target).join(&seed.name), &seed.bytes).unwrap();
    }
}

#[test]
fn committed_seeds_are_made_from_the_shared_test_vectors() {
    let all = seeds::all();
    if std::env::var_os("OMDISC_WRITE_SEEDS").is_some() {
        write_seeds(&all);
    }
    for target in TARGETS {
        let mut expected: Vec<(String, Vec<u8>)> = all
            .iter()
            .filter(|s| s.target == *target)
            .map(|s| (s.name.clone(), s.bytes.clone()))
            .collect();
        expected.sort();
        assert!(!expected.is_empty(), "no seeds for {target}");
        assert!(
            committed(target) == expected,
            "fuzz/seeds/{target} is out of date: rerun with OMDISC_WRITE_SEEDS=1"
        );
    }
}

#[test]
fn every_seed_passes_its_targets_checks() {
    for seed in seeds::all() {
        match seed.target {
            "wire_decode" => wire::check(&seed.bytes),
            "engine_datagrams" => engine::check(&seed.bytes),
            "map_files" => map::check(&seed.bytes),
            other => panic!("seed for unknown target {other}"),
        }
    }
}
