//! The few rtnetlink messages [`crate::netlink`] reads and sends, decoded and encoded by
//! hand: link and address notifications and dump lines (`struct ifinfomsg`,
//! `struct ifaddrmsg` and the attributes the daemon uses), route notifications, the end
//! and the error of a dump, and the two dump requests. Fields are in native byte order,
//! as the kernel writes them. Every read is bounds-checked: a message shorter than its
//! headers is [`Malformed`], an attribute that runs past its message ends the list.
//!
//! The rust-netlink crates parse every rtnetlink type; for these few messages their code
//! was a third of the daemon's binary (and of its resident text). Their encoder checks
//! this decoder in the tests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::libc;

use crate::network_view::{LinkUpdate, NetworkUpdate};

/// Length of `struct nlmsghdr`.
pub(crate) const HEADER_LEN: usize = 16;
/// Length of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;
/// Length of `struct ifaddrmsg`.
const IFADDRMSG_LEN: usize = 8;
/// Attribute type bits (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const ATTRIBUTE_TYPE_MASK: u16 = 0x3fff;

/// `nlmsg_flags`: a request.
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
/// `nlmsg_flags`: a dump (root and match).
const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;
/// `nlmsg_flags`: the dump was interrupted by a change; read it again.
pub(crate) const NLM_F_DUMP_INTR: u16 = libc::NLM_F_DUMP_INTR as u16;

/// The header of a netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// `nlmsg_type`.
    pub(crate) kind: u16,
    /// `nlmsg_flags`.
    pub(crate) flags: u16,
    /// `nlmsg_seq`: the request a dump line answers (0 for notifications).
    pub(crate) sequence: u32,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// A link, address or route message; `None` for one the daemon cannot use (a link
    /// without a name, an address without one).
    Update(Option<NetworkUpdate>),
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `NLMSG_ERROR` with a nonzero error (a negative errno).
    Error(i32),
    /// Anything else (an acknowledgement, another message type).
    Other,
}

/// A message shorter than its headers; says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} too short", self.0)
    }
}

fn bytes_at<const N: usize>(
    bytes: &[u8],
    at: usize,
    what: &'static str,
) -> Result<[u8; N], Malformed> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or(Malformed(what))
}

fn u16_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u16, Malformed> {
    bytes_at(bytes, at, what).map(u16::from_ne_bytes)
}

fn u32_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, Malformed> {
    bytes_at(bytes, at, what).map(u32::from_ne_bytes)
}

