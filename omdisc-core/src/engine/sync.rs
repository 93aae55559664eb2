//! Anti-entropy: members compare map sizes, and one that holds fewer members asks for the
//! ones it lacks.
//!
//! Every PING, ACK, PING-REQ and GOSSIP carries the sender's member count. A node whose own
//! count has stayed the same for [`SYNC_QUIET`] and that hears a member say it holds more
//! asks that member for a sync: a GOSSIP with the sync flag and a [`SyncSummary`] of its map
//! (its members spread over 32 buckets by a salted hash, a checksum a bucket). The member
//! sums its own map the same way and sends the members of the buckets whose sums differ as
//! member digests (a node that lacks two of 1 000 members gets about 60, in 10 datagrams,
//! not the 167 of the whole map), [`SYNC_PARTS_PER_INTERVAL`] datagrams a probe interval, at
//! most [`SYNC_STREAMS`] syncs at a time. A sync whose first digest does not come within
//! [`SYNC_ANSWER_INTERVALS`] probe intervals was not served and is asked of the next member
//! that holds more. The next sync may follow [`SYNC_RETRY`] later: members that come within
//! the quiet time of a sync are its fruit and do not start the quiet time again. The asker
//! contacts the members it did not know, and their own announcements add them: a sync adds
//! nothing by itself (see "Which messages may add a node" in `docs/protocol.md`).
//!
//! This repairs what the joins' contacts and the piggybacked digests leave: pairs of
//! members that each missed the other's join (every contact lost), which learn each other
//! otherwise only from the one random member a PING or ACK carries (1 in `n`). A count that
//! is smaller because this node removed a crash first does not ask: the crash leaves every
//! map within the quiet time. After [`SYNC_TRIES`] syncs that added nothing each doubles
//! the wait before the next (up to [`SYNC_BACKOFF_MAX`]), so a member that others hold and
//! this node cannot reach costs a sync every few minutes, not every interval.

use core::net::SocketAddr;

use super::unicast::Unicast;
use super::Engine;
use crate::addr::IfaceId;
use crate::id::NodeId;
use crate::table::TableStorage;
use crate::time::{Duration, Instant};
use crate::wire::{Gossip, MemberState, SyncSummary, MAX_GOSSIP_ENTRIES};

/// How long this node's member count must have stayed the same before it asks for a sync
/// (longer than the 10 s in which a crash leaves every map).
pub(super) const SYNC_QUIET: Duration = Duration::from_secs(10);
/// Wait after a sync before the next: its members have come by then (a sync is a few
/// datagrams, and lost ones are the usual reason it adds nothing at 25 % loss).
pub(super) const SYNC_RETRY: Duration = Duration::from_secs(3);
/// Syncs that add nothing asked for at [`SYNC_RETRY`]'s pace before the waits double.
pub(super) const SYNC_TRIES: u8 = 5;
/// Syncs in a row that were not served, asked again at once.
pub(super) const SYNC_UNSERVED_RETRIES: u8 = 3;
/// Longest wait between syncs that add nothing.
pub(super) const SYNC_BACKOFF_MAX: Duration = Duration::from_secs(320);
/// Digest datagrams ([`MAX_GOSSIP_ENTRIES`] members each) a sync sends a probe interval: a
/// bucket of 1 000 members (about 31) takes 6 datagrams, the whole map 167 in 21 intervals,
/// 10.5 s at the default 500 ms.
pub(super) const SYNC_PARTS_PER_INTERVAL: u16 = 8;
/// Probe intervals a sync asked for has to start (its first digest to come); after them it
/// counts as not served, and the next member that says it holds more is asked.
pub(super) const SYNC_ANSWER_INTERVALS: u64 = 2;
/// Syncs sent at once; a request while as many are being sent is not served.
pub(super) const SYNC_STREAMS: usize = 2;

/// A sync being sent to a member that asked for it.
#[derive(Clone, Copy, Debug)]
struct Stream {
    to: SocketAddr,
    iface: IfaceId,
    node: NodeId,
    /// The asker's salt.
    salt: u32,
    /// The buckets whose sums differ, a bit each.
    mask: u32,
    /// Table position the next part starts at (`None`: all sent).
    next: Option<u32>,
}

