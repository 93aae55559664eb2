//! What a hook run is about: the engine's membership events turned into hook events (the
//! event name for `argv[1]` and the `OMDISC_*` environment), and the job a run gets.
//!
//! Only validated values reach a hook: node ids (1–65535), IP addresses the wire codec
//! parsed into `IpAddr`, the gateway flag, counts. They are formatted here by the standard
//! library's `Display`, so no byte a peer sent reaches a hook as text of its own choosing.

use std::net::IpAddr;
use std::rc::Rc;

use omdisc_core::{Engine, Event, NodeId, TableStorage};

/// The kinds of hook event, as `argv[1]` and `OMDISC_EVENT` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// A node entered the map.
    Join,
    /// A node said it was leaving and was removed.
    Leave,
    /// A node stopped announcing and was removed.
    Expire,
    /// A member's addresses, gateway role or path changed, or it restarted.
    Change,
    /// Two hosts claim one node id; the one with the lower address keeps it.
    Conflict,
    /// A host left out by a node-id conflict no longer is.
    ConflictEnd,
    /// This node's own id or addresses changed.
    SelfChanged,
    /// Events were not delivered one by one (the hook queue or the engine's event queue
    /// overflowed): here is the whole current map.
    Sync,
}

impl HookKind {
    /// The name passed as `argv[1]` and in `OMDISC_EVENT`.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Join => "join",
            HookKind::Leave => "leave",
            HookKind::Expire => "expire",
            HookKind::Change => "change",
            HookKind::Conflict => "conflict",
            HookKind::ConflictEnd => "conflict-end",
            HookKind::SelfChanged => "self",
            HookKind::Sync => "sync",
        }
    }
}

/// One run of the hook: the event, and the map after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookJob {
    /// What happened.
    pub kind: HookKind,
    /// The node it happened to (this node for `self` and `sync`).
    pub node_id: NodeId,
    /// Its addresses, primary first (`conflict`: the address that keeps the id, then the
    /// one left out; `conflict-end`: the one that was left out).
    pub addrs: Vec<IpAddr>,
    /// Whether it is a gateway.
    pub gateway: bool,
    /// Members of the map after the event.
    pub members: usize,
    /// This node's id.
    pub self_id: NodeId,
    /// The map after the event, as `showmap --json` prints it (one line, newline-ended);
    /// shared by the events of one batch.
    pub map_json: Rc<str>,
}

impl HookJob {
    /// The environment of the run (besides `PATH`).
    pub fn environment(&self) -> [(&'static str, String); 6] {
        let addrs: Vec<String> = self.addrs.iter().map(IpAddr::to_string).collect();
        [
            ("OMDISC_EVENT", self.kind.name().to_owned()),
            ("OMDISC_NODE_ID", self.node_id.get().to_string()),
            ("OMDISC_ADDRS", addrs.join(" ")),
            ("OMDISC_GATEWAY", u8::from(self.gateway).to_string()),
            ("OMDISC_MEMBERS", self.members.to_string()),
            ("OMDISC_SELF_ID", self.self_id.get().to_string()),
        ]
    }
}

/// The map state hook jobs are made from: the engine after a batch of events, and the map
/// as JSON.
pub struct MapView<'a, S> {
    /// The engine.
    pub engine: &'a Engine<S>,
    /// Members of the map as written.
    pub members: usize,
    /// The map as `showmap --json` prints it.
    pub map_json: Rc<str>,
}

