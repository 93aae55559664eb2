//! Sends a burst of relayed omdisc announcements to a multicast group, as fast as the
//! socket takes them: COUNT distinct nodes, "relayed" (hop count 1) by node RELAYER so the
//! receivers do not require the datagram's source address to be the nodes' own. Used by the
//! `smoltcp-burst` namespace scenario to check that a smoltcp node takes in a whole burst.
//!
//! ```text
//! announce_burst GROUP PORT COUNT FIRST_ADDRESS RELAYER
//! announce_burst 239.255.77.77 7477 200 10.77.30.1 2068
//! ```
//!
//! Node `i` (0-based) has address FIRST_ADDRESS + i and the id of its last two octets.
//! Run it only inside a network namespace (it sends to the group on the default route for
//! multicast); it sends exactly COUNT datagrams and exits.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;

use omdisc_core::addr::AddrList;
use omdisc_core::{Duration, IfaceId, Message, MessageKind, NodeAddr, NodeId, MAX_DATAGRAM_LEN};

/// Most datagrams one run sends.
const MAX_COUNT: u32 = 10_000;

struct Burst {
    group: SocketAddrV4,
    count: u32,
    first: Ipv4Addr,
    relayer: NodeId,
}

fn parse(args: &[String]) -> Result<Burst, String> {
    let [group, port, count, first, relayer] = args else {
        return Err("usage: announce_burst GROUP PORT COUNT FIRST_ADDRESS RELAYER".into());
    };
    let group: Ipv4Addr = group
        .parse()
        .map_err(|_| format!("GROUP {group:?} is not an IPv4 address"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("PORT {port:?} is not a port number"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or(format!("COUNT {count:?} must be 1 to {MAX_COUNT}"))?;
    let first: Ipv4Addr = first
        .parse()
        .map_err(|_| format!("FIRST_ADDRESS {first:?} is not an IPv4 address"))?;
    let relayer = relayer
        .parse()
        .ok()
        .and_then(NodeId::new)
        .ok_or(format!("RELAYER {relayer:?} must be a node id 1 to 65535"))?;
    Ok(Burst {
        group: SocketAddrV4::new(group, port),
        count,
        first,
        relayer,
    })
}

/// The announcement of node `index` of the burst.
fn announcement(
    burst: &Burst,
    index: u32,
    buf: &mut [u8; MAX_DATAGRAM_LEN],
) -> Result<usize, String> {
    let ip = Ipv4Addr::from(u32::from(burst.first).wrapping_add(index));
    let origin = NodeId::from_ipv4(ip).map_err(|e| format!("{ip}: {e}"))?;
    let mut addrs = AddrList::new();
    let _ = addrs.push(NodeAddr::primary(ip.into(), IfaceId::FIRST));
    let message = Message {
        kind: MessageKind::Announce,
        join: false,
        gateway: false,
        hops: 1,
        relayer: Some(burst.relayer),
        origin,
        incarnation: 1,
        sequence: 1,
        interval: Duration::from_secs(60),
        addrs,
    };
    message
        .emit(buf, None)
        .map_err(|e| format!("cannot encode: {e}"))
}

fn run(burst: &Burst) -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("cannot open a socket: {e}"))?;
    socket
        .set_multicast_ttl_v4(1)
        .map_err(|e| format!("cannot set the TTL: {e}"))?;
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    for index in 0..burst.count {
        let len = announcement(burst, index, &mut buf)?;
        socket
            .send_to(&buf[..len], burst.group)
            .map_err(|e| format!("cannot send to {}: {e}", burst.group))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|burst| run(&burst).map(|()| burst)) {
        Ok(burst) => {
            println!("sent {} announcements to {}", burst.count, burst.group);
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("announce_burst: error: {why}");
            ExitCode::FAILURE
        }
    }
}
