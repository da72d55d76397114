//! The guest console as the QEMU runner collects it: the init's lines (their one writer and
//! parser is `netroot_boot::console`, re-exported here) and the kernel's `[    1.234567]`
//! timestamps.

use std::time::Duration;

pub use netroot_boot::console::{
    parse_failed_line, parse_ok_line, parse_phase_line, parse_seconds, FailedLine, OkLine,
    PhaseLine, FAILED_PREFIX, INIT_PREFIX, OK_PREFIX,
};

/// What the kernel prints when it panics (then reboots after `panic=-1`).
pub const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// The kernel timestamp of the first line containing `needle` (`[    3.295160] Run /init ...`).
pub fn kernel_time(line: &str, needle: &str) -> Option<Result<Duration, String>> {
    let at = line.find(needle)?;
    let head = line.get(..at)?.trim_end();
    let inner = head.strip_suffix(']')?;
    let open = inner.rfind('[')?;
    Some(parse_seconds(inner.get(open + 1..)?, 6))
}

/// The console's lines.
#[derive(Debug, Clone)]
pub struct Console {
    pub lines: Vec<String>,
}

impl Console {
    pub fn new(lines: Vec<String>) -> Self {
        Self { lines }
    }

    /// Every line `f` recognizes, parsed; the first malformed one is the error.
    pub fn parsed<T>(
        &self,
        f: impl Fn(&str) -> Option<Result<T, String>>,
    ) -> Result<Vec<T>, String> {
        self.lines.iter().filter_map(|l| f(l)).collect()
    }

    pub fn ok_lines(&self) -> Result<Vec<OkLine>, String> {
        self.parsed(|l| l.starts_with(OK_PREFIX).then(|| parse_ok_line(l)))
    }

    pub fn failed_lines(&self) -> Result<Vec<FailedLine>, String> {
        self.parsed(|l| l.starts_with(FAILED_PREFIX).then(|| parse_failed_line(l)))
    }

    pub fn phase_lines(&self) -> Result<Vec<PhaseLine>, String> {
        self.parsed(parse_phase_line)
    }

    /// Kernel timestamp of the first line containing `needle`.
    pub fn kernel_time(&self, needle: &str) -> Option<Result<Duration, String>> {
        self.lines.iter().find_map(|l| kernel_time(l, needle))
    }

    /// Index of the first line equal to `text`.
    pub fn position(&self, text: &str) -> Option<usize> {
        self.lines.iter().position(|l| l == text)
    }

    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines.iter().filter(|l| pred(l)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_lines_and_kernel_timestamps() {
        let p =
            parse_phase_line("netroot-init: [ 12.034] phase=dhcp source=dhcp address=10.0.2.15/24")
                .expect("phase line")
                .expect("valid");
        assert_eq!(p.t, Duration::from_millis(12034));
        assert_eq!(
            (p.phase.as_str(), p.text.as_str()),
            ("dhcp", "source=dhcp address=10.0.2.15/24")
        );
        assert!(parse_phase_line("netroot-init: OK root=a:/b bond=1/1 t=1.000").is_none());
        assert!(parse_phase_line("netroot-init: [oops] phase=x")
            .expect("shape")
            .is_err());
        let line = "Probing EDD... \x1b[2J[    3.295160] Run /init as init process";
        assert_eq!(
            kernel_time(line, "Run /init as init process"),
            Some(Ok(Duration::from_micros(3_295_160)))
        );
        assert_eq!(kernel_time("Run /init as init process", "Run /init"), None);
    }

    #[test]
    fn console_collects_lines_and_reports_the_first_malformed_one() {
        let c = Console::new(vec![
            "netroot-init: [  0.500] phase=early netroot-init 0.1.0 mounted=4".into(),
            "[    9.1] unrelated".into(),
            "netroot-init: OK root=10.0.2.2:/export bond=4/4 t=5.720".into(),
        ]);
        assert_eq!(c.phase_lines().map(|p| p.len()), Ok(1));
        assert_eq!(c.ok_lines().map(|o| o.len()), Ok(1));
        assert_eq!(c.failed_lines(), Ok(vec![]));
        assert_eq!(c.count(|l| l.starts_with(INIT_PREFIX)), 2);
        assert_eq!(c.position("[    9.1] unrelated"), Some(1));
        let bad = Console::new(vec!["netroot-init: FAILED phase=nfs".into()]);
        assert!(bad
            .failed_lines()
            .expect_err("malformed")
            .starts_with("expected phase=<p> reason=<text>"));
    }
}
