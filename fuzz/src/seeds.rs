//! The seed corpus, made from the shared wire test vectors (`testdata/wire-vectors.txt`).
//!
//! The seeds are committed under `fuzz/seeds/<target>/<name>`; `cargo xtask fuzz` copies
//! them into a fresh working corpus before each run (the generated corpus is never
//! committed). `tests/seeds.rs` checks that the committed files are exactly [`all`], and
//! rewrites them when run with `OMDISC_WRITE_SEEDS=1`.
//!
//! - `wire_decode`: every vector's datagram;
//! - `engine_datagrams`: every vector's datagram delivered to a fresh engine (keyed with the
//!   vectors' key when the vector has a key), and one scenario delivering all valid
//!   unauthenticated vectors and then following the engine's deadlines;
//! - `map_files`: the `om_config` file and the setpe text of the map the valid vectors
//!   describe, and an `om_mospe` file.

use omdisc_core::map::binary::{config_len, mospe_bytes, write_config};
use omdisc_core::map::setpe::{render, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::testing::vectors::{self, Expected, Vector, WIRE_VECTORS};
use omdisc_core::Message;

use crate::scenario::{encode_raw_delivery, encode_setup, encode_timeout_to_deadline, KeyChoice};

/// One seed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target it seeds.
    pub target: &'static str,
    /// File name.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// Every seed, for every target.
pub fn all() -> Vec<Seed> {
    let vectors = load_vectors();
    let mut seeds = Vec::new();
    for vector in &vectors {
        seeds.push(Seed {
            target: "wire_decode",
            name: vector.name.to_string(),
            bytes: vector.bytes.to_vec(),
        });
    }
    for vector in &vectors {
        let keys = if vector.key.is_some() {
            KeyChoice::Vector
        } else {
            KeyChoice::None
        };
        let mut bytes = encode_setup(keys);
        bytes.extend(delivery(0, &vector.bytes));
        seeds.push(Seed {
            target: "engine_datagrams",
            name: vector.name.to_string(),
            bytes,
        });
    }
    let valid_plain: Vec<&Vector<'_>> = vectors
        .iter()
        .filter(|v| v.key.is_none() && matches!(v.expected, Expected::Message(_)))
        .collect();
    let mut cluster = encode_setup(KeyChoice::None);
    for vector in &valid_plain {
        cluster.extend(delivery(10, &vector.bytes));
    }
    for _ in 0..4 {
        cluster.extend(encode_timeout_to_deadline());
    }
    seeds.push(Seed {
        target: "engine_datagrams",
        name: "all-valid-vectors".into(),
        bytes: cluster,
    });

    let nodes = vector_map(&vectors);
    let mut config = vec![0u8; config_len(&nodes)];
    if let Err(e) = write_config(&nodes, &mut config) {
        panic!("the vectors' map must encode: {e}");
    }
    let mut text = String::new();
    let options = RenderOptions {
        comments: true,
        own_id: nodes.first().map(|n| n.id),
    };
    if let Err(e) = render(&nodes, options, &mut text) {
        panic!("the vectors' map must render: {e}");
    }
    seeds.push(Seed {
        target: "map_files",
        name: "om_config-vectors".into(),
        bytes: config,
    });
    seeds.push(Seed {
        target: "map_files",
        name: "setpe-vectors".into(),
        bytes: text.into_bytes(),
    });
    if let Some(first) = nodes.first() {
        seeds.push(Seed {
            target: "map_files",
            name: "om_mospe".into(),
            bytes: mospe_bytes(first.id).to_vec(),
        });
    }
    seeds
}

fn load_vectors() -> Vec<Vector<'static>> {
    vectors::parse(WIRE_VECTORS)
        .map(|v| v.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn delivery(advance_ms: u64, datagram: &[u8]) -> Vec<u8> {
    encode_raw_delivery(advance_ms, datagram).unwrap_or_else(|| {
        panic!(
            "a vector of {} bytes does not fit a seed step",
            datagram.len()
        )
    })
}

/// The map of the nodes the valid vectors announce (the first announcement of each id), the
/// first one local.
fn vector_map(vectors: &[Vector<'_>]) -> Vec<MapNode> {
    let mut nodes: Vec<MapNode> = Vec::new();
    let messages = vectors.iter().filter_map(|v| match &v.expected {
        Expected::Message(m) => Some(m),
        Expected::Error(_) => None,
    });
    for msg in messages.filter(|m| m.kind == omdisc_core::MessageKind::Announce) {
        if !nodes.iter().any(|n| n.id == msg.origin) {
            nodes.push(map_node(msg));
        }
    }
    nodes.sort_by_key(|n| n.id);
    if let Some(first) = nodes.first_mut() {
        first.local = true;
    }
    nodes
}

fn map_node(msg: &Message) -> MapNode {
    MapNode {
        id: msg.origin,
        addrs: msg.addrs.clone(),
        gateway: msg.gateway,
        via: msg.relayer,
        local: false,
    }
}
