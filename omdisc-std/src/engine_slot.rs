//! The daemon's engine, following the legs' addresses.
//!
//! The engine is made once, when the first leg serves, and runs until the daemon stops.
//! Its id is `--node-id` ([`IdSource::Fixed`]) or derived by the engine from the first
//! serving leg's primary address ([`IdSource::Address`]). From then on
//! [`EngineSlot::follow`] hands it each leg's new address list ([`Engine::set_addresses`];
//! none for a leg whose interface went away or lost its last address) and
//! [`EngineSlot::resume`] a link that is up again ([`Engine::interface_resumed`]). What to
//! announce then (the new addresses, the old identity's LEAVE, a JOIN) is the engine's
//! decision; [`omdisc_core::Event::LocalChanged`] tells the daemon when this node's own id,
//! addresses or presence changed.

use std::net::{IpAddr, SocketAddr};

use omdisc_core::{
    AddressError, Config, ConfigError, DeadAfter, Engine, Forwarding, IdSource, IfaceId,
    InterfaceSpec, Keyring, NodeId, SeedError,
};

use crate::growing_table::GrowingTable;
use crate::startup::{incarnation, seed, DaemonEngine};

/// What the daemon's engine is made with.
#[derive(Debug, Clone)]
pub struct EngineTemplate {
    /// Timers, budget, forwarding; the identity is set when the engine is made.
    pub config: Config,
    /// `--node-id`, if given; otherwise the engine derives the id from the first serving
    /// leg's primary address, and derives it again when that changes.
    pub node_id: Option<NodeId>,
    /// Most node-table slots (the table grows up to this many as nodes come).
    pub table_capacity: usize,
}

/// Why the engine could not be made or refused the legs' addresses. One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// The id derived from the primary address is 0.
    ZeroId(IpAddr),
    /// The engine refused the configuration.
    Config(ConfigError),
    /// The engine refused a leg's addresses (it keeps the ones it had).
    Addresses(AddressError),
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityError::ZeroId(address) => write!(
                f,
                "the node id derived from {address} (its last two octets) is 0, which openMosix does not allow: set one with --node-id"
            ),
            IdentityError::Config(error) => write!(f, "invalid configuration: {error}"),
            IdentityError::Addresses(error) => {
                write!(f, "the engine keeps its old addresses: {error}")
            }
        }
    }
}

impl std::error::Error for IdentityError {}

/// The engine, once there is one, and what it was told.
pub struct EngineSlot {
    template: EngineTemplate,
    keyring: Option<Keyring>,
    engine: Option<DaemonEngine>,
    /// The addresses the engine has, per leg (empty: none).
    told: Vec<Vec<IpAddr>>,
    /// The seeds, for the engine now and the one made later.
    seeds: Vec<SocketAddr>,
}

impl std::fmt::Debug for EngineSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSlot")
            .field("local_id", &self.engine.as_ref().map(|e| e.local_id()))
            .field("told", &self.told)
            .finish_non_exhaustive()
    }
}

impl EngineSlot {
    /// No engine yet; it will be made from `template`, authenticate with `keyring` and
    /// contact `seeds` (`--peer`, `--peers-file`).
    pub fn new(
        template: EngineTemplate,
        keyring: Option<Keyring>,
        seeds: Vec<SocketAddr>,
    ) -> EngineSlot {
        EngineSlot {
            template,
            keyring,
            engine: None,
            told: Vec::new(),
            seeds,
        }
    }

    /// New seeds (SIGHUP re-read the peers file), for the engine now and the one made
    /// later. On an error nothing changes.
    pub fn replace_seeds(
        &mut self,
        now: omdisc_core::Instant,
        seeds: Vec<SocketAddr>,
    ) -> Result<(), SeedError> {
        if let Some(engine) = &mut self.engine {
            engine.set_seeds(now, &seeds)?;
        }
        self.seeds = seeds;
        Ok(())
    }

    /// The seeds in use.
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// The engine, once a leg has served.
    pub fn engine(&self) -> Option<&DaemonEngine> {
        self.engine.as_ref()
    }

    /// The engine, once a leg has served.
    pub fn engine_mut(&mut self) -> Option<&mut DaemonEngine> {
        self.engine.as_mut()
    }

    /// Whether this node is in the cluster now: the engine runs and has an id (a leg with
    /// an address, and an address-derived id that is not 0).
    pub fn is_present(&self) -> bool {
        self.engine.as_ref().is_some_and(|e| e.local_id().is_some())
    }

    /// The keyring, for the engine now and the one made later.
    pub fn set_keyring(&mut self, keyring: Option<Keyring>) {
        if let Some(engine) = &mut self.engine {
            engine.set_keyring(keyring.clone());
        }
        self.keyring = keyring;
    }

    /// The keyring in use.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// The node id this node would have with `primary` as its first leg's address.
    pub fn node_id_for(&self, primary: IpAddr) -> Result<NodeId, IdentityError> {
        match self.template.node_id {
            Some(id) => Ok(id),
            None => NodeId::from_ip(primary).map_err(|_| IdentityError::ZeroId(primary)),
        }
    }

