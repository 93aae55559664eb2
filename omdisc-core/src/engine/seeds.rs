//! Seeds: the unicast addresses a node starts from where multicast does not pass. The
//! engine contacts each with a unicast JOIN announcement, retries with back-off while it
//! does not answer, and reports once that it is unreachable, and once that it answered.

use core::fmt;
use core::net::SocketAddr;

use crate::addr::is_node_address;
use crate::time::{Duration, Instant};

/// Most seeds an engine holds ([`Engine::set_seeds`](crate::Engine::set_seeds)).
pub const MAX_SEEDS: usize = 32;

/// First retry delay of a seed that does not answer; it doubles up to [`SEED_RETRY_MAX`].
pub const SEED_RETRY_MIN: Duration = Duration::from_secs(1);

/// Longest retry delay of a seed that does not answer. Short, because a seed that does
/// not answer is more often one whose answers (or the JOIN) were lost than one that is down:
/// at 25 % loss about 3 contacts in 10 fail, and with a 60 s cap the few of 1 000 nodes
/// that lost six in a row waited 63 s alone (the cluster's maps stayed incomplete that
/// long); at 10 s a down seed costs one small datagram every 10 s.
pub const SEED_RETRY_MAX: Duration = Duration::from_secs(10);

/// Unanswered contacts after which a seed is reported unreachable
/// ([`Event::SeedUnreachable`](crate::Event::SeedUnreachable)).
pub const SEED_UNREACHABLE_AFTER: u8 = 3;

/// Why [`Engine::set_seeds`](crate::Engine::set_seeds) refused a list. The seeds in use did
/// not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SeedError {
    /// More than [`MAX_SEEDS`] seeds (the number given).
    TooMany(usize),
    /// An address no node can have (unspecified, multicast, broadcast) or port 0.
    BadAddress(SocketAddr),
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::TooMany(n) => {
                write!(f, "{n} seeds given; at most {MAX_SEEDS} are supported")
            }
            SeedError::BadAddress(a) => write!(f, "{a} cannot be a seed"),
        }
    }
}

impl core::error::Error for SeedError {}

/// What is known of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seed {
    pub(super) addr: SocketAddr,
    /// When to contact it next (`None`: it answered; contacted again only when no member
    /// is left to talk to).
    pub(super) next_contact: Option<Instant>,
    /// Contacts since it last answered.
    pub(super) unanswered: u8,
    /// Whether [`Event::SeedUnreachable`](crate::Event::SeedUnreachable) was reported since
    /// it last answered.
    pub(super) reported_unreachable: bool,
    /// Whether it has answered since it was set.
    pub(super) reached: bool,
}

impl Seed {
    fn new(addr: SocketAddr, now: Instant) -> Seed {
        Seed {
            addr,
            next_contact: Some(now),
            unanswered: 0,
            reported_unreachable: false,
            reached: false,
        }
    }

    /// The delay before the next contact after `unanswered` contacts went unanswered.
    pub(super) fn backoff(unanswered: u8) -> Duration {
        let doublings = u32::from(unanswered.saturating_sub(1)).min(16);
        let ms = SEED_RETRY_MIN
            .total_millis()
            .saturating_mul(1u64 << doublings);
        Duration::from_millis(ms.min(SEED_RETRY_MAX.total_millis()))
    }
}

/// The seed list, at most [`MAX_SEEDS`].
#[derive(Clone, Debug, Default)]
pub(super) struct Seeds {
    /// No slots without the `probes` feature: seeds are never contacted then, and
    /// [`Engine::set_seeds`](crate::Engine::set_seeds) refuses any.
    list: heapless::Vec<Seed, { super::swim::slots(MAX_SEEDS) }>,
}

impl Seeds {
    /// Replaces the list with `addrs` (duplicates dropped), keeping what is known of seeds
    /// in both lists; new ones are contacted at `now`. Checks everything before changing
    /// anything.
    pub(super) fn replace(&mut self, now: Instant, addrs: &[SocketAddr]) -> Result<(), SeedError> {
        if addrs.len() > self.list.capacity() {
            return Err(SeedError::TooMany(addrs.len()));
        }
        if let Some(bad) = addrs
            .iter()
            .find(|a| a.port() == 0 || !is_node_address(a.ip()))
        {
            return Err(SeedError::BadAddress(*bad));
        }
        let mut list = heapless::Vec::new();
        for addr in addrs {
            if list.iter().any(|s: &Seed| s.addr == *addr) {
                continue;
            }
            let seed = self
                .list
                .iter()
                .find(|s| s.addr == *addr)
                .copied()
                .unwrap_or_else(|| Seed::new(*addr, now));
            // At most addrs.len() <= MAX_SEEDS entries: always fits.
            let _ = list.push(seed);
        }
        self.list = list;
        Ok(())
    }

    /// The seeds, in the order given.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Seed> {
        self.list.iter()
    }

    /// The seeds, mutable.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Seed> {
        self.list.iter_mut()
    }

    /// The earliest contact due.
    pub(super) fn next_contact(&self) -> Option<Instant> {
        self.list.iter().filter_map(|s| s.next_contact).min()
    }

    /// Whether there are no seeds.
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn seed(n: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 7477)
    }

    #[test]
    fn too_many_seeds_are_refused_and_change_nothing() {
        let mut seeds = Seeds::default();
        seeds.replace(Instant::ZERO, &[seed(1)]).unwrap();
        let many = [seed(2); MAX_SEEDS + 1];
        assert_eq!(
            seeds.replace(Instant::ZERO, &many),
            Err(SeedError::TooMany(MAX_SEEDS + 1))
        );
        assert_eq!(
            seeds
                .iter()
                .map(|s| s.addr)
                .collect::<heapless::Vec<_, 4>>(),
            [seed(1)]
        );
    }

    #[test]
    fn a_multicast_or_portless_seed_is_refused() {
        let mut seeds = Seeds::default();
        let group = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(239, 255, 77, 77)), 7477);
        assert_eq!(
            seeds.replace(Instant::ZERO, &[seed(1), group]),
            Err(SeedError::BadAddress(group))
        );
        let portless = SocketAddr::new(seed(1).ip(), 0);
        assert_eq!(
            seeds.replace(Instant::ZERO, &[portless]),
            Err(SeedError::BadAddress(portless))
        );
        assert!(seeds.is_empty());
    }

    #[test]
    fn replacing_keeps_what_is_known_of_a_seed_and_drops_duplicates() {
        let mut seeds = Seeds::default();
        seeds.replace(Instant::ZERO, &[seed(1)]).unwrap();
        seeds.iter_mut().for_each(|s| {
            s.reached = true;
            s.next_contact = None;
        });
        seeds
            .replace(Instant::from_millis(5), &[seed(2), seed(1), seed(2)])
            .unwrap();
        let list: heapless::Vec<Seed, 4> = seeds.iter().copied().collect();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].next_contact, Some(Instant::from_millis(5)));
        assert!(list[1].reached);
        assert_eq!(seeds.next_contact(), Some(Instant::from_millis(5)));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        assert_eq!(Seed::backoff(1), SEED_RETRY_MIN);
        assert_eq!(Seed::backoff(2), Duration::from_secs(2));
        assert_eq!(Seed::backoff(3), Duration::from_secs(4));
        assert_eq!(Seed::backoff(200), SEED_RETRY_MAX);
    }
}
