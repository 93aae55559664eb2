//! Engine and map micro-benchmarks on a cluster of 1 000 members (this node and 999
//! peers, table capacity as in the daemon):
//!
//! * `table/refresh`: `handle_datagram` of a peer's next announcement (decode, source
//!   check, table lookup and update) — the daemon's per-datagram work without a key;
//! * `table/refresh+verify`: the same with a cluster key (MAC verified first);
//! * `table/duplicate`: a copy of an announcement already taken in;
//! * `map/collect`, `map/setpe`, `map/om_config`: the daemon's map rendering — the members
//!   as `MapNode`s, the setpe text (251 range lines) and the binary `om_config`.
//!
//! Before measuring, each operation is run once under a counting allocator, which must see
//! no allocation in the core (`tests/no_allocation.rs` asserts the same in `cargo test`).
//!
//! `cargo bench -p omdisc-core --bench engine` (figures in docs/performance.md).

mod common;

use std::hint::black_box;

use common::{allocations_during, BenchEngine, FixedText, PEERS};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use omdisc_core::map::{binary, setpe};
use omdisc_core::{IfaceId, Instant, Keyring};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// Offset of the sequence number in a datagram (docs/protocol.md).
const SEQUENCE_AT: std::ops::Range<usize> = 20..24;

/// The peers' next announcements, round-robin.
struct Source {
    keys: Option<Keyring>,
    next: usize,
    sequence: u32,
    templates: Vec<Vec<u8>>,
}

impl Source {
    fn new(keys: Option<Keyring>) -> Source {
        let templates = (0..PEERS).map(|k| common::datagram(k, 1, None)).collect();
        Source {
            keys,
            next: 0,
            sequence: 1,
            templates,
        }
    }

    /// The next peer and its next announcement (signed when there is a key).
    fn next_datagram(&mut self) -> (usize, Vec<u8>) {
        let k = self.next;
        self.next = (self.next + 1) % PEERS;
        if k == 0 {
            self.sequence += 1;
        }
        let bytes = match &self.keys {
            Some(keys) => common::datagram(k, self.sequence, Some(keys)),
            None => {
                let mut bytes = self.templates[k].clone();
                bytes[SEQUENCE_AT].copy_from_slice(&self.sequence.to_be_bytes());
                bytes
            }
        };
        (k, bytes)
    }
}

/// Hands peer `k`'s datagram to the engine.
fn receive(engine: &mut BenchEngine, now: Instant, k: usize, bytes: &[u8]) {
    let result = engine.handle_datagram(
        now,
        IfaceId::FIRST,
        core::net::SocketAddr::new(common::peer_ip(k), 7477),
        bytes,
    );
    debug_assert!(result.is_ok(), "{result:?}");
    black_box(result.ok());
}

fn assert_no_allocation(what: &str, allocations: u64) {
    assert_eq!(allocations, 0, "{what} allocated {allocations} times");
    println!("{what}: 0 allocations");
}

fn table(c: &mut Criterion) {
    let mut group = c.benchmark_group("table");
    group.throughput(Throughput::Elements(1));
    for (name, keys) in [
        ("refresh", None),
        ("refresh+verify", Some(common::keyring())),
    ] {
        let (mut engine, now) = common::cluster_engine(keys.clone());
        let mut source = Source::new(keys);
        let (k, bytes) = source.next_datagram();
        let ((), n) = allocations_during(|| receive(&mut engine, now, k, &bytes));
        assert_no_allocation(&format!("table/{name}"), n);
        group.bench_function(name, |b| {
            b.iter_batched(
                || source.next_datagram(),
                |(k, bytes)| receive(&mut engine, now, k, &bytes),
                BatchSize::SmallInput,
            )
        });
        let stats = engine.stats();
        assert_eq!(
            stats.rx_accepted, stats.rx_datagrams,
            "every refresh must be taken in"
        );
    }
    let (mut engine, now) = common::cluster_engine(None);
    let (k, bytes) = Source::new(None).next_datagram();
    receive(&mut engine, now, k, &bytes);
    group.bench_function("duplicate", |b| {
        b.iter(|| receive(&mut engine, now, k, &bytes))
    });
    group.finish();
}

fn map(c: &mut Criterion) {
    let (engine, _) = common::cluster_engine(None);
    let nodes = common::map_nodes(&engine);
    let mut text = FixedText::<32_768>::new();
    let options = setpe::RenderOptions {
        comments: true,
        own_id: Some(engine.node_id()),
    };
    let lines = setpe::render(&nodes, options, &mut text).expect("renders");
    assert_eq!(lines, 251, "250 runs of peers, and this node");
    let mut config = vec![0u8; binary::config_len(&nodes)];

    let (_, n) = allocations_during(|| {
        text.clear();
        setpe::render(&nodes, options, &mut text)
    });
    assert_no_allocation("map/setpe", n);
    let (_, n) = allocations_during(|| binary::write_config(&nodes, &mut config));
    assert_no_allocation("map/om_config", n);

    let mut group = c.benchmark_group("map");
    group.throughput(Throughput::Elements(1));
    group.bench_function("collect", |b| {
        b.iter(|| common::map_nodes(black_box(&engine)))
    });
    group.bench_function("setpe", |b| {
        b.iter(|| {
            text.clear();
            setpe::render(black_box(&nodes), options, &mut text)
        })
    });
    group.bench_function("om_config", |b| {
        b.iter(|| binary::write_config(black_box(&nodes), &mut config))
    });
    group.finish();
}

criterion_group!(benches, table, map);
criterion_main!(benches);
