//! The publish hook: a shell command run after activation (`exportfs -ra`, an rsync to the second
//! master, ...). Its failure is reported, never undone: the new generation stays active.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Longest a hook may run: an rsync of a fresh root tree to the second master can take minutes,
/// but a hung hook must not hold the publish lock forever.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often the hook's exit is polled.
const HOOK_POLL: Duration = Duration::from_millis(20);
/// Bytes of the hook's combined output kept in the report.
const OUTPUT_TAIL: u64 = 4096;

/// What the hook did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookReport {
    pub command: String,
    pub success: bool,
    /// Exit code (`None` when killed by a signal or the timeout).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last bytes of its stdout and stderr.
    pub output: String,
    /// Set when the hook could not even be started.
    pub error: Option<String>,
}

/// Runs `command` with `sh -c` and the given environment, waiting at most `timeout`.
pub fn run_hook(command: &str, env: &[(&str, &str)], cwd: &Path, timeout: Duration) -> HookReport {
    let mut report = HookReport {
        command: command.to_string(),
        success: false,
        exit_code: None,
        timed_out: false,
        output: String::new(),
        error: None,
    };
    let out = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(format!("cannot create a file for the hook's output: {e}"));
            return report;
        }
    };
    let spawned = out.try_clone().and_then(|out2| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(command)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out2.try_clone()?))
            .stderr(Stdio::from(out2));
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn()
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("cannot run sh: {e}"));
            return report;
        }
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() >= timeout => {
                report.timed_out = true;
                // An error here means the child already exited; wait() reaps it either way.
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(HOOK_POLL),
            Err(e) => {
                report.error = Some(format!("waiting for the hook: {e}"));
                // Best effort: the wait error is already reported.
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    report.exit_code = status.and_then(|s| s.code());
    report.success = !report.timed_out && status.is_some_and(|s| s.success());
    report.output = tail(out);
    report
}

/// The last [`OUTPUT_TAIL`] bytes of the output file (or why it could not be read).
fn tail(mut f: std::fs::File) -> String {
    let mut b = Vec::new();
    let read = f
        .seek(SeekFrom::End(0))
        .and_then(|len| f.seek(SeekFrom::Start(len.saturating_sub(OUTPUT_TAIL))))
        .and_then(|_| f.read_to_end(&mut b));
    match read {
        Ok(_) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("(hook output unreadable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_env_and_reports_failure_and_timeout() {
        let d = tempfile::tempdir().unwrap();
        let r = run_hook(
            "echo \"$PROFILE $GEN\"; echo err >&2",
            &[("PROFILE", "p"), ("GEN", "g1")],
            d.path(),
            HOOK_TIMEOUT,
        );
        assert!(r.success, "{r:?}");
        assert_eq!(r.output, "p g1\nerr\n");
        let r = run_hook("exit 3", &[], d.path(), HOOK_TIMEOUT);
        assert!(!r.success);
        assert_eq!(r.exit_code, Some(3));
        let r = run_hook("sleep 5", &[], d.path(), Duration::from_millis(100));
        assert!(r.timed_out && !r.success);
    }
}
