//! [`CopyTally`]: how many copies of each message round crossed each segment, from what
//! [`super::listen`] recorded — the measure of a relay storm (or of its absence).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use super::listener::{Heard, MessageKey};

/// What one segment's listener saw of the counted message rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentCopies {
    /// Datagrams carrying counted rounds.
    pub datagrams: usize,
    /// Of those, relayed ones (hops > 0).
    pub relayed: usize,
    /// Counted rounds heard at least once.
    pub rounds: usize,
    /// Most copies of one round.
    pub max_copies: usize,
    /// How many rounds were heard once, twice, ... (`copies → rounds`).
    pub histogram: BTreeMap<usize, usize>,
    /// Counted rounds this segment never heard.
    pub missing: usize,
}

/// Copies per round and segment over a measurement window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyTally {
    /// Per listener (segment), in listener order.
    pub segments: Vec<SegmentCopies>,
    /// Distinct rounds counted (first heard inside the window).
    pub rounds: usize,
    /// Distinct origins among them.
    pub origins: usize,
    /// Most hops any counted datagram had.
    pub max_hops: u8,
}

impl CopyTally {
    /// Tallies `heard` (from `listeners` listeners) over the rounds first heard between
    /// `from` and `until`: rounds first heard earlier may have had copies before listening
    /// began, and later ones may still have copies on their way.
    pub fn new(heard: &[Heard], listeners: usize, from: Instant, until: Instant) -> CopyTally {
        let mut first_heard: BTreeMap<MessageKey, Instant> = BTreeMap::new();
        for h in heard {
            first_heard.entry(h.key).or_insert(h.at);
        }
        let counted: BTreeSet<MessageKey> = first_heard
            .iter()
            .filter(|(_, at)| **at >= from && **at <= until)
            .map(|(key, _)| *key)
            .collect();
        let mut copies: Vec<BTreeMap<MessageKey, usize>> = vec![BTreeMap::new(); listeners];
        let mut segments = vec![SegmentCopies::default(); listeners];
        let mut max_hops = 0;
        for h in heard.iter().filter(|h| counted.contains(&h.key)) {
            let (Some(per_key), Some(segment)) =
                (copies.get_mut(h.listener), segments.get_mut(h.listener))
            else {
                continue;
            };
            *per_key.entry(h.key).or_default() += 1;
            segment.datagrams += 1;
            if h.hops > 0 {
                segment.relayed += 1;
            }
            max_hops = max_hops.max(h.hops);
        }
        for (segment, per_key) in segments.iter_mut().zip(&copies) {
            segment.rounds = per_key.len();
            segment.missing = counted.len() - per_key.len();
            segment.max_copies = per_key.values().copied().max().unwrap_or(0);
            for n in per_key.values() {
                *segment.histogram.entry(*n).or_default() += 1;
            }
        }
        CopyTally {
            segments,
            rounds: counted.len(),
            origins: counted
                .iter()
                .map(|k| k.origin)
                .collect::<BTreeSet<_>>()
                .len(),
            max_hops,
        }
    }

    /// Most copies of one round on any segment.
    pub fn max_copies(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.max_copies)
            .max()
            .unwrap_or(0)
    }

    /// Fails unless every counted round reached every segment, at most `bound` times each.
    pub fn check(&self, names: &[&str], bound: usize) -> Result<(), String> {
        if self.rounds == 0 {
            return Err("no message round was heard in the window".into());
        }
        for (segment, name) in self.segments.iter().zip(names) {
            if segment.max_copies > bound {
                return Err(format!(
                    "a message round crossed segment {name} {} times (bound {bound}): {self}",
                    segment.max_copies
                ));
            }
            if segment.missing > 0 {
                return Err(format!(
                    "{} of {} message rounds never reached segment {name}: {self}",
                    segment.missing, self.rounds
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for CopyTally {
    /// `12 rounds of 4 nodes; seg 0: 20 datagrams (8 relayed), copies {1: 4, 2: 8}; ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rounds of {} nodes", self.rounds, self.origins)?;
        for (i, s) in self.segments.iter().enumerate() {
            write!(
                f,
                "; segment {i}: {} datagrams ({} relayed), copies→rounds {:?}",
                s.datagrams, s.relayed, s.histogram
            )?;
        }
        Ok(())
    }
}

/// How long to keep listening after the counted window so late copies are included.
pub const COPY_SETTLE: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn heard(at: Instant, listener: usize, origin: u16, sequence: u32, hops: u8) -> Heard {
        Heard {
            at,
            listener,
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            key: MessageKey {
                origin,
                kind: 1,
                incarnation: 7,
                sequence,
            },
            hops,
            relayer: if hops > 0 { 99 } else { 0 },
        }
    }

    #[test]
    fn copies_are_counted_per_round_and_segment_inside_the_window() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let log = [
            heard(ms(0), 0, 1, 1, 0),  // before the window: not counted
            heard(ms(20), 1, 1, 1, 1), // its copy: not counted either
            heard(ms(110), 0, 1, 2, 0),
            heard(ms(111), 1, 1, 2, 1),
            heard(ms(112), 1, 1, 2, 1),
            heard(ms(150), 1, 2, 1, 0),
            heard(ms(151), 0, 2, 1, 1),
            heard(ms(900), 0, 1, 3, 0), // after the window
        ];
        let tally = CopyTally::new(&log, 2, ms(100), ms(500));
        assert_eq!((tally.rounds, tally.origins, tally.max_hops), (2, 2, 1));
        assert_eq!(tally.segments[0].datagrams, 2);
        assert_eq!(tally.segments[1].datagrams, 3);
        assert_eq!(tally.segments[1].relayed, 2);
        assert_eq!(
            tally.segments[1].histogram,
            BTreeMap::from([(1, 1), (2, 1)])
        );
        assert_eq!(tally.max_copies(), 2);
        assert!(tally.check(&["a", "b"], 2).is_ok());
        assert!(tally.check(&["a", "b"], 1).unwrap_err().contains("2 times"));
    }

    #[test]
    fn a_round_that_missed_a_segment_fails_the_check() {
        let t0 = Instant::now();
        let log = [heard(t0, 0, 1, 1, 0)];
        let tally = CopyTally::new(&log, 2, t0, t0 + Duration::from_secs(1));
        assert_eq!(tally.segments[1].missing, 1);
        assert!(tally
            .check(&["a", "b"], 2)
            .unwrap_err()
            .contains("never reached segment b"));
        assert!(CopyTally::new(&[], 2, t0, t0)
            .check(&["a", "b"], 2)
            .is_err());
    }
}
