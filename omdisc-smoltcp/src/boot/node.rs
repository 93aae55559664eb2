//! [`BootNode`]: a boot image's [`Node`] and the work of one wake-up of its drive loop —
//! poll, log every membership event and the first announcement, hand the map to a
//! [`MapOutput`] after a change — so that every board's `main` is only its clock, its NIC's
//! interrupt and `wfi`.

use core::mem::MaybeUninit;

use omdisc_core::map::setpe::{self, RenderError, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::{Event, NodeEntry, NodeId};
use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};

use super::map_lines::MapLines;
use crate::error::SetupError;
use crate::node::Node;
use crate::settings::Settings;
use crate::storage::NodeStorage;

/// The line before a map, with the number of members after it (`=== map: 4 members ===`).
pub const MAP_START: &str = "=== map:";
/// The line after a map.
pub const MAP_END: &str = "=== end of map ===";

/// The node a boot image runs: its table of `N` entries is in the caller's memory (a
/// `static`), so no copy of it passes through the stack.
pub type ImageNode<'a, const N: usize> = Node<'a, &'a mut [NodeEntry; N]>;

/// A boot image's node ([`ImageNode`], in the caller's memory: the engine alone is several
/// KiB, which a microcontroller's stack should not carry) and what its log has said.
pub struct BootNode<'a, const N: usize> {
    node: &'a mut ImageNode<'a, N>,
    first_send_logged: bool,
}

impl<'a, const N: usize> BootNode<'a, N> {
    /// Sets up the node on `device` (see [`Node::new`]) with `table` (emptied first), built
    /// in `slot` (a `static`'s memory: see [`Node::new_in`]), and logs that it is up.
    pub fn setup<D: Device + ?Sized, const RX: usize, const TX: usize>(
        slot: &'a mut MaybeUninit<ImageNode<'a, N>>,
        settings: Settings,
        device: &mut D,
        now: Instant,
        storage: &'a mut NodeStorage<'a, RX, TX>,
        table: &'a mut [NodeEntry; N],
    ) -> Result<Self, SetupError> {
        table.fill(NodeEntry::VACANT);
        let node = Node::new_in(slot, settings, device, now, storage, table)?;
        node_log!(
            info,
            "node {} up, incarnation {}, table of {} nodes",
            node.node_id(),
            node.engine().config().incarnation,
            N
        );
        Ok(BootNode {
            node,
            first_send_logged: false,
        })
    }

    /// One wake-up: polls the node at `clock()`, logs each membership event, logs the time
    /// of the first announcement (`clock()` counts from machine reset), and hands the map to
    /// `map` if it changed. Returns how long the board may sleep before the next wake-up
    /// unless a frame arrives: at most `max_sleep`.
    pub fn step<D: Device + ?Sized>(
        &mut self,
        clock: impl Fn() -> Instant,
        device: &mut D,
        max_sleep: Duration,
        map: &mut impl MapOutput,
    ) -> Duration {
        let delay = self.node.poll(clock(), device).unwrap_or(max_sleep);
        let mut map_changed = false;
        while let Some(event) = self.node.poll_event() {
            map.event(&event, N);
            map_changed |= event.changes_map();
        }
        if !self.first_send_logged && self.node.engine().stats().tx_datagrams > 0 {
            // The NIC has taken the frame by now.
            self.first_send_logged = true;
            map.first_announcement(clock().total_millis());
        }
        if map_changed {
            self.write_map(map);
        }
        delay.min(max_sleep)
    }

    /// Hands the current members to `map`, made one at a time from the node table (a list
    /// of all of them would be N × 122 bytes of stack).
    pub fn write_map(&self, map: &mut impl MapOutput) {
        let members = self.node.engine().members().map(MapNode::from_entry);
        map.write(self.node.node_id(), members);
    }

    /// The node (engine, members, counters).
    pub fn node(&self) -> &ImageNode<'a, N> {
        self.node
    }
}

