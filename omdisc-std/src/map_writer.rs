//! Keeping the map on disk in step with the engine: rendered with the core's binary map
//! writer and published through a [`MapSink`] when membership changed, and tried again
//! after a failed write (the last good files stay meanwhile). One writer serves `omdiscd`
//! and `omdisc-tap`, so both write the same bytes at the same moments.

use omdisc_core::map::{binary, MapNode};
use omdisc_core::{Engine, TableStorage};

use crate::map_sink::{MapSink, PublishOutcome};

/// Shortest wait before a failed write is tried again, in milliseconds.
const RETRY_MIN_MS: u64 = 100;
/// Longest wait before a failed write is tried again, in milliseconds.
const RETRY_MAX_MS: u64 = 5_000;

/// The map output of a running node.
#[derive(Debug)]
pub struct MapWriter {
    sink: MapSink,
    dirty: bool,
    retry_at_ms: Option<u64>,
    nodes: Vec<MapNode>,
    buffer: Vec<u8>,
}

impl MapWriter {
    /// A writer to `sink`; the first [`update`](Self::update) writes.
    pub fn new(sink: MapSink) -> MapWriter {
        MapWriter {
            sink,
            dirty: true,
            retry_at_ms: None,
            nodes: Vec::new(),
            buffer: Vec::new(),
        }
    }

    /// The sink (for its paths).
    pub fn sink(&self) -> &MapSink {
        &self.sink
    }

    /// Notes that the membership changed.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// How many nodes the last map rendered holds.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// When a failed write is tried again, in the caller's milliseconds.
    pub fn retry_at_ms(&self) -> Option<u64> {
        self.retry_at_ms
    }

    /// Writes the engine's map if it changed or a retry is due at `now_ms`; `None` when
    /// nothing was due. A node out of the cluster writes an empty map (and its last id):
    /// one that lost its id to another host (a map with its own id would name the other
    /// host's address), or one without an address left (it can reach nobody, and the
    /// others drop it).
    /// A failed write is tried again after one announce interval (within 0.1–5 s).
    pub fn update<S, const R: usize, const D: usize>(
        &mut self,
        now_ms: u64,
        engine: &Engine<S, R, D>,
    ) -> Option<PublishOutcome>
    where
        S: TableStorage,
    {
        let retry_due = self.retry_at_ms.is_some_and(|t| t <= now_ms);
        if !self.dirty && !retry_due {
            return None;
        }
        self.dirty = false;
        self.retry_at_ms = None;
        self.nodes.clear();
        if engine.local_id().is_some() && !engine.lost_id_collision() {
            self.nodes.extend(engine.members().map(MapNode::from_entry));
        }
        self.buffer.clear();
        self.buffer.resize(binary::config_len(self.nodes.iter()), 0);
        let config = match binary::write_config(self.nodes.iter(), &mut self.buffer) {
            Ok(len) => self.buffer.get(..len).unwrap_or(&[]),
            Err(error) => {
                log::error!("cannot render the map: {error}");
                return None;
            }
        };
        let outcome = self
            .sink
            .publish(&binary::mospe_bytes(engine.node_id()), config);
        match outcome {
            PublishOutcome::Written => log::debug!(
                "map written: {} nodes to {}",
                self.nodes.len(),
                self.sink.paths().config.display()
            ),
            PublishOutcome::Unchanged => {}
            PublishOutcome::Failed => {
                let retry_ms = engine.config().interval.total_millis();
                self.retry_at_ms = Some(now_ms + retry_ms.clamp(RETRY_MIN_MS, RETRY_MAX_MS));
            }
        }
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use omdisc_core::{Config, InterfaceSpec, NodeEntry, NodeId};
    use std::fs;
    use std::net::IpAddr;

    fn engine() -> Engine<[NodeEntry; 4]> {
        let config = Config::new(NodeId::new(306).unwrap(), 1);
        let spec = InterfaceSpec::with_address(IpAddr::from([10, 77, 1, 50]));
        Engine::new(config, &[spec], [NodeEntry::VACANT; 4], 7).unwrap()
    }

    #[test]
    fn writes_once_per_change() {
        let dir = TempDir::new("writer");
        let engine = engine();
        let mut writer = MapWriter::new(MapSink::alpha(dir.path()).unwrap());
        assert_eq!(writer.update(0, &engine), Some(PublishOutcome::Written));
        assert_eq!(
            fs::read(dir.path().join("om_mospe")).unwrap(),
            [0x32, 0x01, 0, 0]
        );
        assert_eq!(writer.update(10, &engine), None);
        writer.mark_dirty();
        assert_eq!(writer.update(20, &engine), Some(PublishOutcome::Unchanged));
        assert_eq!(writer.retry_at_ms(), None);
    }

    #[test]
    fn a_node_without_an_address_writes_an_empty_map_under_its_last_id() {
        let dir = TempDir::new("writer-absent");
        let mut engine = engine();
        engine.start(omdisc_core::Instant::ZERO);
        let mut writer = MapWriter::new(MapSink::alpha(dir.path()).unwrap());
        writer.update(0, &engine);
        assert_eq!(writer.node_count(), 1);
        engine
            .set_addresses(omdisc_core::Instant::ZERO, omdisc_core::IfaceId::FIRST, &[])
            .unwrap();
        assert_eq!(engine.local_id(), None);
        writer.mark_dirty();
        assert_eq!(writer.update(10, &engine), Some(PublishOutcome::Written));
        assert_eq!(writer.node_count(), 0);
        let empty = binary::config_len(std::iter::empty());
        assert_eq!(fs::read(dir.path().join("om_config")).unwrap().len(), empty);
        assert_eq!(
            fs::read(dir.path().join("om_mospe")).unwrap(),
            [0x32, 0x01, 0, 0]
        );
    }

    #[test]
    fn a_failed_write_is_tried_again_one_interval_later() {
        let dir = TempDir::new("writer-retry");
        // A directory at the map's name makes the rename fail, whoever runs the test.
        fs::create_dir(dir.path().join("om_config")).unwrap();
        fs::write(dir.path().join("om_config").join("keep"), b"").unwrap();
        let engine = engine();
        let mut writer = MapWriter::new(MapSink::alpha(dir.path()).unwrap());
        assert_eq!(writer.update(1_000, &engine), Some(PublishOutcome::Failed));
        let interval = engine.config().interval.total_millis();
        assert_eq!(writer.retry_at_ms(), Some(1_000 + interval));
        assert_eq!(writer.update(999 + interval, &engine), None);
        fs::remove_dir_all(dir.path().join("om_config")).unwrap();
        assert_eq!(
            writer.update(1_000 + interval, &engine),
            Some(PublishOutcome::Written)
        );
        assert_eq!(writer.retry_at_ms(), None);
    }
}
