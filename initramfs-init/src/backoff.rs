//! Exponential backoff with jitter for every retry loop (links are polled, not backed off), and
//! the small PRNG behind the jitter: nodes that boot together (a rack after a power cut) must not
//! hammer the DHCP and NFS servers in lockstep.

use std::time::Duration;

/// xorshift64*: enough randomness to spread retries; not for anything secret.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// Seeds from anything that differs per node and per boot (clock nanoseconds, MAC).
    pub fn new(seed: u64) -> Self {
        // A zero state would stay zero forever.
        Self { state: seed | 1 }
    }

    /// Folds more per-node entropy (e.g. a MAC address) into the state.
    pub fn mix(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.state = (self.state ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3) | 1;
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniformly random duration in `[-spread, +spread]` added to `base` (never below zero).
    pub fn around(&mut self, base: Duration, spread: Duration) -> Duration {
        let spread_ms = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX / 4);
        let offset = self.next_u64() % (2 * spread_ms + 1);
        let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX / 4);
        Duration::from_millis((base_ms + offset).saturating_sub(spread_ms))
    }
}

/// Doubling delays from `initial` up to `max`, each randomised by ±`spread`.
#[derive(Debug, Clone)]
pub struct Backoff {
    current: Duration,
    max: Duration,
    spread: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, spread: Duration) -> Self {
        Self {
            current: initial,
            max,
            spread,
        }
    }

    /// The next delay (jittered); the base doubles for the following call.
    pub fn next_delay(&mut self, jitter: &mut Jitter) -> Duration {
        let delay = jitter.around(self.current, self.spread);
        self.current = (self.current * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_within_the_jitter() {
        let mut j = Jitter::new(42);
        let mut b = Backoff::new(
            Duration::from_secs(2),
            Duration::from_secs(16),
            Duration::from_secs(1),
        );
        let bases = [2u64, 4, 8, 16, 16, 16];
        for base in bases {
            let d = b.next_delay(&mut j);
            let lo = Duration::from_secs(base - 1);
            let hi = Duration::from_secs(base + 1);
            assert!(d >= lo && d <= hi, "{d:?} not within {base}±1 s");
        }
    }

    #[test]
    fn jitter_varies_and_differs_per_seed() {
        let mut a = Jitter::new(1);
        let mut b = Jitter::new(2);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_ne!(xs, ys);
        let mut c = Jitter::new(1);
        c.mix(&[0x52, 0x54, 0, 0, 0, 1]);
        assert_ne!(c.next_u64(), Jitter::new(1).next_u64());
        let spread: std::collections::BTreeSet<_> = (0..50)
            .map(|_| a.around(Duration::from_secs(4), Duration::from_secs(1)))
            .collect();
        assert!(spread.len() > 10, "jitter should spread delays");
    }

    #[test]
    fn around_never_goes_below_zero() {
        let mut j = Jitter::new(7);
        for _ in 0..100 {
            let d = j.around(Duration::from_millis(100), Duration::from_secs(1));
            assert!(d <= Duration::from_millis(1100));
        }
    }
}
