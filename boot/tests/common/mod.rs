//! Shared helpers of the boot crate's generated-input tests: one seeded generator, so every run
//! tests the same strings and a failure reproduces.
#![allow(dead_code)]

/// xorshift64*: small, seeded, and the same sequence on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    pub fn coin(&mut self) -> bool {
        self.next() % 2 == 0
    }

    /// A host address in 10.0.0.0/8 (never the network or broadcast address of a /24).
    pub fn host_ip(&mut self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(
            10,
            self.below(256) as u8,
            self.below(256) as u8,
            1 + self.below(254) as u8,
        )
    }
}
