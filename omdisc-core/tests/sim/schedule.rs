//! What happens next in the simulator: the datagrams in flight and the hosts' timer
//! deadlines, each in a heap, so that finding the next instant and the hosts due at it
//! costs O(log n) instead of a pass over every host.
//!
//! A group datagram is one entry per delay however many hosts it reaches (they share its
//! bytes); the entries keep the order the datagrams were sent in, so a run is the same as
//! with one entry per receiver.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::rc::Rc;

use omdisc_core::Instant;

/// A datagram arriving at `at` at each of `to` (host, interface), in that order.
pub struct Delivery {
    pub at: Instant,
    order: u64,
    pub to: Vec<(usize, usize)>,
    pub src: IpAddr,
    pub bytes: Rc<[u8]>,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Datagrams in flight and host deadlines.
#[derive(Default)]
pub struct Schedule {
    deliveries: BinaryHeap<Reverse<Delivery>>,
    order: u64,
    /// Deadlines as pushed; an entry is stale when `deadline[host]` no longer names it.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Each host's current deadline (`None`: stopped, or nothing to do).
    deadline: Vec<Option<Instant>>,
}

impl Schedule {
    /// Queues a datagram for `to`, arriving at `at`.
    pub fn deliver(&mut self, at: Instant, to: Vec<(usize, usize)>, src: IpAddr, bytes: Rc<[u8]>) {
        if to.is_empty() {
            return;
        }
        self.order += 1;
        self.deliveries.push(Reverse(Delivery {
            at,
            order: self.order,
            to,
            src,
            bytes,
        }));
    }

    /// The next datagram due at or before `now`, if any.
    pub fn due_delivery(&mut self, now: Instant) -> Option<Delivery> {
        if self.deliveries.peek()?.0.at > now {
            return None;
        }
        self.deliveries.pop().map(|Reverse(d)| d)
    }

    /// `host`'s deadline is now `at` (`None`: none).
    pub fn set_deadline(&mut self, host: usize, at: Option<Instant>) {
        if self.deadline.len() <= host {
            self.deadline.resize(host + 1, None);
        }
        if self.deadline[host] == at {
            return;
        }
        self.deadline[host] = at;
        if let Some(at) = at {
            self.timers.push(Reverse((at, host)));
        }
    }

    /// The earliest thing to happen: a delivery or a deadline.
    pub fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, host))) = self.timers.peek() {
            if self.deadline[host] == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        let delivery = self.deliveries.peek().map(|Reverse(d)| d.at);
        [timer, delivery].into_iter().flatten().min()
    }

    /// The hosts whose deadline is at or before `now`, in host order (their deadlines are
    /// cleared: set them again after running them).
    pub fn due_hosts(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, host))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.deadline[host] == Some(at) {
                self.deadline[host] = None;
                due.push(host);
            }
        }
        due.sort_unstable();
        due
    }
}
