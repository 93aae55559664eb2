//! Failure detection by probes (SWIM, Das et al. 2002, with Lifeguard's refinements in
//! spirit): every probe interval this node pings one member it reaches directly
//! (randomised round-robin) and every member it suspects; a member that answers neither the
//! direct PING (sent twice) nor the PING-REQs it asked of `indirect_probes` others by the
//! end of the interval is suspected, and one still silent after the suspicion rounds is
//! removed and its death passed on. The rounds follow the loss this node measures on its
//! own probes, so a lossy network does not remove live members.

use core::net::SocketAddr;

use super::timer::Timer;
use super::unicast::Unicast;
use super::{Engine, Phase};
use crate::addr::{AddrRole, IfaceId};
use crate::event::Event;
use crate::id::NodeId;
use crate::table::{NodeEntry, NodeState, TableStorage};
use crate::time::{Duration, Instant};
use crate::wire::{Gossip, MemberState};

/// Most members suspected at once (each is probed every interval until it answers or is
/// removed); more failures wait for a slot.
pub const MAX_SUSPECTS: usize = 4;
/// Most PING-REQs this node serves at once for other members.
const MAX_FORWARDS: usize = 8;
/// Slots of the probe state: none without the `probes` feature, so an engine that never
/// probes (a boot image) does not carry it (nor build it on its stack).
pub(super) const fn slots(n: usize) -> usize {
    if cfg!(feature = "probes") {
        n
    } else {
        0
    }
}
/// Fewest and most suspicion rounds (probe intervals a suspect has to answer).
const MIN_SUSPICION_ROUNDS: u8 = 2;
const MAX_SUSPICION_ROUNDS: u8 = 12;
/// Fixed-point scale of the miss-rate estimate.
const SCALE: u64 = 1 << 16;
/// Initial estimate of a first PING's miss rate: 10 %.
const INITIAL_MISS: u64 = SCALE / 10;

/// A member as the probe protocol sees it: who, which incarnation, where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) id: NodeId,
    pub(super) incarnation: u64,
    pub(super) sequence: u32,
    pub(super) addr: SocketAddr,
    pub(super) iface: IfaceId,
}

impl Target {
    /// The member of `entry`, if it can be probed: alive, heard directly (no gateway in
    /// between), with a primary address; reached at `port` (the cluster's one port).
    pub(super) fn of(entry: &NodeEntry, port: u16) -> Option<Target> {
        if entry.state != NodeState::Alive || entry.hops != 0 || port == 0 {
            return None;
        }
        let ip = entry.addrs.iter().find(|a| a.role == AddrRole::Primary)?.ip;
        Some(Target {
            id: entry.id(),
            incarnation: entry.incarnation,
            sequence: entry.sequence,
            addr: SocketAddr::new(ip, port),
            iface: entry.iface,
        })
    }

    /// A gossip entry about it.
    pub(super) fn gossip(&self, state: MemberState) -> Gossip {
        Gossip {
            state,
            node: self.id,
            incarnation: self.incarnation,
            sequence: self.sequence,
            addr: self.addr,
        }
    }
}

/// One probe of this interval.
#[derive(Clone, Copy, Debug)]
struct Probe {
    target: Target,
    nonce: u32,
    acked: bool,
    /// Whether the first PING was answered before the probe timeout (for the miss rate).
    first_acked: bool,
    indirect_sent: bool,
}

/// A member whose probes went unanswered.
#[derive(Clone, Copy, Debug)]
pub(super) struct Suspicion {
    pub(super) target: Target,
    rounds_left: u8,
}

/// A PING-REQ this node serves: it pinged the target with `nonce` and passes the ACK on.
#[derive(Clone, Copy, Debug)]
struct Forward {
    nonce: u32,
    requester: SocketAddr,
    requester_nonce: u32,
    iface: IfaceId,
    until: Instant,
}

