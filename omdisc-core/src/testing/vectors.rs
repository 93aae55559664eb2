//! The shared wire test vectors (`testdata/wire-vectors.txt`) and their parser.
//!
//! Every frontend's tests load the same file through this module (feature
//! `test-vectors`), so the Linux daemon, the smoltcp node and the core agree byte for byte.
//!
//! File format: `#` comments; each vector is a block
//!
//! ```text
//! vector NAME
//! key HEX                      optional cluster key
//! bytes HEX HEX ...            the datagram (may span several lines)
//! error NAME                   parse must fail with this WireError::name(), or:
//! kind announce|leave|ping|ack|pingreq|gossip
//! flags [join] [gateway] [unicast]
//! hops N / relayer N / origin N / incarnation N / sequence N / interval MS
//! addr primary|alias IFACE IP  (repeated)
//! nonce N                      the payload of ping, ack, pingreq and gossip:
//! target IP PORT               (pingreq)
//! members N                    the sender's member count (0 if absent)
//! sync SALT [BUCKET=SUM ...]   a sync request: the summary's salt and its non-zero sums
//! entry alive|suspect|dead|left NODE INCARNATION SEQUENCE IP PORT  (repeated)
//! end
//! ```

use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::addr::{AddrList, IfaceId, NodeAddr};
use crate::id::NodeId;
use crate::time::Duration;
use crate::wire::{ClusterKey, Gossip, MemberState, Message, MessageKind, Payload};

/// The vector file, embedded.
pub const WIRE_VECTORS: &str = include_str!("../../../testdata/wire-vectors.txt");

/// Longest datagram a vector may hold (oversize vectors need room beyond the maximum).
pub const MAX_VECTOR_BYTES: usize = 1024;

/// What decoding a vector's bytes must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected<'a> {
    /// This message (and encoding it must give the bytes back).
    Message(Message),
    /// An error with this [`WireError::name`](crate::WireError::name).
    Error(&'a str),
}

/// One test vector.
#[derive(Clone, Debug)]
pub struct Vector<'a> {
    /// Its name.
    pub name: &'a str,
    /// The cluster key to parse (and emit) with.
    pub key: Option<ClusterKey>,
    /// The datagram.
    pub bytes: heapless::Vec<u8, MAX_VECTOR_BYTES>,
    /// The expected result.
    pub expected: Expected<'a>,
    /// The payload a valid PING, ACK, PING-REQ or GOSSIP vector decodes to (and is encoded
    /// with: [`Message::emit_with`]); [`Payload::EMPTY`] for the other kinds.
    pub payload: Payload,
}

/// A malformed vector file: the line number and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wire-vectors.txt line {}: {}", self.line, self.reason)
    }
}

impl core::error::Error for VectorError {}

/// Parses the vectors in `text`.
pub fn parse(text: &str) -> impl Iterator<Item = Result<Vector<'_>, VectorError>> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    core::iter::from_fn(move || {
        for (number, line) in lines.by_ref() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(name) = line.strip_prefix("vector ") else {
                return Some(Err(VectorError {
                    line: number,
                    reason: "expected `vector NAME`",
                }));
            };
            return Some(parse_block(name.trim(), &mut lines));
        }
        None
    })
}

/// The fields of a message under construction.
struct Fields {
    kind: Option<MessageKind>,
    join: bool,
    gateway: bool,
    hops: u8,
    relayer: u16,
    origin: u16,
    incarnation: u64,
    sequence: u32,
    interval: u64,
    addrs: AddrList,
    unicast: bool,
    payload: Payload,
}

