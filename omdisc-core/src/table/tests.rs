use super::*;
use core::net::{IpAddr, Ipv4Addr};

fn entry(id: u16, last: u8) -> NodeEntry {
    let mut e = NodeEntry::VACANT;
    e.id = id;
    e.addrs
        .push(NodeAddr::primary(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            IfaceId::FIRST,
        ))
        .unwrap();
    e.state = NodeState::Alive;
    e
}

#[test]
fn inserts_keep_id_order() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 8]);
    for id in [5, 1, 9, 3] {
        table.insert(entry(id, id as u8)).unwrap();
    }
    let ids: heapless::Vec<u16, 8> = table.entries().iter().map(|e| e.id).collect();
    assert_eq!(&ids[..], &[1, 3, 5, 9]);
    assert_eq!(table.member(NodeId::new(5).unwrap()).map(|e| e.id), Some(5));
    assert!(table.member(NodeId::new(4).unwrap()).is_none());
}

#[test]
fn full_table_hands_the_entry_back() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 2]);
    table.insert(entry(1, 1)).unwrap();
    table.insert(entry(2, 2)).unwrap();
    let rejected = table.insert(entry(3, 3)).unwrap_err();
    assert_eq!(rejected.0.id, 3);
    assert_eq!(table.len(), 2);
}

#[test]
fn full_table_evicts_the_oldest_tombstone_only() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 2]);
    let mut old = entry(1, 1);
    old.state = NodeState::Departed;
    old.last_seen = Instant::from_millis(5);
    table.insert(old).unwrap();
    table.insert(entry(2, 2)).unwrap();
    table.insert_evicting(entry(3, 3)).unwrap();
    assert!(table.same_id(NodeId::new(1).unwrap()).is_empty());
    assert!(table.insert_evicting(entry(4, 4)).is_err());
}

#[test]
fn find_matches_by_shared_address() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 4]);
    table.insert(entry(7, 7)).unwrap();
    table.insert(entry(7, 8)).unwrap();
    let probe = entry(7, 8);
    assert_eq!(table.find(probe.id(), &probe.addrs), Some(1));
    let other = entry(7, 9);
    assert_eq!(table.find(other.id(), &other.addrs), None);
}

#[test]
fn collision_shadows_all_but_the_lowest_address() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 4]);
    table.insert(entry(7, 9)).unwrap();
    let id = NodeId::new(7).unwrap();
    assert_eq!(table.resolve_collision(id), Resolution::default());
    table.insert(entry(7, 3)).unwrap();
    let c = table.resolve_collision(id).started.unwrap();
    assert_eq!(c.winner, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
    assert_eq!(c.loser, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
    assert_eq!(table.member_count(), 1);
    assert_eq!(table.member(id).unwrap().addrs[0].ip, c.winner);
    assert_eq!(table.conflicts().collect::<heapless::Vec<_, 4>>(), [c]);
    // Resolving again changes nothing and reports nothing.
    assert_eq!(table.resolve_collision(id), Resolution::default());
    // When the winner departs, the other entry takes the id back: its conflict ended.
    let winner = table.find(id, &entry(7, 3).addrs).unwrap();
    table.get_mut(winner).unwrap().state = NodeState::Departed;
    let resolution = table.resolve_collision(id);
    assert_eq!(resolution.started, None);
    assert_eq!(resolution.ended, Some((c.loser, false)));
    assert_eq!(table.member(id).unwrap().addrs[0].ip, c.loser);
    assert_eq!(table.conflicts().count(), 0);
}

#[test]
fn a_departed_loser_ends_its_conflict_and_the_others_stay() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 4]);
    let id = NodeId::new(7).unwrap();
    for last in [5, 3, 9] {
        table.insert(entry(7, last)).unwrap();
        let _ = table.resolve_collision(id);
    }
    let ip = |d| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
    let losers: heapless::Vec<(IpAddr, IpAddr), 4> =
        table.conflicts().map(|c| (c.winner, c.loser)).collect();
    assert_eq!(losers.len(), 2);
    assert!(losers.contains(&(ip(3), ip(5))) && losers.contains(&(ip(3), ip(9))));
    let nine = table.find(id, &entry(7, 9).addrs).unwrap();
    table.get_mut(nine).unwrap().depart(Instant::from_millis(1));
    let resolution = table.resolve_collision(id);
    assert_eq!(resolution.ended, Some((ip(9), false)));
    assert_eq!(resolution.started, None);
    let left: heapless::Vec<(IpAddr, IpAddr), 4> =
        table.conflicts().map(|c| (c.winner, c.loser)).collect();
    assert_eq!(&left[..], &[(ip(3), ip(5))]);
}

