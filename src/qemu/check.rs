//! `--check`: watches the console for the init's verdict and the real root's success marker.
//! A pass needs the init's `OK` line and, after it, a line containing the marker (by default the
//! login prompt). The run stops at the first decisive line: the marker, the init's `FAILED`
//! line, or a kernel panic; otherwise QEMU's exit or the timeout decides.

use std::time::Duration;

use super::console::{FAILED_PREFIX, KERNEL_PANIC, OK_PREFIX};
use super::runner::{Exit, TimedLine, Watch};
use super::timeline::{Timeline, TimelineBuilder};

/// The default success marker: a getty's login prompt (`hostname login:`).
pub const DEFAULT_MARKER: &str = "login:";

/// The outcome of a checked boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub pass: bool,
    /// What decided it: `marker "login:" at 33.2s`, or the failure.
    pub reason: String,
    pub timeline: Timeline,
}

/// Watches console lines as they arrive.
#[derive(Debug, Clone)]
pub struct CheckWatch {
    marker: String,
    timeline: TimelineBuilder,
    ok: Option<TimedLine>,
    failed: Option<TimedLine>,
    panic: Option<TimedLine>,
    marker_at: Option<Duration>,
}

impl CheckWatch {
    pub fn new(marker: &str, loader_needle: &str) -> Self {
        CheckWatch {
            marker: marker.to_string(),
            timeline: TimelineBuilder::new(loader_needle),
            ok: None,
            failed: None,
            panic: None,
            marker_at: None,
        }
    }

    /// Takes one line; `Stop` once the verdict is known.
    pub fn observe(&mut self, line: &TimedLine) -> Watch {
        self.timeline.observe(line);
        if self.ok.is_some() {
            if line.text.contains(&self.marker) {
                self.marker_at = Some(line.at);
                return Watch::Stop;
            }
        } else if line.text.starts_with(OK_PREFIX) {
            self.ok = Some(line.clone());
        }
        if line.text.starts_with(FAILED_PREFIX) {
            self.failed = Some(line.clone());
            return Watch::Stop;
        }
        if line.text.contains(KERNEL_PANIC) {
            self.panic = Some(line.clone());
            return Watch::Stop;
        }
        Watch::Continue
    }

    /// Sees the console's unfinished last line: a marker that is a prompt (`login: `) never
    /// gets a newline. Only the marker is looked for; OK and FAILED lines end with one.
    pub fn observe_prompt(&mut self, line: &TimedLine) -> Watch {
        if self.ok.is_some() && self.marker_at.is_none() && line.text.contains(&self.marker) {
            self.marker_at = Some(line.at);
            return Watch::Stop;
        }
        Watch::Continue
    }

