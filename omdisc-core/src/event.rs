//! Membership events: what changed in the node table, for frontends to log and to rewrite
//! the map only when it changed.

use core::net::{IpAddr, SocketAddr};

use crate::id::NodeId;

/// A change in membership, pulled with [`Engine::poll_event`](crate::Engine::poll_event).
///
/// New kinds of events may be added: match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// A node entered the map.
    Joined(NodeId),
    /// A member's map entry changed (addresses, gateway flag or path), or it restarted.
    Changed(NodeId),
    /// A node said it was leaving and was removed from the map.
    Left(NodeId),
    /// A node stopped announcing and was removed after the configured missed intervals, or
    /// stopped answering probes and was confirmed dead after its suspicion timed out.
    Expired(NodeId),
    /// A member did not answer a direct probe nor the indirect ones: it is suspected and
    /// is removed ([`Event::Expired`]) unless it refutes in time. The map does not change.
    Suspected(NodeId),
    /// A seed answered (reported once per seed after [`Engine::set_seeds`](crate::Engine::set_seeds),
    /// and again after it had been reported unreachable).
    SeedReached(SocketAddr),
    /// A seed did not answer its first contacts; the engine keeps retrying with back-off
    /// (reported once, until it answers).
    SeedUnreachable(SocketAddr),
    /// Two hosts claim the same node id; the one with the lower address keeps it and the
    /// other is kept out of the map (on every node alike).
    Conflict {
        /// The contested id.
        id: NodeId,
        /// Lowest address of the host that keeps the id.
        winner: IpAddr,
        /// Lowest address of the host that lost it.
        loser: IpAddr,
        /// Whether the loser is this node.
        local_lost: bool,
    },
    /// A host that was left out of the map in a node-id conflict no longer is: it left or
    /// expired, or the host that kept the id did and it holds the id now. (When the last
    /// loser of an id is gone, [`NodeTable::conflicts`](crate::NodeTable::conflicts) lists
    /// none for that id.)
    ConflictEnded {
        /// The contested id.
        id: NodeId,
        /// Lowest address of the host that was left out.
        loser: IpAddr,
        /// Whether that host is this node (it is back in the map).
        local: bool,
    },
    /// This node's own id, addresses or presence changed ([`Engine::set_addresses`](crate::Engine::set_addresses)):
    /// it got another address or id, an interface went or came back, it left the cluster
    /// for want of an address, or joined again. Read [`Engine::local_id`](crate::Engine::local_id)
    /// and rewrite the own id (`mospe`) and the map.
    LocalChanged,
    /// A node could not be added because the table is full (reported once per node and
    /// incarnation). Raise the capacity.
    TableFull(NodeId),
    /// Events were dropped because nobody pulled them; re-read the whole table.
    Overflow,
}

impl Event {
    /// Whether the map (membership or addresses) may have changed.
    pub fn changes_map(&self) -> bool {
        !matches!(
            self,
            Event::TableFull(_)
                | Event::Suspected(_)
                | Event::SeedReached(_)
                | Event::SeedUnreachable(_)
        )
    }
}

/// A fixed-capacity event queue that reports, instead of hiding, its own overflow.
#[derive(Debug)]
pub(crate) struct EventQueue<const N: usize> {
    queue: heapless::Deque<Event, N>,
    overflowed: bool,
    dropped: u64,
}

impl<const N: usize> EventQueue<N> {
    pub(crate) const fn new() -> Self {
        EventQueue {
            queue: heapless::Deque::new(),
            overflowed: false,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        if self.queue.push_back(event).is_err() {
            self.overflowed = true;
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        if let Some(e) = self.queue.pop_front() {
            return Some(e);
        }
        if self.overflowed {
            self.overflowed = false;
            return Some(Event::Overflow);
        }
        None
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_reported_after_the_queued_events() {
        let mut q = EventQueue::<2>::new();
        let id = NodeId::new(1).unwrap();
        q.push(Event::Joined(id));
        q.push(Event::Left(id));
        q.push(Event::Expired(id));
        assert_eq!(q.pop(), Some(Event::Joined(id)));
        assert_eq!(q.pop(), Some(Event::Left(id)));
        assert_eq!(q.pop(), Some(Event::Overflow));
        assert_eq!(q.pop(), None);
        assert_eq!(q.dropped(), 1);
    }
}
