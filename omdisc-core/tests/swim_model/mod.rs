//! A model of the probe protocol's crash detection for cluster sizes the simulator cannot
//! hold (every engine keeps a table of every member: 10⁴ engines × 10⁴ entries × 160 bytes
//! is 16 GB). It keeps, per member, only what decides when that member drops a crashed
//! one, and follows the engine (`omdisc-core/src/engine/swim.rs`, `gossip.rs`):
//!
//! * **the walk**: each member probes one member per 500 ms interval (its own phase after
//!   its start), going through its id-sorted table from index 0 to the end, then from a
//!   new random place each time it runs off the end (`next_probe_target`). The members
//!   start 2 ms apart, as in the figures test, and know each member started before a
//!   tick; once the table is whole, a walk moves one index an interval, so a member the
//!   walks have passed waits up to a lap (`members` intervals) for the next prober;
//! * **suspicion**: the first member whose probe of the victim fails at the tick `T`
//!   suspects it at `T + 500` and declares it dead at `T + 500 × (rounds + 1)`, the rounds
//!   from swim.rs's estimate of the first-PING miss rate, which starts at 10 % and
//!   follows the loss (2 at 0 %, 9 at 25 % once settled);
//! * **the notice**: a member that declares it, or takes a notice that came by unicast,
//!   floods it: to the group (with multicast; each member misses it with the loss), to 3
//!   random members by unicast, and piggybacked on its next `log2(members) + 2` datagrams
//!   (a PING at each tick, an ACK at a random time of each interval, to random members);
//!   one that takes it from the group only piggybacks it;
//! * **stale notices**: with multicast every announcement is a new round; a member that
//!   heard a newer round of the victim than the notice names (the declarer missed the
//!   last announcements) does not take it but suspects the victim itself, and drops it
//!   `rounds` intervals after its next tick;
//! * **expiry**: with multicast, a member that nothing reached drops the victim when its
//!   announcements are `k` advertised intervals late, `k` from the loss as detector.rs
//!   takes it (5 at 0 %, 15 at 25 %), counted from the last one it heard.
//!
//! Every datagram takes 1–2 ms and is lost with the link's loss. Left out: PING-REQ
//! helpers (the victim is dead: they change nothing), the suspect slots (one victim),
//! tombstones of earlier crashes in the tables, the join and traffic, and the newcomer's
//! own expiry (with multicast at 200–1 000 members the engines' *first* map to drop a
//! crash is often the late joiner's, seconds before the rest). `model_agrees_with_the_engines`
//! (swim_figures.rs) checks it against the engines.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use omdisc_core::testing::{advertised_interval, deterministic_interval, Rng};
use omdisc_core::{Config, NodeId};

/// Probe interval of the defaults, ms.
pub const INTERVAL: u64 = 500;
/// Fan-out of a flooded notice.
const FANOUT: usize = 3;
/// Time between two members' starts, ms (as the figures test).
pub const START_GAP: u64 = 2;
/// Latest a crash is followed, ms (as the figures test).
pub const HORIZON: u64 = 120_000;

/// Suspicion rounds for a link that loses each datagram with `p`, once the estimate has
/// settled.
pub fn suspicion_rounds(p: f64) -> u32 {
    rounds_after(p, u64::MAX / 2)
}

/// Suspicion rounds `warm` ms after a member started: swim.rs's estimate of the miss rate
/// of a first PING starts at 10 % and moves 1/32 of the way to each answered probe's
/// outcome (about two a second); an answered probe missed its first PING with
/// `(f − q) / (1 − q)`, `f = 1 − (1 − p)²`.
pub fn rounds_after(p: f64, warm: u64) -> u32 {
    let f = 1.0 - (1.0 - p) * (1.0 - p);
    let q = f * f * (1.0 - (1.0 - f) * (1.0 - f)).powi(3);
    let target = (f - q) / (1.0 - q);
    let samples = (warm / INTERVAL).min(10_000) as i32;
    let estimate = target - (target - 0.1) * (31.0f64 / 32.0).powi(samples);
    suspicion_rounds_for_miss(estimate)
}

/// Suspicion rounds for an estimated first-PING miss rate `f` (swim.rs).
fn suspicion_rounds_for_miss(f: f64) -> u32 {
    let ok = (1.0 - f) * (1.0 - f);
    let q = f * f * (1.0 - ok).powi(3);
    let (mut prob, mut rounds) = (q, 0u32);
    while prob > 1e-12 && rounds < 12 {
        prob *= q;
        rounds += 1;
    }
    rounds.max(2)
}

