//! A burst on a real wire (issue 6): a Linux host sends 200 announcements back to back
//! (relayed messages of 200 distinct nodes, encoded with the core's codec);
//! `omdisc-tap` must take in every one — its map lists all 200 — although smoltcp reads the
//! TAP's whole queue in one go (an 8-slot socket queue drained after smoltcp's own poll
//! once lost most of such a burst).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use omdisc_core::NodeId;

use super::hostile::{announcement, encode};
use super::smoltcp_interop::{TapHost, GRACE, POLL, TAP_IP};
use super::wire_tools::GroupSender;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{addr_of, node_id_in, node_id_of, wait_until, Bridge, Netns};

/// Datagrams in the burst.
const BURST: u32 = 200;
/// The sender's address on the segment; it "relays" the burst, as node 2068.
const SENDER_IP: &str = "10.77.8.20/24";
/// The first burst node's address (ids 7681 and up).
const FIRST_NODE: Ipv4Addr = Ipv4Addr::new(10, 77, 30, 1);

/// Every datagram of a burst reaches the smoltcp node's map.
pub(super) const SMOLTCP_BURST: Scenario = Scenario {
    name: "smoltcp-burst",
    about: "omdisc-tap takes in a 200-datagram burst whole: its map lists all 200 senders",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: smoltcp_burst,
};

/// The burst: node `i` at `FIRST_NODE + i`, relayed once by the sender (so the receiver
/// does not expect the datagram's source to be the node's own address), announcing a 60 s
/// interval so that no burst node expires while the maps are read.
fn burst() -> Vec<Vec<u8>> {
    (0..BURST)
        .map(|i| {
            let ip = Ipv4Addr::from(u32::from(FIRST_NODE) + i);
            let mut message = announcement(node_id_of(ip), ip, (1, 1));
            message.hops = 1;
            message.relayer = NodeId::new(node_id_in(SENDER_IP));
            message.interval = omdisc_core::Duration::from_secs(60);
            encode(&message, None)
        })
        .collect()
}

fn smoltcp_burst(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let program = &binaries.omdisc_tap;

    let segment = Bridge::new("sw")?;
    let sender = Netns::new("burst")?;
    let _sender_leg = segment.attach(&sender, "omd0", SENDER_IP, None)?;
    let socket = GroupSender::open(sender.name(), addr_of(SENDER_IP))?;
    let mut tap = TapHost::new(&segment, program, dir)?;
    tap.start(&[])?;
    let tap_id = node_id_of(TAP_IP);
    wait_until(GRACE, POLL, || {
        tap.map(binaries).is_ok_and(|m| m.ids() == [tap_id])
    })
    .map_err(|_| "omdisc-tap did not write its first map".to_string())?;

    let datagrams = burst();
    let sent = Instant::now();
    for (i, datagram) in datagrams.iter().enumerate() {
        if !socket.send(datagram) {
            return Err(format!("could not send announcement {i} of the burst"));
        }
    }
    let send_took = sent.elapsed();
    step(
        &format!("{BURST} announcements sent back to back"),
        send_took,
    );

    let expected = BURST as usize + 1;
    let mut last = 0;
    let took = wait_until(GRACE, POLL, || {
        last = tap.map(binaries).map_or(last, |m| m.len());
        last == expected
    });
    tap.check_running()?;
    let took = took.map_err(|_| {
        format!(
            "the smoltcp node's map lists {last} nodes, not {expected}: {} of {BURST} lost",
            expected.saturating_sub(last)
        )
    })?;
    step(
        &format!("the smoltcp node's map lists all {BURST} (and itself)"),
        took,
    );
    Ok(format!(
        "{BURST} of {BURST} datagrams taken in; sent in {:.1} ms, all in the map {:.2}s later",
        send_took.as_secs_f64() * 1000.0,
        took.as_secs_f64()
    ))
}
