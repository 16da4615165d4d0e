//! The BLE link model on virtual time: connection interval, MTU, packets per connection event
//! (write-without-response pacing), link-layer packet loss (retransmitted, costs an event), raw
//! drops (lost for good), and a disconnect at a chosen frame. Nothing sleeps: time is counted in
//! connection events.
//!
//! Timing rules (one connection at a time):
//! - every ATT packet (a write or a notification) takes a slot in a connection event; an event
//!   carries at most `packets_per_event` packets in each direction;
//! - when the reader answers a request, its first packet goes in the **next** event (the reader
//!   needs the event to process), which is one **round trip**; the phone's next request may go in
//!   the same event as the last packet it received (the central extends the event);
//! - a write *with* response waits for the ATT response in the next event (one more round trip);
//! - a lost packet is retransmitted by the link layer in the next event.

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
    /// Connection events used.
    pub connection_events: u64,
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
            connection_events: self.connection_events - earlier.connection_events,
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
    up_used: u32,
    down_used: u32,
    last: Option<Direction>,
    event_open: bool,
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
            up_used: 0,
            down_used: 0,
            last: None,
            event_open: false,
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
        self.event_open = false;
    }

    /// The link went down (counted once per drop).
    pub fn on_disconnect(&mut self) {
        self.stats.disconnects += 1;
        self.last = None;
        self.event_open = false;
    }

    fn next_event(&mut self) {
        self.stats.connection_events += 1;
        self.stats.elapsed_us += self.config.connection_interval_us;
        self.up_used = 0;
        self.down_used = 0;
        self.event_open = true;
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
        let ppe = self.config.packets_per_event.max(1);
        if !self.event_open {
            self.next_event();
        }
        match dir {
            Direction::Up => {
                if self.up_used >= ppe {
                    self.next_event();
                }
                self.up_used += 1;
                self.stats.packets_up += 1;
                self.stats.bytes_up += len as u64;
            }
            Direction::Down => {
                if self.last == Some(Direction::Up) {
                    // The reader answers in the next event: one round trip.
                    self.stats.round_trips += 1;
                    self.next_event();
                } else if self.down_used >= ppe {
                    self.next_event();
                }
                self.down_used += 1;
                self.stats.packets_down += 1;
                self.stats.bytes_down += len as u64;
            }
        }
        self.last = Some(dir);
        while self.config.loss_rate > 0.0 && self.random() < self.config.loss_rate.min(0.95) {
            self.stats.retransmissions += 1;
            self.next_event();
            match dir {
                Direction::Up => self.up_used = 1,
                Direction::Down => self.down_used = 1,
            }
        }
        if write == Some(WriteKind::WithResponse) {
            // The ATT write response comes back in the next event.
            self.stats.round_trips += 1;
            self.next_event();
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
            assert_eq!(l.packet(Direction::Up, 20, Some(kind)), Fate::Delivered);
        }
        for _ in 0..down {
            assert_eq!(l.packet(Direction::Down, 20, None), Fate::Delivered);
        }
    }

    #[test]
    fn one_packet_each_way_costs_one_round_trip_and_two_events_then_one_per_exchange() {
        let mut l = LinkModel::new(LinkConfig::default());
        exchange(&mut l, 1, 1, WriteKind::WithoutResponse);
        let s = l.stats();
        assert_eq!((s.round_trips, s.connection_events, s.elapsed_us), (1, 2, 60_000));
        exchange(&mut l, 1, 1, WriteKind::WithoutResponse);
        let s = l.stats();
        assert_eq!((s.round_trips, s.connection_events), (2, 3));
        assert_eq!((s.packets_up, s.packets_down, s.bytes()), (2, 2, 80));
    }

    #[test]
    fn pacing_spreads_fragments_over_events() {
        let mut l = LinkModel::new(LinkConfig {
            packets_per_event: 2,
            ..LinkConfig::default()
        });
        exchange(&mut l, 5, 3, WriteKind::WithoutResponse);
        // Up: 3 events (2+2+1); down: next event 2, then 1 more.
        assert_eq!(l.stats().connection_events, 5);
        assert_eq!(l.stats().round_trips, 1);
    }

    #[test]
    fn write_with_response_costs_a_round_trip_per_packet() {
        let mut l = LinkModel::new(LinkConfig::default());
        exchange(&mut l, 3, 1, WriteKind::WithResponse);
        assert_eq!(l.stats().round_trips, 3);
        assert!(l.stats().connection_events >= 4);
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
        assert!(a.elapsed_us > clean.stats().elapsed_us);
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
    }
}
