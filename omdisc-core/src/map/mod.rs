//! The openMosix map: what omdisc hands to the "kernel" and what `showmap` prints.
//!
//! * [`MapNode`] is one member as the map shows it.
//! * [`binary`] writes and reads `om_config` (our documented binary layout, see
//!   `docs/map-format.md`) and `om_mospe` (this node's id).
//! * [`setpe`] renders the map in the text format of openMosix's `setpe` — merged ranges
//!   `first-ID IP count`, `ID IP ALIAS` lines, `#` comments, at most 256 lines — and parses
//!   it back.

pub mod binary;
pub mod setpe;

use crate::addr::AddrList;
use crate::id::NodeId;
use crate::table::{NodeEntry, NodeState};

/// One member of the map.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MapNode {
    /// Node id.
    pub id: NodeId,
    /// Addresses, as announced (primary ones first is not required).
    pub addrs: AddrList,
    /// Whether the node relays between networks.
    pub gateway: bool,
    /// The gateway it was heard through, if not directly.
    pub via: Option<NodeId>,
    /// Whether it is the node that wrote the map.
    pub local: bool,
}

impl MapNode {
    /// The map view of a table entry.
    pub fn from_entry(entry: &NodeEntry) -> MapNode {
        MapNode {
            id: entry.id(),
            addrs: entry.addrs().iter().copied().collect(),
            gateway: entry.is_gateway(),
            via: entry.via(),
            local: entry.state() == NodeState::Local,
        }
    }
}

#[cfg(test)]
mod tests;
