//! One summary row per VM test (name, pass/FAIL, test wall time, VM wall time, kernel→OK from
//! the init's `t=`, QEMU start→OK as the host saw it), written when the test ends: `FAIL` unless
//! the test called [`Report::pass`], so an early `?` return or a panic both show as failures. Rows go straight to stderr, past libtest's output capture, so passing tests show them.

use std::io::Write;
use std::sync::Once;
use std::time::{Duration, Instant};

static HEADER: Once = Once::new();

/// The row of one test; printed on drop.
#[derive(Debug)]
pub struct Report {
    name: String,
    start: Instant,
    /// QEMU start to exit.
    pub vm_wall: Option<Duration>,
    /// Kernel start to the OK line (the init's `t=`).
    pub kernel_to_ok: Option<Duration>,
    /// QEMU start to the OK line appearing on the serial console.
    pub qemu_to_ok: Option<Duration>,
    /// Free text: the bond, the failure phase.
    pub note: String,
    passed: bool,
}

impl Report {
    pub fn start(name: &str) -> Self {
        Self {
            name: name.to_string(),
            start: Instant::now(),
            vm_wall: None,
            kernel_to_ok: None,
            qemu_to_ok: None,
            note: String::new(),
            passed: false,
        }
    }

    /// Marks the test passed (call after the last assertion).
    pub fn pass(&mut self) {
        self.passed = true;
    }

    /// The row's text for a test that `passed`.
    pub fn row(&self, passed: bool) -> String {
        let secs = |d: Option<Duration>, places: usize| match d {
            Some(d) => format!("{:.*}s", places, d.as_secs_f64()),
            None => "-".to_string(),
        };
        format!(
            "vm-boot-row | {:<48} | {:<4} | {:>6} | {:>6} | {:>8} | {:>7} | {}",
            self.name,
            if passed { "pass" } else { "FAIL" },
            secs(Some(self.start.elapsed()), 1),
            secs(self.vm_wall, 1),
            secs(self.kernel_to_ok, 3),
            secs(self.qemu_to_ok, 1),
            self.note
        )
    }
}

pub fn header() -> String {
    format!(
        "vm-boot-row | {:<48} | {:<4} | {:>6} | {:>6} | {:>8} | {:>7} | note",
        "test", "res", "wall", "vm", "kern→OK", "qemu→OK"
    )
}

impl Drop for Report {
    fn drop(&mut self) {
        let row = self.row(self.passed && !std::thread::panicking());
        let mut err = std::io::stderr().lock();
        // A summary row that cannot be printed changes nothing about the test's verdict.
        HEADER.call_once(|| {
            let _ = writeln!(err, "{}", header());
        });
        let _ = writeln!(err, "{row}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_missing_times_as_dashes() {
        let mut r = Report::start("boots_802_3ad");
        r.kernel_to_ok = Some(Duration::from_millis(5720));
        r.note = "bond=4/4".into();
        let row = r.row(true);
        assert!(row.starts_with("vm-boot-row | boots_802_3ad "), "{row}");
        assert!(row.contains("| pass |"), "{row}");
        assert!(row.contains("|   5.720s |"), "{row}");
        assert!(row.contains("|       - | bond=4/4"), "{row}");
        assert!(r.row(false).contains("| FAIL |"));
        // Not a VM test: no row on stderr.
        std::mem::forget(r);
    }
}
