//! Exponential backoff with jitter and a cap, for network and server failures.

use serde::{Deserialize, Serialize};

/// The retry schedule: attempt `n` (1-based) waits `min(cap, base · 2^(n-1))`, of which the upper
/// half is random ("equal jitter"), so retries of many phones spread out but never come too soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Wait before the first retry (ms).
    pub base_ms: u64,
    /// Longest wait (ms).
    pub cap_ms: u64,
}

impl Default for Backoff {
    /// 2 s, doubling, capped at 10 minutes.
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            cap_ms: 600_000,
        }
    }
}

impl Backoff {
    /// The un-jittered wait after `attempt` failures (1 = first failure).
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let exp = attempt.saturating_sub(1).min(62);
        self.base_ms.saturating_mul(1u64 << exp).min(self.cap_ms)
    }

    /// The wait after `attempt` failures with jitter `unit` in `[0, 1)`: in `[ceiling/2, ceiling]`.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let half = ceiling / 2;
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + ((ceiling - half) as f64 * unit) as u64
    }
}

/// A small seeded random source for jitter (xorshift64*): repeatable in tests, seeded from the
/// system's randomness in the app.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A source with a fixed seed (0 is replaced by a constant).
    pub fn seeded(seed: u64) -> Self {
        Self {
            state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed },
        }
    }

    /// A source seeded from the system's randomness.
    pub fn from_system() -> Self {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 8];
        // If the system has no randomness, a fixed seed still gives a valid (if shared) schedule.
        let _ = ring::rand::SystemRandom::new().fill(&mut b);
        Self::seeded(u64::from_le_bytes(b))
    }

    /// The next number in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff {
            base_ms: 1_000,
            cap_ms: 30_000,
        };
        let c: Vec<u64> = (1..=8).map(|n| b.ceiling_ms(n)).collect();
        assert_eq!(c, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(b.ceiling_ms(1_000), 30_000, "huge attempt counts do not overflow");
    }

    #[test]
    fn jittered_delay_stays_between_half_and_ceiling() {
        let b = Backoff::default();
        let mut j = Jitter::seeded(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for attempt in 1..=20 {
            for _ in 0..200 {
                let d = b.delay_ms(attempt, j.next_unit());
                let c = b.ceiling_ms(attempt);
                assert!(
                    d >= c / 2 && d <= c,
                    "attempt {attempt}: {d} outside [{}, {c}]",
                    c / 2
                );
                seen_low |= d < c / 2 + c / 8;
                seen_high |= d > c - c / 8;
            }
        }
        assert!(seen_low && seen_high, "jitter spreads over the whole window");
        assert_eq!(b.delay_ms(3, 0.0), 4_000);
        assert_eq!(b.delay_ms(3, 1.0), 8_000);
        assert_eq!(b.delay_ms(3, f64::NAN), 4_000);
    }

    #[test]
    fn seeded_jitter_is_repeatable() {
        let a: Vec<f64> = {
            let mut j = Jitter::seeded(42);
            (0..5).map(|_| j.next_unit()).collect()
        };
        let mut j = Jitter::seeded(42);
        assert_eq!(a, (0..5).map(|_| j.next_unit()).collect::<Vec<_>>());
        assert!(a.iter().all(|u| (0.0..1.0).contains(u)));
    }
}
