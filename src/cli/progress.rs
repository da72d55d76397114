//! Build progress: an indicatif spinner on a terminal, plain lines otherwise (CI logs) or with
//! `-v` (log lines in between), nothing with `-q`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::log::Chatter;
use crate::pipeline::Progress;

/// Spinner refresh interval.
const TICK: Duration = Duration::from_millis(80);

/// Progress output for `netroot build`.
#[derive(Debug)]
pub enum CliProgress {
    Spinner(ProgressBar),
    Lines {
        profile: String,
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
            CliProgress::Lines { profile } => eprintln!("netroot: [{profile}] {name}"),
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
