//! The BLE link model on virtual time: connection interval, MTU, packets per connection event
//! (write-without-response pacing), link-layer packet loss (retransmitted, costs an interval), raw
//! drops (lost for good), and a disconnect at a chosen frame. Nothing sleeps: time is accounted.
//!
//! Timing (a latency + bandwidth model, so that the physical lower bound of the card benchmark is
//! a true lower bound of it):
//! - moving a packet of `n` ATT payload bytes costs `n ÷ throughput`, where the throughput is what
//!   the pacing allows: `packets_per_event × (MTU − 3)` bytes per connection interval;
//! - when the reader answers a request, the answer waits for the next connection event: one
//!   **round trip**, one interval;
//! - a write *with* response waits for its ATT response: one more round trip and interval;
//! - a packet lost on air is resent by the link layer at the next event: one more interval.
//!
//! So `elapsed = (round_trips + retransmissions) × interval + bytes ÷ throughput`.

use homevisit_core::reader::WriteKind;

/// Direction of an ATT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Phone → reader (writes).
    Up,
    /// Reader → phone (notifications).
    Down,
}

/// The link's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Connection interval in microseconds (30 ms = 30_000).
    pub connection_interval_us: u64,
    /// ATT MTU the link negotiates (capped by the reader model's own maximum).
    pub mtu: u16,
    /// Packets per connection event in each direction (write-without-response pacing).
    pub packets_per_event: u32,
    /// Probability that a packet is lost on air and retransmitted by the link layer (0.0–1.0).
    pub loss_rate: f64,
    /// Probability that a packet is lost for good (a broken stack); the protocol must notice.
    pub drop_rate: f64,
    /// Seed of the loss generator (runs are repeatable).
    pub seed: u64,
}

impl Default for LinkConfig {
    /// 30 ms interval, MTU 185, 4 packets per event, no loss.
    fn default() -> Self {
        Self {
            connection_interval_us: 30_000,
            mtu: 185,
            packets_per_event: 4,
            loss_rate: 0.0,
            drop_rate: 0.0,
            seed: 1,
        }
    }
}

impl LinkConfig {
    /// ATT payload bytes per packet (MTU − 3).
    pub fn payload(&self) -> usize {
        homevisit_core::reader::model::att_payload(self.mtu)
    }

    /// Best-case throughput in one direction, bytes per second.
    pub fn throughput_bytes_per_s(&self) -> f64 {
        let per_event = self.payload() as f64 * self.packets_per_event.max(1) as f64;
        per_event * 1_000_000.0 / self.connection_interval_us.max(1) as f64
    }

    /// The physical lower bound for an exchange of `round_trips` unavoidable round trips moving
    /// `bytes` in total: `round_trips × interval + bytes ÷ throughput`, in milliseconds.
    pub fn lower_bound_ms(&self, round_trips: u64, bytes: u64) -> f64 {
        round_trips as f64 * self.connection_interval_us as f64 / 1000.0
            + bytes as f64 * 1000.0 / self.throughput_bytes_per_s()
    }
}

/// What the link counted. Read it from [`crate::gatt::SimReader::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Virtual time elapsed on the link, microseconds.
    pub elapsed_us: u64,
    /// BLE round trips (reader turnarounds plus ATT write responses).
    pub round_trips: u64,
    /// ATT packets phone → reader.
    pub packets_up: u64,
    /// ATT packets reader → phone.
    pub packets_down: u64,
    /// ATT payload bytes phone → reader (our frames and fragment headers).
    pub bytes_up: u64,
    /// ATT payload bytes reader → phone.
    pub bytes_down: u64,
    /// Packets the link layer had to resend.
    pub retransmissions: u64,
    /// Packets lost for good.
    pub dropped: u64,
    /// Link drops (chosen or otherwise).
    pub disconnects: u64,
}

