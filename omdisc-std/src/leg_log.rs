//! One log line per change of a leg ([`LegChange`]), at most [`LINES_PER_WINDOW`] per leg
//! every [`WINDOW_MS`]: an interface that flaps 20 times a second costs a few lines, then
//! one line that says how many changes were not logged and what the leg does now.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::legs::{LegChange, Legs};

/// Most lines about one leg per window.
pub const LINES_PER_WINDOW: u32 = 4;
/// The window, in milliseconds.
pub const WINDOW_MS: u64 = 10_000;

/// How many lines one leg may still write in the current window.
#[derive(Debug, Clone, Copy, Default)]
struct LineBudget {
    window_start: u64,
    used: u32,
    suppressed: u32,
}

impl LineBudget {
    fn allow(&mut self, now_ms: u64) -> bool {
        if now_ms >= self.window_start.saturating_add(WINDOW_MS) && self.suppressed == 0 {
            self.window_start = now_ms;
            self.used = 0;
        }
        if self.used < LINES_PER_WINDOW {
            self.used += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    fn summary_at(&self) -> Option<u64> {
        (self.suppressed > 0).then(|| self.window_start.saturating_add(WINDOW_MS))
    }
}

/// Rate-limited log lines about the legs.
#[derive(Debug, Clone)]
pub struct LegLog {
    budgets: Vec<LineBudget>,
    group: IpAddr,
}

impl LegLog {
    /// Lines about `legs` legs carrying `group`.
    pub fn new(legs: usize, group: IpAddr) -> LegLog {
        LegLog {
            budgets: vec![LineBudget::default(); legs],
            group,
        }
    }

    /// Logs `change` (after `legs` took it) if the leg's budget allows.
    pub fn log(&mut self, now_ms: u64, change: &LegChange, legs: &Legs) {
        let slot = slot_of(change);
        let Some(budget) = self.budgets.get_mut(slot) else {
            return;
        };
        if !budget.allow(now_ms) {
            return;
        }
        let line = describe(change, legs, self.group);
        match change {
            LegChange::Gone { .. } => log::warn!("{line}"),
            _ => log::info!("{line}"),
        }
    }

    /// When the next summary of lines not logged is due.
    pub fn next_summary_at(&self) -> Option<u64> {
        self.budgets.iter().filter_map(LineBudget::summary_at).min()
    }

    /// Writes the summaries due at `now_ms`: how many changes were not logged, and the
    /// leg's state now.
    pub fn write_summaries(&mut self, now_ms: u64, legs: &Legs) {
        for (slot, budget) in self.budgets.iter_mut().enumerate() {
            if budget.summary_at().is_some_and(|at| at <= now_ms) {
                log::info!(
                    "{}: {} more changes in the last {} s were not logged; {}",
                    source_name(legs, slot),
                    budget.suppressed,
                    WINDOW_MS / 1000,
                    state(legs, slot)
                );
                *budget = LineBudget {
                    window_start: now_ms,
                    used: 1,
                    suppressed: 0,
                };
            }
        }
    }
}

fn slot_of(change: &LegChange) -> usize {
    match change {
        LegChange::Up { slot, .. }
        | LegChange::Addresses { slot, .. }
        | LegChange::Down { slot }
        | LegChange::Resumed { slot, .. }
        | LegChange::Gone { slot, .. }
        | LegChange::Waiting { slot, .. } => *slot,
    }
}

fn source_name(legs: &Legs, slot: usize) -> String {
    legs.source(slot)
        .map_or_else(|| format!("leg {slot}"), ToString::to_string)
}

fn address_list(addresses: &[IpAddr]) -> String {
    let mut list = String::new();
    for (i, address) in addresses.iter().enumerate() {
        let _ = write!(list, "{}{address}", if i == 0 { "" } else { ", " });
    }
    list
}

/// What leg `slot` does now, for a summary line.
fn state(legs: &Legs, slot: usize) -> String {
    match legs.held(slot) {
        Some(leg) if legs.is_serving(slot) => format!(
            "now serving on {} with {}",
            leg.interface.name,
            address_list(&leg.addresses)
        ),
        Some(leg) => format!("{} is down now", leg.interface.name),
        None => "it is waiting now".to_string(),
    }
}

/// What a leg that serves does: joins the group, or (unicast-only) serves without it.
fn joined(legs: &Legs, group: IpAddr) -> String {
    match legs.joins_group() {
        true => format!("joined {group}"),
        false => "serving by unicast only".to_owned(),
    }
}

/// The log line of one change.
pub fn describe(change: &LegChange, legs: &Legs, group: IpAddr) -> String {
    let source = source_name(legs, slot_of(change));
    match change {
        LegChange::Waiting { why, .. } => {
            format!("{source}: waiting ({why}); it joins the cluster when it can")
        }
        LegChange::Up {
            leg,
            replaced: None,
            ..
        } => format!(
            "{source}: {} on {} (index {}) with {}",
            joined(legs, group),
            leg.interface.name,
            leg.interface.index,
            address_list(&leg.addresses)
        ),
        LegChange::Up {
            leg,
            replaced: Some(old),
            ..
        } => format!(
            "{source}: {} was created again (index {old} is now {}): {} again with {}",
            leg.interface.name,
            leg.interface.index,
            joined(legs, group),
            address_list(&leg.addresses)
        ),
        LegChange::Addresses { leg, .. } => {
            format!("{source}: addresses now {}", address_list(&leg.addresses))
        }
        LegChange::Down { .. } => format!("{source}: down or without carrier; waiting for it"),
        LegChange::Resumed { leg, .. } => {
            format!("{source}: {} is up again", leg.interface.name)
        }
        LegChange::Gone { why, .. } => {
            format!("{source}: {why}: it left the cluster there; it joins again when it can")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legs::{LegSource, LegWait};
    use crate::values::InterfaceName;

    fn legs() -> Legs {
        Legs::new(
            vec![LegSource::Named(InterfaceName::new("eth0").unwrap())],
            "239.255.77.77".parse().unwrap(),
        )
    }

    #[test]
    fn a_storm_costs_a_few_lines_and_one_summary_per_window() {
        let legs = legs();
        let mut log = LegLog::new(1, "239.255.77.77".parse().unwrap());
        let change = LegChange::Down { slot: 0 };
        for ms in 0..200 {
            log.log(ms * 50, &change, &legs);
        }
        // 200 changes over 10 s: four lines, then a summary due at the window's end.
        let budget = log.budgets[0];
        assert_eq!(budget.used, LINES_PER_WINDOW);
        assert_eq!(budget.suppressed, 196);
        assert_eq!(log.next_summary_at(), Some(WINDOW_MS));
        log.write_summaries(WINDOW_MS, &legs);
        assert_eq!(log.next_summary_at(), None);
        // The next window starts with the summary's line counted.
        assert_eq!(log.budgets[0].used, 1);
    }

    #[test]
    fn a_quiet_leg_gets_its_budget_back() {
        let legs = legs();
        let mut log = LegLog::new(1, "239.255.77.77".parse().unwrap());
        let change = LegChange::Gone {
            slot: 0,
            why: LegWait::Missing,
        };
        for _ in 0..LINES_PER_WINDOW {
            log.log(0, &change, &legs);
        }
        assert_eq!(log.next_summary_at(), None);
        log.log(WINDOW_MS, &change, &legs);
        assert_eq!(log.budgets[0].used, 1);
    }

    #[test]
    fn lines_name_the_interface_and_the_reason() {
        let legs = legs();
        let group = "239.255.77.77".parse().unwrap();
        let line = describe(
            &LegChange::Waiting {
                slot: 0,
                why: LegWait::NoAddress,
            },
            &legs,
            group,
        );
        assert_eq!(
            line,
            "interface eth0: waiting (it has no address of the group's family); it joins the cluster when it can"
        );
        let line = describe(
            &LegChange::Gone {
                slot: 0,
                why: LegWait::Missing,
            },
            &legs,
            group,
        );
        assert!(line.starts_with("interface eth0: it does not exist: it left"));
    }
}
