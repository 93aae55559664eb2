//! The invariants of an engine's state, checked from the outside by the fuzz harness
//! (`fuzz/src/engine.rs`) and the property tests (`tests/table_props.rs`).

use core::fmt;

use crate::addr::{lowest_ip, shares_address};
use crate::engine::{Engine, Phase};
use crate::id::NodeId;
use crate::table::{NodeEntry, NodeState, TableStorage};

/// An invariant an engine broke: what, and about which node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What does not hold.
    pub what: &'static str,
    /// The node id concerned, if one.
    pub id: Option<NodeId>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "node id {id}: {}", self.what),
            None => f.write_str(self.what),
        }
    }
}

fn ensure(holds: bool, what: &'static str, id: Option<NodeId>) -> Result<(), Violation> {
    if holds {
        Ok(())
    } else {
        Err(Violation { what, id })
    }
}

fn live(entry: &NodeEntry) -> bool {
    entry.state != NodeState::Departed
}

/// Checks every invariant of `engine`:
///
/// - the table holds no more entries than slots, sorted by node id, exactly one of them
///   this node's own (with its id) while it is in the cluster, none while it is out (no
///   address, [`Engine::local_id`] is `None`);
/// - entries that share an id are different hosts (no address in common), and live ones
///   have an address;
/// - collisions are resolved by the rule every node applies: of the live entries of an id,
///   exactly the one with the lowest address is a member, the others are shadowed, and no
///   departed entry is; [`NodeTable::conflicts`](crate::NodeTable::conflicts) lists exactly
///   the shadowed entries, each against its id's member;
/// - the group size the bandwidth budget uses is the number of entries that have not
///   departed (once started);
/// - a running or leaving engine has a deadline, unless it is out of the cluster with an
///   empty table.
pub fn check_engine<S: TableStorage>(engine: &Engine<S>) -> Result<(), Violation> {
    let table = engine.table();
    let entries = table.entries();
    ensure(
        table.len() <= table.capacity() && entries.len() == table.len(),
        "more entries than slots",
        None,
    )?;
    for pair in entries.windows(2) {
        if let [a, b] = pair {
            ensure(a.id <= b.id, "table not sorted by id", Some(b.id()))?;
        }
    }
    let mut locals = entries.iter().filter(|e| e.state == NodeState::Local);
    let local_ok = match (engine.local_id(), locals.next(), locals.next()) {
        (Some(id), Some(local), None) => local.id() == id,
        (None, None, _) => true,
        _ => false,
    };
    ensure(
        local_ok,
        "not exactly one local entry with this node's id while it is in the cluster, or one while it is out",
        None,
    )?;

    for same_id in entries.chunk_by(|a, b| a.id == b.id) {
        check_one_id(same_id)?;
    }
    let shadowed = entries.iter().filter(|e| e.shadowed).count();
    ensure(
        table.conflicts().count() == shadowed,
        "conflicts() does not list every shadowed entry once",
        None,
    )?;
    for conflict in table.conflicts() {
        let winner = table.member(conflict.id).and_then(|m| lowest_ip(&m.addrs));
        ensure(
            winner == Some(conflict.winner),
            "a conflict names another winner than the id's member",
            Some(conflict.id),
        )?;
    }

    let phase = engine.phase();
    if phase != Phase::Idle {
        ensure(
            engine.group_size() == entries.iter().filter(|e| live(e)).count(),
            "group size is not the number of entries that have not departed",
            None,
        )?;
    }
    // Out of the cluster (no address) with an empty table, nothing is due until an address
    // comes.
    let anything_due = engine.local_id().is_some() || !entries.is_empty();
    if matches!(phase, Phase::Running | Phase::Leaving) && anything_due {
        ensure(
            engine.poll_timeout().is_some(),
            "a running or leaving engine with a table to keep has no deadline",
            None,
        )?;
    }
    Ok(())
}

/// The invariants among the entries of one node id.
fn check_one_id(same_id: &[NodeEntry]) -> Result<(), Violation> {
    let Some(first) = same_id.first() else {
        return Ok(());
    };
    let id = Some(first.id());
    for (i, a) in same_id.iter().enumerate() {
        ensure(
            !live(a) || !a.addrs.is_empty(),
            "live entry without an address",
            id,
        )?;
        for b in same_id.iter().skip(i + 1) {
            ensure(
                !shares_address(&a.addrs, &b.addrs),
                "two entries of one id share an address (one host twice)",
                id,
            )?;
        }
    }
    // The rule: the live entry whose lowest address is lowest keeps the id.
    let winner = same_id
        .iter()
        .enumerate()
        .filter(|(_, e)| live(e))
        .min_by_key(|(_, e)| lowest_ip(&e.addrs))
        .map(|(i, _)| i);
    for (i, entry) in same_id.iter().enumerate() {
        let keeps_id = winner == Some(i);
        ensure(
            entry.is_member() == keeps_id,
            "membership is not what the lowest-address rule gives",
            id,
        )?;
        ensure(
            entry.shadowed == (live(entry) && !keeps_id),
            "shadowed is not 'live and lost the id'",
            id,
        )?;
    }
    Ok(())
}
