//! Message authentication: the cluster key and the keyed MAC trailer.
//!
//! With a cluster key every datagram ends in a trailer `key id (1 byte) | MAC (16 bytes)`,
//! where the MAC is HMAC-SHA-256 over everything before the MAC (header, body and key id),
//! truncated to 128 bits. A [`Keyring`] holds up to two keys: the first signs, all verify,
//! so a cluster can roll to a new key without a partition.
//!
//! HMAC's two key blocks (`key ⊕ ipad`, `key ⊕ opad`) are hashed once, when a
//! [`ClusterKey`] is made: the key keeps the two SHA-256 states that follow them, and each
//! MAC starts from copies of those 32-byte states, so a datagram costs the compressions of
//! its own bytes and one for the outer hash, nothing for the key.

use core::fmt;

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

use super::WireError;

/// Length of the truncated MAC.
pub const MAC_LEN: usize = 16;
/// Length of the authentication trailer: key id and MAC.
pub const TRAILER_LEN: usize = 1 + MAC_LEN;
/// Shortest accepted key, in bytes (32 hex digits).
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted key, in bytes (128 hex digits).
pub const MAX_KEY_LEN: usize = 64;
/// Most keys a [`Keyring`] holds.
pub const MAX_KEYS: usize = 2;

/// Why a key was refused; a keyring it was to join is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than 16 or more than 64 bytes (32 to 128 hex digits).
    BadLength(usize),
    /// A character that is not a hex digit.
    NotHex,
    /// More than [`MAX_KEYS`] keys.
    TooManyKeys,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadLength(n) => write!(
                f,
                "key has {n} bytes; it must have 16 to 64 bytes (32 to 128 hex digits)"
            ),
            KeyError::NotHex => f.write_str("key must be written as hex digits only"),
            KeyError::TooManyKeys => write!(f, "at most {MAX_KEYS} keys (one signs, all verify)"),
        }
    }
}

impl core::error::Error for KeyError {}

/// SHA-256 block length (HMAC pads the key to one block).
const BLOCK_LEN: usize = 64;
/// SHA-256 initial state (FIPS 180-4, 5.3.3).
const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One SHA-256 compression of `block` into `state` (SHA-NI where the CPU has it).
fn compress(state: &mut [u32; 8], block: [u8; BLOCK_LEN]) {
    sha2::compress256(state, &[GenericArray::from(block)]);
}

/// A SHA-256 computation in progress from a precomputed state: whole blocks are
/// compressed as they fill, the tail waits in a block on the stack.
struct Sha256Run {
    state: [u32; 8],
    block: [u8; BLOCK_LEN],
    /// Bytes waiting in `block`.
    filled: usize,
    /// Bytes hashed so far, the key block included.
    total: u64,
}

impl Sha256Run {
    /// Continues from `state`, which has hashed one block (the HMAC key block).
    fn after_key_block(state: [u32; 8]) -> Sha256Run {
        Sha256Run {
            state,
            block: [0; BLOCK_LEN],
            filled: 0,
            total: BLOCK_LEN as u64,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        // Top up a partly filled block first.
        if self.filled > 0 {
            let take = BLOCK_LEN.saturating_sub(self.filled).min(data.len());
            let (now, rest) = data.split_at(take);
            if let Some(room) = self.block.get_mut(self.filled..self.filled + take) {
                room.copy_from_slice(now);
            }
            self.filled += take;
            data = rest;
            if self.filled < BLOCK_LEN {
                return;
            }
            compress(&mut self.state, self.block);
            self.filled = 0;
        }
        // Whole blocks straight from `data`, the tail into the block.
        let mut blocks = data.chunks_exact(BLOCK_LEN);
        for block in &mut blocks {
            if let Ok(block) = <[u8; BLOCK_LEN]>::try_from(block) {
                compress(&mut self.state, block);
            }
        }
        let tail = blocks.remainder();
        if let Some(room) = self.block.get_mut(..tail.len()) {
            room.copy_from_slice(tail);
        }
        self.filled = tail.len();
    }

    /// Pads (0x80, zeros, the bit length in the last 8 bytes) and returns the digest.
    fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        let mut block = self.block;
        for byte in block.iter_mut().skip(self.filled) {
            *byte = 0;
        }
        if let Some(byte) = block.get_mut(self.filled) {
            *byte = 0x80;
        }
        // No room for the length after the 0x80: it goes in a block of its own.
        if self.filled >= BLOCK_LEN - 8 {
            compress(&mut self.state, block);
            block = [0; BLOCK_LEN];
        }
        if let Some(length) = block.last_chunk_mut::<8>() {
            *length = bits.to_be_bytes();
        }
        compress(&mut self.state, block);
        digest_bytes(&self.state)
    }
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// One cluster key, ready to sign and verify: the SHA-256 states after HMAC's inner and
/// outer key blocks, computed once when the key is made.
#[derive(Clone)]
pub struct ClusterKey {
    id: u8,
    /// State after `key ⊕ ipad`.
    inner: [u32; 8],
    /// State after `key ⊕ opad`.
    outer: [u32; 8],
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("ClusterKey").field("id", &self.id).finish()
    }
}

