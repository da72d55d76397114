//! Bench (not a timed test): parsing and applying a typical kernel command line, which must stay
//! in microseconds. `cargo bench -p netroot-boot --bench cmdline` prints the time per call; no
//! bench framework, so it runs on stable with no dependency.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::hint::black_box;
use std::time::{Duration, Instant};

use netroot_boot::bootconfig::{kernel_cmdline, BootConfig};

const FIXTURE: &str = include_str!("../tests/fixtures/boot.conf");

/// Calls per measurement: enough that the clock's resolution does not matter.
const ITERATIONS: u32 = 20_000;

fn per_call(mut f: impl FnMut()) -> Duration {
    // Warm up caches and the allocator first.
    for _ in 0..ITERATIONS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        f();
    }
    start.elapsed() / ITERATIONS
}

fn main() {
    let cfg = BootConfig::parse(FIXTURE).expect("fixture parses");
    let line = format!(
        "BOOT_IMAGE=/vmlinuz {} console=tty0 console=ttyS0,115200n8 quiet rd.neednet=1 -- single",
        cfg.entry_cmdline(None, "")
    );
    let bytes = line.as_bytes();
    let tokenize = per_call(|| {
        black_box(kernel_cmdline(black_box(bytes)));
    });
    let apply = per_call(|| {
        let mut c = cfg.clone();
        black_box(c.apply_cmdline_bytes(black_box(bytes)).expect("applies"));
    });
    println!("command line: {} bytes", bytes.len());
    println!("tokenize: {tokenize:?} per call");
    println!("apply (clone + tokenize + every grammar): {apply:?} per call");
}
