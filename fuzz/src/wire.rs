//! `wire_decode`: the datagram decoder on arbitrary bytes.
//!
//! For every input, [`check`] asserts:
//!
//! - [`Message::decode`] returns (it never panics), with and without a key;
//! - a datagram that decodes without a key re-encodes to exactly its own bytes when it carries
//!   no authentication trailer (and to its bytes minus the trailer, with the flag cleared,
//!   when it does), and what is re-encoded decodes to the same message;
//! - the decoded message, signed with the key, verifies and decodes to the same message;
//! - a datagram that verifies with the key decodes to the same message without it, and
//!   re-signing that message gives the datagram back (the keyed decoder is never more
//!   permissive than the plain one).

use omdisc_core::wire::{FLAG_AUTH, TRAILER_LEN};
use omdisc_core::{Message, Packet, Payload, MAX_DATAGRAM_LEN};

use crate::keys::vector_keyring;

/// Byte offset of the flags in the header (see `docs/protocol.md`).
const FLAGS_AT: usize = 4;

/// Runs every check on `data`; panics on a violation.
pub fn check(data: &[u8]) {
    let keys = vector_keyring();
    let plain = Message::decode(data, None);
    // The payload of the unicast kinds (empty for the others), from the same checked view.
    let payload = Packet::new_checked(data).map_or(Payload::EMPTY, |p| p.payload());
    if let Ok(msg) = &plain {
        check_reencoding(data, msg, &payload);
    }
    let keyed = Message::decode(data, Some(keys));
    if let Ok(msg) = &keyed {
        assert_eq!(
            plain.as_ref(),
            Ok(msg),
            "a datagram that verifies must decode the same without the key"
        );
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = emit(msg, &payload, &mut buf, true);
        assert_eq!(
            &buf[..n],
            data,
            "re-signing a verified datagram gives it back"
        );
    }
}

fn check_reencoding(data: &[u8], msg: &Message, payload: &Payload) {
    let authenticated = data.get(FLAGS_AT).is_some_and(|f| f & FLAG_AUTH != 0);
    assert_eq!(
        msg.buffer_len_with(payload, authenticated),
        data.len(),
        "buffer_len of {msg:?}"
    );

    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = emit(msg, payload, &mut buf, false);
    if authenticated {
        let body = &data[..data.len() - TRAILER_LEN];
        let mut expected = body.to_vec();
        expected[FLAGS_AT] &= !FLAG_AUTH;
        assert_eq!(&buf[..n], &expected[..], "re-encoding without the trailer");
    } else {
        assert_eq!(&buf[..n], data, "re-encoding gives the datagram back");
    }
    assert_eq!(
        Message::decode(&buf[..n], None).as_ref(),
        Ok(msg),
        "a re-encoded message decodes the same"
    );

    let n = emit(msg, payload, &mut buf, true);
    assert_eq!(
        Message::decode(&buf[..n], Some(vector_keyring())).as_ref(),
        Ok(msg),
        "a signed message verifies and decodes the same"
    );
}

/// Encodes `msg` with `payload` (signed with the vectors' key when `signed`); every decoded
/// message fits.
fn emit(msg: &Message, payload: &Payload, buf: &mut [u8; MAX_DATAGRAM_LEN], signed: bool) -> usize {
    let keys = signed.then(vector_keyring);
    match msg.emit_with(payload, buf, keys) {
        Ok(n) => n,
        Err(e) => panic!("a decoded message must encode: {e:?} for {msg:?}"),
    }
}
