//! The image's omdisc node: an [`omdisc_smoltcp::Node`] set up from the boot configuration,
//! with the map rendering and the event log the console shows.
//!
//! The node (engine, smoltcp interface, UDP socket, repeated IGMP reports) is the
//! `omdisc-smoltcp` frontend, generic over any `smoltcp::phy::Device`; this module only
//! chooses its capacities and translates [`BootConfig`] into its [`Settings`].

use core::fmt;

use omdisc_core::map::setpe::{self, RenderError, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::{Duration, Event, Keyring, NodeEntry, NodeIdError};
use omdisc_smoltcp::{Node, NodeStorage, Settings};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

use crate::boot_config::BootConfig;

/// Node-table capacity of the image: members, shadowed contenders and tombstones.
pub const NODE_CAPACITY: usize = 64;

/// The node-table storage.
pub type NodeTableStorage = [NodeEntry; NODE_CAPACITY];

/// The node this image runs.
pub type ClusterNode = Node<'static, NodeTableStorage>;

/// The UDP socket's storage, with the frontend's default queue lengths (it hands each
/// frame's datagram to the engine before taking in the next, so short queues lose nothing).
pub type SocketStorage = NodeStorage<'static>;

/// The frontend's settings for this boot: address, group, port, interval, dead-after and
/// key from `config`/`keys`; `incarnation` must grow from one boot to the next.
pub fn settings(
    config: &BootConfig,
    mac: EthernetAddress,
    keys: Option<Keyring>,
    incarnation: u64,
    random_seed: u64,
) -> Result<Settings, NodeIdError> {
    let mut settings = Settings::new(mac, IpCidr::Ipv4(config.address), incarnation, random_seed)?;
    settings.group = IpAddress::Ipv4(config.group);
    settings.port = config.port;
    settings.engine.interval = Duration::from_millis(u64::from(config.interval_ms));
    settings.engine.dead_after = config.dead_after;
    settings.keyring = keys;
    Ok(settings)
}

/// Writes the map of `node` (members in `setpe` format, with `#` comments) to `out`.
pub fn render_map<W: fmt::Write>(node: &ClusterNode, out: &mut W) -> Result<usize, RenderError> {
    let mut nodes: heapless::Vec<MapNode, NODE_CAPACITY> = heapless::Vec::new();
    for entry in node.engine().members() {
        // Members never outnumber the table's capacity, which is the Vec's.
        if nodes.push(MapNode::from_entry(entry)).is_err() {
            return Err(RenderError::Write);
        }
    }
    let options = RenderOptions {
        comments: true,
        own_id: Some(node.node_id()),
    };
    setpe::render(nodes.iter(), options, out)
}

/// Logs a membership event on one line.
pub fn log_event(event: &Event) {
    match event {
        Event::Joined(id) => log::info!("node {id} joined"),
        Event::Changed(id) => log::info!("node {id} changed"),
        Event::Left(id) => log::info!("node {id} left"),
        Event::Expired(id) => log::info!("node {id} expired"),
        Event::Conflict {
            id,
            winner,
            loser,
            local_lost,
        } => log::warn!(
            "node id {id} claimed twice: {winner} keeps it, {loser} loses it{}",
            if *local_lost { " (this node)" } else { "" }
        ),
        Event::ConflictEnded { id, loser, .. } => {
            log::info!("node id {id} conflict over: {loser} no longer left out")
        }
        Event::TableFull(id) => {
            log::warn!("node {id} left out: table full ({NODE_CAPACITY} entries)")
        }
        Event::Overflow => log::warn!("membership events were dropped; map re-read"),
        other => log::info!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::string::String;
    use std::vec::Vec;

    use omdisc_core::ClusterKey;
    use smoltcp::phy::{Device, DeviceCapabilities, Medium};
    use smoltcp::time::{Duration as SmolDuration, Instant};
    use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

    type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

    /// One end of a two-host Ethernet segment held in memory.
    struct SegmentEnd {
        inbox: Queue,
        outbox: Queue,
    }

    fn segment() -> (SegmentEnd, SegmentEnd) {
        let (a, b) = (Queue::default(), Queue::default());
        (
            SegmentEnd {
                inbox: a.clone(),
                outbox: b.clone(),
            },
            SegmentEnd {
                inbox: b,
                outbox: a,
            },
        )
    }

    struct Rx(Vec<u8>);
    struct Tx(Queue);

    impl smoltcp::phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl smoltcp::phy::TxToken for Tx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = std::vec![0; len];
            let result = f(&mut frame);
            self.0.borrow_mut().push_back(frame);
            result
        }
    }

    impl Device for SegmentEnd {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx;

        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx)> {
            let frame = self.inbox.borrow_mut().pop_front()?;
            Some((Rx(frame), Tx(self.outbox.clone())))
        }

        fn transmit(&mut self, _: Instant) -> Option<Tx> {
            Some(Tx(self.outbox.clone()))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    fn config(host: u8) -> BootConfig {
        BootConfig {
            address: Ipv4Cidr::new(Ipv4Address::new(10, 77, 1, host), 24),
            group: Ipv4Address::new(239, 255, 77, 77),
            port: 7477,
            interval_ms: 500,
            dead_after: 3,
        }
    }

    fn node(device: &mut SegmentEnd, host: u8, keys: Option<Keyring>) -> ClusterNode {
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, host]);
        let settings = settings(&config(host), mac, keys, 1000, u64::from(host)).unwrap();
        let storage = Box::leak(Box::new(SocketStorage::new()));
        Node::new(
            settings,
            device,
            Instant::ZERO,
            storage,
            [NodeEntry::VACANT; NODE_CAPACITY],
        )
        .unwrap()
    }

    fn members(node: &ClusterNode) -> Vec<u16> {
        node.engine().members().map(|e| e.id().get()).collect()
    }

    /// Polls both nodes every 10 ms from `from` to `until`; whether each saw a map change.
    fn run(
        a: (&mut ClusterNode, &mut SegmentEnd),
        b: (&mut ClusterNode, &mut SegmentEnd),
        from: Instant,
        until: Instant,
    ) -> [bool; 2] {
        let mut changed = [false; 2];
        let mut now = from;
        let mut pairs = [a, b];
        while now < until {
            for (i, (node, device)) in pairs.iter_mut().enumerate() {
                let _ = node.poll(now, *device);
                while let Some(event) = node.poll_event() {
                    changed[i] |= event.changes_map();
                }
            }
            now += SmolDuration::from_millis(10);
        }
        changed
    }

    #[test]
    fn boot_config_becomes_the_frontend_settings() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let key = Keyring::new(ClusterKey::from_hex("00112233445566778899aabbccddeeff").unwrap());
        let s = settings(&config(60), mac, Some(key), 7, 9).unwrap();
        assert_eq!(s.engine.node_id.get(), 256 + 60);
        assert_eq!(s.engine.incarnation, 7);
        assert_eq!(s.engine.interval.total_millis(), 500);
        assert_eq!(s.engine.dead_after, 3);
        assert_eq!(s.port, 7477);
        assert_eq!(s.group, IpAddress::Ipv4(Ipv4Address::new(239, 255, 77, 77)));
        assert!(s.keyring.is_some());
        let mut zero = config(60);
        zero.address = Ipv4Cidr::new(Ipv4Address::new(10, 77, 0, 0), 16);
        assert!(settings(&zero, mac, None, 7, 9).is_err());
    }

    #[test]
    fn two_nodes_list_each_other_and_the_map_shows_both() {
        let (mut wire_a, mut wire_b) = segment();
        let mut a = node(&mut wire_a, 11, None);
        let mut b = node(&mut wire_b, 12, None);
        let until = Instant::from_millis(500);
        let changed = run(
            (&mut a, &mut wire_a),
            (&mut b, &mut wire_b),
            Instant::ZERO,
            until,
        );
        assert_eq!(changed, [true, true]);
        assert_eq!(members(&a), [267, 268]);
        assert_eq!(members(&b), [267, 268]);
        let mut map = String::new();
        assert_eq!(render_map(&a, &mut map), Ok(1));
        assert!(map.lines().any(|l| l == "267 10.77.1.11 2"), "{map}");
        assert!(
            map.starts_with("# omdisc map (setpe format): this node is 267"),
            "{map}"
        );
    }

    #[test]
    fn nodes_with_different_keys_do_not_list_each_other() {
        let key = |hex: &str| Some(Keyring::new(ClusterKey::from_hex(hex).unwrap()));
        let (mut wire_a, mut wire_b) = segment();
        let mut a = node(&mut wire_a, 11, key("00112233445566778899aabbccddeeff"));
        let mut b = node(&mut wire_b, 12, key("ffeeddccbbaa99887766554433221100"));
        let until = Instant::from_secs(2);
        run(
            (&mut a, &mut wire_a),
            (&mut b, &mut wire_b),
            Instant::ZERO,
            until,
        );
        assert_eq!(members(&a), [267]);
        assert_eq!(members(&b), [268]);
        assert!(a.counters().rx_datagrams > 0, "datagrams did arrive");
    }
}