impl LinkStats {
    /// Elapsed virtual time in milliseconds.
    pub fn elapsed_ms(&self) -> f64 {
        self.elapsed_us as f64 / 1000.0
    }
    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
    /// Packets (frames on air) in both directions.
    pub fn packets(&self) -> u64 {
        self.packets_up + self.packets_down
    }
    /// The counters accumulated since `earlier` (a snapshot taken before).
    pub fn since(&self, earlier: &LinkStats) -> LinkStats {
        LinkStats {
            elapsed_us: self.elapsed_us - earlier.elapsed_us,
            round_trips: self.round_trips - earlier.round_trips,
            packets_up: self.packets_up - earlier.packets_up,
            packets_down: self.packets_down - earlier.packets_down,
            bytes_up: self.bytes_up - earlier.bytes_up,
            bytes_down: self.bytes_down - earlier.bytes_down,
            retransmissions: self.retransmissions - earlier.retransmissions,
            dropped: self.dropped - earlier.dropped,
            disconnects: self.disconnects - earlier.disconnects,
        }
    }
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It arrives.
    Delivered,
    /// It is lost for good.
    Dropped,
    /// The link goes down with this packet (it is not delivered).
    Disconnect,
}

/// The link state: virtual clock, counters, loss generator, pending disconnect.
#[derive(Debug)]
pub struct LinkModel {
    config: LinkConfig,
    stats: LinkStats,
    rng: u64,
    last: Option<Direction>,
    /// Sub-microsecond remainder of the byte time, in units of 1/throughput-denominator.
    carry: u128,
    disconnect_after: Option<u64>,
}

impl LinkModel {
    /// A link with `config`, clock at zero.
    pub fn new(config: LinkConfig) -> Self {
        let rng = config.seed.max(1);
        Self {
            config,
            stats: LinkStats::default(),
            rng,
            last: None,
            carry: 0,
            disconnect_after: None,
        }
    }