#[test]
fn purge_removes_only_old_tombstones() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 4]);
    for (id, t) in [(1u16, 10u64), (2, 20), (3, 30)] {
        let mut e = entry(id, id as u8);
        e.state = NodeState::Departed;
        e.last_seen = Instant::from_millis(t);
        table.insert(e).unwrap();
    }
    table.insert(entry(4, 4)).unwrap();
    assert_eq!(table.purge_departed_before(Instant::from_millis(25)), 2);
    assert_eq!(table.len(), 2);
}

#[test]
fn remove_out_of_range_is_none() {
    let mut table = NodeTable::new([NodeEntry::VACANT; 2]);
    assert!(table.remove(0).is_none());
    table.insert(entry(1, 1)).unwrap();
    assert_eq!(table.remove(0).map(|e| e.id), Some(1));
    assert!(table.is_empty());
}

#[test]
fn a_vacant_slot_is_all_zero_bytes_so_static_tables_go_to_bss() {
    // Compare field by field against zero values (padding bytes are not observable).
    let v = NodeEntry::VACANT;
    assert_eq!(v.id, 0);
    assert_eq!(v.state as u8, 0);
    assert_eq!((v.incarnation, v.sequence, v.hops), (0, 0, 0));
    assert_eq!(v.last_seen, Instant::ZERO);
    assert!(v.addrs.is_empty() && v.via.is_none() && !v.gateway && !v.shadowed);
}

#[test]
fn an_entry_stays_small() {
    // 65 535 entries make the Linux daemon's table: every byte here is 64 KiB there.
    assert!(
        core::mem::size_of::<NodeEntry>() <= 160,
        "{} bytes",
        core::mem::size_of::<NodeEntry>()
    );
}

#[test]
fn a_tombstone_remembers_when_a_replay_of_it_was_answered() {
    let mut e = entry(7, 7);
    e.path_seen = Instant::from_millis(4_000);
    e.depart(Instant::from_millis(5_000));
    assert_eq!(e.replay_answered(), None);
    e.set_replay_answered(Instant::from_millis(5_000));
    assert_eq!(e.replay_answered(), Some(Instant::from_millis(5_000)));
    e.set_replay_answered(Instant::from_millis(65_000));
    assert_eq!(e.replay_answered(), Some(Instant::from_millis(65_000)));
    // Its own field: the path a live entry was last confirmed on is another.
    assert_eq!(e.path_seen, Instant::from_millis(4_000));
    e.depart(Instant::from_millis(70_000));
    assert_eq!(e.replay_answered(), None);
}

#[test]
fn the_interval_is_kept_to_the_millisecond() {
    let mut e = entry(7, 7);
    for ms in [1, 1232, 86_400_000] {
        e.set_interval(Duration::from_millis(ms));
        assert_eq!(e.interval(), Duration::from_millis(ms));
    }
}

/// Storage over an array that shows only its first `shown` slots and grows one slot at a
/// time while `may_grow` (a frontend's allocation that can fail).
struct Growing<const N: usize> {
    slots: [NodeEntry; N],
    shown: usize,
    may_grow: bool,
}

