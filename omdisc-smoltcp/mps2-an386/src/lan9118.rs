//! A driver for the SMSC LAN9118 Ethernet controller (as on Arm's MPS2 boards and in QEMU's
//! model of them) as a `smoltcp::phy::Device`: programmed I/O through the chip's FIFOs, one
//! frame buffer each way, an interrupt when a frame has been received.
//!
//! Only registers QEMU models are touched (an unmodelled one aborts QEMU). The receive
//! filter takes the node's own address, broadcast, and the multicast addresses given to
//! [`Lan9118::accept_multicast`] (the chip's 64-bin hash filter).

use core::mem::MaybeUninit;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;

/// Register offsets from the chip's base address.
mod reg {
    pub(super) const RX_DATA_FIFO: usize = 0x00;
    pub(super) const TX_DATA_FIFO: usize = 0x20;
    pub(super) const RX_STATUS_FIFO: usize = 0x40;
    pub(super) const TX_STATUS_FIFO: usize = 0x48;
    pub(super) const ID_REV: usize = 0x50;
    pub(super) const IRQ_CFG: usize = 0x54;
    pub(super) const INT_STS: usize = 0x58;
    pub(super) const INT_EN: usize = 0x5c;
    pub(super) const BYTE_TEST: usize = 0x64;
    pub(super) const TX_CFG: usize = 0x70;
    pub(super) const HW_CFG: usize = 0x74;
    pub(super) const RX_FIFO_INF: usize = 0x7c;
    pub(super) const TX_FIFO_INF: usize = 0x80;
    pub(super) const PMT_CTRL: usize = 0x84;
    pub(super) const MAC_CSR_CMD: usize = 0xa4;
    pub(super) const MAC_CSR_DATA: usize = 0xa8;
}

/// Indices of the MAC's registers, reached through `MAC_CSR_CMD`/`MAC_CSR_DATA`.
mod mac_reg {
    pub(super) const MAC_CR: u32 = 1;
    pub(super) const ADDRH: u32 = 2;
    pub(super) const ADDRL: u32 = 3;
    pub(super) const HASHH: u32 = 4;
    pub(super) const HASHL: u32 = 5;
}

/// What `BYTE_TEST` reads on a chip that is there and wired the right way round.
pub const BYTE_TEST_VALUE: u32 = 0x8765_4321;
/// Largest frame handled, without the frame check sequence.
pub const MAX_FRAME_LEN: usize = 1514;
/// Shortest frame on the wire without its frame check sequence; shorter ones are padded.
pub const MIN_FRAME_LEN: usize = 60;

const HW_CFG_SRST: u32 = 1 << 0;
const PMT_CTRL_READY: u32 = 1 << 0;
const IRQ_CFG_EN: u32 = 1 << 8;
/// Active-high, push-pull: the line the NVIC sees is high while an enabled interrupt is on.
const IRQ_CFG_ACTIVE_HIGH: u32 = (1 << 4) | (1 << 0);
/// RX status FIFO level: a received frame is waiting.
pub const INT_RSFL: u32 = 1 << 3;
const TX_CFG_TX_ON: u32 = 1 << 1;
/// Let the TX status FIFO overrun (nobody waits for transmit statuses).
const TX_CFG_TXSAO: u32 = 1 << 2;
const MAC_CR_RXEN: u32 = 1 << 2;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_FDPX: u32 = 1 << 20;
/// Multicast through the hash filter.
const MAC_CR_HPFILT: u32 = 1 << 13;
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
const RX_STATUS_ERROR: u32 = 1 << 15;
/// Bounded waits on the chip (reset, MAC register access): polls before giving up.
const WAIT_POLLS: u32 = 100_000;

/// 32-bit register access to the chip; [`Mmio`] on the board, a model in tests.
pub trait Registers {
    /// Reads the register at `offset`.
    fn read(&mut self, offset: usize) -> u32;
    /// Writes `value` to the register at `offset`.
    fn write(&mut self, offset: usize, value: u32);
}

