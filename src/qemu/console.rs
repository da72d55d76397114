//! Parsing of the guest console: the init's stable lines (initramfs-init/src/log.rs: phase lines
//! `netroot-init: [  1.234] phase=<p> ...`, exactly one `netroot-init: OK root=<r> bond=<u>/<n>
//! t=<s.mmm>` or `netroot-init: FAILED phase=<p> reason=<text>`) and the kernel's
//! `[    1.234567]` timestamps. Parsers are strict: a line with the right prefix but the wrong
//! shape is an error, not a miss.

use std::time::Duration;

pub const INIT_PREFIX: &str = "netroot-init:";
pub const OK_PREFIX: &str = "netroot-init: OK ";
pub const FAILED_PREFIX: &str = "netroot-init: FAILED ";
/// What the kernel prints when it panics (then reboots after `panic=-1`).
pub const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// `netroot-init: OK root=... bond=u/n t=s.mmm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkLine {
    pub root: String,
    pub ports_up: u32,
    pub ports_total: u32,
    /// Since kernel start, as the init measured it.
    pub t: Duration,
}

/// `netroot-init: FAILED phase=<phase> reason=<reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLine {
    pub phase: String,
    pub reason: String,
}

/// `netroot-init: [  1.234] phase=<phase> <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseLine {
    pub t: Duration,
    pub phase: String,
    pub text: String,
}

/// `<secs>.<digits>` with exactly `digits` fractional digits (3 for the init, 6 for the kernel).
pub fn parse_seconds(text: &str, digits: usize) -> Result<Duration, String> {
    let bad = || format!("bad seconds {text:?} (want <s>.<{digits} digits>)");
    let (secs, frac) = text.trim_start().split_once('.').ok_or_else(bad)?;
    if frac.len() != digits || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let frac: u64 = frac.parse().map_err(|_| bad())?;
    let nanos = frac * 10u64.pow(9 - digits as u32);
    Ok(Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

fn field<'a>(part: Option<&'a str>, key: &str, line: &str) -> Result<&'a str, String> {
    part.and_then(|p| p.strip_prefix(key))
        .ok_or_else(|| format!("expected {key}... in {line:?}"))
}

pub fn parse_ok_line(line: &str) -> Result<OkLine, String> {
    let rest = line
        .strip_prefix(OK_PREFIX)
        .ok_or_else(|| format!("not an OK line: {line:?}"))?;
    let mut parts = rest.split(' ');
    let root = field(parts.next(), "root=", line)?;
    let bond = field(parts.next(), "bond=", line)?;
    let t = field(parts.next(), "t=", line)?;
    if parts.next().is_some() {
        return Err(format!("trailing fields in {line:?}"));
    }
    let (up, total) = bond
        .split_once('/')
        .and_then(|(u, n)| Some((u.parse().ok()?, n.parse().ok()?)))
        .ok_or_else(|| format!("bad bond=<up>/<total> in {line:?}"))?;
    if !root.contains(":/") {
        return Err(format!("root is not server:/path in {line:?}"));
    }
    Ok(OkLine {
        root: root.to_string(),
        ports_up: up,
        ports_total: total,
        t: parse_seconds(t, 3)?,
    })
}

pub fn parse_failed_line(line: &str) -> Result<FailedLine, String> {
    let rest = line
        .strip_prefix(FAILED_PREFIX)
        .ok_or_else(|| format!("not a FAILED line: {line:?}"))?;
    let (phase, reason) = rest
        .strip_prefix("phase=")
        .and_then(|r| r.split_once(" reason="))
        .ok_or_else(|| format!("expected phase=<p> reason=<text> in {line:?}"))?;
    if phase.is_empty() || phase.contains(' ') || reason.is_empty() {
        return Err(format!("empty or spaced phase/reason in {line:?}"));
    }
    Ok(FailedLine {
        phase: phase.to_string(),
        reason: reason.to_string(),
    })
}

/// `None` for init lines that are not phase lines (OK, FAILED, reboot notices).
pub fn parse_phase_line(line: &str) -> Option<Result<PhaseLine, String>> {
    let rest = line.strip_prefix(INIT_PREFIX)?.strip_prefix(" [")?;
    Some((|| {
        let (stamp, rest) = rest
            .split_once("] phase=")
            .ok_or_else(|| format!("expected ] phase= in {line:?}"))?;
        let (phase, text) = rest.split_once(' ').unwrap_or((rest, ""));
        Ok(PhaseLine {
            t: parse_seconds(stamp, 3)?,
            phase: phase.to_string(),
            text: text.to_string(),
        })
    })())
}

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
    fn ok_lines_parse_strictly() {
        let ok =
            parse_ok_line("netroot-init: OK root=10.0.2.2:/export bond=4/4 t=5.720").expect("ok");
        assert_eq!(
            ok,
            OkLine {
                root: "10.0.2.2:/export".into(),
                ports_up: 4,
                ports_total: 4,
                t: Duration::from_millis(5720)
            }
        );
        for (bad, why) in [
            (
                "netroot-init: OK root=10.0.2.2:/export bond=4/4 t=5.72",
                "bad seconds \"5.72\"",
            ),
            (
                "netroot-init: OK root=10.0.2.2:/export bond=4 t=5.720",
                "bad bond=",
            ),
            (
                "netroot-init: OK root=/export bond=4/4 t=5.720",
                "root is not server:/path",
            ),
            (
                "netroot-init: OK root=a:/b bond=4/4 t=5.720 x=1",
                "trailing fields",
            ),
            ("netroot-init: OK bond=4/4 t=5.720", "expected root=..."),
        ] {
            let e = parse_ok_line(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn failed_lines_parse_and_keep_the_reason_whole() {
        let f = parse_failed_line(
            "netroot-init: FAILED phase=nfs reason=10.0.2.2:/export: not mounted after 8s (timeout reached, 4 rounds): vers=4.1 ECONNREFUSED",
        )
        .expect("failed");
        assert_eq!(f.phase, "nfs");
        assert!(f
            .reason
            .starts_with("10.0.2.2:/export: not mounted after 8s"));
        let e = parse_failed_line("netroot-init: FAILED phase=nfs").expect_err("no reason");
        assert!(e.starts_with("expected phase=<p> reason=<text>"), "{e}");
    }

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
