//! How a run ended ([`Outcome`]) and the two ways it is told: the one-line summary
//! (`netroot qemu: PASS|FAIL ... | timeline | log PATH`) and, for `--check --json`, the same
//! verdict as a [`Report`] (profile, settings, pass, reason, each timeline stage's seconds, the
//! log path, wall time, how QEMU ended and the command's exit status).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::accel::KvmProbe;
use super::args::Accel;
use super::check::Verdict;
use super::loader::Loader;
use super::runner::Exit;
use super::session::Network;
use super::timeline::Timeline;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub profile: String,
    pub loader: Loader,
    pub accel: Accel,
    pub network: Network,
    /// The KVM probe's finding when `--accel auto` probed.
    pub probe: Option<KvmProbe>,
    /// The serial console log.
    pub log: PathBuf,
    pub exit: Exit,
    /// QEMU's start to its end.
    pub wall: Duration,
    /// The check's verdict (`None` in interactive mode).
    pub verdict: Option<Verdict>,
    pub timeline: Timeline,
}

impl Outcome {
    /// The one-line summary: `netroot qemu: PASS|FAIL profile=.. loader=.. accel=..: why |
    /// timeline | log PATH` (interactive runs: how QEMU ended instead of a verdict).
    pub fn summary_line(&self) -> String {
        let head = match &self.verdict {
            Some(v) => format!(
                "{} {}",
                if v.pass { "PASS" } else { "FAIL" },
                self.settings()
            ),
            None => self.settings(),
        };
        format!(
            "netroot qemu: {head}: {} | {} | log {}",
            self.reason(),
            self.timeline,
            self.log.display()
        )
    }

    /// What decided the run: the verdict's reason, or how QEMU ended.
    fn reason(&self) -> String {
        let wall = self.wall.as_secs_f64();
        match (&self.verdict, self.exit) {
            (Some(v), _) => v.reason.clone(),
            (None, Exit::Exited(status)) => format!("qemu exited ({status}) after {wall:.1}s"),
            (None, Exit::TimedOut) => format!("qemu killed at the timeout after {wall:.1}s"),
            (None, Exit::Interrupted) => "interrupted".to_string(),
            (None, Exit::Stopped) => "stopped".to_string(),
        }
    }

    fn settings(&self) -> String {
        format!(
            "profile={} loader={} accel={}",
            self.profile,
            self.loader.name(),
            self.accel.as_str()
        )
    }

    /// Whether a check passed (interactive: QEMU exited successfully).
    pub fn success(&self) -> bool {
        match &self.verdict {
            Some(v) => v.pass,
            None => matches!(self.exit, Exit::Exited(s) if s.success()),
        }
    }

    /// The verdict as a [`Report`]; `exit` is the status the command exits with.
    pub fn report(&self, exit: u8) -> Report {
        let (how, status) = match self.exit {
            Exit::Exited(s) => ("exited", s.code()),
            Exit::TimedOut => ("timed-out", None),
            Exit::Stopped => ("stopped", None),
            Exit::Interrupted => ("interrupted", None),
        };
        Report {
            profile: self.profile.clone(),
            loader: self.loader.name(),
            accel: self.accel.as_str(),
            network: self.network.as_str(),
            pass: self.success(),
            reason: self.reason(),
            timeline: self
                .timeline
                .stages
                .iter()
                .map(|(stage, at)| StageTime {
                    stage: stage.name(),
                    seconds: at.map(|t| t.as_secs_f64()),
                })
                .collect(),
            log: self.log.clone(),
            wall_seconds: self.wall.as_secs_f64(),
            qemu: QemuEnd { how, status },
            exit,
            line: self.summary_line(),
        }
    }
}

/// A run's verdict for `--json`; its text is the summary line.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub loader: &'static str,
    pub accel: &'static str,
    pub network: &'static str,
    pub pass: bool,
    pub reason: String,
    /// Every stage in boot order, `seconds` null when never seen.
    pub timeline: Vec<StageTime>,
    pub log: PathBuf,
    pub wall_seconds: f64,
    pub qemu: QemuEnd,
    /// The command's exit status (as in a failure's `{"error", "exit"}`).
    pub exit: u8,
    #[serde(skip)]
    line: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.line)
    }
}

