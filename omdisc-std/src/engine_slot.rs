//! The daemon's engine and the identity it runs under, following the legs' addresses.
//!
//! The engine runs once the first leg serves (its address names the node, unless
//! `--node-id` does). When the legs' addresses change, [`EngineSlot::follow`] gives the
//! engine the new ones; what the engine then announces (the new addresses, a LEAVE of an
//! identity that is gone, a join) is the engine's decision.

use std::net::IpAddr;

use omdisc_core::{Config, ConfigError, Engine, Forwarding, InterfaceSpec, Keyring, NodeId};

use crate::growing_table::GrowingTable;
use crate::startup::{incarnation, seed, DaemonEngine};

/// What every engine of this daemon is made with.
#[derive(Debug, Clone)]
pub struct EngineTemplate {
    /// Timers, budget, forwarding; `node_id` and `incarnation` are set per engine.
    pub config: Config,
    /// `--node-id`, if given; otherwise the id comes from the first leg's primary address.
    pub node_id: Option<NodeId>,
    /// Most node-table slots (the table grows up to this many as nodes come).
    pub table_capacity: usize,
}

/// What [`EngineSlot::follow`] did.
#[derive(Default)]
pub struct Followed {
    /// An engine that stopped serving: call `leave` on it and send what it queues, then
    /// drop it.
    pub retired: Option<DaemonEngine>,
    /// A new engine runs (started): its id and its first leg's primary address.
    pub started: Option<(NodeId, IpAddr)>,
}

/// Why no engine could be made for the legs' addresses. One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// The id derived from the primary address is 0.
    ZeroId(IpAddr),
    /// The engine refused the configuration.
    Config(ConfigError),
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityError::ZeroId(address) => write!(
                f,
                "the node id derived from {address} (its last two octets) is 0, which openMosix does not allow: set one with --node-id"
            ),
            IdentityError::Config(error) => write!(f, "invalid configuration: {error}"),
        }
    }
}

impl std::error::Error for IdentityError {}

/// The engine, while there is one, and how to make the next.
pub struct EngineSlot {
    template: EngineTemplate,
    keyring: Option<Keyring>,
    engine: Option<DaemonEngine>,
    /// The addresses the running engine was made with, per leg.
    specs: Vec<Option<Vec<IpAddr>>>,
    last_incarnation: u64,
}

impl std::fmt::Debug for Followed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Followed")
            .field("retired", &self.retired.as_ref().map(|e| e.node_id()))
            .field("started", &self.started)
            .finish()
    }
}

impl std::fmt::Debug for EngineSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSlot")
            .field("node_id", &self.engine.as_ref().map(|e| e.node_id()))
            .field("specs", &self.specs)
            .finish_non_exhaustive()
    }
}

impl EngineSlot {
    /// No engine yet; engines will be made from `template` and authenticate with `keyring`.
    pub fn new(template: EngineTemplate, keyring: Option<Keyring>) -> EngineSlot {
        EngineSlot {
            template,
            keyring,
            engine: None,
            specs: Vec::new(),
            last_incarnation: 0,
        }
    }

    /// The running engine, if any.
    pub fn engine(&self) -> Option<&DaemonEngine> {
        self.engine.as_ref()
    }

    /// The running engine, if any.
    pub fn engine_mut(&mut self) -> Option<&mut DaemonEngine> {
        self.engine.as_mut()
    }

    /// Takes the running engine out (at stop).
    pub fn take(&mut self) -> Option<DaemonEngine> {
        self.specs.clear();
        self.engine.take()
    }

    /// The keyring, for this engine and the next ones.
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

    /// Follows the legs' addresses (`None` for a leg that does not serve), at `now`.
    ///
    /// The engine runs while every leg serves; a change of addresses makes a new engine
    /// under a new incarnation (which every peer takes at once over the old one) and, when
    /// the id changes too, the old one leaves.
    pub fn follow(
        &mut self,
        now: omdisc_core::Instant,
        legs: &[Option<Vec<IpAddr>>],
    ) -> Result<Followed, IdentityError> {
        if legs == self.specs.as_slice() && self.engine.is_some() {
            return Ok(Followed::default());
        }
        let all: Option<Vec<&Vec<IpAddr>>> = legs.iter().map(Option::as_ref).collect();
        let Some(primary) = all
            .as_ref()
            .and_then(|all| all.first())
            .and_then(|l| l.first())
            .copied()
        else {
            self.specs.clear();
            return Ok(Followed {
                retired: self.engine.take(),
                started: None,
            });
        };
        let node_id = self.node_id_for(primary)?;
        let specs: Vec<InterfaceSpec> = legs
            .iter()
            .flatten()
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
        config.node_id = node_id;
        self.last_incarnation = incarnation().max(self.last_incarnation + 1);
        config.incarnation = self.last_incarnation;
        let storage = GrowingTable::new(self.template.table_capacity);
        let mut engine =
            Engine::new(config, &specs, storage, seed()).map_err(IdentityError::Config)?;
        engine.set_keyring(self.keyring.clone());
        engine.start(now);
        let old = self.engine.replace(engine);
        self.specs = legs.to_vec();
        // The same id under a new incarnation replaces the old entry everywhere at once;
        // another id means the old one leaves.
        let retired = old.filter(|old| old.node_id() != node_id);
        Ok(Followed {
            retired,
            started: Some((node_id, primary)),
        })
    }
}

/// The engine settings of a daemon (everything but the identity).
pub fn engine_config(
    interval: std::time::Duration,
    dead_after: u16,
    bandwidth: u32,
    forwarding: Forwarding,
) -> Config {
    // The id and incarnation are replaced for each engine.
    let mut config = Config::new(NodeId::MIN, 1);
    config.interval =
        omdisc_core::Duration::from_millis(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
    config.dead_after = dead_after;
    config.bandwidth = bandwidth;
    config.forwarding = forwarding;
    config
}
