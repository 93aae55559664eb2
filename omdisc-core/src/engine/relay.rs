//! Gateway relaying: the queue of messages to forward and the duplicate cache that keeps
//! two gateways on the same pair of networks from relaying each other's copies forever.

use crate::addr::MAX_IFACES;
use crate::wire::{Message, RelayBody};

/// How many recent messages the duplicate cache remembers by default (an [`Engine`]'s
/// `DUPLICATES`). Only a gateway consults it.
///
/// [`Engine`]: super::Engine
pub const DUPLICATE_CACHE_LEN: usize = 128;
/// How many messages may wait to be relayed by default (an [`Engine`]'s `RELAY_QUEUE`):
/// call `poll_transmit` at least every this many datagrams (the Linux daemon drains after
/// every `recvmmsg` batch of 32). The queue also holds the LEAVEs that answer replays of
/// departed nodes, on one interface too.
///
/// [`Engine`]: super::Engine
pub const RELAY_QUEUE_LEN: usize = 32;

/// Identity of one message round of one node: `(origin, incarnation, sequence, kind)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MessageKey {
    origin: u16,
    kind: u8,
    incarnation: u64,
    sequence: u32,
}

impl MessageKey {
    pub(crate) fn of(msg: &Message) -> MessageKey {
        MessageKey {
            origin: msg.origin.get(),
            kind: msg.kind.code(),
            incarnation: msg.incarnation,
            sequence: msg.sequence,
        }
    }
}

/// A ring of the `N` most recent message keys (FIFO eviction).
#[derive(Debug)]
pub(crate) struct DuplicateCache<const N: usize> {
    keys: [MessageKey; N],
    next: usize,
    filled: usize,
}

impl<const N: usize> DuplicateCache<N> {
    pub(crate) const fn new() -> Self {
        const {
            assert!(N > 0, "a duplicate cache remembers at least one message");
        }
        DuplicateCache {
            keys: [MessageKey {
                origin: 0,
                kind: 0,
                incarnation: 0,
                sequence: 0,
            }; N],
            next: 0,
            filled: 0,
        }
    }

    /// Records `key`; returns `false` if it was already there (a duplicate). O(len).
    pub(crate) fn insert(&mut self, key: MessageKey) -> bool {
        let seen = self.keys.get(..self.filled).unwrap_or(&[]);
        if seen.contains(&key) {
            return false;
        }
        if let Some(slot) = self.keys.get_mut(self.next) {
            *slot = key;
        }
        self.next = (self.next + 1) % N;
        self.filled = (self.filled + 1).min(N);
        true
    }
}

/// One datagram waiting to be relayed, with the interfaces it still has to go out on.
#[derive(Clone, Debug)]
pub(crate) struct RelayJob {
    pub(crate) body: RelayBody,
    pub(crate) pending: u8,
}

/// The relay queue of `N` jobs: bounded, and a full queue is counted by the engine, not
/// hidden.
pub(crate) type RelayQueue<const N: usize> = heapless::Deque<RelayJob, N>;

/// Takes the lowest interface bit out of `mask`.
pub(crate) fn take_lowest_iface(mask: &mut u8) -> Option<crate::addr::IfaceId> {
    for index in 0..MAX_IFACES {
        let bit = 1u8 << index;
        if *mask & bit != 0 {
            *mask &= !bit;
            return crate::addr::IfaceId::new(index);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u32) -> MessageKey {
        MessageKey {
            origin: 1,
            kind: 1,
            incarnation: 1,
            sequence: seq,
        }
    }

    #[test]
    fn duplicate_is_detected_until_evicted() {
        let mut cache = DuplicateCache::<DUPLICATE_CACHE_LEN>::new();
        assert!(cache.insert(key(1)));
        assert!(!cache.insert(key(1)));
        for seq in 2..=DUPLICATE_CACHE_LEN as u32 {
            assert!(cache.insert(key(seq)));
        }
        assert!(!cache.insert(key(1)));
        assert!(cache.insert(key(1000)));
        // key(1) was the oldest and is gone now.
        assert!(cache.insert(key(1)));
    }

    #[test]
    fn lowest_iface_bits_come_out_in_order() {
        let mut mask = 0b10_0101;
        let mut order = heapless::Vec::<usize, 6>::new();
        while let Some(i) = take_lowest_iface(&mut mask) {
            order.push(i.index()).unwrap();
        }
        assert_eq!(&order[..], &[0, 2, 5]);
        assert_eq!(mask, 0);
    }
}
