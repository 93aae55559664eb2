//! How the Linux frontends (`omdiscd`, `omdisc-tap`) log membership events: one line each,
//! naming the node and, for members, its addresses and the gateway it is reached through.

use omdisc_core::{Event, NodeEntry, NodeId};

/// Logs `event`. `members` are the engine's map members (for addresses and paths);
/// `if_lost` ends the error line when this node lost its id in a collision (what the
/// frontend does about it).
pub fn log_event<'a, I>(event: Event, members: I, if_lost: &str)
where
    I: IntoIterator<Item = &'a NodeEntry>,
{
    match event {
        Event::Joined(id) => log::info!("node {id} joined{}", describe(members, id)),
        Event::Changed(id) => log::info!("node {id} changed{}", describe(members, id)),
        Event::Left(id) => log::info!("node {id} left"),
        Event::Expired(id) => log::info!("node {id} expired (stopped announcing)"),
        Event::Conflict {
            id,
            winner,
            loser,
            local_lost: true,
        } => log::error!(
            "node id {id} conflict: {winner} keeps it, this node ({loser}) is left out of the maps{if_lost}"
        ),
        Event::Conflict {
            id, winner, loser, ..
        } => log::warn!("node id {id} conflict: {winner} keeps it, {loser} is left out"),
        Event::ConflictEnded {
            id, local: true, ..
        } => log::info!("node id {id} conflict over: this node is back in the maps"),
        Event::ConflictEnded { id, loser, .. } => {
            log::info!("node id {id} conflict over: {loser} is no longer left out")
        }
        Event::Suspected(id) => log::info!(
            "node {id} suspected: it answered no probe, direct or indirect (removed unless it refutes)"
        ),
        Event::SeedReached(seed) => log::info!("seed {seed} answered"),
        // The engine itself warns once (`seed ADDR does not answer; retrying`): a second
        // line for the same silence only in debug output.
        Event::SeedUnreachable(seed) => log::debug!(
            "seed {seed} does not answer; still trying, with back-off (said once)"
        ),
        Event::TableFull(id) => log::warn!("node table full: node {id} not added"),
        Event::Overflow => log::debug!("event queue overflowed; rewriting the whole map"),
        other => log::debug!("{other:?}"),
    }
}

/// ` at ADDR, ADDR[ via gateway G]` for member `id`, empty if it is not a member.
pub fn describe<'a>(members: impl IntoIterator<Item = &'a NodeEntry>, id: NodeId) -> String {
    let Some(entry) = members.into_iter().find(|e| e.id() == id) else {
        return String::new();
    };
    let addresses: Vec<String> = entry.addrs().iter().map(|a| a.ip.to_string()).collect();
    let mut text = format!(" at {}", addresses.join(", "));
    if let Some(via) = entry.via() {
        text.push_str(&format!(" via gateway {via}"));
    }
    text
}
