//! The node-table storage of `omdiscd` and `omdisc-tap`: it grows as nodes come, in steps, up
//! to a hard limit (`--max-nodes`), so a table for the whole id space costs memory only for
//! the nodes there are.
//!
//! The core's table asks its [`TableStorage`] for more slots only when every slot is in use;
//! [`GrowingTable`] then doubles (at least [`FIRST_STEP`] slots, at most the limit). The
//! table is full — the "node table full" warning, the node refused — at the limit, as with
//! storage reserved at start. Slots are never given back: a cluster that shrank keeps the
//! memory of its largest size, and the next growth costs nothing.

use omdisc_core::{NodeEntry, TableStorage};

/// Slots of the first step: a small cluster, this node and its tombstones (10 KiB).
pub const FIRST_STEP: usize = 64;

/// Node-table storage on the heap that grows in steps up to a limit.
#[derive(Debug, Clone)]
pub struct GrowingTable {
    slots: Vec<NodeEntry>,
    limit: usize,
}

impl GrowingTable {
    /// Storage for at most `limit` entries, none allocated yet.
    pub fn new(limit: usize) -> GrowingTable {
        GrowingTable {
            slots: Vec::new(),
            limit,
        }
    }

    /// The size of the next step from `len` slots towards at least `min`: double, at least
    /// [`FIRST_STEP`], at most the limit.
    fn next_size(&self, min: usize) -> usize {
        self.slots
            .len()
            .saturating_mul(2)
            .max(FIRST_STEP)
            .max(min)
            .min(self.limit)
    }
}

impl TableStorage for GrowingTable {
    fn slots(&self) -> &[NodeEntry] {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut [NodeEntry] {
        &mut self.slots
    }

    fn capacity(&self) -> usize {
        self.limit
    }

    fn grow(&mut self, min: usize) -> bool {
        if min <= self.slots.len() {
            return true;
        }
        if min > self.limit {
            return false;
        }
        let size = self.next_size(min);
        // Out of memory is a full table (the node is refused and warned about), not an
        // abort of the daemon.
        if self
            .slots
            .try_reserve_exact(size - self.slots.len())
            .is_err()
        {
            return false;
        }
        self.slots.resize(size, NodeEntry::VACANT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_and_grows_by_doubling_up_to_the_limit() {
        let mut table = GrowingTable::new(300);
        assert!(table.slots().is_empty());
        assert_eq!(table.capacity(), 300);
        assert!(table.grow(1));
        assert_eq!(table.slots().len(), FIRST_STEP);
        assert!(table.grow(FIRST_STEP + 1));
        assert_eq!(table.slots().len(), 2 * FIRST_STEP);
        assert!(table.grow(2 * FIRST_STEP + 1));
        assert_eq!(table.slots().len(), 256);
        assert!(table.grow(257));
        assert_eq!(table.slots().len(), 300, "the last step stops at the limit");
        assert!(!table.grow(301), "never beyond the limit");
        assert_eq!(table.slots().len(), 300);
        assert!(table.grow(10), "already there");
    }

    #[test]
    fn growing_keeps_the_entries_and_adds_vacant_slots() {
        let mut table = GrowingTable::new(1000);
        assert!(table.grow(1));
        let marked = NodeEntry::VACANT;
        table.slots_mut()[3] = marked.clone();
        assert!(table.grow(FIRST_STEP + 1));
        assert_eq!(table.slots()[3], marked);
        assert!(table.slots()[FIRST_STEP..]
            .iter()
            .all(|e| *e == NodeEntry::VACANT));
    }
}