/// Where a boot image's map goes whenever it changed, and what it is told of the events
/// before (by default logged through this crate's logging backend; a console that links no
/// `core::fmt` prints them itself).
pub trait MapOutput {
    /// Shows the map of node `own_id`: its members, `members`, in id order (clone the
    /// iterator to walk them more than once).
    fn write(&mut self, own_id: NodeId, members: impl Iterator<Item = MapNode> + Clone);

    /// A membership event (`capacity`: the node table's, for a table-full note).
    fn event(&mut self, event: &Event, capacity: usize) {
        log_event(event, capacity);
    }

    /// The node's first announcement left `millis` ms after machine reset (the board's
    /// clock counts from reset).
    fn first_announcement(&mut self, millis: i64) {
        node_log!(
            info,
            "first announcement sent {} ms after machine reset",
            millis
        );
    }
}

/// A map as text, one line per call of the closure (without `\n`): a [`MAP_START`] line
/// with the member count, the members in `setpe` format with `#` comments, and
/// [`MAP_END`]. For a console; an image that logs with `defmt` formats the
/// [`setpe::ranges`] and [`setpe::aliases`] itself instead (no `core::fmt` needed).
pub struct TextMap<F: FnMut(&str)>(pub F);

impl<F: FnMut(&str)> MapOutput for TextMap<F> {
    fn write(&mut self, own_id: NodeId, members: impl Iterator<Item = MapNode> + Clone) {
        let mut lines = MapLines::new(&mut self.0);
        // MapLines never fails on a whole number of lines.
        let _ = core::fmt::write(
            &mut lines,
            format_args!("{MAP_START} {} members ===\n", members.clone().count()),
        );
        let options = RenderOptions {
            comments: true,
            own_id: Some(own_id),
        };
        let rendered = setpe::render(members, options, &mut lines);
        lines.finish();
        if let Err(e) = rendered {
            node_log!(warn, "map not shown: {}", render_error_name(&e));
        }
        (self.0)(MAP_END);
    }
}

fn render_error_name(error: &RenderError) -> &'static str {
    match error {
        RenderError::TooManyLines { .. } => "more lines than the kernel's map holds",
        RenderError::Write => "the writer failed",
        _ => "the map cannot be rendered",
    }
}

/// Logs a membership event on one line (`capacity`: the node table's).
fn log_event(event: &Event, capacity: usize) {
    match event {
        Event::Joined(id) => node_log!(info, "node {} joined", id),
        Event::Changed(id) => node_log!(info, "node {} changed", id),
        Event::Left(id) => node_log!(info, "node {} left", id),
        Event::Expired(id) => node_log!(info, "node {} expired", id),
        Event::Conflict {
            id,
            winner,
            loser,
            local_lost,
        } => node_log!(
            warn,
            "node id {} claimed twice: {} keeps it, {} loses it{}",
            id,
            winner,
            loser,
            if *local_lost { " (this node)" } else { "" }
        ),
        Event::ConflictEnded { id, loser, .. } => {
            node_log!(
                info,
                "node id {} conflict over: {} no longer left out",
                id,
                loser
            )
        }
        Event::TableFull(id) => {
            node_log!(
                warn,
                "node {} left out: table full ({} entries)",
                id,
                capacity
            )
        }
        Event::Overflow => node_log!(warn, "membership events were dropped; map re-read"),
        Event::LocalChanged => node_log!(info, "this node's own entry changed"),
        Event::Suspected(id) => node_log!(info, "node {} suspected", id),
        Event::SeedReached(_) => node_log!(info, "a seed answered"),
        Event::SeedUnreachable(_) => node_log!(warn, "a seed does not answer"),
        // Named, not `Debug`-formatted: that would link `core::fmt`'s `Debug` machinery into
        // the images for this one line.
        _ => node_log!(info, "membership event of a newer kind"),
    }
}