/// When one stage was first seen, seconds after QEMU's start.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub seconds: Option<f64>,
}

/// How QEMU ended: `exited` (with its status code), `timed-out`, `stopped` (the check had its
/// answer) or `interrupted`.
#[derive(Debug, Clone, Serialize)]
pub struct QemuEnd {
    pub how: &'static str,
    pub status: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::timeline::Stage;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn outcome(verdict: Option<Verdict>, exit: Exit) -> Outcome {
        Outcome {
            profile: "qemu".into(),
            loader: Loader::Ipxe,
            accel: Accel::Tcg,
            network: Network::Hub,
            probe: None,
            log: "/out/.qemu/qemu/console.log".into(),
            exit,
            wall: Duration::from_millis(40_060),
            verdict,
            timeline: Timeline {
                stages: Stage::ALL
                    .iter()
                    .map(|s| {
                        (
                            *s,
                            (*s == Stage::Kernel).then(|| Duration::from_millis(2500)),
                        )
                    })
                    .collect(),
            },
        }
    }

    fn failed() -> Verdict {
        Verdict {
            pass: false,
            reason: "netroot-init: FAILED phase=nfs reason=x (at 17.0s)".into(),
            timeline: Timeline { stages: vec![] },
        }
    }

    #[test]
    fn summary_lines_are_one_line_with_settings_timeline_and_log() {
        let o = outcome(Some(failed()), Exit::Stopped);
        let line = o.summary_line();
        assert!(line.starts_with("netroot qemu: FAIL profile=qemu loader=ipxe accel=tcg: netroot-init: FAILED phase=nfs reason=x (at 17.0s) | firmware - → "), "{line}");
        assert!(
            line.ends_with(" | log /out/.qemu/qemu/console.log"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(!o.success());
        let i = outcome(None, Exit::Exited(ExitStatus::from_raw(0)));
        assert!(i
            .summary_line()
            .starts_with("netroot qemu: profile=qemu loader=ipxe accel=tcg: qemu exited (exit status: 0) after 40.1s | "));
        assert!(i.success());
    }

    #[test]
    fn the_json_report_carries_the_verdict_and_every_stage() {
        let o = outcome(Some(failed()), Exit::Stopped);
        let v = serde_json::to_value(o.report(1)).unwrap();
        assert_eq!(v["profile"], "qemu");
        assert_eq!(v["loader"], "ipxe");
        assert_eq!(v["accel"], "tcg");
        assert_eq!(v["network"], "hub");
        assert_eq!(v["pass"], false);
        assert_eq!(
            v["reason"],
            "netroot-init: FAILED phase=nfs reason=x (at 17.0s)"
        );
        assert_eq!(v["log"], "/out/.qemu/qemu/console.log");
        assert_eq!(v["wall_seconds"], 40.06);
        assert_eq!(
            v["qemu"],
            serde_json::json!({"how": "stopped", "status": null})
        );
        assert_eq!(v["exit"], 1);
        let stages = v["timeline"].as_array().unwrap();
        assert_eq!(stages.len(), Stage::ALL.len());
        assert_eq!(
            stages[0],
            serde_json::json!({"stage": "firmware", "seconds": null})
        );
        assert_eq!(
            stages[2],
            serde_json::json!({"stage": "kernel", "seconds": 2.5})
        );
        assert!(v.get("line").is_none(), "the text is not a field: {v}");
        // Its text is the summary line.
        assert_eq!(o.report(1).to_string(), format!("{}\n", o.summary_line()));

        let mut passed = outcome(None, Exit::Exited(ExitStatus::from_raw(0)));
        passed.network = Network::Lacp;
        let v = serde_json::to_value(passed.report(0)).unwrap();
        assert_eq!(
            (v["pass"].clone(), v["network"].clone()),
            (true.into(), "lacp".into())
        );
        assert_eq!(v["qemu"], serde_json::json!({"how": "exited", "status": 0}));
    }
}