/// The netlink messages of one datagram (each starts with its length, padded to 4).
pub(crate) fn split_messages(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = datagram;
    std::iter::from_fn(move || {
        let length = u32_at(rest, 0, "").ok()? as usize;
        if length < HEADER_LEN || length > rest.len() {
            return None;
        }
        let (message, _) = rest.split_at(length);
        let padded = (length + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
        Some(message)
    })
}

/// Decodes one message (as [`split_messages`] cut it).
pub(crate) fn decode(message: &[u8]) -> Result<(Header, Payload), Malformed> {
    let length = u32_at(message, 0, "netlink header")? as usize;
    let header = Header {
        kind: u16_at(message, 4, "netlink header")?,
        flags: u16_at(message, 6, "netlink header")?,
        sequence: u32_at(message, 8, "netlink header")?,
    };
    let body = message
        .get(HEADER_LEN..length)
        .ok_or(Malformed("netlink message"))?;
    let payload = match i32::from(header.kind) {
        libc::NLMSG_DONE => Payload::Done,
        libc::NLMSG_ERROR => match u32_at(body, 0, "netlink error")? as i32 {
            0 => Payload::Other,
            error => Payload::Error(error),
        },
        _ => match header.kind {
            libc::RTM_NEWLINK => Payload::Update(link(body)?.map(NetworkUpdate::Link)),
            libc::RTM_DELLINK => {
                Payload::Update(Some(NetworkUpdate::LinkGone(u32_at(body, 4, "ifinfomsg")?)))
            }
            libc::RTM_NEWADDR => Payload::Update(address(body, true)?),
            libc::RTM_DELADDR => Payload::Update(address(body, false)?),
            libc::RTM_NEWROUTE | libc::RTM_DELROUTE => Payload::Update(Some(NetworkUpdate::Route)),
            _ => Payload::Other,
        },
    };
    Ok((header, payload))
}

/// The attributes (`struct rtattr`: length, type, value, padded to 4) of `bytes`, as
/// (type, value); stops at the first one that does not fit.
fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let length = usize::from(u16_at(rest, 0, "").ok()?);
        let kind = u16_at(rest, 2, "").ok()? & ATTRIBUTE_TYPE_MASK;
        let value = rest.get(4..length)?;
        rest = rest.get((length + 3) & !3..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// `RTM_NEWLINK`: index, name and flags.
fn link(body: &[u8]) -> Result<Option<LinkUpdate>, Malformed> {
    let index = u32_at(body, 4, "ifinfomsg")?;
    let flags = u32_at(body, 8, "ifinfomsg")?;
    let name = attributes(body.get(IFINFOMSG_LEN..).unwrap_or(&[]))
        .find(|(kind, _)| *kind == libc::IFLA_IFNAME)
        .map(|(_, value)| {
            let name = value.split(|b| *b == 0).next().unwrap_or(&[]);
            String::from_utf8_lossy(name).into_owned()
        });
    let has = |flag: libc::c_int| flags & flag as u32 != 0;
    Ok(name.map(|name| LinkUpdate {
        index,
        name,
        is_up: has(libc::IFF_UP),
        has_carrier: has(libc::IFF_RUNNING) || has(libc::IFF_LOWER_UP),
        supports_multicast: has(libc::IFF_MULTICAST),
    }))
}

/// `RTM_NEWADDR` / `RTM_DELADDR`: the local address (`IFA_LOCAL`, which differs from
/// `IFA_ADDRESS` on point-to-point links), usable unless tentative or DAD failed.
fn address(body: &[u8], added: bool) -> Result<Option<NetworkUpdate>, Malformed> {
    let [_family, _prefix, header_flags, _scope] = bytes_at::<4>(body, 0, "ifaddrmsg")?;
    let index = u32_at(body, 4, "ifaddrmsg")?;
    let mut flags = u32::from(header_flags);
    let (mut local, mut address) = (None, None);
    for (kind, value) in attributes(body.get(IFADDRMSG_LEN..).unwrap_or(&[])) {
        match kind {
            libc::IFA_LOCAL => local = ip(value),
            libc::IFA_ADDRESS => address = ip(value),
            // The 32-bit flags attribute supersedes the header's 8 bits.
            libc::IFA_FLAGS => flags = u32_at(value, 0, "IFA_FLAGS")?,
            _ => {}
        }
    }
    let Some(address) = local.or(address) else {
        return Ok(None);
    };
    if !added {
        return Ok(Some(NetworkUpdate::AddressGone { index, address }));
    }
    Ok(Some(NetworkUpdate::Address {
        index,
        address,
        usable: flags & (libc::IFA_F_TENTATIVE | libc::IFA_F_DADFAILED) == 0,
        secondary: flags & libc::IFA_F_SECONDARY != 0,
    }))
}

fn ip(value: &[u8]) -> Option<IpAddr> {
    match value.len() {
        4 => bytes_at::<4>(value, 0, "")
            .ok()
            .map(|b| Ipv4Addr::from(b).into()),
        16 => bytes_at::<16>(value, 0, "")
            .ok()
            .map(|b| Ipv6Addr::from(b).into()),
        _ => None,
    }
}

/// What to dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DumpOf {
    /// Every link (`RTM_GETLINK`).
    Links,
    /// Every address of every family (`RTM_GETADDR`).
    Addresses,
}

/// The request for a dump of every family, with `sequence`.
pub(crate) fn dump_request(of: DumpOf, sequence: u32) -> Vec<u8> {
    let (kind, body) = match of {
        DumpOf::Links => (libc::RTM_GETLINK, IFINFOMSG_LEN),
        DumpOf::Addresses => (libc::RTM_GETADDR, IFADDRMSG_LEN),
    };
    let length = HEADER_LEN + body;
    let mut bytes = Vec::with_capacity(length);
    bytes.extend_from_slice(&(length as u32).to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend_from_slice(&sequence.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel fills it in
    bytes.resize(length, 0); // family AF_UNSPEC: all of them
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::address::{
        AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
    };
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    /// `message` as the kernel would send it (the rust-netlink encoder).
    fn serialized(message: RouteNetlinkMessage, sequence: u32, flags: u16) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = sequence;
        header.flags = flags;
        let mut message = NetlinkMessage::new(header, message.into());
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        bytes
    }

    fn update(message: RouteNetlinkMessage) -> Option<NetworkUpdate> {
        match decode(&serialized(message, 0, 0)).unwrap().1 {
            Payload::Update(update) => update,
            other => panic!("not an update: {other:?}"),
        }
    }

    fn address_message(ip: IpAddr, flags: AddressFlags) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header.index = 4;
        message.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        message.header.flags = AddressHeaderFlags::from_bits_retain(flags.bits() as u8);
        message.attributes.push(AddressAttribute::Address(ip));
        message.attributes.push(AddressAttribute::Flags(flags));
        message
    }

    #[test]
    fn several_messages_in_one_datagram_are_split() {
        let mut datagram = serialized(
            RouteNetlinkMessage::NewAddress(address_message(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
                AddressFlags::Permanent,
            )),
            0,
            0,
        );
        let first = datagram.len();
        datagram.extend(serialized(
            RouteNetlinkMessage::DelLink(LinkMessage::default()),
            0,
            0,
        ));
        let messages: Vec<&[u8]> = split_messages(&datagram).collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].len(), first);
        // A length past the end stops the split instead of reading beyond it.
        datagram[first] = 0xff;
        assert_eq!(split_messages(&datagram).count(), 1);
        assert_eq!(split_messages(&[1, 2]).count(), 0);
    }

    #[test]
    fn tentative_ipv6_addresses_are_not_usable_yet() {
        let ip: IpAddr = "fd00::5".parse().unwrap();
        let tentative = address_message(ip, AddressFlags::Tentative | AddressFlags::Permanent);
        assert_eq!(
            update(RouteNetlinkMessage::NewAddress(tentative)),
            Some(NetworkUpdate::Address {
                index: 4,
                address: ip,
                usable: false,
                secondary: false
            })
        );
        let done = address_message(ip, AddressFlags::Permanent);
        assert!(matches!(
            update(RouteNetlinkMessage::NewAddress(done.clone())),
            Some(NetworkUpdate::Address { usable: true, .. })
        ));
        assert_eq!(
            update(RouteNetlinkMessage::DelAddress(done)),
            Some(NetworkUpdate::AddressGone {
                index: 4,
                address: ip
            })
        );
    }

    #[test]
    fn the_local_address_wins_on_point_to_point_links() {
        let mut message = address_message(
            IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)),
            AddressFlags::Secondary,
        );
        message
            .attributes
            .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
                10, 0, 0, 7,
            ))));
        assert_eq!(
            update(RouteNetlinkMessage::NewAddress(message)),
            Some(NetworkUpdate::Address {
                index: 4,
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
                usable: true,
                secondary: true
            })
        );
    }

    #[test]
    fn links_carry_name_flags_and_index() {
        let mut message = LinkMessage::default();
        message.header.index = 12;
        message.header.flags = LinkFlags::Up | LinkFlags::Multicast;
        message
            .attributes
            .push(LinkAttribute::IfName("omd0".into()));
        let Some(NetworkUpdate::Link(link)) = update(RouteNetlinkMessage::NewLink(message.clone()))
        else {
            panic!("a link update");
        };
        assert_eq!(link.index, 12);
        assert_eq!(link.name, "omd0");
        assert!(link.is_up && link.supports_multicast && !link.has_carrier);
        message.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        assert!(matches!(
            update(RouteNetlinkMessage::NewLink(message.clone())),
            Some(NetworkUpdate::Link(LinkUpdate {
                has_carrier: true,
                supports_multicast: false,
                ..
            }))
        ));
        assert_eq!(
            update(RouteNetlinkMessage::DelLink(message)),
            Some(NetworkUpdate::LinkGone(12))
        );
        assert_eq!(
            update(RouteNetlinkMessage::NewLink(LinkMessage::default())),
            None,
            "no name"
        );
    }

    #[test]
    fn headers_dump_ends_and_short_messages() {
        let bytes = serialized(
            RouteNetlinkMessage::NewLink(LinkMessage::default()),
            77,
            NLM_F_DUMP_INTR,
        );
        let (header, _) = decode(&bytes).unwrap();
        assert_eq!(header.sequence, 77);
        assert_eq!(header.flags, NLM_F_DUMP_INTR);
        assert_eq!(header.kind, libc::RTM_NEWLINK);
        assert!(decode(&bytes[..HEADER_LEN + 4]).is_err(), "cut ifinfomsg");
        assert!(decode(&bytes[..8]).is_err(), "cut header");

        let mut done = NetlinkMessage::<RouteNetlinkMessage>::new(
            NetlinkHeader::default(),
            NetlinkPayload::Done(Default::default()),
        );
        done.finalize();
        let mut bytes = vec![0; done.buffer_len()];
        done.serialize(&mut bytes);
        assert_eq!(decode(&bytes).unwrap().1, Payload::Done);
    }

    #[test]
    fn dump_requests_are_what_the_crate_would_send() {
        for (of, request, sequence) in [
            (
                DumpOf::Links,
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                3,
            ),
            (
                DumpOf::Addresses,
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                4,
            ),
        ] {
            assert_eq!(
                dump_request(of, sequence),
                serialized(request, sequence, NLM_F_REQUEST | NLM_F_DUMP)
            );
        }
    }
}