/// The chip's registers in the memory map.
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// The registers at `base`.
    ///
    /// # Safety
    /// A LAN9118 must be mapped at `base` (256 bytes), and nothing else may access it.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio { base }
    }
}

impl Registers for Mmio {
    fn read(&mut self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: the chip's registers are mapped here.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

/// Why the chip could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` did not read [`BYTE_TEST_VALUE`]: no chip, or the wrong base address.
    NotFound(u32),
    /// The chip did not finish its reset, or a MAC register access, in time.
    Timeout,
}

/// Counters of the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lan9118Counters {
    /// Frames received and handed on.
    pub rx_frames: u32,
    /// Frames dropped: the chip flagged an error, or the frame was longer than
    /// [`MAX_FRAME_LEN`].
    pub rx_dropped: u32,
    /// Frames sent.
    pub tx_frames: u32,
}

/// A LAN9118 as a smoltcp device.
pub struct Lan9118<R: Registers> {
    regs: R,
    mac: EthernetAddress,
    hash: [u32; 2],
    rx: [u8; MAX_FRAME_LEN],
    tx: [u8; MAX_FRAME_LEN],
    counters: Lan9118Counters,
}

impl<R: Registers> Lan9118<R> {
    /// Resets the chip and sets it up: transmitter and receiver on, receive filter for its
    /// own address (from its EEPROM) and broadcast, the interrupt line active-high and
    /// raised while a received frame waits (enable it at the interrupt controller).
    ///
    /// The driver holds a frame buffer each way (3 KiB): where the stack is small, build it
    /// in its final place with [`new_in`](Self::new_in).
    pub fn new(regs: R) -> Result<Self, InitError> {
        let mut chip = Self::reset(regs)?;
        chip.configure()?;
        Ok(chip)
    }

    /// Sets the chip up as [`new`](Self::new) does, with the driver written into `slot`
    /// (a `static`'s memory) instead of passing through the stack.
    pub fn new_in(slot: &mut MaybeUninit<Self>, regs: R) -> Result<&mut Self, InitError> {
        let chip = slot.write(Self::reset(regs)?);
        chip.configure()?;
        Ok(chip)
    }

    /// Checks that the chip is there and resets it: the driver with empty buffers.
    #[inline(always)]
    fn reset(mut regs: R) -> Result<Self, InitError> {
        let byte_test = regs.read(reg::BYTE_TEST);
        if byte_test != BYTE_TEST_VALUE {
            return Err(InitError::NotFound(byte_test));
        }
        regs.write(reg::HW_CFG, HW_CFG_SRST);
        wait_until(|| {
            regs.read(reg::HW_CFG) & HW_CFG_SRST == 0
                && regs.read(reg::PMT_CTRL) & PMT_CTRL_READY != 0
        })?;
        Ok(Lan9118 {
            regs,
            mac: EthernetAddress([0; 6]),
            hash: [0; 2],
            rx: [0; MAX_FRAME_LEN],
            tx: [0; MAX_FRAME_LEN],
            counters: Lan9118Counters::default(),
        })
    }

    /// Reads the MAC address, sets up the interrupt, the transmitter and the receiver.
    fn configure(&mut self) -> Result<(), InitError> {
        let low = self.mac_read(mac_reg::ADDRL)?.to_le_bytes();
        let high = self.mac_read(mac_reg::ADDRH)?.to_le_bytes();
        self.mac = EthernetAddress([low[0], low[1], low[2], low[3], high[0], high[1]]);
        self.regs.write(reg::INT_EN, 0);
        self.regs.write(reg::INT_STS, u32::MAX);
        self.regs
            .write(reg::IRQ_CFG, IRQ_CFG_EN | IRQ_CFG_ACTIVE_HIGH);
        self.regs.write(reg::INT_EN, INT_RSFL);
        self.regs.write(reg::TX_CFG, TX_CFG_TX_ON | TX_CFG_TXSAO);
        self.mac_write(mac_reg::HASHH, 0)?;
        self.mac_write(mac_reg::HASHL, 0)?;
        // Writing MAC_CR also ends the promiscuous mode the chip starts in.
        self.mac_write(
            mac_reg::MAC_CR,
            MAC_CR_RXEN | MAC_CR_TXEN | MAC_CR_FDPX | MAC_CR_HPFILT,
        )
    }