/// The probe protocol's state.
#[derive(Clone, Debug)]
pub(super) struct Swim {
    probes: heapless::Vec<Probe, { slots(1 + MAX_SUSPECTS) }>,
    pub(super) suspects: heapless::Vec<Suspicion, { slots(MAX_SUSPECTS) }>,
    forwards: heapless::Vec<Forward, { slots(MAX_FORWARDS) }>,
    /// Where the current lap of the round-robin walk started, how far it got, and the
    /// table's length when it started.
    cursor: usize,
    step: usize,
    lap_len: usize,
    /// Estimated rate at which a live member's first PING goes unanswered, × 2^16.
    pub(super) miss: u64,
}

impl Default for Swim {
    fn default() -> Self {
        Swim {
            probes: heapless::Vec::new(),
            suspects: heapless::Vec::new(),
            forwards: heapless::Vec::new(),
            cursor: 0,
            step: usize::MAX,
            lap_len: 0,
            miss: INITIAL_MISS,
        }
    }
}

impl Swim {
    /// The nonce of the first probe out, if any (for tests).
    #[cfg(test)]
    pub(super) fn probe_nonce(&self) -> Option<u32> {
        self.probes.first().map(|p| p.nonce)
    }
}

impl Swim {
    /// Suspicion rounds for the measured miss rate `f` of a first PING: with the retry and
    /// `k` indirect probes (each four legs), an interval's probe of a live member fails with
    /// `q = f² · (1 − (1 − f)²)^k`; the rounds make `q^(rounds + 1)` at most 10⁻¹².
    pub(super) fn suspicion_rounds(&self, k: u8) -> u8 {
        self.rounds_until(k, 1e-12)
    }

    /// Suspicion rounds when the evidence reaches every member at once (another member's
    /// death notice, or announcements that stopped for all): with `members` receivers each
    /// probing, the rounds make the expected number of them that remove a live member,
    /// `members · q^(rounds + 1)`, at most 10⁻³, so one false removal is not followed by
    /// another flooded notice; at most [`Swim::suspicion_rounds`]. At 25 % loss 4 rounds
    /// for 100 or 1 000 members where a failed probe of this node's own needs 9.
    pub(super) fn shared_suspicion_rounds(&self, k: u8, members: usize) -> u8 {
        self.rounds_until(k, 1e-3 / members.max(1) as f64)
            .min(self.suspicion_rounds(k))
    }

    /// The fewest rounds (from [`MIN_SUSPICION_ROUNDS`] to [`MAX_SUSPICION_ROUNDS`]) that
    /// make `q^(rounds + 1)` at most `limit`, `q` the [`Swim::probe_failure`].
    fn rounds_until(&self, k: u8, limit: f64) -> u8 {
        let q = self.probe_failure(k);
        let mut p = q;
        let mut rounds = 0u8;
        while p > limit && rounds < MAX_SUSPICION_ROUNDS {
            p *= q;
            rounds += 1;
        }
        rounds.max(MIN_SUSPICION_ROUNDS)
    }

    /// How likely an interval's probe of a live member fails, from the measured miss rate
    /// `f` of a first PING: `f² · (1 − (1 − f)²)^k` (the retry and `k` four-leg indirect
    /// probes).
    fn probe_failure(&self, k: u8) -> f64 {
        let f = self.miss.min(SCALE) as f64 / SCALE as f64;
        let ok = (1.0 - f) * (1.0 - f);
        let mut q = f * f;
        for _ in 0..k {
            q *= 1.0 - ok;
        }
        q
    }

    fn record_first_ping(&mut self, answered: bool) {
        // EWMA with weight 1/32.
        let sample = if answered { 0 } else { SCALE };
        self.miss = (self.miss * 31 + sample) / 32;
    }

    /// The suspicion of member `id`, if any.
    pub(super) fn suspicion(&self, id: NodeId) -> Option<&Suspicion> {
        self.suspects.iter().find(|s| s.target.id == id)
    }

    /// Ends the suspicion of `id` (it answered, refuted or is gone).
    pub(super) fn clear(&mut self, id: NodeId) -> bool {
        let before = self.suspects.len();
        self.suspects.retain(|s| s.target.id != id);
        before != self.suspects.len()
    }
}