/// The modelled cluster: `members` nodes (table indices 0..members, sorted by id).
pub struct Model {
    pub members: usize,
    pub multicast: bool,
    /// Loss of each datagram.
    pub p: f64,
    pub rounds: u32,
    /// Expiry of a silent member with multicast: `(dead_after − 1) × A`, `dead_after × A`.
    expiry: (u64, u64),
    /// Advertised announce interval, ms.
    announce: u64,
    rng: Rng,
}

/// How a notice reached a member.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Via {
    /// Its own suspicion ran out.
    Own,
    Group,
    Unicast,
    Expiry,
}

impl Model {
    pub fn new(members: usize, multicast: bool, per_mille: u64, seed: u64) -> Model {
        let config = Config::new(NodeId::MIN, 1);
        // Announcement size on the wire as the bandwidth model takes it (plain).
        let td = deterministic_interval(&config, members, 28 + 6 + 28);
        let a = advertised_interval(td).total_millis();
        let p = per_mille as f64 / 1000.0;
        // The loss-aware expiry (detector.rs): k with p^k <= 1e-9, within the limits.
        let floor = u64::from(omdisc_core::DEFAULT_DEAD_AFTER);
        let dead_after = if p > 0.0 {
            ((9.0 / -p.log10()).ceil() as u64).clamp(floor, u64::from(config.max_dead_after))
        } else {
            floor
        };
        Model {
            members,
            multicast,
            p,
            rounds: suspicion_rounds(p),
            expiry: ((dead_after - 1) * a, dead_after * a),
            announce: a,
            rng: Rng::new(seed),
        }
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn lost(&mut self) -> bool {
        self.p > 0.0 && self.uniform() < self.p
    }

    fn hop(&mut self) -> u64 {
        1 + self.rng.below(2)
    }

    /// Member `j`'s walk after `ticks` probes from cursor `cursor`: each tick takes the
    /// next entry (its own is skipped without a tick); at the end of the table the walk
    /// starts again at a random index.
    fn advance(&mut self, j: usize, mut cursor: usize, mut ticks: u64) -> usize {
        let len = self.members;
        loop {
            if cursor >= len {
                cursor = self.rng.below(len as u64) as usize;
            }
            let left = (len - cursor - usize::from(j >= cursor)) as u64;
            if ticks < left {
                let mut c = cursor + ticks as usize;
                if (cursor..=c).contains(&j) {
                    c += 1;
                }
                return c;
            }
            ticks -= left;
            cursor = len;
        }
    }

    /// When member `j` first probes index `victim` after the crash (ms). The members
    /// started 2 ms apart in index order, the first `warm` ms before the crash, each with
    /// its walk at index 0 and its ticks at `phase + k × INTERVAL` after its start, and
    /// knew every member started before a tick (so while the table grows, the walk keeps
    /// running off its end and restarting at random); `None` beyond the horizon.
    fn first_probe(&mut self, j: usize, victim: usize, phase: u64, warm: u64) -> Option<u64> {
        let len = self.members;
        // Times relative to the first member's start.
        let start = j as u64 * START_GAP;
        let crash = warm.max(start);
        let mut tick = start + phase;
        let mut cursor = 0usize;
        // While the table grows: tick by tick.
        while tick < crash {
            let known = ((tick / START_GAP) as usize + 1).min(len);
            if known == len {
                break;
            }
            if cursor >= known {
                cursor = self.rng.below(known as u64) as usize;
            }
            if cursor == j {
                cursor += 1;
            }
            cursor += 1;
            tick += INTERVAL;
        }
        // Then the whole table.
        let before = if tick < crash {
            (crash - tick).div_ceil(INTERVAL)
        } else {
            0
        };
        let mut cursor = self.advance(j, cursor, before);
        let mut tick = tick + before * INTERVAL - crash;
        while tick < HORIZON {
            if cursor >= len {
                cursor = self.rng.below(len as u64) as usize;
            }
            if cursor <= victim {
                let steps = (victim - cursor - usize::from((cursor..victim).contains(&j))) as u64;
                let at = tick + steps * INTERVAL;
                return (at < HORIZON).then_some(at);
            }
            tick += (len - cursor - usize::from(j >= cursor)) as u64 * INTERVAL;
            cursor = len;
        }
        None
    }

    /// One crash of the member at table index `victim`: for every other member, when it
    /// dropped it (ms after the crash; `None`: not within the horizon).
    pub fn crash(&mut self, victim: usize, warm: u64) -> Vec<Option<u64>> {
        let n = self.members;
        let interval = INTERVAL;
        let rounds = u64::from(rounds_after(self.p, warm));
        let phase: Vec<u64> = (0..n).map(|_| self.rng.below(interval)).collect();
        // Rounds of the victim's announcements each member missed at the end (multicast).
        let lag: Vec<u32> = (0..n)
            .map(|_| {
                let mut k = 0;
                while self.multicast && self.lost() && k < 64 {
                    k += 1;
                }
                k
            })
            .collect();
        // Events: (time, member, how, lag of the notice).
        let mut events: BinaryHeap<Reverse<(u64, usize, Via, u32)>> = BinaryHeap::new();
        // When the victim's last announcement went out, in the expiry window.
        let last_sent = self.uniform();
        for j in (0..n).filter(|j| *j != victim) {
            if let Some(t) = self.first_probe(j, victim, phase[j], warm) {
                events.push(Reverse((t + interval * (rounds + 1), j, Via::Own, lag[j])));
            }
            if self.multicast {
                // Every member heard the victim's last announcement but those that missed
                // the last `lag` ones.
                let (lo, hi) = self.expiry;
                let late = lo + (last_sent * (hi - lo) as f64) as u64;
                let at = late + u64::from(lag[j]) * self.announce;
                events.push(Reverse((at, j, Via::Expiry, lag[j])));
            }
        }
        let mut dropped: Vec<Option<u64>> = vec![None; n];
        let mut suspecting = vec![false; n];
        let live = n - 1;
        let piggybacks = (usize::BITS - live.max(2).leading_zeros()) as usize + 2;
        while let Some(Reverse((t, j, via, notice_lag))) = events.pop() {
            if t >= HORIZON {
                break;
            }
            if dropped[j].is_some() {
                continue;
            }
            if matches!(via, Via::Group | Via::Unicast) && lag[j] < notice_lag {
                // It heard a newer round than the notice names: it probes the victim
                // itself from its next tick.
                if !suspecting[j] {
                    suspecting[j] = true;
                    let next_tick = t + (phase[j] + interval - t % interval) % interval;
                    let at = next_tick.max(t + 1) + interval * rounds;
                    events.push(Reverse((at, j, Via::Own, lag[j])));
                }
                continue;
            }
            dropped[j] = Some(t);
            if via == Via::Expiry {
                continue;
            }
            let flood = matches!(via, Via::Own | Via::Unicast);
            if flood && self.multicast {
                for k in (0..n).filter(|k| *k != j && *k != victim) {
                    if dropped[k].is_none() && !self.lost() {
                        let at = t + self.hop();
                        events.push(Reverse((at, k, Via::Group, notice_lag)));
                    }
                }
            }
            if flood {
                for _ in 0..FANOUT {
                    let k = self.random_other(j, victim);
                    if !self.lost() {
                        let at = t + self.hop();
                        events.push(Reverse((at, k, Via::Unicast, notice_lag)));
                    }
                }
            }
            // Piggybacked on its next datagrams: the PING of each tick and an ACK at a
            // random time of each interval.
            let mut sends = Vec::with_capacity(piggybacks + 2);
            let mut tick = t + (phase[j] + interval - t % interval) % interval;
            while sends.len() < piggybacks {
                sends.push(tick);
                sends.push(tick + self.rng.below(interval));
                tick += interval;
            }
            sends.sort_unstable();
            for at in sends.into_iter().take(piggybacks) {
                let k = self.random_other(j, victim);
                if !self.lost() {
                    let at = at.max(t) + self.hop();
                    events.push(Reverse((at, k, Via::Unicast, notice_lag)));
                }
            }
        }
        dropped[victim] = Some(0);
        dropped
            .into_iter()
            .enumerate()
            .filter(|(k, _)| *k != victim)
            .map(|(_, d)| d)
            .collect()
    }

    /// A random member other than `j` and the victim.
    fn random_other(&mut self, j: usize, victim: usize) -> usize {
        loop {
            let k = self.rng.below(self.members as u64) as usize;
            if k != j && k != victim {
                return k;
            }
        }
    }
}