    /// The chip's Ethernet address (from its EEPROM, or QEMU's `mac=`).
    pub fn mac_address(&self) -> EthernetAddress {
        self.mac
    }

    /// The `ID_REV` register (QEMU's model reads `0x0118_0001`).
    pub fn id_rev(&mut self) -> u32 {
        self.regs.read(reg::ID_REV)
    }

    /// Receives frames sent to the multicast address `mac` too.
    pub fn accept_multicast(&mut self, mac: EthernetAddress) -> Result<(), InitError> {
        let bin = hash_bin(&mac.0);
        self.hash[usize::from(bin >= 32)] |= 1 << (bin % 32);
        self.mac_write(mac_reg::HASHH, self.hash[1])?;
        self.mac_write(mac_reg::HASHL, self.hash[0])
    }

    /// Clears the receive interrupt (call before polling, after it woke the CPU): the line
    /// goes low until the next frame arrives.
    pub fn ack_interrupt(&mut self) {
        self.regs.write(reg::INT_STS, INT_RSFL);
    }

    /// Counters of the driver.
    pub fn counters(&self) -> Lan9118Counters {
        self.counters
    }

    /// Takes the next good frame out of the chip into the receive buffer: its length.
    fn take_frame(&mut self) -> Option<usize> {
        loop {
            let waiting = (self.regs.read(reg::RX_FIFO_INF) >> 16) & 0xff;
            if waiting == 0 {
                return None;
            }
            let status = self.regs.read(reg::RX_STATUS_FIFO);
            // The length includes the frame check sequence, which is read and dropped.
            let with_fcs = ((status >> 16) & 0x3fff) as usize;
            let len = with_fcs.saturating_sub(4);
            let fits = len <= MAX_FRAME_LEN && status & RX_STATUS_ERROR == 0;
            for word_index in 0..with_fcs.div_ceil(4) {
                let word = self.regs.read(reg::RX_DATA_FIFO).to_le_bytes();
                let start = word_index * 4;
                if fits && start < len {
                    let n = (len - start).min(4);
                    if let (Some(dst), Some(src)) =
                        (self.rx.get_mut(start..start + n), word.get(..n))
                    {
                        dst.copy_from_slice(src);
                    }
                }
            }
            if fits && len > 0 {
                self.counters.rx_frames += 1;
                return Some(len);
            }
            self.counters.rx_dropped += 1;
        }
    }

    fn mac_read(&mut self, index: u32) -> Result<u32, InitError> {
        self.regs
            .write(reg::MAC_CSR_CMD, CSR_BUSY | CSR_READ | index);
        self.mac_wait()?;
        Ok(self.regs.read(reg::MAC_CSR_DATA))
    }

    fn mac_write(&mut self, index: u32, value: u32) -> Result<(), InitError> {
        self.regs.write(reg::MAC_CSR_DATA, value);
        self.regs.write(reg::MAC_CSR_CMD, CSR_BUSY | index);
        self.mac_wait()
    }

    fn mac_wait(&mut self) -> Result<(), InitError> {
        let regs = &mut self.regs;
        wait_until(|| regs.read(reg::MAC_CSR_CMD) & CSR_BUSY == 0)
    }
}

/// Polls `done` up to [`WAIT_POLLS`] times.
fn wait_until(mut done: impl FnMut() -> bool) -> Result<(), InitError> {
    if (0..WAIT_POLLS).any(|_| done()) {
        Ok(())
    } else {
        Err(InitError::Timeout)
    }
}

