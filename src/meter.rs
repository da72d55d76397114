//! Byte progress of a long read (a kernel package's extraction, a root tarball's): a reader
//! that tells a callback how much of a known total it has read.
//!
//! The callback is called every [`STEP`] bytes and once at the end of the stream, so a
//! progress display moves without a call per read.

use std::io::{self, Read};

/// Bytes between two reports: ~100 reports for a 400 MiB root tarball, a few dozen for a
/// kernel package; each costs a spinner update at most.
pub const STEP: u64 = 4 << 20;

/// What a [`Metered`] reader (or a tree copy) reports to: `(done, total)` in bytes, `total` 0
/// when it is not known beforehand.
pub type OnBytes<'a> = &'a dyn Fn(u64, u64);

/// A callback that ignores every report.
pub fn ignore(_: u64, _: u64) {}

/// `inner`, reporting its bytes read out of `total` to `on`.
pub struct Metered<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    next: u64,
    on: OnBytes<'a>,
}

impl<R> std::fmt::Debug for Metered<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("done", &self.done)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<'a, R> Metered<'a, R> {
    pub fn new(inner: R, total: u64, on: OnBytes<'a>) -> Self {
        Metered {
            inner,
            done: 0,
            total,
            next: 0,
            on,
        }
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        // The end of the stream is reported once, a step each time one is crossed.
        if (n == 0 && self.next != u64::MAX) || (n > 0 && self.done >= self.next) {
            (self.on)(self.done, self.total.max(self.done));
            self.next = if n == 0 { u64::MAX } else { self.done + STEP };
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn reports_each_step_and_the_end_once() {
        let data = vec![7u8; (STEP * 2 + 5) as usize];
        let seen = RefCell::new(Vec::new());
        let on = |d, t| seen.borrow_mut().push((d, t));
        let mut r = Metered::new(&data[..], data.len() as u64, &on);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!(r.read(&mut [0u8; 4]).unwrap(), 0);
        let seen = seen.into_inner();
        let total = data.len() as u64;
        assert_eq!(seen.last(), Some(&(total, total)));
        assert_eq!(
            seen.iter().filter(|(d, _)| *d == total).count(),
            1,
            "{seen:?}"
        );
        assert!(seen.len() >= 3 && seen.len() < 10, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn a_longer_stream_than_announced_never_reports_done_above_total() {
        let seen = RefCell::new(Vec::new());
        let on = |d, t| seen.borrow_mut().push((d, t));
        let mut r = Metered::new(&b"abcdef"[..], 2, &on);
        r.read_to_end(&mut Vec::new()).unwrap();
        assert!(seen.borrow().iter().all(|(d, t)| d <= t));
    }
}
