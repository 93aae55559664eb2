//! Message authentication: the cluster key and the keyed MAC trailer.
//!
//! With a cluster key every datagram ends in a trailer `key id (1 byte) | MAC (16 bytes)`,
//! where the MAC is HMAC-SHA-256 over everything before the MAC (header, body and key id),
//! truncated to 128 bits. A [`Keyring`] holds up to two keys: the first signs, all verify,
//! so a cluster can roll to a new key without a partition.

use core::fmt;

use hmac::{Hmac, Mac};
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

/// One cluster key, ready to sign and verify (the HMAC key schedule is computed once).
#[derive(Clone)]
pub struct ClusterKey {
    id: u8,
    mac: Hmac<Sha256>,
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
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|_| KeyError::BadLength(key.len()))?;
        Ok(ClusterKey { id, mac })
    }

    /// A key from its hex form (32 to 128 hex digits, as `openssl rand -hex 32` prints),
    /// surrounding whitespace ignored.
    pub fn from_hex(text: &str) -> Result<ClusterKey, KeyError> {
        let text = text.trim();
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

    fn tag(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
        out
    }

    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(data);
        // Constant-time comparison of the leftmost MAC_LEN bytes.
        mac.verify_truncated_left(tag).is_ok()
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
        let mut mac = key.mac.clone();
        mac.update(message);
        mac.update(&[key.id]);
        let full = mac.finalize().into_bytes();
        for (o, b) in mac_out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
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
        self.signing_key().tag(data)
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