/// The hash-filter bin (0..64) of a destination address: the top six bits of the
/// Ethernet CRC-32 over its six bytes, computed MSB-first without the final inversion
/// (as the chip, and QEMU's model, do).
pub fn hash_bin(address: &[u8; 6]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in address {
        let mut bits = byte;
        for _ in 0..8 {
            let carry = (crc >> 31) ^ u32::from(bits & 1);
            crc <<= 1;
            bits >>= 1;
            if carry != 0 {
                crc ^= 0x04c1_1db7;
            }
        }
    }
    crc >> 26
}

/// A received frame, in the driver's receive buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room to send one frame.
pub struct TxToken<'a, R: Registers> {
    regs: &'a mut R,
    buffer: &'a mut [u8; MAX_FRAME_LEN],
    sent: &'a mut u32,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
        f(self.frame)
    }
}

impl<R: Registers> phy::TxToken for TxToken<'_, R> {
    fn consume<T, F: FnOnce(&mut [u8]) -> T>(self, len: usize, f: F) -> T {
        let len = len.min(MAX_FRAME_LEN);
        let wire_len = len.max(MIN_FRAME_LEN);
        let (frame, padding) = self.buffer.split_at_mut(len);
        let result = f(frame);
        // Short frames leave zeros behind them, not an earlier frame's bytes.
        padding.iter_mut().take(wire_len - len).for_each(|b| *b = 0);
        let size = wire_len as u32;
        self.regs
            .write(reg::TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | size);
        self.regs.write(reg::TX_DATA_FIFO, (size << 16) | size);
        for chunk in self.buffer[..wire_len].chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(reg::TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        // Nobody needs the transmit statuses: keep their FIFO empty.
        while (self.regs.read(reg::TX_FIFO_INF) >> 16) & 0xff != 0 {
            let _ = self.regs.read(reg::TX_STATUS_FIFO);
        }
        *self.sent += 1;
        result
    }
}

impl<R: Registers> Lan9118<R> {
    /// Whether the transmit data FIFO has room for a largest frame and its commands.
    fn tx_room(&mut self) -> bool {
        (self.regs.read(reg::TX_FIFO_INF) & 0xffff) as usize >= MAX_FRAME_LEN + 8
    }
}