/// Anti-entropy state.
#[derive(Clone, Debug)]
pub(super) struct SyncState {
    /// This node's member count at the last probe interval (0 until the first).
    pub(super) members: u16,
    /// When that count last changed.
    changed_at: Instant,
    /// No sync is asked for before this.
    next_ask: Instant,
    /// Syncs asked for since the count last grew.
    fruitless: u8,
    /// The member asked last, and when, until its first digest comes.
    asked: Option<(SocketAddr, Instant)>,
    /// When a sync was last asked for: members that come within [`SYNC_QUIET`] of it are its
    /// fruit, and do not start the quiet time again.
    last_ask: Option<Instant>,
    /// Syncs in a row that were not served (asked again at once, [`SYNC_UNSERVED_RETRIES`]
    /// times).
    unserved: u8,
    streams: heapless::Vec<Stream, SYNC_STREAMS>,
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState {
            members: 0,
            changed_at: Instant::from_millis(0),
            next_ask: Instant::from_millis(0),
            fruitless: 0,
            asked: None,
            last_ask: None,
            unserved: 0,
            streams: heapless::Vec::new(),
        }
    }
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// A probe interval began: count the members, and send the next parts of a sync.
    pub(super) fn sync_timer(&mut self, now: Instant) {
        let members = u16::try_from(self.table.member_count()).unwrap_or(u16::MAX);
        if members != self.sync.members {
            let grew = members > self.sync.members;
            // Members learned soon after a sync was asked for are its fruit: the next sync
            // may follow when its wait ends. Any other change starts the quiet time again (a
            // removal that others have not made yet, news still spreading).
            let fruit = self
                .sync
                .last_ask
                .is_some_and(|at| now.saturating_since(at) < SYNC_QUIET);
            if !(grew && fruit) {
                self.sync.changed_at = now;
            }
            if grew {
                // Worth asking again as soon as allowed.
                self.sync.fruitless = 0;
            }
            self.sync.members = members;
        }
        let answer_due = self
            .config
            .probe_interval
            .saturating_mul(SYNC_ANSWER_INTERVALS);
        if let Some((_, at)) = self.sync.asked {
            if now.saturating_since(at) >= answer_due {
                // Not served (the member was sending two syncs, or the request was lost):
                // that was no try; ask the next member that says it holds more — a few
                // times in a row, then at the usual pace (members that never serve).
                self.sync.asked = None;
                if self.sync.unserved < SYNC_UNSERVED_RETRIES {
                    self.sync.unserved += 1;
                    self.sync.fruitless = self.sync.fruitless.saturating_sub(1);
                    self.sync.next_ask = now;
                }
            }
        }
        let streams = core::mem::take(&mut self.sync.streams);
        for mut stream in streams {
            for _ in 0..SYNC_PARTS_PER_INTERVAL {
                let Some(from) = stream.next else { break };
                let mut taken = 0;
                let next = self.sync_part(
                    stream.iface,
                    stream.node,
                    stream.salt,
                    stream.mask,
                    from,
                    |_| {
                        taken += 1;
                        taken <= MAX_GOSSIP_ENTRIES
                    },
                );
                if taken == 0 {
                    stream.next = None;
                    break;
                }
                self.stats.sync_parts_sent = self.stats.sync_parts_sent.wrapping_add(1);
                self.send_to(
                    stream.to,
                    stream.iface,
                    Unicast::SyncPart {
                        to: stream.node,
                        salt: stream.salt,
                        mask: stream.mask,
                        from,
                    },
                );
                stream.next = next;
            }
            if stream.next.is_some() {
                let _ = self.sync.streams.push(stream);
            }
        }
    }

    /// This node's map summed under `salt`: what a sync request carries.
    pub(super) fn sync_summary(&self, salt: u32) -> SyncSummary {
        let mut summary = SyncSummary::new(salt);
        for entry in self.table.members() {
            summary.add(entry.id(), entry.incarnation);
        }
        summary
    }

    /// Walks the table from position `from` and hands `take` each member a sync part to
    /// `to` out of `iface` names (in a bucket of `mask` under `salt`, reached directly on
    /// that network), until `take` refuses one: returns that one's position (where the next
    /// part starts), or `None` at the end of the table.
    pub(super) fn sync_part(
        &self,
        iface: IfaceId,
        to: NodeId,
        salt: u32,
        mask: u32,
        from: u32,
        mut take: impl FnMut(Gossip) -> bool,
    ) -> Option<u32> {
        let port = self.config.port;
        let entries = self.table.entries().iter().enumerate();
        for (index, entry) in entries.skip(from as usize) {
            if !entry.is_member() {
                continue;
            }
            let (bucket, _) = SyncSummary::place(salt, entry.id(), entry.incarnation);
            if mask.wrapping_shr(bucket as u32) & 1 == 0 {
                continue;
            }
            let target = super::swim::Target::of(entry, port);
            let Some(t) = target.filter(|t| t.iface == iface && t.id != to) else {
                continue;
            };
            if !take(t.gossip(MemberState::Alive)) {
                return Some(index as u32);
            }
        }
        None
    }

    /// A member (trusted: heard directly, current incarnation) said it holds `members`
    /// members and, with `sync`, asked for the members of this node's map that it lacks
    /// (`sync` sums its map); `digest`: it sent member digests (a sync this node asked for
    /// is being served).
    pub(super) fn sync_heard(
        &mut self,
        node: NodeId,
        from: SocketAddr,
        iface: IfaceId,
        members: u16,
        sync: Option<&SyncSummary>,
        digest: bool,
    ) {
        if digest && self.sync.asked.is_some_and(|(addr, _)| addr == from) {
            self.sync.asked = None;
            self.sync.unserved = 0;
        }
        if let Some(theirs) = sync.filter(|_| {
            !self.sync.streams.is_full() && !self.sync.streams.iter().any(|s| s.to == from)
        }) {
            let stream = Stream {
                to: from,
                iface,
                node,
                salt: theirs.salt,
                mask: self.sync_summary(theirs.salt).differing(theirs),
                next: Some(0),
            };
            if stream.mask != 0 && self.sync.streams.push(stream).is_ok() {
                self.stats.syncs_served = self.stats.syncs_served.wrapping_add(1);
            }
        }
        let now = self.now;
        if members > self.sync.members
            && self.sync.members != 0
            && now.saturating_since(self.sync.changed_at) >= SYNC_QUIET
            && now >= self.sync.next_ask
        {
            self.stats.syncs_asked = self.stats.syncs_asked.wrapping_add(1);
            self.sync.next_ask = now + sync_wait(self.sync.fruitless);
            self.sync.fruitless = self.sync.fruitless.saturating_add(1);
            self.sync.asked = Some((from, now));
            self.sync.last_ask = Some(now);
            let salt = self.rng.next_u64() as u32;
            self.send_to(from, iface, Unicast::SyncRequest { salt });
        }
    }
}

/// The wait after a sync asked for when `fruitless` syncs before it added nothing:
/// [`SYNC_RETRY`] for the first [`SYNC_TRIES`] (at 25 % loss a sync's request, a digest or
/// the contact that follows is lost often), then doubling up to [`SYNC_BACKOFF_MAX`].
fn sync_wait(fruitless: u8) -> Duration {
    let doublings = fruitless.saturating_sub(SYNC_TRIES - 1).min(16);
    SYNC_RETRY
        .saturating_mul(1 << doublings)
        .min(SYNC_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_between_fruitless_syncs_doubles_after_the_first_tries_and_is_capped() {
        let waits: [u64; 12] = core::array::from_fn(|i| sync_wait(i as u8).total_millis() / 1000);
        assert_eq!(waits, [3, 3, 3, 3, 3, 6, 12, 24, 48, 96, 192, 320]);
        assert_eq!(sync_wait(u8::MAX), SYNC_BACKOFF_MAX);
    }
}