    /// The link's parameters.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the parameters (the clock and counters carry on).
    pub fn set_config(&mut self, config: LinkConfig) {
        self.rng = config.seed.max(1);
        self.config = config;
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Zeroes the counters and the clock.
    pub fn reset_stats(&mut self) {
        self.stats = LinkStats::default();
    }

    /// The link will drop at the `n`-th packet from now (1-based, either direction); that packet
    /// is lost. One-shot: later connections are not affected.
    pub fn disconnect_at_frame(&mut self, n: u64) {
        self.disconnect_after = Some(n.max(1));
    }

    /// Cancels a pending chosen disconnect.
    pub fn clear_disconnect(&mut self) {
        self.disconnect_after = None;
    }

    /// A new connection starts: a fresh connection event.
    pub fn on_connect(&mut self) {
        self.last = None;
    }

    /// The link went down (counted once per drop).
    pub fn on_disconnect(&mut self) {
        self.stats.disconnects += 1;
        self.last = None;
    }

    fn wait_interval(&mut self) {
        self.stats.elapsed_us += self.config.connection_interval_us;
    }

    /// Adds the time `len` bytes take at the paced throughput, exactly (remainders carried).
    fn transfer(&mut self, len: usize) {
        let per_interval = (self.config.payload() as u128) * self.config.packets_per_event.max(1) as u128;
        let num = len as u128 * self.config.connection_interval_us as u128 + self.carry;
        self.stats.elapsed_us += (num / per_interval) as u64;
        self.carry = num % per_interval;
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: deterministic per seed, good enough for loss decisions.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Accounts one ATT packet of `len` payload bytes and decides its fate. `write` is the write
    /// type for uplink packets (`None` for notifications).
    pub fn packet(&mut self, dir: Direction, len: usize, write: Option<WriteKind>) -> Fate {
        if let Some(n) = self.disconnect_after.as_mut() {
            if *n <= 1 {
                self.disconnect_after = None;
                return Fate::Disconnect;
            }
            *n -= 1;
        }
        match dir {
            Direction::Up => {
                self.stats.packets_up += 1;
                self.stats.bytes_up += len as u64;
            }
            Direction::Down => {
                if self.last == Some(Direction::Up) {
                    // The reader answers in the next connection event: one round trip.
                    self.stats.round_trips += 1;
                    self.wait_interval();
                }
                self.stats.packets_down += 1;
                self.stats.bytes_down += len as u64;
            }
        }
        self.last = Some(dir);
        self.transfer(len);
        while self.config.loss_rate > 0.0 && self.random() < self.config.loss_rate.min(0.95) {
            self.stats.retransmissions += 1;
            self.wait_interval();
        }
        if write == Some(WriteKind::WithResponse) {
            // The ATT write response comes back in the next event.
            self.stats.round_trips += 1;
            self.wait_interval();
            // The reader's answer may ride in the same event as that response.
            self.last = None;
        }
        if self.config.drop_rate > 0.0 && self.random() < self.config.drop_rate {
            self.stats.dropped += 1;
            return Fate::Dropped;
        }
        Fate::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(l: &mut LinkModel, up: usize, down: usize, kind: WriteKind) {
        for _ in 0..up {
            assert_eq!(l.packet(Direction::Up, 182, Some(kind)), Fate::Delivered);
        }
        for _ in 0..down {
            assert_eq!(l.packet(Direction::Down, 182, None), Fate::Delivered);
        }
    }

    #[test]
    fn an_exchange_costs_one_interval_plus_its_bytes_at_the_paced_throughput() {
        let mut l = LinkModel::new(LinkConfig::default());
        // 4 full packets = one event's worth of payload in each direction: 2 × 7.5 ms of bytes.
        exchange(&mut l, 2, 2, WriteKind::WithoutResponse);
        let s = l.stats();
        assert_eq!((s.round_trips, s.elapsed_us), (1, 30_000 + 30_000));
        assert_eq!((s.packets_up, s.packets_down, s.bytes()), (2, 2, 4 * 182));
        let bound = l.config().lower_bound_ms(s.round_trips, s.bytes());
        assert!((s.elapsed_ms() - bound).abs() < 1e-9);
    }

    #[test]
    fn small_packets_cost_their_bytes_exactly() {
        let mut l = LinkModel::new(LinkConfig::default());
        for _ in 0..728 {
            l.packet(Direction::Up, 1, None);
        }
        // 728 bytes = one interval's worth at 4 × 182 bytes per 30 ms.
        assert_eq!(l.stats().elapsed_us, 30_000);
    }

    #[test]
    fn write_with_response_costs_a_round_trip_per_packet() {
        let mut l = LinkModel::new(LinkConfig::default());
        exchange(&mut l, 3, 1, WriteKind::WithResponse);
        assert_eq!(l.stats().round_trips, 3);
        assert!(l.stats().elapsed_us >= 3 * 30_000);
    }

    #[test]
    fn loss_costs_time_but_delivers_and_is_repeatable() {
        let cfg = LinkConfig {
            loss_rate: 0.3,
            seed: 42,
            ..LinkConfig::default()
        };
        let run = || {
            let mut l = LinkModel::new(cfg.clone());
            for _ in 0..50 {
                exchange(&mut l, 2, 2, WriteKind::WithoutResponse);
            }
            l.stats()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.retransmissions > 0);
        let mut clean = LinkModel::new(LinkConfig::default());
        for _ in 0..50 {
            exchange(&mut clean, 2, 2, WriteKind::WithoutResponse);
        }
        assert_eq!(
            a.elapsed_us,
            clean.stats().elapsed_us + a.retransmissions * 30_000
        );
        assert_eq!(a.packets(), clean.stats().packets());
    }

    #[test]
    fn chosen_disconnect_fires_once_at_that_frame() {
        let mut l = LinkModel::new(LinkConfig::default());
        l.disconnect_at_frame(3);
        assert_eq!(l.packet(Direction::Up, 1, None), Fate::Delivered);
        assert_eq!(l.packet(Direction::Down, 1, None), Fate::Delivered);
        assert_eq!(l.packet(Direction::Up, 1, None), Fate::Disconnect);
        assert_eq!(l.packet(Direction::Up, 1, None), Fate::Delivered);
    }

    #[test]
    fn lower_bound_uses_interval_and_throughput() {
        let c = LinkConfig::default();
        assert_eq!(c.payload(), 182);
        assert!((c.throughput_bytes_per_s() - 182.0 * 4.0 / 0.030).abs() < 1e-6);
        assert!((c.lower_bound_ms(10, 0) - 300.0).abs() < 1e-9);
        assert!((c.lower_bound_ms(0, 728) - 30.0).abs() < 1e-9);
    }
}