    /// Follows the legs' addresses at `now` (`legs[i]` empty: leg `i` has none, or its
    /// interface is gone). Makes and starts the engine when the first leg has addresses
    /// (`Ok(true)`); afterwards tells it each leg whose addresses changed. On an error the
    /// legs told so far keep their new addresses and the others their old ones; the next
    /// call tries again.
    pub fn follow(
        &mut self,
        now: omdisc_core::Instant,
        legs: &[Vec<IpAddr>],
    ) -> Result<bool, IdentityError> {
        let Some(engine) = &mut self.engine else {
            if legs.iter().all(Vec::is_empty) {
                return Ok(false);
            }
            self.start(now, legs)?;
            return Ok(true);
        };
        let mut changed: Vec<usize> = (0..legs.len())
            .filter(|&slot| self.told.get(slot) != legs.get(slot))
            .collect();
        // Legs that lose addresses first: the engine never holds more than one
        // announcement carries (Legs trims the new lists to that), not even in between.
        changed.sort_by_key(|&slot| {
            let (new, old) = (legs.get(slot), self.told.get(slot));
            new.map_or(0, Vec::len) > old.map_or(0, Vec::len)
        });
        for slot in changed {
            let (Some(iface), Some(addresses)) = (IfaceId::new(slot), legs.get(slot)) else {
                continue;
            };
            engine
                .set_addresses(now, iface, addresses)
                .map_err(IdentityError::Addresses)?;
            if let Some(told) = self.told.get_mut(slot) {
                told.clone_from(addresses);
            }
        }
        Ok(false)
    }

    /// Leg `slot`'s link is up again with the addresses it had: the engine announces at
    /// once (at most once an interval), so the peers that expired this node meanwhile
    /// take it back.
    pub fn resume(&mut self, now: omdisc_core::Instant, slot: usize) {
        if let (Some(engine), Some(iface)) = (&mut self.engine, IfaceId::new(slot)) {
            engine.interface_resumed(now, iface);
        }
    }

    /// Makes the engine with the legs' addresses and starts it.
    fn start(
        &mut self,
        now: omdisc_core::Instant,
        legs: &[Vec<IpAddr>],
    ) -> Result<(), IdentityError> {
        let specs: Vec<InterfaceSpec> = legs
            .iter()
            .map(|addresses| {
                let mut spec = InterfaceSpec::default();
                for address in addresses {
                    // Legs trims the addresses to what one announcement carries.
                    let _ = spec.addrs.push(*address);
                }
                spec
            })
            .collect();
        let mut config = self.template.config.clone();
        match self.template.node_id {
            Some(id) => {
                config.node_id = id;
                config.id_source = IdSource::Fixed;
            }
            None => config.id_source = IdSource::Address,
        }
        config.incarnation = incarnation();
        let storage = GrowingTable::new(self.template.table_capacity);
        let mut engine =
            Engine::new(config, &specs, storage, seed()).map_err(IdentityError::Config)?;
        engine.set_keyring(self.keyring.clone());
        if let Err(error) = engine.set_seeds(now, &self.seeds) {
            // The seed list was checked when it was read; the engine's own check is the
            // same, so this is not expected.
            log::warn!("the engine refused the seeds: {error}; running without them");
        }
        engine.start(now);
        self.engine = Some(engine);
        self.told = legs.to_vec();
        Ok(())
    }
}