impl ClusterKey {
    /// A key from raw bytes (16 to 64 of them).
    pub fn from_bytes(key: &[u8]) -> Result<ClusterKey, KeyError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(KeyError::BadLength(key.len()));
        }
        let digest = Sha256::new()
            .chain_update(b"omdisc key id\0")
            .chain_update(key)
            .finalize();
        let id = digest.first().copied().unwrap_or(0);
        // Keys are at most one block long (MAX_KEY_LEN), so HMAC pads them with zeros.
        let mut padded = [0u8; BLOCK_LEN];
        for (slot, byte) in padded.iter_mut().zip(key) {
            *slot = *byte;
        }
        let keyed = |pad: u8| {
            let mut state = SHA256_INIT;
            compress(&mut state, padded.map(|b| b ^ pad));
            state
        };
        Ok(ClusterKey {
            id,
            inner: keyed(0x36),
            outer: keyed(0x5c),
        })
    }

    /// A key from its hex form (32 to 128 hex digits, as `openssl rand -hex 32` prints),
    /// surrounding ASCII whitespace ignored.
    pub fn from_hex(text: &str) -> Result<ClusterKey, KeyError> {
        let text = text.trim_ascii();
        let digits = text.as_bytes();
        if digits.len() % 2 != 0 {
            return if digits.iter().all(u8::is_ascii_hexdigit) {
                Err(KeyError::BadLength(digits.len() / 2))
            } else {
                Err(KeyError::NotHex)
            };
        }
        let mut bytes = [0u8; MAX_KEY_LEN];
        let mut len = 0;
        for pair in digits.chunks_exact(2) {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_value(*hi)?, hex_value(*lo)?),
                _ => return Err(KeyError::NotHex),
            };
            if let Some(slot) = bytes.get_mut(len) {
                *slot = (hi << 4) | lo;
            }
            len += 1;
        }
        if len > MAX_KEY_LEN {
            return Err(KeyError::BadLength(len));
        }
        ClusterKey::from_bytes(bytes.get(..len).unwrap_or(&[]))
    }

    /// The one-byte key id carried in the trailer (derived from the key).
    pub fn id(&self) -> u8 {
        self.id
    }

    /// HMAC-SHA-256 of the concatenation of `parts`, truncated to [`MAC_LEN`] bytes.
    fn tag(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut inner = Sha256Run::after_key_block(self.inner);
        for part in parts {
            inner.update(part);
        }
        let inner = inner.finish();
        // The outer hash is the key block and one more: the inner digest, padded.
        let mut block = [0u8; BLOCK_LEN];
        if let Some(digest) = block.first_chunk_mut::<32>() {
            *digest = inner;
        }
        if let Some(pad) = block.get_mut(32) {
            *pad = 0x80;
        }
        if let Some(length) = block.last_chunk_mut::<8>() {
            *length = ((BLOCK_LEN as u64 + 32) * 8).to_be_bytes();
        }
        let mut outer = self.outer;
        compress(&mut outer, block);
        let full = digest_bytes(&outer);
        let mut out = [0u8; MAC_LEN];
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
        out
    }

    /// Whether `tag` is the MAC of `data`, compared in constant time.
    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let expected = self.tag(&[data]);
        if tag.len() != MAC_LEN {
            return false;
        }
        let difference = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        core::hint::black_box(difference) == 0
    }
}

fn hex_value(c: u8) -> Result<u8, KeyError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(KeyError::NotHex),
    }
}

/// Up to [`MAX_KEYS`] cluster keys: the first signs, every key verifies.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// The keys, signing key first; slots from `len` on repeat the signing key.
    keys: [ClusterKey; MAX_KEYS],
    len: usize,
}

impl Keyring {
    /// A keyring that signs and verifies with `key`.
    pub fn new(key: ClusterKey) -> Keyring {
        Keyring {
            keys: core::array::from_fn(|_| key.clone()),
            len: 1,
        }
    }

    /// Adds a key that verifies but does not sign (the old or the next key during a roll).
    pub fn add_verify_key(&mut self, key: ClusterKey) -> Result<(), KeyError> {
        let slot = self.keys.get_mut(self.len).ok_or(KeyError::TooManyKeys)?;
        *slot = key;
        self.len += 1;
        Ok(())
    }

    /// The key that signs.
    pub fn signing_key(&self) -> &ClusterKey {
        let [signing, ..] = &self.keys;
        signing
    }

