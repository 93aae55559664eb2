//! A stand-in application that proves the wire until the omdisc engine runs
//! here: it joins the group, multicasts a numbered hello every interval, and
//! answers every datagram from another host with `echo: <payload>` sent back
//! to the sender. Generic over any `smoltcp::phy::Device`.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::boot_config::BootConfig;
use crate::igmp_report::ReportSchedule;

/// Datagrams queued per direction in the UDP socket.
pub const UDP_QUEUE_LEN: usize = 32;
/// Payload bytes per direction in the UDP socket.
pub const UDP_BUFFER_LEN: usize = 16 * 1024;
/// How many hellos the echo node sends before it falls silent.
pub const MAX_HELLOS: u32 = 600;
/// Unsolicited IGMP reports after joining, and their spacing.
pub const IGMP_REPORTS: u8 = 3;
/// Spacing of the repeated IGMP reports.
pub const IGMP_REPORT_SPACING: Duration = Duration::from_millis(500);

/// Socket storage for [`EchoNode`], normally a `static`. The payload
/// buffers are separate ([`EchoPayloads`]): all-zero, they land in `.bss`
/// instead of making the image file larger.
pub struct EchoStorage {
    sockets: [SocketStorage<'static>; 1],
    rx_meta: [udp::PacketMetadata; UDP_QUEUE_LEN],
    tx_meta: [udp::PacketMetadata; UDP_QUEUE_LEN],
}

/// The UDP socket's payload buffers, receive and transmit.
pub type EchoPayloads = [[u8; UDP_BUFFER_LEN]; 2];

impl EchoStorage {
    /// Empty storage (const, so it can initialise a `static`).
    pub const fn new() -> Self {
        Self {
            sockets: [SocketStorage::EMPTY],
            rx_meta: [udp::PacketMetadata::EMPTY; UDP_QUEUE_LEN],
            tx_meta: [udp::PacketMetadata::EMPTY; UDP_QUEUE_LEN],
        }
    }
}

impl Default for EchoStorage {
    fn default() -> Self {
        Self::new()
    }
}

/// What went wrong while setting the node up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoSetupError {
    /// The UDP socket could not bind the group port.
    Bind(udp::BindError),
    /// smoltcp refused the multicast group.
    Join(smoltcp::iface::MulticastError),
}

impl core::fmt::Display for EchoSetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "cannot bind the UDP port: {e}"),
            Self::Join(e) => write!(f, "cannot join the multicast group: {e}"),
        }
    }
}

/// The echo application over a smoltcp interface.
pub struct EchoNode {
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    mac: EthernetAddress,
    config: BootConfig,
    reports: ReportSchedule,
    next_hello: Instant,
    hellos_sent: u32,
    first_hello_at: Option<Instant>,
}

impl EchoNode {
    /// Brings the interface up with `config`'s address, binds the group port
    /// and joins the group.
    pub fn new<D: Device + ?Sized>(
        device: &mut D,
        mac: EthernetAddress,
        config: BootConfig,
        random_seed: u64,
        now: Instant,
        storage: &'static mut EchoStorage,
        payloads: &'static mut EchoPayloads,
    ) -> Result<Self, EchoSetupError> {
        let mut iface_config = Config::new(HardwareAddress::Ethernet(mac));
        iface_config.random_seed = random_seed;
        let mut iface = Interface::new(iface_config, device, now);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for IFACE_MAX_ADDR_COUNT addresses.
            let _ = addrs.push(IpCidr::Ipv4(config.address));
        });
        iface
            .join_multicast_group(config.group)
            .map_err(EchoSetupError::Join)?;

        let [rx_payload, tx_payload] = payloads;
        let rx = udp::PacketBuffer::new(&mut storage.rx_meta[..], &mut rx_payload[..]);
        let tx = udp::PacketBuffer::new(&mut storage.tx_meta[..], &mut tx_payload[..]);
        let mut sockets = SocketSet::new(&mut storage.sockets[..]);
        let udp = sockets.add(udp::Socket::new(rx, tx));
        sockets
            .get_mut::<udp::Socket>(udp)
            .bind(config.port)
            .map_err(EchoSetupError::Bind)?;

        Ok(Self {
            iface,
            sockets,
            udp,
            mac,
            config,
            // smoltcp sends the first report itself on the first poll.
            reports: ReportSchedule::new(
                now + IGMP_REPORT_SPACING,
                IGMP_REPORTS,
                IGMP_REPORT_SPACING,
            ),
            next_hello: now,
            hellos_sent: 0,
            first_hello_at: None,
        })
    }

    /// When the first hello was queued for sending.
    pub fn first_hello_at(&self) -> Option<Instant> {
        self.first_hello_at
    }

    /// Does all due work and returns when it next needs to run.
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> Instant {
        self.iface.poll(now, device, &mut self.sockets);
        self.answer_datagrams();
        if self.hellos_sent < MAX_HELLOS && now >= self.next_hello {
            self.send_hello(now);
        }
        self.iface.poll(now, device, &mut self.sockets);
        let source = self.config.address.address();
        self.reports
            .poll(now, device, self.mac, source, self.config.group);

        let mut next = self
            .iface
            .poll_at(now, &self.sockets)
            .unwrap_or(Instant::from_secs(i64::MAX / 1_000_000));
        if self.hellos_sent < MAX_HELLOS {
            next = next.min(self.next_hello);
        }
        if let Some(report) = self.reports.deadline() {
            next = next.min(report);
        }
        next
    }

    fn send_hello(&mut self, now: Instant) {
        let mut text = TextBuffer::new();
        let _ = core::fmt::write(
            &mut text,
            format_args!(
                "hello {} from {}",
                self.hellos_sent,
                self.config.address.address()
            ),
        );
        let group = IpEndpoint::new(IpAddress::Ipv4(self.config.group), self.config.port);
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        match socket.send_slice(text.as_bytes(), group) {
            Ok(()) => {
                self.hellos_sent += 1;
                self.first_hello_at.get_or_insert(now);
                log::info!("sent: {}", text.as_str());
            }
            Err(e) => log::warn!("hello not queued: {e}"),
        }
        self.next_hello = now + Duration::from_millis(u64::from(self.config.interval_ms));
    }

    fn answer_datagrams(&mut self) {
        const PREFIX: &[u8] = b"echo: ";
        let own = IpAddress::Ipv4(self.config.address.address());
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        let mut answer = [0u8; 1536];
        while let Ok((payload, meta)) = socket.recv() {
            if meta.endpoint.addr == own {
                continue;
            }
            let shown = core::str::from_utf8(payload).unwrap_or("<binary>");
            log::info!(
                "received {} bytes from {}: {}",
                payload.len(),
                meta.endpoint,
                shown
            );
            let len = PREFIX.len() + payload.len();
            if payload.starts_with(PREFIX) || len > answer.len() {
                continue;
            }
            answer[..PREFIX.len()].copy_from_slice(PREFIX);
            answer[PREFIX.len()..len].copy_from_slice(payload);
            let to = meta.endpoint;
            if let Err(e) = socket.send_slice(&answer[..len], to) {
                log::warn!("answer to {to} not queued: {e}");
            }
        }
    }
}

/// A small fixed-size text buffer for `core::fmt::write`.
struct TextBuffer {
    bytes: [u8; 96],
    len: usize,
}

impl TextBuffer {
    fn new() -> Self {
        Self {
            bytes: [0; 96],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl core::fmt::Write for TextBuffer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
