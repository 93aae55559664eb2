//! [`UnicastCapture`]: records the UDP payloads one host sends another by unicast, from
//! inside the receiver's namespace (an `AF_PACKET` socket sees every IPv4 packet there),
//! for the replay checks of the unicast scenarios. A passive socket on the group cannot:
//! a bridge delivers unicast frames to their destination only.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::wire_tools::Recorder;
use crate::testbed::in_namespace;

/// Most datagrams one capture keeps.
const CAPTURE_LIMIT: usize = 10_000;
/// `ETH_P_IP`: the packet socket takes IPv4 only.
const ETH_P_IP: u16 = 0x0800;
/// IP protocol number of UDP.
const UDP: u8 = 17;

/// Records the payloads of the UDP datagrams from `from` to `to` seen in a namespace.
pub(super) type UnicastCapture = Recorder<Vec<u8>>;

impl UnicastCapture {
    /// Starts recording in `ns` for at most `limit` (or until [`UnicastCapture::finish`]).
    pub(super) fn start(
        ns: &str,
        from: Ipv4Addr,
        to: SocketAddrV4,
        limit: Duration,
    ) -> Result<UnicastCapture, String> {
        let socket = in_namespace(ns, || {
            let protocol = Protocol::from(i32::from(ETH_P_IP.to_be()));
            Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))
                .map_err(|e| format!("capture: cannot open a packet socket: {e}"))
        })?;
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| format!("capture: {e}"))?;
        let mut socket = socket;
        Ok(Recorder::spawn(limit, CAPTURE_LIMIT, move |buffer| {
            let len = socket.read(buffer).ok()?;
            udp_payload(&buffer[..len], from, to).map(<[u8]>::to_vec)
        }))
    }
}

/// The UDP payload of the IPv4 packet `packet` if it goes from `from` to `to`.
fn udp_payload(packet: &[u8], from: Ipv4Addr, to: SocketAddrV4) -> Option<&[u8]> {
    let first = *packet.first()?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || *packet.get(9)? != UDP {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    let address = |at: usize| -> Option<Ipv4Addr> {
        let bytes: [u8; 4] = packet.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes))
    };
    if address(12)? != from || address(16)? != *to.ip() {
        return None;
    }
    let udp = packet.get(header..total.min(packet.len()))?;
    let port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    if port != to.port() {
        return None;
    }
    udp.get(8..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_the_right_datagrams_only() {
        let mut packet = vec![
            0x45, 0, 0, 32, 0, 0, 0, 0, 64, UDP, 0, 0, 10, 0, 0, 1, 10, 0, 0, 3,
        ];
        packet.extend_from_slice(&[0x1d, 0x35, 0x1d, 0x35, 0, 12, 0, 0]);
        packet.extend_from_slice(b"omdi");
        let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 7477);
        let from = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(udp_payload(&packet, from, to), Some(&b"omdi"[..]));
        assert_eq!(udp_payload(&packet, Ipv4Addr::new(10, 0, 0, 2), to), None);
        let other_port = SocketAddrV4::new(*to.ip(), 7478);
        assert_eq!(udp_payload(&packet, from, other_port), None);
        packet[9] = 6;
        assert_eq!(udp_payload(&packet, from, to), None);
        assert_eq!(udp_payload(&[], from, to), None);
    }
}
