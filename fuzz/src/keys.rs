//! The cluster keys the targets sign and verify with: the shared test vectors' key (so the
//! authenticated vectors verify) and a second, unrelated key.

use std::sync::LazyLock;

use omdisc_core::{ClusterKey, Keyring};

/// The key of the authenticated test vectors, in hex.
pub const VECTOR_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A key no vector uses, in hex.
pub const OTHER_KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

static VECTOR_KEYRING: LazyLock<Keyring> = LazyLock::new(|| Keyring::new(key(VECTOR_KEY_HEX)));
static OTHER_KEYRING: LazyLock<Keyring> = LazyLock::new(|| Keyring::new(key(OTHER_KEY_HEX)));
static ROLLING_KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    let mut ring = Keyring::new(key(OTHER_KEY_HEX));
    if let Err(e) = ring.add_verify_key(key(VECTOR_KEY_HEX)) {
        panic!("a keyring holds two keys: {e}");
    }
    ring
});

fn key(hex: &str) -> ClusterKey {
    ClusterKey::from_hex(hex).unwrap_or_else(|e| panic!("built-in fuzz key: {e}"))
}

/// Signs and verifies with the vectors' key.
pub fn vector_keyring() -> &'static Keyring {
    &VECTOR_KEYRING
}

/// Signs and verifies with the other key.
pub fn other_keyring() -> &'static Keyring {
    &OTHER_KEYRING
}

/// Signs with the other key and verifies with both (a key roll in progress).
pub fn rolling_keyring() -> &'static Keyring {
    &ROLLING_KEYRING
}
