//! Wire codec micro-benchmarks: encode and decode one announcement (one IPv4 address, the
//! common case), with and without the HMAC-SHA-256 trailer, and the MAC alone.
//!
//! `cargo bench -p omdisc-core --bench codec` (figures in docs/performance.md).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use omdisc_core::{Message, MAX_DATAGRAM_LEN};

fn codec(c: &mut Criterion) {
    let keys = common::keyring();
    let message = common::announcement(17, 42);
    let plain = common::datagram(17, 42, None);
    let signed = common::datagram(17, 42, Some(&keys));
    assert_eq!(Message::decode(&signed, Some(&keys)).as_ref(), Ok(&message));

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    group.bench_function("encode", |b| {
        b.iter(|| black_box(&message).emit(&mut buf, None))
    });
    group.bench_function("encode+sign", |b| {
        b.iter(|| black_box(&message).emit(&mut buf, Some(&keys)))
    });
    group.bench_function("decode", |b| {
        b.iter(|| Message::decode(black_box(&plain), None))
    });
    group.bench_function("decode+verify", |b| {
        b.iter(|| Message::decode(black_box(&signed), Some(&keys)))
    });
    // The HMAC over what a signed announcement covers (all but the 16-byte tag).
    let covered = &signed[..signed.len() - omdisc_core::wire::MAC_LEN];
    group.bench_function("mac", |b| b.iter(|| keys.mac(black_box(covered))));
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
