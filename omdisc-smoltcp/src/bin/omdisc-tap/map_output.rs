//! The map files: `om_config`/`om_mospe` rendered with the core's binary map writer and
//! written through `omdisc-std`'s atomic map sink (temporary file, fsync, rename), exactly as
//! `omdiscd` writes them, so `showmap --map-dir DIR` reads either.

use std::path::Path;

use omdisc_core::map::{binary, MapNode};
use omdisc_core::{NodeEntry, NodeId};
use omdisc_std::map_sink::{MapSink, MapSinkError, PublishOutcome};

/// Retry delay after a failed write, bounds in milliseconds.
const RETRY_MIN_MS: u64 = 100;
const RETRY_MAX_MS: u64 = 5_000;

/// The map output of a running node: rewritten when membership changed, retried after a
/// failed write (the last good files stay meanwhile).
#[derive(Debug)]
pub struct MapOutput {
    sink: MapSink,
    dirty: bool,
    retry_at_ms: Option<u64>,
    nodes: Vec<MapNode>,
    buffer: Vec<u8>,
}

impl MapOutput {
    /// Output to `dir`, which must exist and be writable.
    pub fn alpha(dir: &Path) -> Result<MapOutput, MapSinkError> {
        Ok(MapOutput {
            sink: MapSink::alpha(dir)?,
            dirty: true,
            retry_at_ms: None,
            nodes: Vec::new(),
            buffer: Vec::new(),
        })
    }

    /// The `om_config` path.
    pub fn config_path(&self) -> &Path {
        &self.sink.paths().config
    }

    /// Notes that the membership changed.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// When a failed write is retried, in the node's milliseconds.
    pub fn retry_at_ms(&self) -> Option<u64> {
        self.retry_at_ms
    }

    /// Writes the map of `members` (this node `own_id` among them) if it changed or a retry
    /// is due. `retry_ms` is how long to wait before retrying a failed write.
    pub fn update<'a>(
        &mut self,
        now_ms: u64,
        own_id: NodeId,
        members: impl Iterator<Item = &'a NodeEntry>,
        retry_ms: u64,
    ) {
        let retry_due = self.retry_at_ms.is_some_and(|t| t <= now_ms);
        if !self.dirty && !retry_due {
            return;
        }
        self.dirty = false;
        self.retry_at_ms = None;
        self.nodes.clear();
        self.nodes.extend(members.map(MapNode::from_entry));
        self.buffer.clear();
        self.buffer.resize(binary::config_len(self.nodes.iter()), 0);
        let config = match binary::write_config(self.nodes.iter(), &mut self.buffer) {
            Ok(len) => self.buffer.get(..len).unwrap_or(&[]),
            Err(error) => {
                log::error!("cannot render the map: {error}");
                return;
            }
        };
        match self.sink.publish(&binary::mospe_bytes(own_id), config) {
            PublishOutcome::Written => log::debug!(
                "map written: {} nodes to {}",
                self.nodes.len(),
                self.sink.paths().config.display()
            ),
            PublishOutcome::Unchanged => {}
            PublishOutcome::Failed => {
                self.retry_at_ms = Some(now_ms + retry_ms.clamp(RETRY_MIN_MS, RETRY_MAX_MS));
            }
        }
    }
}
