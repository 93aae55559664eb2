//! [`BootNode`]: a boot image's [`Node`] and the work of one wake-up of its drive loop —
//! poll, log every membership event and the first announcement, write the map after a
//! change — so that every board's `main` is only its clock, its NIC's interrupt and `wfi`.

use omdisc_core::map::setpe::{self, RenderError, RenderOptions};
use omdisc_core::map::MapNode;
use omdisc_core::{Event, NodeEntry};
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

/// A boot image's node: the [`Node`] with a table of `N` entries, and what its log has said.
pub struct BootNode<'a, const N: usize> {
    node: Node<'a, [NodeEntry; N]>,
    first_send_logged: bool,
}

impl<'a, const N: usize> BootNode<'a, N> {
    /// Sets up the node on `device` (see [`Node::new`]) with an empty `N`-entry table, and
    /// logs that it is up.
    pub fn new<D: Device + ?Sized, const RX: usize, const TX: usize>(
        settings: Settings,
        device: &mut D,
        now: Instant,
        storage: &'a mut NodeStorage<'a, RX, TX>,
    ) -> Result<Self, SetupError> {
        let incarnation = settings.engine.incarnation;
        let node = Node::new(settings, device, now, storage, [NodeEntry::VACANT; N])?;
        node_log!(
            info,
            "node {} up, incarnation {}, table of {} nodes",
            node.node_id(),
            incarnation,
            N
        );
        Ok(BootNode {
            node,
            first_send_logged: false,
        })
    }

    /// One wake-up: polls the node at `clock()`, logs each membership event, logs the time
    /// of the first announcement (`clock()` counts from machine reset), and writes the map
    /// to `map_line` (see [`write_map`](Self::write_map)) if it changed. Returns how long
    /// the board may sleep before the next wake-up unless a frame arrives: at most
    /// `max_sleep`.
    pub fn step<D: Device + ?Sized>(
        &mut self,
        clock: impl Fn() -> Instant,
        device: &mut D,
        max_sleep: Duration,
        map_line: &mut dyn FnMut(&str),
    ) -> Duration {
        let delay = self.node.poll(clock(), device).unwrap_or(max_sleep);
        let mut map_changed = false;
        while let Some(event) = self.node.poll_event() {
            log_event(&event, N);
            map_changed |= event.changes_map();
        }
        if !self.first_send_logged && self.node.engine().stats().tx_datagrams > 0 {
            // The NIC has taken the frame by now.
            self.first_send_logged = true;
            node_log!(
                info,
                "first announcement sent {} ms after machine reset",
                clock().total_millis()
            );
        }
        if map_changed {
            self.write_map(map_line);
        }
        delay.min(max_sleep)
    }

    /// Writes the map to `map_line`, one line per call without `\n`: a [`MAP_START`] line
    /// with the member count, the members in `setpe` format with `#` comments, and
    /// [`MAP_END`].
    pub fn write_map(&self, map_line: &mut dyn FnMut(&str)) {
        let members = self.node.engine().members().count();
        let mut lines = MapLines::new(&mut *map_line);
        // MapLines never fails on a whole number of lines.
        let _ = core::fmt::write(
            &mut lines,
            format_args!("{MAP_START} {members} members ===\n"),
        );
        let rendered = self.render(&mut lines);
        lines.finish();
        if let Err(e) = rendered {
            node_log!(warn, "map not shown: {}", render_error_name(&e));
        }
        map_line(MAP_END);
    }

    /// The node (engine, members, counters).
    pub fn node(&self) -> &Node<'a, [NodeEntry; N]> {
        &self.node
    }

    fn render<W: core::fmt::Write>(&self, out: &mut W) -> Result<usize, RenderError> {
        let mut nodes: heapless::Vec<MapNode, N> = heapless::Vec::new();
        for entry in self.node.engine().members() {
            // Members never outnumber the table, which is the Vec's capacity.
            nodes
                .push(MapNode::from_entry(entry))
                .map_err(|_| RenderError::Write)?;
        }
        let options = RenderOptions {
            comments: true,
            own_id: Some(self.node.node_id()),
        };
        setpe::render(nodes.iter(), options, out)
    }
}

fn render_error_name(error: &RenderError) -> &'static str {
    match error {
        RenderError::TooManyLines { .. } => "more lines than the kernel's map holds",
        RenderError::Write => "the writer failed",
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
        other => node_log!(info, "membership event {:?}", other),
    }
}