/// The engine settings of a daemon (everything but the identity); `expiry` bounds the
/// missed intervals before a silent node expires (`--dead-after`, `--max-dead-after`).
pub fn engine_config(
    interval: std::time::Duration,
    expiry: DeadAfter,
    bandwidth: u32,
    forwarding: Forwarding,
) -> Config {
    // The identity and the incarnation are set when the engine is made.
    let mut config = Config::new(NodeId::MIN, 1);
    config.interval =
        omdisc_core::Duration::from_millis(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
    config.dead_after = expiry.min;
    config.max_dead_after = expiry.max;
    config.bandwidth = bandwidth;
    config.forwarding = forwarding;
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use omdisc_core::{Instant, Message, MessageKind, MAX_DATAGRAM_LEN};

    fn slot(node_id: Option<u16>) -> EngineSlot {
        let template = EngineTemplate {
            config: engine_config(
                std::time::Duration::from_millis(500),
                DeadAfter::new(3, 25),
                0,
                Forwarding::Relay,
            ),
            node_id: node_id.map(|id| NodeId::new(id).unwrap()),
            table_capacity: 16,
        };
        EngineSlot::new(template, None, Vec::new())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// What the engine queued: (kind, origin, interface) of each datagram.
    fn sent(slot: &mut EngineSlot, now: Instant) -> Vec<(MessageKind, u16, usize)> {
        let engine = slot.engine_mut().unwrap();
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let mut out = Vec::new();
        while let Some(tx) = engine.poll_transmit(now, &mut buf) {
            let msg = Message::decode(&buf[..tx.len], None).unwrap();
            out.push((msg.kind, msg.origin.get(), tx.iface.index()));
        }
        out
    }

    #[test]
    fn the_engine_is_made_when_the_first_leg_has_an_address() {
        let mut slot = slot(None);
        let now = Instant::from_millis(100);
        assert_eq!(slot.follow(now, &[vec![], vec![]]), Ok(false));
        assert!(slot.engine().is_none());
        assert!(!slot.is_present());
        // The second leg serves first: the id comes from its address.
        assert_eq!(slot.follow(now, &[vec![], vec![ip("10.2.1.7")]]), Ok(true));
        assert_eq!(slot.engine().unwrap().local_id(), NodeId::new(263));
        assert!(slot.is_present());
        assert_eq!(sent(&mut slot, now), [(MessageKind::Announce, 263, 1)]);
    }

    #[test]
    fn an_address_change_keeps_the_engine_and_the_old_id_leaves() {
        let mut slot = slot(None);
        let now = Instant::from_millis(100);
        slot.follow(now, &[vec![ip("10.77.1.12")]]).unwrap();
        let incarnation = slot.engine().unwrap().config().incarnation;
        sent(&mut slot, now);
        let later = Instant::from_millis(900);
        assert_eq!(slot.follow(later, &[vec![ip("10.77.1.42")]]), Ok(false));
        let engine = slot.engine().unwrap();
        assert_eq!(engine.config().incarnation, incarnation, "same engine");
        assert_eq!(engine.local_id(), NodeId::new(298));
        assert_eq!(
            sent(&mut slot, later),
            [
                (MessageKind::Leave, 268, 0),
                (MessageKind::Announce, 298, 0)
            ]
        );
        // Told again the same: nothing to say.
        assert_eq!(slot.follow(later, &[vec![ip("10.77.1.42")]]), Ok(false));
        assert!(sent(&mut slot, later).is_empty());
    }

    #[test]
    fn a_fixed_id_stays_when_the_address_changes() {
        let mut slot = slot(Some(4242));
        let now = Instant::from_millis(100);
        slot.follow(now, &[vec![ip("10.77.1.12")]]).unwrap();
        sent(&mut slot, now);
        slot.follow(now, &[vec![ip("10.77.1.42")]]).unwrap();
        assert_eq!(slot.engine().unwrap().local_id(), NodeId::new(4242));
        assert_eq!(sent(&mut slot, now), [(MessageKind::Announce, 4242, 0)]);
    }

    #[test]
    fn a_gateway_leg_goes_and_comes_back_while_the_others_serve() {
        let mut slot = slot(None);
        let now = Instant::from_millis(100);
        let legs = [
            vec![ip("10.1.1.5")],
            vec![ip("10.2.1.5")],
            vec![ip("10.3.1.5")],
        ];
        slot.follow(now, &legs).unwrap();
        let engine = slot.engine().unwrap();
        assert!(engine.is_gateway());
        sent(&mut slot, now);
        slot.follow(now, &[legs[0].clone(), legs[1].clone(), vec![]])
            .unwrap();
        let engine = slot.engine().unwrap();
        let iface = |i| IfaceId::new(i).unwrap();
        assert!(engine.is_gateway(), "two legs still relay");
        assert!(engine.is_active(iface(0)) && engine.is_active(iface(1)));
        assert!(!engine.is_active(iface(2)));
        assert_eq!(engine.local_id(), NodeId::new(261), "same id");
        sent(&mut slot, now);
        slot.follow(now, &legs).unwrap();
        assert!(slot.engine().unwrap().is_active(iface(2)));
        // Back: an announcement on every leg.
        assert_eq!(sent(&mut slot, now).len(), 3);
    }

    #[test]
    fn legs_that_lose_addresses_are_told_first() {
        let mut slot = slot(None);
        let now = Instant::from_millis(100);
        let many = |net: u8, n: u8| -> Vec<IpAddr> {
            (1..=n).map(|h| IpAddr::from([10, net, 1, h])).collect()
        };
        slot.follow(now, &[many(1, 1), many(2, 5)]).unwrap();
        // Six addresses before and after; told leg by leg in order, the engine would
        // hold ten in between and refuse.
        assert_eq!(slot.follow(now, &[many(1, 5), many(2, 1)]), Ok(false));
        let engine = slot.engine().unwrap();
        assert_eq!(engine.announced_addresses(IfaceId::FIRST).len(), 6);
    }

    #[test]
    fn a_resumed_link_announces_with_join() {
        let mut slot = slot(None);
        let now = Instant::from_millis(100);
        slot.follow(now, &[vec![ip("10.77.1.12")]]).unwrap();
        sent(&mut slot, now);
        let later = Instant::from_millis(3_000);
        slot.resume(later, 0);
        let engine = slot.engine_mut().unwrap();
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let tx = engine.poll_transmit(later, &mut buf).unwrap();
        assert!(Message::decode(&buf[..tx.len], None).unwrap().join);
    }
}
