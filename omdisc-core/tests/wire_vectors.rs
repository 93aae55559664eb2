//! Every shared wire test vector decodes (or is refused) exactly as written, and every
//! valid one encodes back to the same bytes.

use omdisc_core::testing::vectors::{self, Expected, WIRE_VECTORS};
use omdisc_core::{Keyring, Message, Packet, MAX_DATAGRAM_LEN};

#[test]
fn shared_wire_vectors_decode_and_encode_exactly() {
    let mut checked = 0;
    for vector in vectors::parse(WIRE_VECTORS) {
        let vector = vector.unwrap_or_else(|e| panic!("{e}"));
        let keys = vector.key.clone().map(Keyring::new);
        let parsed = Message::decode(&vector.bytes, keys.as_ref());
        match &vector.expected {
            Expected::Message(expected) => {
                assert_eq!(parsed.as_ref(), Ok(expected), "vector {}", vector.name);
                let packet = Packet::new_checked(&vector.bytes).unwrap();
                assert_eq!(packet.payload(), vector.payload, "vector {}", vector.name);
                let mut buf = [0u8; MAX_DATAGRAM_LEN];
                let n = expected
                    .emit_with(&vector.payload, &mut buf, keys.as_ref())
                    .unwrap();
                assert_eq!(
                    &buf[..n],
                    &vector.bytes[..],
                    "vector {} re-encodes",
                    vector.name
                );
            }
            Expected::Error(name) => {
                let err = parsed.expect_err(vector.name);
                assert_eq!(err.name(), *name, "vector {}", vector.name);
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} vectors found");
}
