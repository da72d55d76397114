//! Build progress: an indicatif spinner on a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::pipeline::Progress;

/// Spinner refresh interval.
const TICK: Duration = Duration::from_millis(80);

/// Progress output for `netroot build`.
#[derive(Debug)]
pub enum CliProgress {
    Spinner(ProgressBar),
    Lines { profile: String },
    Silent,
}

impl CliProgress {
    /// A spinner when stderr is a terminal, else plain lines; nothing with `--json`.
    pub fn new(profile: &str, json: bool) -> CliProgress {
        if json {
            CliProgress::Silent
        } else if std::io::stderr().is_terminal() {
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
            CliProgress::Silent => {}
        }
    }

    fn warn(&self, message: &str) {
        match self {
            CliProgress::Spinner(pb) => pb.println(format!("warning: {message}")),
            CliProgress::Lines { .. } | CliProgress::Silent => {
                eprintln!("netroot: warning: {message}")
            }
        }
    }
}

/// Says on stderr that a publish, rollback or gc waits for another one's lock, and whose.
pub fn lock_wait(path: &std::path::Path, holder: Option<u32>) {
    let who = holder.map_or_else(|| "another process".to_string(), |pid| format!("pid {pid}"));
    eprintln!(
        "netroot: waiting for the publish lock {} (held by {who}; up to {} min)",
        path.display(),
        crate::publish::LOCK_TIMEOUT.as_secs() / 60
    );
}
