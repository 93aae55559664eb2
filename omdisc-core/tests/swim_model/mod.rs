//! A model of the probe protocol's crash detection for cluster sizes the simulator cannot
//! hold (every engine keeps a table of every member: 10⁴ engines × 10⁴ entries × 160 bytes
//! is 16 GB). It keeps, per member, only what decides when that member drops a crashed
//! one, and follows the engine (`omdisc-core/src/engine/swim.rs`, `gossip.rs`):
//!
//! * **the walk**: each member probes one member per 500 ms interval (its own phase),
//!   going once round its whole table per lap from a random place (`next_probe_target`):
//!   at the crash a prober is at a uniform point of its lap, and the victim at a uniform
//!   place in it;
//! * **suspicion**: the first member whose probe of the victim fails at the tick `T`
//!   suspects it at `T + 500` and declares it dead at `T + 500 × (rounds + 1)`, the rounds
//!   from swim.rs's estimate of the first-PING miss rate, which starts at 10 % and
//!   follows the loss (2 at 0 %, 8–9 at 25 % once settled);
//! * **the notice**: a member that declares it, or takes a notice that came by unicast,
//!   floods it: to the group (with multicast; each member misses each copy with the loss)
//!   and again on its next probe ticks and timeouts as often as its miss estimate asks
//!   (`p^copies · n < 0.1`, at most 8), pushed to `3 + ⌈0.7 log2 n⌉` random members (at
//!   most 16), each push sent again 150 ms on, on a tick or timeout, until it is ACKed (at
//!   most 3 times), and piggybacked on its next `log2 n + 2` datagrams (a PING at each
//!   tick, an ACK at a random time of each interval, to random members); one that takes it
//!   from the group only piggybacks it (push.rs, gossip.rs);
//! * **stale notices**: with multicast every announcement is a new round; a member that
//!   heard a newer round of the victim than the notice names (the declarer missed the
//!   last announcements) does not take it but probes the victim at once and drops it after
//!   the fewest rounds: one interval after its next tick;
//! * **expiry**: with multicast, a member that nothing reached drops the victim when its
//!   announcements are `k` advertised intervals late, `k` from the loss as detector.rs
//!   takes it (5 at 0 %, 15 at 25 %), counted from the last one it heard.
//!
//! Every datagram takes 1–2 ms and is lost with the link's loss. Left out: PING-REQ
//! helpers (the victim is dead: they change nothing), the suspect slots (one victim),
//! tombstones of earlier crashes in the tables, the join and traffic, the queue limits of
//! the pushes, and the newcomer's own expiry. `model_agrees_with_the_engines`
//! (swim_figures.rs) checks it against the engines.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use omdisc_core::testing::{advertised_interval, deterministic_interval, Rng};
use omdisc_core::{Config, NodeId};

/// Probe interval of the defaults, ms.
pub const INTERVAL: u64 = 500;
/// Fan-out of a flooded notice before the cluster's share (`gossip_fanout`), and its cap.
const FANOUT: usize = 3;
const MAX_FANOUT: usize = 16;
/// Resends of an unacknowledged push, and how long it waits first.
const PUSH_RESENDS: u32 = 3;
const RESEND_AFTER: u64 = 150;
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
    suspicion_rounds_for_miss(miss_after(p, warm))
}

/// swim.rs's estimate of the first-PING miss rate `warm` ms after a member started.
fn miss_after(p: f64, warm: u64) -> f64 {
    let f = 1.0 - (1.0 - p) * (1.0 - p);
    let q = f * f * (1.0 - (1.0 - f) * (1.0 - f)).powi(3);
    let target = (f - q) / (1.0 - q);
    let samples = (warm / INTERVAL).min(10_000) as i32;
    target - (target - 0.1) * (31.0f64 / 32.0).powi(samples)
}

/// Copies of a death sent to the group at the miss estimate `f` (push.rs): enough that
/// `p^copies · members < 0.1`, `p = 1 − √(1 − f)`, 1 to 8.
fn group_copies(f: f64, members: usize) -> u32 {
    let p = 1.0 - (1.0 - f).sqrt();
    let (mut missed, mut copies) = (members as f64, 0);
    while missed > 0.1 && copies < 8 {
        missed *= p;
        copies += 1;
    }
    copies.max(1)
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

    /// When member `j` first probes the victim after the crash (ms; its ticks at `phase +
    /// k × INTERVAL`): its walk is at a uniform point of a lap of the other members, the
    /// victim at a uniform place in it, and the next lap starts at a random place.
    fn first_probe(&mut self, phase: u64) -> Option<u64> {
        let lap = (self.members - 1) as u64;
        let at_step = self.rng.below(lap);
        let victim_step = self.rng.below(lap);
        let ticks = if victim_step >= at_step {
            victim_step - at_step
        } else {
            lap - at_step + self.rng.below(lap)
        };
        let at = phase + ticks * INTERVAL;
        (at < HORIZON).then_some(at)
    }

    /// The next of member `j`'s resend calls (its probe ticks and their timeouts, 200 ms
    /// on) at or after `t`.
    fn next_resend(phase: u64, t: u64) -> u64 {
        let k = t.saturating_sub(phase) / INTERVAL;
        (k.saturating_sub(1)..k + 2)
            .flat_map(|k| [phase + k * INTERVAL, phase + k * INTERVAL + 200])
            .filter(|x| *x >= t)
            .min()
            .unwrap_or(t)
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
            if let Some(t) = self.first_probe(phase[j]) {
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
        let bits = usize::BITS - live.max(1).leading_zeros();
        let fanout = (FANOUT + (bits as usize * 7).div_ceil(10)).min(MAX_FANOUT);
        let copies = group_copies(miss_after(self.p, warm), live);
        while let Some(Reverse((t, j, via, notice_lag))) = events.pop() {
            if t >= HORIZON {
                break;
            }
            if dropped[j].is_some() {
                continue;
            }
            if matches!(via, Via::Group | Via::Unicast) && lag[j] < notice_lag {
                // It heard a newer round than the notice names: it probes the victim at
                // once and drops it after the fewest rounds.
                if !suspecting[j] {
                    suspecting[j] = true;
                    let next_tick = t + (phase[j] + interval - t % interval) % interval;
                    let at = next_tick.max(t + 1) + interval;
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
                // The group copy, and the repeats its miss estimate asks for.
                let mut at = t;
                for copy in 0..copies {
                    if copy > 0 {
                        at = Self::next_resend(phase[j], at + 1);
                    }
                    for k in (0..n).filter(|k| *k != j && *k != victim) {
                        if dropped[k].is_none() && !self.lost() {
                            let when = at + self.hop();
                            events.push(Reverse((when, k, Via::Group, notice_lag)));
                        }
                    }
                }
            }
            if flood {
                // Pushes, each sent again until ACKed.
                for _ in 0..fanout {
                    let k = self.random_other(j, victim);
                    let mut at = t;
                    for attempt in 0..=PUSH_RESENDS {
                        if attempt > 0 {
                            at = Self::next_resend(phase[j], at + RESEND_AFTER);
                        }
                        if self.lost() {
                            continue;
                        }
                        events.push(Reverse((at + self.hop(), k, Via::Unicast, notice_lag)));
                        if !self.lost() {
                            break;
                        }
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
