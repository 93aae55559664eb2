//! Anti-entropy: members compare map sizes, and one that holds fewer members asks for a
//! whole map.
//!
//! Every PING, ACK, PING-REQ and GOSSIP carries the sender's member count. A node whose own
//! count has stayed the same for [`SYNC_QUIET`] and that hears a member say it holds more
//! asks that member for its whole map (a GOSSIP with the sync flag); the member streams it
//! as member digests, [`SYNC_PARTS_PER_INTERVAL`] datagrams a probe interval, at most
//! [`SYNC_STREAMS`] syncs at a time. A sync whose first digest does not come within
//! [`SYNC_ANSWER_INTERVALS`] probe intervals was not served and is asked of the next member
//! that holds more. While members a sync brought come in, the next sync may follow as soon
//! as its wait ends (the quiet time does not start again). The asker contacts the members
//! it did not know, and their own announcements add them: a sync adds nothing by itself
//! (see "Which messages may add a node" in `docs/protocol.md`).
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
use crate::wire::MAX_GOSSIP_ENTRIES;

/// How long this node's member count must have stayed the same before it asks for a sync
/// (longer than the 10 s in which a crash leaves every map).
pub(super) const SYNC_QUIET: Duration = Duration::from_secs(10);
/// Syncs that add nothing asked for at the quiet time's pace before the waits double.
pub(super) const SYNC_TRIES: u8 = 3;
/// Longest wait between syncs that add nothing.
pub(super) const SYNC_BACKOFF_MAX: Duration = Duration::from_secs(320);
/// Digest datagrams ([`MAX_GOSSIP_ENTRIES`] members each) a sync sends a probe interval:
/// 1 000 members take 167 datagrams in 21 intervals, 10.5 s at the default 500 ms.
pub(super) const SYNC_PARTS_PER_INTERVAL: u16 = 8;
/// Probe intervals a sync asked for has to start (its first digest to come); after them it
/// counts as not served, and the next member that says it holds more is asked.
pub(super) const SYNC_ANSWER_INTERVALS: u64 = 2;
/// Syncs sent at once; a request while as many are being sent is not served.
pub(super) const SYNC_STREAMS: usize = 2;

/// A whole map being sent to a member that asked for it.
#[derive(Clone, Copy, Debug)]
struct Stream {
    to: SocketAddr,
    iface: IfaceId,
    node: NodeId,
    /// Table position the map starts at (random, so that concurrent syncs differ).
    start: u32,
    /// The next part to send.
    next: u16,
    /// Parts in all.
    parts: u16,
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
    /// Syncs in a row that were not served (asked again at once, [`SYNC_TRIES`] times).
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
            // Members learned while a sync asked for is under way are its fruit: the next
            // sync may follow when its wait ends. Any other change starts the quiet time
            // again (a removal that others have not made yet, news still spreading).
            if !(grew && now < self.sync.next_ask) {
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
                if self.sync.unserved < SYNC_TRIES {
                    self.sync.unserved += 1;
                    self.sync.fruitless = self.sync.fruitless.saturating_sub(1);
                    self.sync.next_ask = now;
                }
            }
        }
        let streams = core::mem::take(&mut self.sync.streams);
        for mut stream in streams {
            let end = stream
                .next
                .saturating_add(SYNC_PARTS_PER_INTERVAL)
                .min(stream.parts);
            for part in stream.next..end {
                self.stats.sync_parts_sent = self.stats.sync_parts_sent.wrapping_add(1);
                self.send_to(
                    stream.to,
                    stream.iface,
                    Unicast::Digest {
                        to: stream.node,
                        part: Some((stream.start, part)),
                    },
                );
            }
            stream.next = end;
            if stream.next < stream.parts {
                let _ = self.sync.streams.push(stream);
            }
        }
    }

    /// A member (trusted: heard directly, current incarnation) said it holds `members`
    /// members and, with `sync`, asked for this node's whole map; `digest`: it sent member
    /// digests (a sync this node asked for is being served).
    pub(super) fn sync_heard(
        &mut self,
        node: NodeId,
        from: SocketAddr,
        iface: IfaceId,
        members: u16,
        sync: bool,
        digest: bool,
    ) {
        if digest && self.sync.asked.is_some_and(|(addr, _)| addr == from) {
            self.sync.asked = None;
            self.sync.unserved = 0;
        }
        if sync && !self.sync.streams.is_full() && !self.sync.streams.iter().any(|s| s.to == from) {
            let len = self.table.len();
            let stream = Stream {
                to: from,
                iface,
                node,
                start: self.rng.below(len.max(1) as u64) as u32,
                next: 0,
                parts: u16::try_from(len.div_ceil(MAX_GOSSIP_ENTRIES)).unwrap_or(u16::MAX),
            };
            if self.sync.streams.push(stream).is_ok() {
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
            self.send_to(from, iface, Unicast::SyncRequest);
        }
    }
}

/// The wait after a sync asked for when `fruitless` syncs before it added nothing: the
/// quiet time for the first [`SYNC_TRIES`] (a sync is lost, or not served, half the time at
/// 25 % loss), then doubling up to [`SYNC_BACKOFF_MAX`].
fn sync_wait(fruitless: u8) -> Duration {
    let doublings = fruitless.saturating_sub(SYNC_TRIES - 1).min(16);
    SYNC_QUIET
        .saturating_mul(1 << doublings)
        .min(SYNC_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_between_fruitless_syncs_doubles_after_the_first_tries_and_is_capped() {
        let waits: [u64; 8] = core::array::from_fn(|i| sync_wait(i as u8).total_millis() / 1000);
        assert_eq!(waits, [10, 10, 10, 20, 40, 80, 160, 320]);
        assert_eq!(sync_wait(u8::MAX), SYNC_BACKOFF_MAX);
    }
}