impl<S: TableStorage> MapView<'_, S> {
    /// The hook job for `event`, or `None` for events that are no membership change
    /// (a full table is logged, not hooked). `Overflow` becomes `sync`.
    pub fn job_for(&self, event: &Event) -> Option<HookJob> {
        let self_id = self.engine.node_id();
        let (kind, id, addrs, gateway) = match *event {
            Event::Joined(id) => self.node(HookKind::Join, id),
            Event::Left(id) => self.node(HookKind::Leave, id),
            Event::Expired(id) => self.node(HookKind::Expire, id),
            // The engine reports a change of this node's own entry (e.g. it took its id back
            // from a departed contender) as a change of its id: that is `self`.
            Event::Changed(id) if id == self_id => self.node(HookKind::SelfChanged, id),
            Event::Changed(id) => self.node(HookKind::Change, id),
            Event::Conflict {
                id, winner, loser, ..
            } => (HookKind::Conflict, id, vec![winner, loser], false),
            Event::ConflictEnded { id, loser, .. } => {
                (HookKind::ConflictEnd, id, vec![loser], false)
            }
            // The engine followed a change of this node's own addresses or id.
            Event::LocalChanged => return Some(self.self_changed()),
            Event::Overflow => return Some(self.sync()),
            // A full table (and any event a later engine adds without a hook name) is no
            // change of the map a hook could act on; it is logged.
            _ => return None,
        };
        Some(HookJob {
            kind,
            node_id: id,
            addrs,
            gateway,
            members: self.members,
            self_id,
            map_json: self.map_json.clone(),
        })
    }

    /// A `sync` job: the whole map now, described as this node.
    pub fn sync(&self) -> HookJob {
        self.about_self(HookKind::Sync)
    }

    /// A `self` job: this node's id or addresses changed; described as it is now.
    pub fn self_changed(&self) -> HookJob {
        self.about_self(HookKind::SelfChanged)
    }

    fn about_self(&self, kind: HookKind) -> HookJob {
        let self_id = self.engine.node_id();
        let (_, _, addrs, gateway) = self.node(kind, self_id);
        HookJob {
            kind,
            node_id: self_id,
            addrs,
            gateway,
            members: self.members,
            self_id,
            map_json: self.map_json.clone(),
        }
    }

    /// Kind, id, addresses (primary first) and gateway flag of node `id`: its member entry,
    /// or, once it left or expired, the last entry known of it.
    fn node(&self, kind: HookKind, id: NodeId) -> (HookKind, NodeId, Vec<IpAddr>, bool) {
        let table = self.engine.table();
        let entry = table.member(id).or_else(|| {
            table
                .same_id(id)
                .iter()
                .filter(|e| !e.addrs().is_empty())
                .max_by_key(|e| e.last_seen())
        });
        match entry {
            Some(entry) => {
                let mut addrs: Vec<(bool, IpAddr)> = entry
                    .addrs()
                    .iter()
                    .map(|a| (a.role != omdisc_core::AddrRole::Primary, a.ip))
                    .collect();
                // Primary first, otherwise in announcement order (the sort is stable).
                addrs.sort_by_key(|(alias, _)| *alias);
                (
                    kind,
                    id,
                    addrs.into_iter().map(|(_, ip)| ip).collect(),
                    entry.is_gateway(),
                )
            }
            None => (kind, id, Vec::new(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omdisc_core::{Config, InterfaceSpec, NodeEntry};

    fn engine() -> Engine<[NodeEntry; 4]> {
        let config = Config::new(NodeId::new(306).unwrap(), 1);
        let specs = [
            InterfaceSpec::with_address(IpAddr::from([10, 77, 1, 50])),
            InterfaceSpec::with_address(IpAddr::from([10, 88, 1, 50])),
        ];
        Engine::new(config, &specs, [NodeEntry::VACANT; 4], 7).unwrap()
    }

    fn view(engine: &Engine<[NodeEntry; 4]>) -> MapView<'_, [NodeEntry; 4]> {
        MapView {
            engine,
            members: 1,
            map_json: Rc::from("{}\n"),
        }
    }

    #[test]
    fn names_are_the_contracts() {
        let names: Vec<&str> = [
            HookKind::Join,
            HookKind::Leave,
            HookKind::Expire,
            HookKind::Change,
            HookKind::Conflict,
            HookKind::ConflictEnd,
            HookKind::SelfChanged,
            HookKind::Sync,
        ]
        .map(HookKind::name)
        .to_vec();
        assert_eq!(
            names,
            [
                "join",
                "leave",
                "expire",
                "change",
                "conflict",
                "conflict-end",
                "self",
                "sync"
            ]
        );
    }

    #[test]
    fn the_environment_holds_the_event_the_node_and_the_counts() {
        let engine = engine();
        let view = view(&engine);
        let own = NodeId::new(306).unwrap();
        let job = view.job_for(&Event::Changed(own)).unwrap();
        assert_eq!(job.kind, HookKind::SelfChanged);
        let env = job.environment();
        assert_eq!(env[0], ("OMDISC_EVENT", "self".to_owned()));
        assert_eq!(env[1], ("OMDISC_NODE_ID", "306".to_owned()));
        assert_eq!(env[2], ("OMDISC_ADDRS", "10.77.1.50 10.88.1.50".to_owned()));
        assert_eq!(env[3], ("OMDISC_GATEWAY", "1".to_owned()));
        assert_eq!(env[4], ("OMDISC_MEMBERS", "1".to_owned()));
        assert_eq!(env[5], ("OMDISC_SELF_ID", "306".to_owned()));
        assert_eq!(&*job.map_json, "{}\n");
    }

    #[test]
    fn engine_events_map_to_hook_events() {
        let engine = engine();
        let view = view(&engine);
        let other = NodeId::new(7).unwrap();
        let kind = |event: Event| view.job_for(&event).map(|j| j.kind);
        assert_eq!(kind(Event::Joined(other)), Some(HookKind::Join));
        assert_eq!(kind(Event::Left(other)), Some(HookKind::Leave));
        assert_eq!(kind(Event::Expired(other)), Some(HookKind::Expire));
        assert_eq!(kind(Event::Changed(other)), Some(HookKind::Change));
        assert_eq!(kind(Event::Overflow), Some(HookKind::Sync));
        assert_eq!(kind(Event::LocalChanged), Some(HookKind::SelfChanged));
        assert_eq!(kind(Event::TableFull(other)), None);
        // Unknown to the table: no addresses, still delivered.
        assert!(view.job_for(&Event::Left(other)).unwrap().addrs.is_empty());
        let winner: IpAddr = "10.1.5.7".parse().unwrap();
        let loser: IpAddr = "10.2.5.7".parse().unwrap();
        let job = view
            .job_for(&Event::Conflict {
                id: NodeId::new(1287).unwrap(),
                winner,
                loser,
                local_lost: false,
            })
            .unwrap();
        assert_eq!(
            (job.kind, job.addrs),
            (HookKind::Conflict, vec![winner, loser])
        );
        let job = view
            .job_for(&Event::ConflictEnded {
                id: NodeId::new(1287).unwrap(),
                loser,
                local: false,
            })
            .unwrap();
        assert_eq!((job.kind, job.addrs), (HookKind::ConflictEnd, vec![loser]));
    }
}