fn parse_block<'a>(
    name: &'a str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<Vector<'a>, VectorError> {
    let mut key = None;
    let mut bytes = heapless::Vec::new();
    let mut error = None;
    let mut f = Fields {
        kind: None,
        join: false,
        gateway: false,
        hops: 0,
        relayer: 0,
        origin: 0,
        incarnation: 0,
        sequence: 0,
        interval: 0,
        addrs: AddrList::new(),
        unicast: false,
        payload: Payload::EMPTY,
    };
    for (number, line) in lines {
        let err = |reason| VectorError {
            line: number,
            reason,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "end" => {
                let expected = match (error, f.kind) {
                    (Some(e), _) => Expected::Error(e),
                    (None, Some(kind)) => Expected::Message(Message {
                        kind,
                        join: f.join,
                        unicast: f.unicast,
                        gateway: f.gateway,
                        hops: f.hops,
                        relayer: NodeId::new(f.relayer),
                        origin: NodeId::new(f.origin).ok_or(err("origin must be 1..=65535"))?,
                        incarnation: f.incarnation,
                        sequence: f.sequence,
                        interval: Duration::from_millis(f.interval),
                        addrs: f.addrs,
                    }),
                    (None, None) => return Err(err("vector needs `error` or `kind`")),
                };
                return Ok(Vector {
                    name,
                    key,
                    bytes,
                    expected,
                    payload: f.payload,
                });
            }
            "key" => key = Some(ClusterKey::from_hex(rest).map_err(|_| err("bad key"))?),
            "bytes" => {
                for hex in rest.split_whitespace() {
                    push_hex(&mut bytes, hex).ok_or(err("bad hex bytes"))?;
                }
            }
            "error" => error = Some(rest),
            "kind" => {
                f.kind = Some(match rest {
                    "announce" => MessageKind::Announce,
                    "leave" => MessageKind::Leave,
                    "ping" => MessageKind::Ping,
                    "ack" => MessageKind::Ack,
                    "pingreq" => MessageKind::PingReq,
                    "gossip" => MessageKind::Gossip,
                    _ => return Err(err("unknown kind")),
                })
            }
            "flags" => {
                for flag in rest.split_whitespace() {
                    match flag {
                        "join" => f.join = true,
                        "gateway" => f.gateway = true,
                        "unicast" => f.unicast = true,
                        _ => return Err(err("unknown flag")),
                    }
                }
            }
            "hops" => f.hops = rest.parse().map_err(|_| err("bad hops"))?,
            "relayer" => f.relayer = rest.parse().map_err(|_| err("bad relayer"))?,
            "origin" => f.origin = rest.parse().map_err(|_| err("bad origin"))?,
            "incarnation" => f.incarnation = rest.parse().map_err(|_| err("bad incarnation"))?,
            "sequence" => f.sequence = rest.parse().map_err(|_| err("bad sequence"))?,
            "interval" => f.interval = rest.parse().map_err(|_| err("bad interval"))?,
            "nonce" => f.payload.nonce = rest.parse().map_err(|_| err("bad nonce"))?,
            "target" => f.payload.target = Some(socket(rest).ok_or(err("target needs IP PORT"))?),
            "members" => f.payload.members = rest.parse().map_err(|_| err("bad members"))?,
            "sync" => {
                let bad = err("sync needs SALT and BUCKET=SUM pairs");
                let mut parts = rest.split_whitespace();
                let salt = parts.next().and_then(|n| n.parse().ok()).ok_or(bad)?;
                let mut summary = crate::wire::SyncSummary::new(salt);
                for pair in parts {
                    let (bucket, sum) = pair.split_once('=').ok_or(bad)?;
                    let bucket: usize = bucket.parse().map_err(|_| bad)?;
                    if bucket >= crate::wire::SYNC_BUCKETS {
                        return Err(bad);
                    }
                    summary.set_sum(bucket, sum.parse().map_err(|_| bad)?);
                }
                f.payload.sync = Some(summary);
            }
            "entry" => {
                let mut parts = rest.split_whitespace();
                let state = match parts.next() {
                    Some("alive") => MemberState::Alive,
                    Some("suspect") => MemberState::Suspect,
                    Some("dead") => MemberState::Dead,
                    Some("left") => MemberState::Left,
                    _ => return Err(err("entry state must be alive, suspect, dead or left")),
                };
                let bad = err("entry needs STATE NODE INCARNATION SEQUENCE IP PORT");
                let node = parts
                    .next()
                    .and_then(|n| n.parse().ok())
                    .and_then(NodeId::new);
                let incarnation = parts.next().and_then(|n| n.parse().ok());
                let sequence = parts.next().and_then(|n| n.parse().ok());
                let addr = match (parts.next(), parts.next()) {
                    (Some(ip), Some(port)) => socket_parts(ip, port),
                    _ => None,
                };
                let (Some(node), Some(incarnation), Some(sequence), Some(addr)) =
                    (node, incarnation, sequence, addr)
                else {
                    return Err(bad);
                };
                let entry = Gossip {
                    state,
                    node,
                    incarnation,
                    sequence,
                    addr,
                };
                f.payload
                    .entries
                    .push(entry)
                    .map_err(|_| err("more than six entries"))?;
            }
            "addr" => {
                let mut parts = rest.split_whitespace();
                let (Some(role), Some(iface), Some(ip), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(err("addr needs ROLE IFACE IP"));
                };
                let iface = iface
                    .parse::<usize>()
                    .ok()
                    .and_then(IfaceId::new)
                    .ok_or(err("bad interface"))?;
                let ip: IpAddr = ip.parse().map_err(|_| err("bad address"))?;
                let addr = match role {
                    "primary" => NodeAddr::primary(ip, iface),
                    "alias" => NodeAddr::alias(ip, iface),
                    _ => return Err(err("role must be primary or alias")),
                };
                f.addrs
                    .push(addr)
                    .map_err(|_| err("more than six addresses"))?;
            }
            _ => return Err(err("unknown field")),
        }
    }
    Err(VectorError {
        line: 0,
        reason: "vector without `end`",
    })
}

fn socket(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(' ')?;
    socket_parts(ip.trim(), port.trim())
}

fn socket_parts(ip: &str, port: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

fn push_hex(out: &mut heapless::Vec<u8, MAX_VECTOR_BYTES>, hex: &str) -> Option<()> {
    if hex.len() % 2 != 0 {
        return None;
    }
    for pair in hex.as_bytes().chunks_exact(2) {
        let s = core::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(s, 16).ok()?).ok()?;
    }
    Some(())
}
