//! Reliable push of news: a GOSSIP datagram that carries a nonce asks its receiver for an
//! ACK, and is sent again (to the same member, a bounded number of times) until one comes;
//! the fan-out of a piece of news grows with the cluster (about `ln n` more members), so the
//! members that no push reaches stay far fewer than one; and news sent to the group is
//! sent there again as often as the loss this node measures requires. The resends ride on
//! the probe timer (at the start of each probe interval and at its probe timeout).

use core::net::SocketAddr;

use super::swim::slots;
use super::unicast::Unicast;
use super::Engine;
use crate::addr::IfaceId;
use crate::table::TableStorage;
use crate::time::{Duration, Instant};
use crate::wire::Gossip;

/// Most pushes waiting for their ACK (more are sent once, untracked).
const MAX_PUSHES: usize = 32;
/// Most pieces of news waiting for another copy to the group.
const MAX_GROUP_REPEATS: usize = 4;
/// Resends of news pushed to a member (a GOSSIP with a nonce) that does not acknowledge
/// it; 25 % loss a datagram leaves one push in 4⁴ = 256 undelivered.
pub const PUSH_RESENDS: u8 = 3;
/// Most members one piece of news is pushed to.
pub(super) const MAX_FANOUT: u8 = 16;
/// Most copies of one piece of news sent to the group.
pub(super) const MAX_GROUP_COPIES: u8 = 8;
/// How long a push (or a contact) waits for its answer before it is sent again.
pub(super) const RESEND_AFTER: Duration = Duration::from_millis(150);

/// A push waiting for its ACK.
#[derive(Clone, Copy, Debug)]
struct Push {
    news: Gossip,
    to: SocketAddr,
    iface: IfaceId,
    nonce: u32,
    /// Resends left.
    left: u8,
    /// When it was last sent.
    at: Instant,
}

/// The pushes waiting for an ACK, and the news still to be sent to the group again.
#[derive(Clone, Debug, Default)]
pub(super) struct Pushes {
    pending: heapless::Vec<Push, { slots(MAX_PUSHES) }>,
    group: heapless::Vec<(Gossip, u8), { slots(MAX_GROUP_REPEATS) }>,
}

/// The fan-out of a piece of news in a cluster of `members`: `base` plus about `ln members`
/// (`ln n ≈ 0.69 · log2 n`, rounded up), at most [`MAX_FANOUT`]. With every member that
/// learns it by a push pushing it on, the fraction no push reaches is `s = e^(−f(1−s))`:
/// 3·10⁻⁴ of 100 members with `f = 8`, 2·10⁻⁶ of 10 000 with `f = 13`.
pub(super) fn fanout(base: u8, members: usize) -> u8 {
    let bits = usize::BITS - members.max(1).leading_zeros();
    let ln = (bits * 7).div_ceil(10);
    (u32::from(base) + ln).min(u32::from(MAX_FANOUT)) as u8
}