impl<S, const RELAY_QUEUE: usize, const DUPLICATES: usize> Engine<S, RELAY_QUEUE, DUPLICATES>
where
    S: TableStorage,
{
    /// Whether the probe protocol runs.
    pub(super) fn probing(&self) -> bool {
        cfg!(feature = "probes")
            && self.config.probe_interval != Duration::ZERO
            && self.phase == Phase::Running
            && self.present
    }

    /// Starts the probe timer (at start, or when the node comes back).
    pub(super) fn arm_probe_timer(&mut self) {
        if self.probing() && self.timers.get(Timer::Probe).is_none() {
            let jitter = self.rng.below(self.config.probe_interval.total_millis());
            self.timers
                .set(Timer::Probe, self.now + Duration::from_millis(jitter));
        }
    }

    /// A probe interval ended: judge its probes, then start the next ones.
    pub(super) fn probe_timer(&mut self, now: Instant) {
        // The next interval ends one interval after this one was due, not after it was
        // run: a frontend that runs timers a little late (to share a wake) does not
        // stretch the intervals, nor a chain of them (a suspicion).
        let due = self.timers.get(Timer::Probe).unwrap_or(now);
        let next = if now.saturating_since(due) < self.config.probe_interval {
            due + self.config.probe_interval
        } else {
            now + self.config.probe_interval
        };
        self.timers.stop(Timer::ProbeTimeout);
        if !self.probing() {
            self.timers.stop(Timer::Probe);
            self.swim.probes.clear();
            return;
        }
        self.rumors.full_digests = 0;
        self.sync_timer(now);
        let probes = core::mem::take(&mut self.swim.probes);
        for probe in &probes {
            if probe.acked {
                self.swim.record_first_ping(probe.first_acked);
            } else {
                self.probe_failed(probe.target);
            }
        }
        let now_ms = now.total_millis();
        self.swim
            .forwards
            .retain(|f| f.until.total_millis() > now_ms);
        // The next member in the walk, then every suspect.
        if let Some(target) = self.next_probe_target() {
            self.start_probe(target);
        }
        let suspects: heapless::Vec<Target, { slots(MAX_SUSPECTS) }> =
            self.swim.suspects.iter().map(|s| s.target).collect();
        for target in suspects {
            if !self.swim.probes.iter().any(|p| p.target.id == target.id) {
                self.start_probe(target);
            }
        }
        self.resend_news();
        // The probe timeout also paces the resends of news.
        if !self.swim.probes.is_empty() || self.resends_pending() {
            self.timers
                .set(Timer::ProbeTimeout, now + self.config.probe_timeout);
        }
        self.timers.set(Timer::Probe, next);
    }

    /// Whether the probe timeout, if it fired now, would do nothing: every probe of the
    /// interval was answered and no news waits for a resend.
    pub(super) fn probe_timeout_idle(&self) -> bool {
        cfg!(feature = "probes")
            && self.timers.get(Timer::ProbeTimeout).is_some()
            && self.swim.probes.iter().all(|p| p.acked)
            && !self.resends_pending()
    }

    /// Stops a probe timeout that is due at `now` and would do nothing, as firing it
    /// would have: `poll_timeout` leaves such a timeout out, so nothing woke for it.
    pub(super) fn retire_idle_probe_timeout(&mut self, now: Instant) {
        if self.timers.is_due(Timer::ProbeTimeout, now) && self.probe_timeout_idle() {
            self.timers.stop(Timer::ProbeTimeout);
        }
    }

    /// The direct PINGs of this interval went unanswered: PING again and ask others.
    pub(super) fn probe_timeout_timer(&mut self) {
        self.timers.stop(Timer::ProbeTimeout);
        let pending: heapless::Vec<(Target, u32), { slots(1 + MAX_SUSPECTS) }> = self
            .swim
            .probes
            .iter_mut()
            .filter(|p| !p.acked && !p.indirect_sent)
            .map(|p| {
                p.indirect_sent = true;
                (p.target, p.nonce)
            })
            .collect();
        for (target, nonce) in pending {
            self.ping(target, nonce);
            for _ in 0..self.config.indirect_probes {
                let Some(helper) = self.random_target(|t| t.id != target.id) else {
                    break;
                };
                self.stats.indirect_probes_sent = self.stats.indirect_probes_sent.wrapping_add(1);
                self.send_to(
                    helper.addr,
                    helper.iface,
                    Unicast::PingReq {
                        nonce,
                        target: target.addr,
                    },
                );
            }
        }
        // Resends after the probes: they take only part of the queue's room.
        self.resend_news();
    }

    fn start_probe(&mut self, target: Target) {
        let nonce = self.rng.next_u64() as u32;
        let probe = Probe {
            target,
            nonce,
            acked: false,
            first_acked: false,
            indirect_sent: false,
        };
        if self.swim.probes.push(probe).is_ok() {
            self.stats.probes_sent = self.stats.probes_sent.wrapping_add(1);
            self.ping(target, nonce);
        }
    }

    /// PINGs member `target` with `nonce` (telling it, if it is suspected, that it is).
    fn ping(&mut self, target: Target, nonce: u32) {
        self.send_to(
            target.addr,
            target.iface,
            Unicast::Ping {
                nonce,
                about: Some(target),
            },
        );
    }

    /// The next member to probe: the walk goes through the whole table once a lap, from a
    /// random place and around, one member an interval, so every member is probed once in
    /// every `members` intervals by every prober (a lap that stopped at the table's end
    /// would leave the first entries unprobed for many laps). A lap ends early when the
    /// table grows or shrinks: a lap begun while the cluster was forming started in the few
    /// entries there were then, and every prober's walk would stay in the low part of the
    /// table for hundreds of intervals, never reaching the members at its end (1 000
    /// members: a crash there went unprobed until its announcements expired, 20 s).
    fn next_probe_target(&mut self) -> Option<Target> {
        let port = self.config.port;
        let len = self.table.len();
        if len == 0 {
            return None;
        }
        for _ in 0..len {
            if self.swim.step >= len || self.swim.lap_len != len {
                // A new lap starts somewhere else, so probers do not move in step.
                self.swim.step = 0;
                self.swim.lap_len = len;
                self.swim.cursor = self.rng.below(len as u64) as usize;
            }
            let index = (self.swim.cursor + self.swim.step) % len;
            self.swim.step += 1;
            if let Some(target) = self
                .table
                .get(index)
                .filter(|e| e.is_member())
                .and_then(|e| Target::of(e, port))
            {
                return Some(target);
            }
        }
        None
    }

    /// A random member that can be probed and passes `accept`: a few random tries, then the
    /// first from a random place on (`None` if no member passes).
    pub(super) fn random_target(&mut self, accept: impl Fn(&Target) -> bool) -> Option<Target> {
        let port = self.config.port;
        let len = self.table.len();
        if len == 0 {
            return None;
        }
        for _ in 0..8 {
            let index = self.rng.below(len as u64) as usize;
            let target = self.table.get(index).and_then(|e| Target::of(e, port));
            if let Some(t) = target.filter(|t| accept(t)) {
                return Some(t);
            }
        }
        // Few pass (a small table, or most chosen already): look at every entry once.
        let start = self.rng.below(len as u64) as usize;
        (0..len).find_map(|i| {
            self.table
                .get((start + i) % len)
                .and_then(|e| Target::of(e, port))
                .filter(|t| accept(t))
        })
    }

    /// Neither the PINGs nor the PING-REQs were answered this interval.
    fn probe_failed(&mut self, target: Target) {
        // Only the incarnation probed: a restarted node is another member.
        let current = self
            .table
            .same_id(target.id)
            .iter()
            .filter(|e| e.incarnation == target.incarnation && e.state == NodeState::Alive)
            .map(|e| e.sequence)
            .max();
        let Some(sequence) = current else {
            self.swim.clear(target.id);
            return;
        };
        let rounds = self.swim.suspicion_rounds(self.config.indirect_probes);
        if let Some(s) = self
            .swim
            .suspects
            .iter_mut()
            .find(|s| s.target.id == target.id)
        {
            s.rounds_left = s.rounds_left.saturating_sub(1);
            // Its death names the newest round this node knows of it (a receiver that
            // knows a newer one probes it itself).
            s.target.sequence = s.target.sequence.max(sequence);
            if s.rounds_left == 0 {
                let target = s.target;
                self.swim.clear(target.id);
                self.confirm_dead(target);
            }
            return;
        }
        if self.begin_suspicion(target, rounds) {
            core_log!(debug, "node {} suspected", target.id.get());
        }
    }

    /// Suspects `target` for `rounds` rounds; `false` if every suspicion slot is taken. Its
    /// probes start with the next interval, each with its PING again and its PING-REQs: a
    /// probe sent at once would be judged at the next interval's start, maybe before its
    /// probe timeout, on one PING alone (missed 44 % of the time at 25 % loss: two nodes
    /// of ten removed a live member in a 40 s namespace run at 25 % loss).
    fn begin_suspicion(&mut self, target: Target, rounds: u8) -> bool {
        let suspicion = Suspicion {
            target,
            rounds_left: rounds,
        };
        if self.swim.suspects.push(suspicion).is_err() {
            return false;
        }
        self.stats.suspicions = self.stats.suspicions.wrapping_add(1);
        self.events.push(Event::Suspected(target.id));
        true
    }

    /// Another member declared `news`'s member dead at an older round than this node knows:
    /// suspect it (probe it every interval from the next; remove it after the
    /// [`Swim::shared_suspicion_rounds`]) unless it is suspected already or no slot is free.
    /// Fewer rounds than a failed probe of this node's own needs, as in Lifeguard (another
    /// member's probes found it silent), but not the fewest: a notice reaches every member,
    /// and with a thousand receivers each suspecting for the fewest rounds (a false removal
    /// 2.5·10⁻⁴ each at 25 % loss) one of them removed the live member a quarter of the
    /// time, flooding a death of its own (1 000 members at 25 % loss: 39 280 removals of
    /// live members in 30 s).
    pub(super) fn suspect(&mut self, news: &Gossip) {
        if !cfg!(feature = "probes") {
            return;
        }
        let port = self.config.port;
        let target = self
            .table
            .same_id(news.node)
            .iter()
            .filter(|e| e.incarnation == news.incarnation)
            .find_map(|e| Target::of(e, port));
        let Some(target) = target else { return };
        if self.swim.suspicion(target.id).is_some() {
            return;
        }
        let rounds = self
            .swim
            .shared_suspicion_rounds(self.config.indirect_probes, self.live);
        self.begin_suspicion(target, rounds);
    }

    /// Member `id` stayed silent past its expiry: if the probe protocol runs and can reach
    /// it (`target`), suspect it (probed from the next interval), and return `true`: the probes decide,
    /// it is removed only if it answers neither PINGs nor PING-REQs through the
    /// [`Swim::shared_suspicion_rounds`] (its announcements stopped for every member at
    /// once; 2 on a clean network). `false`: expire it now
    /// (no probes, a member behind a gateway, or every suspicion slot taken).
    pub(super) fn probes_decide(&mut self, id: NodeId, target: Option<Target>) -> bool {
        if !self.probing() {
            return false;
        }
        let Some(target) = target else {
            return false;
        };
        if self.swim.suspicion(id).is_some() {
            return true;
        }
        let rounds = self
            .swim
            .shared_suspicion_rounds(self.config.indirect_probes, self.live);
        if !self.begin_suspicion(target, rounds) {
            return false;
        }
        core_log!(debug, "node {} silent past its expiry: suspected", id.get());
        true
    }

    /// A suspect stayed silent: remove it and pass its death on.
    fn confirm_dead(&mut self, target: Target) {
        if self.remove_member(&target.gossip(MemberState::Dead)) {
            self.stats.confirmed_dead = self.stats.confirmed_dead.wrapping_add(1);
            core_log!(info, "node {} failed its probes: removed", target.id.get());
            self.spread(
                target.gossip(MemberState::Dead),
                super::gossip::Spread::Flood,
            );
        }
    }

    /// An ACK with `nonce` arrived: a probe of this node, or one it serves for another.
    pub(super) fn ack_received(&mut self, nonce: u32) -> bool {
        if !cfg!(feature = "probes") {
            return false;
        }
        let timed_out = self.timers.get(Timer::ProbeTimeout).is_none();
        if let Some(probe) = self.swim.probes.iter_mut().find(|p| p.nonce == nonce) {
            if !probe.acked {
                probe.acked = true;
                probe.first_acked = !timed_out && !probe.indirect_sent;
                self.stats.acks_received = self.stats.acks_received.wrapping_add(1);
                let id = probe.target.id;
                self.swim.clear(id);
            }
            return true;
        }
        if let Some(i) = self.swim.forwards.iter().position(|f| f.nonce == nonce) {
            let forward = self.swim.forwards.swap_remove(i);
            self.send_to(
                forward.requester,
                forward.iface,
                Unicast::Ack {
                    nonce: forward.requester_nonce,
                },
            );
            return true;
        }
        self.push_acked(nonce)
    }

    /// A PING-REQ from `requester`: ping `target` on its behalf.
    pub(super) fn ping_req_received(
        &mut self,
        requester: SocketAddr,
        iface: IfaceId,
        requester_nonce: u32,
        target: SocketAddr,
    ) {
        if !cfg!(feature = "probes") {
            return;
        }
        let nonce = self.rng.next_u64() as u32;
        let forward = Forward {
            nonce,
            requester,
            requester_nonce,
            iface,
            until: self.now + self.config.probe_interval,
        };
        if self.swim.forwards.push(forward).is_ok() {
            self.stats.indirect_probes_relayed = self.stats.indirect_probes_relayed.wrapping_add(1);
            self.send_to(target, iface, Unicast::Ping { nonce, about: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe state with a first-PING miss rate of `miss` (0..=1).
    fn missing(miss: f64) -> Swim {
        Swim {
            miss: (miss * SCALE as f64) as u64,
            ..Swim::default()
        }
    }

    #[test]
    fn rounds_follow_the_loss_and_shared_evidence_needs_fewer_but_not_the_fewest() {
        // A clean network: the fewest rounds either way.
        let clean = missing(0.0);
        assert_eq!(clean.suspicion_rounds(3), MIN_SUSPICION_ROUNDS);
        assert_eq!(
            clean.shared_suspicion_rounds(3, 1_000),
            MIN_SUSPICION_ROUNDS
        );
        // 25 % loss a leg: a first PING is missed at 1 − 0.75² = 43.75 %.
        let lossy = missing(0.4375);
        assert_eq!(lossy.suspicion_rounds(3), 9);
        assert_eq!(lossy.shared_suspicion_rounds(3, 10), 3);
        assert_eq!(lossy.shared_suspicion_rounds(3, 100), 4);
        assert_eq!(lossy.shared_suspicion_rounds(3, 1_000), 4);
        // members · q^(rounds + 1) ≤ 10⁻³, with q the failure of an interval's probe.
        let q = lossy.probe_failure(3);
        for members in [10, 100, 1_000, 10_000, 65_535] {
            let rounds = lossy.shared_suspicion_rounds(3, members);
            assert!(members as f64 * q.powi(i32::from(rounds) + 1) <= 1e-3);
            assert!(rounds <= lossy.suspicion_rounds(3));
        }
        // Every PING missed: never more than the most rounds.
        assert_eq!(missing(1.0).suspicion_rounds(3), MAX_SUSPICION_ROUNDS);
        assert!(missing(1.0).shared_suspicion_rounds(3, 65_535) <= MAX_SUSPICION_ROUNDS);
    }
}
