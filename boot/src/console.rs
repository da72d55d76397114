//! The init's console and kmsg lines, written by the init and parsed by the QEMU runner and the
//! tests from this one module. They are stable API:
//!
//! - `netroot-init: [  1.234] phase=<phase> key=value ...` per phase,
//! - `netroot-init: FAILED phase=<phase> reason=<text>` exactly once on a fatal error,
//! - `netroot-init: OK root=<server:/path> bond=<up>/<total> t=<secs>` exactly once before exec.
//!
//! Parsers are strict: a line with the right prefix but the wrong shape is an error (its text
//! names the field and quotes the line), not a miss.

use std::time::Duration;

/// Prefix of every line the init prints.
pub const INIT_PREFIX: &str = "netroot-init:";
/// Prefix of the one line before the init execs the real init.
pub const OK_PREFIX: &str = "netroot-init: OK ";
/// Prefix of the one line of a fatal error.
pub const FAILED_PREFIX: &str = "netroot-init: FAILED ";

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

/// `[  1.234]`: seconds since kernel start with millisecond precision.
pub fn timestamp(t: Duration) -> String {
    format!("[{:3}.{:03}]", t.as_secs(), t.subsec_millis())
}

/// `netroot-init: [  1.234] phase=modules loaded=12`.
pub fn phase_line(t: Duration, phase: &str, text: &str) -> String {
    format!("{INIT_PREFIX} {} phase={phase} {text}", timestamp(t))
}

/// Makes a free-text value safe for a one-line log: control characters become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `netroot-init: FAILED phase=nfs reason=...`.
pub fn failed_line(phase: &str, reason: &str) -> String {
    format!(
        "{INIT_PREFIX} FAILED phase={phase} reason={}",
        one_line(reason)
    )
}

/// `netroot-init: OK root=10.0.2.2:/export bond=3/4 t=7.123`.
pub fn ok_line(root: &str, ports_up: usize, ports_total: usize, t: Duration) -> String {
    format!(
        "{INIT_PREFIX} OK root={root} bond={ports_up}/{ports_total} t={}.{:03}",
        t.as_secs(),
        t.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_formats_are_stable() {
        let t = Duration::from_millis(1234);
        assert_eq!(timestamp(t), "[  1.234]");
        assert_eq!(timestamp(Duration::from_secs(1234)), "[1234.000]");
        assert_eq!(
            phase_line(t, "modules", "loaded=12"),
            "netroot-init: [  1.234] phase=modules loaded=12"
        );
        assert_eq!(
            failed_line("dhcp", "no lease\nafter 60s"),
            "netroot-init: FAILED phase=dhcp reason=no lease after 60s"
        );
        assert_eq!(
            ok_line("10.0.2.2:/export", 3, 4, Duration::from_millis(7005)),
            "netroot-init: OK root=10.0.2.2:/export bond=3/4 t=7.005"
        );
    }
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
    fn every_written_line_parses_back() {
        let t = Duration::from_millis(65_432);
        let ok = parse_ok_line(&ok_line("10.0.0.1:/srv/compute/g1", 3, 4, t)).expect("ok");
        assert_eq!(
            (ok.root.as_str(), ok.ports_up, ok.ports_total, ok.t),
            ("10.0.0.1:/srv/compute/g1", 3, 4, t)
        );
        let f = parse_failed_line(&failed_line("nfs", "not mounted:\tENOENT")).expect("failed");
        assert_eq!(
            (f.phase.as_str(), f.reason.as_str()),
            ("nfs", "not mounted: ENOENT")
        );
        let p = parse_phase_line(&phase_line(t, "bond", "name=bond0 ports=4/4"))
            .expect("a phase line")
            .expect("valid");
        assert_eq!(
            (p.t, p.phase.as_str(), p.text.as_str()),
            (t, "bond", "name=bond0 ports=4/4")
        );
        for phase in crate::phase::Phase::ALL {
            let line = phase_line(t, phase.name(), "x=1");
            let p = parse_phase_line(&line).expect("phase line").expect("valid");
            assert_eq!(p.phase.parse::<crate::phase::Phase>(), Ok(phase));
        }
    }
}