impl<const N: usize> TableStorage for Growing<N> {
    fn slots(&self) -> &[NodeEntry] {
        &self.slots[..self.shown]
    }
    fn slots_mut(&mut self) -> &mut [NodeEntry] {
        &mut self.slots[..self.shown]
    }
    fn capacity(&self) -> usize {
        N
    }
    fn grow(&mut self, min: usize) -> bool {
        if self.may_grow && min <= N {
            self.shown = self.shown.max(min);
        }
        self.shown >= min
    }
}

fn growing<const N: usize>() -> NodeTable<Growing<N>> {
    NodeTable::new(Growing {
        slots: core::array::from_fn(|_| NodeEntry::VACANT),
        shown: 0,
        may_grow: true,
    })
}

#[test]
fn growing_storage_is_asked_for_a_slot_only_when_all_are_in_use() {
    let mut table = growing::<4>();
    assert_eq!((table.slots_in_use(), table.capacity()), (0, 4));
    for id in [5, 1, 9, 3] {
        table.insert(entry(id, id as u8)).unwrap();
        assert_eq!(table.slots_in_use(), table.len());
    }
    let ids: heapless::Vec<u16, 4> = table.entries().iter().map(|e| e.id).collect();
    assert_eq!(&ids[..], &[1, 3, 5, 9]);
    // Full at the capacity, as fixed storage is.
    assert_eq!(table.insert(entry(2, 2)).unwrap_err().0.id, 2);
    assert_eq!(table.slots_in_use(), 4);
}

#[test]
fn storage_that_cannot_grow_is_a_full_table() {
    let mut table = growing::<4>();
    table.insert(entry(1, 1)).unwrap();
    let mut gone = entry(2, 2);
    gone.state = NodeState::Departed;
    table.insert(gone).unwrap();
    table.slots.may_grow = false;
    assert_eq!(table.insert(entry(3, 3)).unwrap_err().0.id, 3);
    assert_eq!(table.len(), 2);
    // A tombstone makes room, as at the capacity.
    assert_eq!(table.insert_evicting(entry(3, 3)), Ok(1));
    assert!(table.same_id(NodeId::new(2).unwrap()).is_empty());
    assert!(table.insert_evicting(entry(4, 4)).is_err());
}

#[test]
fn a_hint_never_changes_which_entry_find_node_finds() {
    // Ids 3, a collision of three entries of 7 (one departed), 9; probes by shared
    // address, by incarnation only, and for entries that are not there.
    let mut table = NodeTable::new([NodeEntry::VACANT; 8]);
    let mut departed = entry(7, 5);
    departed.state = NodeState::Departed;
    departed.incarnation = 2;
    for e in [entry(3, 3), entry(7, 9), departed, entry(7, 4), entry(9, 9)] {
        table.insert(e).unwrap();
    }
    let probes = [
        (3, 3, 0),
        (7, 4, 0),
        (7, 5, 0),
        (7, 9, 0),
        (7, 6, 2),
        (7, 6, 1),
        (8, 8, 0),
    ];
    for (id, last, incarnation) in probes {
        let probe = entry(id, last);
        let id = probe.id();
        let expected = table.find_node(id, incarnation, &probe.addrs);
        for hint in (0..=table.len() + 1).map(Some).chain([None]) {
            assert_eq!(
                table.find_node_near(hint, id, incarnation, &probe.addrs),
                expected,
                "node {id} at 10.0.0.{last}, incarnation {incarnation}, hint {hint:?}"
            );
        }
    }
    // The probes found something in most cases (the test is not vacuous).
    assert_eq!(
        table.find_node(NodeId::new(7).unwrap(), 2, &entry(7, 6).addrs),
        Some(2)
    );
    assert_eq!(
        table.find_node(NodeId::new(7).unwrap(), 0, &entry(7, 4).addrs),
        Some(3)
    );
}
