//! The init's console/kmsg line formats. QEMU tests grep these, so they are stable API:
//!
//! - `netroot-init: [  1.234] phase=<phase> key=value ...` per phase,
//! - `netroot-init: FAILED phase=<phase> reason=<text>` exactly once on a fatal error,
//! - `netroot-init: OK root=<server:/path> bond=<up>/<total> t=<secs>` exactly once before exec.

use std::time::Duration;

/// Prefix of every line the init prints.
pub const PREFIX: &str = "netroot-init:";

/// `[  1.234]`: seconds since kernel start with millisecond precision.
pub fn timestamp(t: Duration) -> String {
    format!("[{:3}.{:03}]", t.as_secs(), t.subsec_millis())
}

/// `netroot-init: [  1.234] phase=modules loaded=12`.
pub fn phase_line(t: Duration, phase: &str, text: &str) -> String {
    format!("{PREFIX} {} phase={phase} {text}", timestamp(t))
}

/// Makes a free-text value safe for a one-line log: control characters become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `netroot-init: FAILED phase=nfs reason=...`.
pub fn failed_line(phase: &str, reason: &str) -> String {
    format!("{PREFIX} FAILED phase={phase} reason={}", one_line(reason))
}

/// `netroot-init: OK root=10.0.2.2:/export bond=3/4 t=7.123`.
pub fn ok_line(root: &str, ports_up: usize, ports_total: usize, t: Duration) -> String {
    format!(
        "{PREFIX} OK root={root} bond={ports_up}/{ports_total} t={}.{:03}",
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
}