/// Copies of a piece of news to send to the group of `members`, when a first PING is missed
/// at `miss` (× 2¹⁶, two legs): with `p` the loss of one leg, `1 − (1 − p)² = miss`, enough
/// copies that `p^copies · members` (the members expected to miss them all) is below 0.1
/// (those few learn it from the pushes and piggybacked copies of the others),
/// at most [`MAX_GROUP_COPIES`].
pub(super) fn group_copies(miss: u64, members: usize) -> u8 {
    let f = miss.min(1 << 16) as f64 / (1u64 << 16) as f64;
    // p = 1 − √(1 − f), by Newton's method (no libm in core).
    let a = 1.0 - f;
    let mut root = 1.0;
    for _ in 0..8 {
        root = 0.5 * (root + a / root);
    }
    let p = 1.0 - root;
    let mut missed = members as f64;
    let mut copies = 0;
    while missed > 0.1 && copies < MAX_GROUP_COPIES {
        missed *= p;
        copies += 1;
    }
    copies.max(1)
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Pushes `news` to `to` as a GOSSIP that asks for an ACK, and keeps it until the ACK
    /// comes or its resends are spent.
    pub(super) fn push(&mut self, news: Gossip, to: SocketAddr, iface: IfaceId) {
        let nonce = (self.rng.next_u64() as u32).max(1);
        let push = Push {
            news,
            to,
            iface,
            nonce,
            left: PUSH_RESENDS,
            at: self.now,
        };
        // A push that finds no slot is sent once.
        let _ = self.pushes.pending.push(push);
        self.stats.gossip_sent = self.stats.gossip_sent.wrapping_add(1);
        self.send_to(
            to,
            iface,
            Unicast::Gossip {
                news: Some(news),
                nonce,
            },
        );
    }

    /// Sends `news` to the group again `copies − 1` times, on the next probe ticks.
    pub(super) fn repeat_to_group(&mut self, news: Gossip, copies: u8) {
        let group = &mut self.pushes.group;
        group.retain(|(g, _)| g.node != news.node);
        if copies > 1 && group.is_full() {
            let _ = group.pop();
        }
        if copies > 1 {
            let _ = group.push((news, copies - 1));
        }
    }

    /// An ACK with `nonce`: the push it answers is done. Whether one was waiting.
    pub(super) fn push_acked(&mut self, nonce: u32) -> bool {
        let before = self.pushes.pending.len();
        self.pushes.pending.retain(|p| p.nonce != nonce);
        before != self.pushes.pending.len()
    }

    /// Whether a push, a contact or a copy to the group waits to be sent again.
    pub(super) fn resends_pending(&self) -> bool {
        !self.pushes.pending.is_empty() || !self.pushes.group.is_empty() || self.contacts_pending()
    }

    /// A probe tick: sends again what waits for an answer for [`RESEND_AFTER`] (pushes,
    /// contacts) and the next copy of news to the group; drops pushes whose resends are
    /// spent.
    pub(super) fn resend_news(&mut self) {
        if !cfg!(feature = "probes") {
            return;
        }
        let now = self.now;
        let room = self.room_for_resends();
        let mut due: heapless::Vec<Push, { slots(MAX_PUSHES) }> = heapless::Vec::new();
        self.pushes.pending.retain_mut(|p| {
            if now.saturating_since(p.at) < RESEND_AFTER {
                return true;
            }
            if p.left == 0 {
                return false;
            }
            if due.len() >= room {
                return true;
            }
            p.left -= 1;
            p.at = now;
            let _ = due.push(*p);
            true
        });
        for p in due {
            self.send_to(
                p.to,
                p.iface,
                Unicast::Gossip {
                    news: Some(p.news),
                    nonce: p.nonce,
                },
            );
        }
        let mut group: heapless::Vec<Gossip, { slots(MAX_GROUP_REPEATS) }> = heapless::Vec::new();
        self.pushes.group.retain_mut(|(news, left)| {
            let _ = group.push(*news);
            *left -= 1;
            *left > 0
        });
        for news in group {
            self.send_group_gossip(news);
        }
        self.resend_contacts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_grows_with_the_log_of_the_cluster_and_is_capped() {
        assert_eq!(fanout(3, 1), 4);
        assert_eq!(fanout(3, 10), 6);
        assert_eq!(fanout(3, 100), 8);
        assert_eq!(fanout(3, 10_000), 13);
        assert_eq!(fanout(3, 65_535), 15);
        assert_eq!(fanout(15, 65_535), MAX_FANOUT);
    }

    #[test]
    fn group_copies_follow_the_measured_loss() {
        // No loss measured: once.
        assert_eq!(group_copies(0, 10_000), 1);
        // 25 % loss a leg: a first PING is missed at 1 − 0.75² = 43.75 %.
        let miss = (0.4375 * 65_536.0) as u64;
        // 0.25^5 · 100 < 0.1 ≤ 0.25^4 · 100.
        assert_eq!(group_copies(miss, 100), 5);
        assert_eq!(group_copies(miss, 10_000), 8);
        // Every PING missed: the most copies.
        assert_eq!(group_copies(1 << 16, 10), MAX_GROUP_COPIES);
    }
}