impl<R: Registers> Device for Lan9118<R> {
    type RxToken<'a>
        = RxToken<'a>
    where
        R: 'a;
    type TxToken<'a>
        = TxToken<'a, R>
    where
        R: 'a;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_, R>)> {
        let len = self.take_frame()?;
        let rx = RxToken {
            frame: self.rx.get(..len)?,
        };
        let tx = TxToken {
            regs: &mut self.regs,
            buffer: &mut self.tx,
            sent: &mut self.counters.tx_frames,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_, R>> {
        if !self.tx_room() {
            return None;
        }
        Some(TxToken {
            regs: &mut self.regs,
            buffer: &mut self.tx,
            sent: &mut self.counters.tx_frames,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME_LEN;
        caps.max_burst_size = Some(1);
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A model of the chip as QEMU implements it (lan9118.c): only the registers it models,
    /// anything else fails the test (it would abort QEMU).
    struct Model {
        mac: [u8; 6],
        mac_cr: u32,
        hash: [u32; 2],
        csr_data: u32,
        csr_cmd: u32,
        int_sts: u32,
        int_en: u32,
        irq_cfg: u32,
        tx_cfg: u32,
        hw_cfg: u32,
        resets: u32,
        /// Received frames waiting: status word, then data words (frame, then FCS).
        rx_status: VecDeque<u32>,
        rx_data: VecDeque<u32>,
        tx_words: Vec<u32>,
        tx_status_used: u32,
        sent: Vec<Vec<u8>>,
    }

    impl Model {
        fn new() -> Self {
            Model {
                mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
                mac_cr: 1 << 18, // promiscuous until MAC_CR is written
                hash: [0; 2],
                csr_data: 0,
                csr_cmd: 0,
                int_sts: 0,
                int_en: 0,
                irq_cfg: 0,
                tx_cfg: 0,
                hw_cfg: 0x0005_0004,
                resets: 0,
                rx_status: VecDeque::new(),
                rx_data: VecDeque::new(),
                tx_words: Vec::new(),
                tx_status_used: 0,
                sent: Vec::new(),
            }
        }

        /// A frame arrives from the wire (with an FCS of zeros), if the filter passes it.
        fn deliver(&mut self, frame: &[u8], status_flags: u32) {
            let multicast = frame[0] & 1 == 1;
            let passes = if frame[..6] == [0xff; 6] || frame[..6] == self.mac {
                true
            } else if multicast {
                let bin = hash_bin(frame[..6].try_into().unwrap());
                self.hash[(bin / 32) as usize] >> (bin % 32) & 1 == 1
            } else {
                self.mac_cr & (1 << 18) != 0
            };
            if !passes {
                return;
            }
            let mut bytes = frame.to_vec();
            bytes.extend_from_slice(&[0; 4]);
            for chunk in bytes.chunks(4) {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                self.rx_data.push_back(u32::from_le_bytes(word));
            }
            self.rx_status
                .push_back(((bytes.len() as u32) << 16) | status_flags);
            self.int_sts |= INT_RSFL;
        }

        /// Whether the interrupt line is high.
        fn irq_line(&self) -> bool {
            let level = self.int_sts & self.int_en != 0 && self.irq_cfg & IRQ_CFG_EN != 0;
            level == (self.irq_cfg & IRQ_CFG_ACTIVE_HIGH == IRQ_CFG_ACTIVE_HIGH)
        }

        fn transmit_words(&mut self) {
            let cmd_a = self.tx_words[0];
            let cmd_b = self.tx_words[1];
            let size = (cmd_a & 0x7ff) as usize;
            assert_eq!(
                cmd_a & (TX_CMD_A_FIRST | TX_CMD_A_LAST),
                TX_CMD_A_FIRST | TX_CMD_A_LAST
            );
            assert_eq!(
                (cmd_b & 0x7ff) as usize,
                size,
                "packet length = buffer size"
            );
            let words = 2 + size.div_ceil(4);
            if self.tx_words.len() == words {
                let mut frame: Vec<u8> = self.tx_words[2..]
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .collect();
                frame.truncate(size);
                self.sent.push(frame);
                self.tx_words.clear();
                self.tx_status_used += 1;
            }
        }
    }

    impl Registers for Model {
        fn read(&mut self, offset: usize) -> u32 {
            match offset {
                0x00..=0x1c => self.rx_data.pop_front().expect("RX FIFO underflow"),
                reg::RX_STATUS_FIFO => self.rx_status.pop_front().expect("RX status underflow"),
                reg::TX_STATUS_FIFO => {
                    self.tx_status_used = self.tx_status_used.saturating_sub(1);
                    0
                }
                reg::ID_REV => 0x0118_0001,
                reg::IRQ_CFG => self.irq_cfg,
                reg::INT_STS => self.int_sts,
                reg::INT_EN => self.int_en,
                reg::BYTE_TEST => BYTE_TEST_VALUE,
                reg::TX_CFG => self.tx_cfg,
                reg::HW_CFG => self.hw_cfg,
                reg::RX_FIFO_INF => {
                    ((self.rx_status.len() as u32) << 16) | (self.rx_data.len() as u32 * 4)
                }
                reg::TX_FIFO_INF => (self.tx_status_used << 16) | 4608,
                reg::PMT_CTRL => PMT_CTRL_READY,
                reg::MAC_CSR_CMD => self.csr_cmd,
                reg::MAC_CSR_DATA => self.csr_data,
                _ => panic!("read of unmodelled register {offset:#x}"),
            }
        }

        fn write(&mut self, offset: usize, value: u32) {
            match offset {
                0x20..=0x3c => {
                    self.tx_words.push(value);
                    if self.tx_words.len() >= 2 {
                        self.transmit_words();
                    }
                }
                reg::IRQ_CFG => self.irq_cfg = value & (IRQ_CFG_EN | IRQ_CFG_ACTIVE_HIGH),
                reg::INT_STS => self.int_sts &= !value,
                reg::INT_EN => self.int_en = value,
                reg::TX_CFG => self.tx_cfg = value & 6,
                reg::HW_CFG => {
                    if value & HW_CFG_SRST != 0 {
                        let (mac, resets) = (self.mac, self.resets + 1);
                        *self = Model::new();
                        self.mac = mac;
                        self.resets = resets;
                    }
                }
                reg::MAC_CSR_DATA => self.csr_data = value,
                reg::MAC_CSR_CMD => {
                    assert!(value & CSR_BUSY != 0);
                    let index = value & 0xf;
                    self.csr_cmd = value & !CSR_BUSY;
                    if value & CSR_READ != 0 {
                        self.csr_data = match index {
                            mac_reg::MAC_CR => self.mac_cr,
                            mac_reg::ADDRH => u32::from(self.mac[4]) | u32::from(self.mac[5]) << 8,
                            mac_reg::ADDRL => u32::from_le_bytes(self.mac[..4].try_into().unwrap()),
                            mac_reg::HASHH => self.hash[1],
                            mac_reg::HASHL => self.hash[0],
                            _ => panic!("read of unmodelled MAC register {index}"),
                        };
                    } else {
                        match index {
                            mac_reg::MAC_CR => self.mac_cr = self.csr_data,
                            mac_reg::HASHH => self.hash[1] = self.csr_data,
                            mac_reg::HASHL => self.hash[0] = self.csr_data,
                            _ => panic!("write of unmodelled MAC register {index}"),
                        }
                    }
                }
                _ => panic!("write of unmodelled register {offset:#x}"),
            }
        }
    }

    fn frame(dst: [u8; 6], len: usize) -> Vec<u8> {
        let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
        f[..6].copy_from_slice(&dst);
        f
    }

    fn chip() -> Lan9118<Model> {
        Lan9118::new(Model::new()).unwrap()
    }

    const NOW: Instant = Instant::ZERO;

    #[test]
    fn set_up_resets_reads_the_mac_and_leaves_promiscuous_mode() {
        let chip = chip();
        assert_eq!(chip.regs.resets, 1);
        assert_eq!(
            chip.mac_address(),
            EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(chip.regs.mac_cr & (1 << 18), 0, "not promiscuous");
        assert_ne!(chip.regs.mac_cr & MAC_CR_RXEN, 0);
        assert_ne!(chip.regs.mac_cr & MAC_CR_TXEN, 0);
        assert_ne!(chip.regs.tx_cfg & TX_CFG_TX_ON, 0);
        assert!(!chip.regs.irq_line(), "no interrupt before a frame");
    }

    #[test]
    fn built_in_place_it_is_set_up_the_same() {
        let mut slot = MaybeUninit::uninit();
        let chip = Lan9118::new_in(&mut slot, Model::new()).unwrap();
        assert_eq!(chip.regs.resets, 1);
        assert_eq!(
            chip.mac_address(),
            EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_ne!(chip.regs.mac_cr & MAC_CR_TXEN, 0);
        assert_eq!(chip.regs.int_en, INT_RSFL);
    }

    #[test]
    fn a_missing_chip_is_reported() {
        struct Nothing;
        impl Registers for Nothing {
            fn read(&mut self, _: usize) -> u32 {
                0xffff_ffff
            }
            fn write(&mut self, _: usize, _: u32) {}
        }
        assert_eq!(
            Lan9118::new(Nothing).err(),
            Some(InitError::NotFound(0xffff_ffff))
        );
    }

    #[test]
    fn received_frames_come_out_whole_without_their_fcs() {
        let mut chip = chip();
        let own = chip.mac_address().0;
        for len in [60, 61, 62, 63, 1514] {
            chip.regs.deliver(&frame(own, len), 0);
            let (rx, _) = chip.receive(NOW).expect("a frame");
            rx.consume(|bytes| assert_eq!(bytes, frame(own, len).as_slice()));
        }
        assert!(chip.receive(NOW).is_none());
        assert!(chip.regs.rx_data.is_empty(), "every word read");
        assert_eq!(chip.counters().rx_frames, 5);
    }

    #[test]
    fn bad_and_oversize_frames_are_dropped_and_the_next_one_still_comes() {
        let mut chip = chip();
        let own = chip.mac_address().0;
        chip.regs.deliver(&frame(own, 100), RX_STATUS_ERROR);
        chip.regs.deliver(&frame(own, 1600), 0);
        chip.regs.deliver(&frame(own, 70), 0);
        let (rx, _) = chip.receive(NOW).expect("the good frame");
        rx.consume(|bytes| assert_eq!(bytes.len(), 70));
        assert_eq!(chip.counters().rx_dropped, 2);
        assert!(chip.regs.rx_data.is_empty());
    }

    #[test]
    fn multicast_passes_only_for_accepted_groups() {
        let mut chip = chip();
        let group = [0x01, 0x00, 0x5e, 0x7f, 0x4d, 0x4d];
        let other = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
        assert_ne!(hash_bin(&group), hash_bin(&other));
        chip.regs.deliver(&frame(group, 64), 0);
        assert!(chip.receive(NOW).is_none());
        chip.accept_multicast(EthernetAddress(group)).unwrap();
        chip.regs.deliver(&frame(group, 64), 0);
        chip.regs.deliver(&frame(other, 64), 0);
        chip.regs.deliver(&frame([0xff; 6], 64), 0);
        assert!(chip.receive(NOW).is_some());
        let (rx, _) = chip.receive(NOW).expect("broadcast");
        rx.consume(|bytes| assert_eq!(bytes[..6], [0xff; 6]));
        assert!(chip.receive(NOW).is_none());
    }

    #[test]
    fn the_hash_bin_is_the_top_of_the_msb_first_crc() {
        // The same CRC computed the other way round (reflected, as zlib does): its
        // register, inverted and bit-reversed, is the MSB-first one.
        fn reflected_crc(data: &[u8]) -> u32 {
            let mut crc = u32::MAX;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xedb8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        for address in [
            [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
            [0x01, 0x00, 0x5e, 0x7f, 0x4d, 0x4d],
            [0x33, 0x33, 0, 0, 0, 1],
        ] {
            assert_eq!(
                hash_bin(&address),
                (!reflected_crc(&address)).reverse_bits() >> 26
            );
        }
    }

    #[test]
    fn the_interrupt_line_follows_received_frames_until_acknowledged() {
        let mut chip = chip();
        let own = chip.mac_address().0;
        chip.regs.deliver(&frame(own, 60), 0);
        assert!(chip.regs.irq_line());
        chip.ack_interrupt();
        assert!(!chip.regs.irq_line());
        assert!(chip.receive(NOW).is_some());
    }

    #[test]
    fn short_frames_are_padded_with_zeros_and_long_ones_sent_as_they_are() {
        let mut chip = chip();
        chip.transmit(NOW).unwrap().consume(100, |b| b.fill(0xaa));
        chip.transmit(NOW).unwrap().consume(42, |b| b.fill(0x55));
        let sent = &chip.regs.sent;
        assert_eq!(sent[0], vec![0xaa; 100]);
        assert_eq!(sent[1].len(), MIN_FRAME_LEN);
        assert_eq!(sent[1][..42], [0x55; 42]);
        assert!(
            sent[1][42..].iter().all(|&b| b == 0),
            "no stale bytes in the padding"
        );
        assert_eq!(chip.counters().tx_frames, 2);
        assert_eq!(chip.regs.tx_status_used, 0, "statuses drained");
    }
}
