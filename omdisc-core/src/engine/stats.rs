//! Counters the engine keeps about what it received, refused, relayed and sent.
//!
//! A datagram that cannot change anything (older than what is known, or a copy over a path
//! that is no better) is classified before its MAC is checked, so a forged copy of a known
//! round counts as duplicate or stale, not as an authentication failure.

/// Engine counters. They only grow (wrapping after 2^64, in theory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams handed to [`Engine::handle_datagram`](crate::Engine::handle_datagram).
    pub rx_datagrams: u64,
    /// Datagrams that brought new information (a newer announcement or a leave).
    pub rx_accepted: u64,
    /// Copies of something already known (another path, a duplicate).
    pub rx_duplicate: u64,
    /// Older than what is known: reordered, or a replay.
    pub rx_stale: u64,
    /// Malformed: failed length or field checks.
    pub rx_malformed: u64,
    /// Failed authentication: no MAC, unknown key, or a MAC that does not verify.
    pub rx_auth_failed: u64,
    /// Source address not among the addresses the message claims.
    pub rx_spoofed: u64,
    /// Relayed more often than the hop limit allows.
    pub rx_hop_limit: u64,
    /// This node's own messages heard back.
    pub rx_own: u64,
    /// Arrived on an interface the engine does not listen on.
    pub rx_inactive_iface: u64,
    /// New nodes not added because the table was full.
    pub rx_table_full: u64,
    /// Datagrams handed out by [`Engine::poll_transmit`](crate::Engine::poll_transmit).
    pub tx_datagrams: u64,
    /// Of those, relayed copies of other nodes' messages.
    pub tx_relayed: u64,
    /// Replays of departed nodes answered with their LEAVE (for receivers that restarted
    /// since the node left and so have no tombstone).
    pub replays_answered: u64,
    /// Messages not relayed because the relay queue was full.
    pub relay_dropped: u64,
    /// Nodes removed because they stopped announcing.
    pub expired: u64,
    /// Nodes removed because they said they were leaving.
    pub left: u64,
    /// Of the datagrams handed out, those sent by unicast to one peer.
    pub tx_unicast: u64,
    /// Unicast datagrams not sent because the unicast queue was full.
    pub unicast_dropped: u64,
    /// Unicast JOIN announcements sent to seeds (first contacts and retries).
    pub seed_contacts: u64,
    /// Direct probes (PING) sent.
    pub probes_sent: u64,
    /// Acknowledgements (ACK) received for this node's probes, direct or indirect.
    pub acks_received: u64,
    /// Indirect probe requests (PING-REQ) sent, when a direct probe went unanswered.
    pub indirect_probes_sent: u64,
    /// Probes sent on behalf of another node (answering its PING-REQ).
    pub indirect_probes_relayed: u64,
    /// Members suspected after their probes went unanswered.
    pub suspicions: u64,
    /// Suspicions of this node that it refuted (announced with a new sequence number).
    pub refutations: u64,
    /// Members removed because a suspicion was confirmed (also counted in `expired`).
    pub confirmed_dead: u64,
    /// Gossip sent: member digests and failure notices.
    pub gossip_sent: u64,
    /// Unicast messages refused because the sender is not a member (probes and notices are
    /// answered only between members).
    pub rx_not_member: u64,
    /// Acknowledgements that match no probe of this node (late, or forged and replayed).
    pub rx_unexpected_ack: u64,
    /// Syncs (the members a summary of this node's map lacks) asked of a member that said
    /// it holds more members.
    pub syncs_asked: u64,
    /// Syncs served: members that asked for one and whose summary differed from this
    /// node's map.
    pub syncs_served: u64,
    /// Member digest datagrams sent in those syncs.
    pub sync_parts_sent: u64,
    /// This node stopped without sending LEAVE because its back-off in a mass shutdown
    /// would have taken longer than the configured maximum.
    pub left_silently: bool,
}
