//! The hook's bounded queue: events wait here, in order, while a run is going on. When it
//! is full, everything in it collapses into one `sync` entry, which the next run turns into
//! the whole current map: no event is lost, it is either delivered or covered by a later
//! `sync`.

use std::collections::VecDeque;

use super::event::HookJob;

/// Most entries waiting for the hook.
pub const HOOK_QUEUE_LEN: usize = 64;

/// One waiting entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// An event of its own.
    Event(HookJob),
    /// Everything before it, covered by one run with the map as it is when the run starts.
    Sync,
}

/// The queue.
#[derive(Debug, Default)]
pub struct HookQueue {
    entries: VecDeque<Pending>,
    collapsed: u64,
}

impl HookQueue {
    /// Queues `job`; a full queue collapses (its events and `job`) into one `sync`.
    pub fn push(&mut self, job: HookJob) {
        if self.entries.len() < HOOK_QUEUE_LEN {
            self.entries.push_back(Pending::Event(job));
            return;
        }
        let events = self
            .entries
            .iter()
            .filter(|e| matches!(e, Pending::Event(_)))
            .count();
        self.collapsed += events as u64 + 1;
        self.entries.clear();
        self.entries.push_back(Pending::Sync);
    }

    /// Queues a `sync` (e.g. the engine's own event queue overflowed): it covers what waits
    /// before it, so those entries are dropped.
    pub fn push_sync(&mut self) {
        let events = self
            .entries
            .iter()
            .filter(|e| matches!(e, Pending::Event(_)))
            .count();
        self.collapsed += events as u64;
        self.entries.clear();
        self.entries.push_back(Pending::Sync);
    }

    /// Puts `entry` back at the front (it could not run yet).
    pub fn push_front(&mut self, entry: Pending) {
        self.entries.push_front(entry);
    }

    /// The next entry to run.
    pub fn pop(&mut self) -> Option<Pending> {
        self.entries.pop_front()
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Events that were covered by a `sync` instead of a run of their own.
    pub fn collapsed(&self) -> u64 {
        self.collapsed
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::HookKind;
    use super::*;
    use omdisc_core::NodeId;

    fn job(id: u16) -> HookJob {
        HookJob {
            kind: HookKind::Join,
            node_id: NodeId::new(id).unwrap(),
            addrs: Vec::new(),
            gateway: false,
            members: 1,
            self_id: NodeId::new(1).unwrap(),
            map_json: "{}\n".into(),
        }
    }

    fn id_of(entry: Option<Pending>) -> Option<u16> {
        match entry {
            Some(Pending::Event(job)) => Some(job.node_id.get()),
            _ => None,
        }
    }

    #[test]
    fn events_come_out_in_order() {
        let mut queue = HookQueue::default();
        for id in 1..=3 {
            queue.push(job(id));
        }
        assert_eq!(queue.len(), 3);
        assert_eq!(
            [id_of(queue.pop()), id_of(queue.pop()), id_of(queue.pop())],
            [Some(1), Some(2), Some(3)]
        );
        assert!(queue.pop().is_none() && queue.is_empty());
    }

    #[test]
    fn a_full_queue_collapses_into_one_sync_and_later_events_follow_it() {
        let mut queue = HookQueue::default();
        for id in 1..=HOOK_QUEUE_LEN as u16 + 1 {
            queue.push(job(id));
        }
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.collapsed(), HOOK_QUEUE_LEN as u64 + 1);
        queue.push(job(500));
        assert_eq!(queue.pop(), Some(Pending::Sync));
        assert_eq!(id_of(queue.pop()), Some(500));
        assert!(queue.pop().is_none());
    }

    #[test]
    fn an_explicit_sync_covers_what_waits() {
        let mut queue = HookQueue::default();
        queue.push(job(1));
        queue.push_sync();
        queue.push(job(2));
        assert_eq!(queue.collapsed(), 1);
        assert_eq!(queue.pop(), Some(Pending::Sync));
        assert_eq!(id_of(queue.pop()), Some(2));
    }
}
