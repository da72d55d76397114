//! Build progress: an indicatif spinner on a terminal, plain lines otherwise (CI logs) or with
//! `-v` (log lines in between), nothing with `-q`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::log::Chatter;
use crate::pipeline::Progress;

/// Spinner refresh interval.
const TICK: Duration = Duration::from_millis(80);
/// Interval between byte-progress lines in a log (no terminal): a 6 s kernel extraction shows
/// a few lines, not one per report.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// `bytes` in MiB with one decimal, as the progress lines show it.
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 20))
}

/// Progress output for `netroot build`.
#[derive(Debug)]
pub enum CliProgress {
    Spinner(ProgressBar),
    Lines {
        profile: String,
        /// When the last byte-progress line was printed: at most one per [`LINE_EVERY`].
        last_bytes: Mutex<Option<Instant>>,
    },
    /// `--json`: no progress; warnings still on stderr.
    Silent,
    /// `-q`: no progress and no warnings (the summary carries them).
    Mute,
}

impl CliProgress {
    /// A spinner when stderr is a terminal (and no `-v`), else plain lines; nothing with
    /// `--json` or `-q`.
    pub fn new(profile: &str, json: bool, chatter: Chatter) -> CliProgress {
        if chatter == Chatter::Quiet {
            CliProgress::Mute
        } else if json {
            CliProgress::Silent
        } else if chatter == Chatter::Normal && std::io::stderr().is_terminal() {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} [{prefix}] {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_prefix(profile.to_string());
            pb.enable_steady_tick(TICK);
            CliProgress::Spinner(pb)
        } else {
            CliProgress::Lines {
                profile: profile.to_string(),
                last_bytes: Mutex::new(None),
            }
        }
    }

    pub fn finish(&self) {
        if let CliProgress::Spinner(pb) = self {
            pb.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn stage(&self, name: &str) {
        match self {
            CliProgress::Spinner(pb) => pb.set_message(name.to_string()),
            CliProgress::Lines { profile, .. } => eprintln!("netroot: [{profile}] {name}"),
            CliProgress::Silent | CliProgress::Mute => {}
        }
    }

    fn bytes(&self, what: &str, done: u64, total: u64) {
        let text = || match total {
            0 => format!("{what} {} MiB", mib(done)),
            _ => format!("{what} {} / {} MiB", mib(done), mib(total)),
        };
        match self {
            CliProgress::Spinner(pb) => pb.set_message(text()),
            CliProgress::Lines {
                profile,
                last_bytes,
            } => {
                let mut last = last_bytes.lock().unwrap_or_else(|p| p.into_inner());
                let due = last.is_none_or(|t| t.elapsed() >= LINE_EVERY);
                // The first report and the last always show; in between one per LINE_EVERY.
                if due || (total > 0 && done >= total) {
                    eprintln!("netroot: [{profile}] {}", text());
                    *last = Some(Instant::now());
                }
            }
            CliProgress::Silent | CliProgress::Mute => {}
        }
    }

    fn warn(&self, message: &str) {
        match self {
            CliProgress::Spinner(pb) => pb.println(format!("warning: {message}")),
            CliProgress::Lines { .. } | CliProgress::Silent => {
                eprintln!("netroot: warning: {message}")
            }
            CliProgress::Mute => {}
        }
    }
}

/// The lock-wait note for `chatter`: none with `-q`.
pub fn lock_note(chatter: Chatter) -> Option<crate::publish::LockWaitFn> {
    (chatter != Chatter::Quiet).then_some(lock_wait as crate::publish::LockWaitFn)
}

/// Says on stderr that a publish, rollback or gc waits for another one's lock, and whose.
fn lock_wait(path: &std::path::Path, holder: Option<u32>) {
    let who = holder.map_or_else(|| "another process".to_string(), |pid| format!("pid {pid}"));
    eprintln!(
        "netroot: waiting for the publish lock {} (held by {who}; up to {} min)",
        path.display(),
        crate::publish::LOCK_TIMEOUT.as_secs() / 60
    );
}