    /// The verdict once QEMU has ended with `exit` (`timeout`: the run's limit, for messages).
    pub fn verdict(
        &self,
        exit: Exit,
        shutdown: Option<&str>,
        timeout: Option<Duration>,
    ) -> Verdict {
        let timeline = self.timeline.timeline().clone();
        let secs = |d: Duration| format!("{:.1}s", d.as_secs_f64());
        let waiting_for = if self.ok.is_some() {
            format!("the marker {:?} after the OK line", self.marker)
        } else {
            "the init's OK line".to_string()
        };
        let last = timeline
            .last_reached()
            .map(|s| s.name())
            .unwrap_or("nothing on the console");
        let (pass, reason) = if let Some(f) = &self.failed {
            (false, format!("{} (at {})", f.text.trim(), secs(f.at)))
        } else if let Some(p) = &self.panic {
            (false, format!("{} (at {})", p.text.trim(), secs(p.at)))
        } else if let (Some(ok), Some(at)) = (&self.ok, self.marker_at) {
            (
                true,
                format!(
                    "{} at {}, marker {:?} at {}",
                    ok.text.trim(),
                    secs(ok.at),
                    self.marker,
                    secs(at)
                ),
            )
        } else {
            let how = match exit {
                Exit::TimedOut => format!(
                    "timed out after {} waiting for {waiting_for}",
                    timeout.map(secs).unwrap_or_else(|| "the limit".into())
                ),
                Exit::Exited(status) => format!(
                    "qemu exited ({status}{}) while waiting for {waiting_for}",
                    shutdown.map(|s| format!(", {s}")).unwrap_or_default()
                ),
                Exit::Interrupted => format!("interrupted while waiting for {waiting_for}"),
                Exit::Stopped => format!("stopped while waiting for {waiting_for}"),
            };
            (false, format!("{how}; last stage reached: {last}"))
        };
        Verdict {
            pass,
            reason,
            timeline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn line(ms: u64, text: &str) -> TimedLine {
        TimedLine {
            at: Duration::from_millis(ms),
            text: text.to_string(),
        }
    }

    fn feed(w: &mut CheckWatch, lines: &[TimedLine]) -> Vec<Watch> {
        lines.iter().map(|l| w.observe(l)).collect()
    }

    const OK: &str = "netroot-init: OK root=10.0.2.2:/export bond=4/4 t=5.610";

    #[test]
    fn a_prompt_marker_matches_the_unfinished_line_after_the_ok_line() {
        let mut w = CheckWatch::new("login:", "Booting from ROM");
        // Before the OK line a prompt is the firmware's, not the root's.
        assert_eq!(
            w.observe_prompt(&line(400, "boot: login: ")),
            Watch::Continue
        );
        assert_eq!(w.observe(&line(11500, OK)), Watch::Continue);
        assert_eq!(w.observe_prompt(&line(33000, "qemu log")), Watch::Continue);
        assert_eq!(w.observe_prompt(&line(33200, "qemu login: ")), Watch::Stop);
        let v = w.verdict(Exit::Stopped, None, None);
        assert!(v.pass, "{}", v.reason);
        assert!(
            v.reason.contains("marker \"login:\" at 33.2s"),
            "{}",
            v.reason
        );
        // OK and FAILED are never taken from an unfinished line.
        let mut w = CheckWatch::new("login:", "Booting from ROM");
        assert_eq!(w.observe_prompt(&line(100, OK)), Watch::Continue);
        assert_eq!(
            w.observe_prompt(&line(100, "netroot-init: FAILED phase=nfs")),
            Watch::Continue
        );
        assert!(!w.verdict(Exit::TimedOut, None, None).pass);
    }

    #[test]
    fn the_marker_counts_only_after_the_ok_line() {
        let mut w = CheckWatch::new("login:", "Booting from ROM");
        let watch = feed(
            &mut w,
            &[
                line(300, "SeaBIOS"),
                line(500, "firmware login: prompt that is not the root's"),
                line(11500, OK),
                line(20000, "Debian GNU/Linux 12 node ttyS0"),
                line(33200, "node login: "),
            ],
        );
        assert_eq!(
            watch,
            [
                Watch::Continue,
                Watch::Continue,
                Watch::Continue,
                Watch::Continue,
                Watch::Stop
            ]
        );
        let v = w.verdict(Exit::Stopped, None, Some(Duration::from_secs(300)));
        assert!(v.pass);
        assert_eq!(
            v.reason,
            format!("{OK} at 11.5s, marker \"login:\" at 33.2s")
        );
        assert_eq!(
            v.timeline.to_string().split(" → ").last(),
            Some("real-init 20.0s")
        );
    }

    #[test]
    fn a_failed_line_stops_and_is_the_reason() {
        let mut w = CheckWatch::new("login:", "x");
        let failed =
            "netroot-init: FAILED phase=nfs reason=10.0.2.2:/missing: not mounted after 8s";
        let watch = feed(
            &mut w,
            &[
                line(9000, "netroot-init: [  4.900] phase=dhcp source=dhcp"),
                line(17000, failed),
            ],
        );
        assert_eq!(watch, [Watch::Continue, Watch::Stop]);
        let v = w.verdict(Exit::Stopped, None, None);
        assert!(!v.pass);
        assert_eq!(v.reason, format!("{failed} (at 17.0s)"));
    }

    #[test]
    fn a_kernel_panic_stops() {
        let mut w = CheckWatch::new("login:", "x");
        let panic = "[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs";
        assert_eq!(w.observe(&line(4000, panic)), Watch::Stop);
        let v = w.verdict(Exit::Stopped, None, None);
        assert_eq!(v.reason, format!("{} (at 4.0s)", panic.trim()));
    }

    #[test]
    fn without_a_decisive_line_the_exit_decides() {
        let mut w = CheckWatch::new("DONE", "x");
        feed(
            &mut w,
            &[
                line(300, "SeaBIOS (version 1)"),
                line(5000, "[ 0.0] Linux version 6.1"),
            ],
        );
        let v = w.verdict(Exit::TimedOut, None, Some(Duration::from_secs(90)));
        assert_eq!(
            v.reason,
            "timed out after 90.0s waiting for the init's OK line; last stage reached: kernel"
        );
        w.observe(&line(11000, OK));
        let v = w.verdict(
            Exit::Exited(ExitStatus::from_raw(0)),
            Some("guest-shutdown"),
            None,
        );
        assert_eq!(
            v.reason,
            "qemu exited (exit status: 0, guest-shutdown) while waiting for the marker \"DONE\" after the OK line; last stage reached: switch_root"
        );
        let v = CheckWatch::new("DONE", "x").verdict(Exit::Interrupted, None, None);
        assert_eq!(
            v.reason,
            "interrupted while waiting for the init's OK line; last stage reached: nothing on the console"
        );
        assert!(!v.pass);
    }
}