    /// The keys, signing key first.
    pub fn keys(&self) -> &[ClusterKey] {
        self.keys.get(..self.len).unwrap_or(&self.keys)
    }

    /// Writes the trailer for `message` (everything before the trailer) into `trailer`.
    pub(crate) fn sign(&self, message: &[u8], trailer: &mut [u8; TRAILER_LEN]) {
        let key = self.signing_key();
        let [id_byte, mac_out @ ..] = trailer;
        *id_byte = key.id;
        // The MAC covers the message and the key id byte.
        *mac_out = key.tag(&[message, &[key.id]]);
    }

    /// Checks the trailer of `datagram` (whose last [`TRAILER_LEN`] bytes are the trailer).
    pub(crate) fn verify(&self, datagram: &[u8]) -> Result<(), WireError> {
        let split = datagram
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(WireError::Truncated)?;
        let (signed, tag) = datagram.split_at(split);
        let key_id = *signed.last().ok_or(WireError::Truncated)?;
        let mut known = false;
        for key in self.keys().iter().filter(|k| k.id == key_id) {
            known = true;
            if key.verify(signed, tag) {
                return Ok(());
            }
        }
        if known {
            Err(WireError::BadMac)
        } else {
            Err(WireError::UnknownKey(key_id))
        }
    }

    /// The full-length MAC of `data` under the signing key (for tests and tools).
    pub fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        self.signing_key().tag(&[data])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn hex_keys_parse_and_bad_ones_are_refused() {
        assert!(ClusterKey::from_hex(HEX).is_ok());
        assert!(ClusterKey::from_hex(&HEX[..32]).is_ok());
        assert_eq!(
            ClusterKey::from_hex(&HEX[..30]).map(|k| k.id()),
            Err(KeyError::BadLength(15))
        );
        assert_eq!(
            ClusterKey::from_hex("zz112233445566778899aabbccddeeff").map(|k| k.id()),
            Err(KeyError::NotHex)
        );
        assert_eq!(
            ClusterKey::from_hex(&HEX[..31]).map(|k| k.id()),
            Err(KeyError::BadLength(15))
        );
    }

    #[test]
    fn signed_message_verifies_and_tampering_fails() {
        let ring = Keyring::new(ClusterKey::from_hex(HEX).unwrap());
        let mut dgram = [0u8; 10 + TRAILER_LEN];
        dgram[..10].copy_from_slice(b"0123456789");
        let (msg, trailer) = dgram.split_at_mut(10);
        ring.sign(msg, trailer.try_into().unwrap());
        assert_eq!(ring.verify(&dgram), Ok(()));
        dgram[3] ^= 1;
        assert_eq!(ring.verify(&dgram), Err(WireError::BadMac));
    }

    /// The MAC from the precomputed key states equals HMAC-SHA-256 (RFC 2104, the `hmac`
    /// crate) truncated, for every message length around the block and padding edges and
    /// every key length.
    #[test]
    fn precomputed_states_give_hmac_sha256() {
        use hmac::{Hmac, Mac};
        let key_bytes: [u8; MAX_KEY_LEN] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let message: [u8; 300] = core::array::from_fn(|i| (i * 13 + 1) as u8);
        for key_len in MIN_KEY_LEN..=MAX_KEY_LEN {
            let key = ClusterKey::from_bytes(&key_bytes[..key_len]).unwrap();
            for len in 0..=message.len() {
                let mut reference =
                    <Hmac<Sha256> as Mac>::new_from_slice(&key_bytes[..key_len]).unwrap();
                reference.update(&message[..len]);
                let full = reference.finalize().into_bytes();
                assert_eq!(
                    key.tag(&[&message[..len]])[..],
                    full[..MAC_LEN],
                    "key {key_len}, message {len}"
                );
                let (a, b) = message[..len].split_at(len / 3);
                assert_eq!(key.tag(&[a, b]), key.tag(&[&message[..len]]));
                assert!(key.verify(&message[..len], &full[..MAC_LEN]));
            }
        }
    }

    #[test]
    fn second_key_verifies_during_a_roll() {
        let old = ClusterKey::from_hex(HEX).unwrap();
        let new = ClusterKey::from_hex(&HEX[..32]).unwrap();
        let signer = Keyring::new(new.clone());
        let mut receiver = Keyring::new(old);
        let mut dgram = [7u8; 4 + TRAILER_LEN];
        let (msg, trailer) = dgram.split_at_mut(4);
        signer.sign(msg, trailer.try_into().unwrap());
        assert_eq!(
            receiver.verify(&dgram),
            Err(WireError::UnknownKey(new.id()))
        );
        receiver.add_verify_key(new).unwrap();
        assert_eq!(receiver.verify(&dgram), Ok(()));
        assert_eq!(
            receiver.add_verify_key(ClusterKey::from_hex(HEX).unwrap()),
            Err(KeyError::TooManyKeys)
        );
    }
}
