//! The build's child processes (mmdebstrap): run in their own process group, output read as it
//! comes, interruptions forwarded.
//!
//! A terminal's Ctrl-C signals the whole foreground process group. If the child shared
//! netroot's group it would get SIGINT while netroot decides what to do, and a SIGTERM sent to
//! netroot alone would never reach it; worse, a netroot that died would close the child's
//! output pipe and its cleanup would die of SIGPIPE, which is how an interrupted mmdebstrap
//! used to leave four live mounts and its temporary tree behind. So the child gets its own
//! group, and [`run`] polls [`crate::interrupt`] while it waits: on an interrupt it sends the
//! same signal to the child's group once, keeps reading its output until it exits, and only
//! then returns [`Ended::Interrupted`]. A child that ignores the signal for [`KILL_GRACE`] is
//! killed.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use crate::interrupt::{self, Interrupted};

/// How often the wait looks at the child and the interrupt flag: short enough that Ctrl-C is
/// forwarded at once, long enough to cost nothing.
const POLL: Duration = Duration::from_millis(50);
/// How long an interrupted child may take to clean up before it is killed: mmdebstrap's
/// unmounting and removal of a minbase tree take a few seconds.
pub const KILL_GRACE: Duration = Duration::from_secs(60);

/// How a child run ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited on its own.
    Exited(Finished),
    /// It was sent the interruption and has exited since.
    Interrupted(Interrupted, Finished),
}

/// A child's exit status and the last lines of its output (stdout and stderr as they came).
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub tail: Vec<String>,
}

/// Runs `cmd` (stdin closed, stdout and stderr read line by line: each line goes to `on_line`,
/// the last `keep` are returned) to its end, forwarding an interruption as described above.
pub fn run(cmd: &mut Command, keep: usize, on_line: &(dyn Fn(&str) + Sync)) -> io::Result<Ended> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let tail = Mutex::new(VecDeque::with_capacity(keep));
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (status, forwarded) = std::thread::scope(|s| {
        for pipe in [stdout.map(as_read), stderr.map(as_read)]
            .into_iter()
            .flatten()
        {
            let tail = &tail;
            s.spawn(move || read_lines(pipe, keep, tail, on_line));
        }
        let waited = wait(&mut child);
        if waited.is_err() {
            // The pipes close only when the child is gone: do not leave the readers waiting.
            let _ = child.kill();
            let _ = child.wait();
        }
        waited
    })?;
    let tail = tail.into_inner().unwrap_or_else(|p| p.into_inner());
    let finished = Finished {
        status,
        tail: tail.into(),
    };
    Ok(match forwarded {
        Some(i) => Ended::Interrupted(i, finished),
        None => Ended::Exited(finished),
    })
}

fn as_read(r: impl Read + Send + 'static) -> Box<dyn Read + Send> {
    Box::new(r)
}

/// Waits for `child`, forwarding the first interruption to its group and killing the group
/// after [`KILL_GRACE`]; returns the status and the interruption forwarded, if any.
fn wait(child: &mut std::process::Child) -> io::Result<(ExitStatus, Option<Interrupted>)> {
    let group = Pid::from_raw(i32::try_from(child.id()).map_err(io::Error::other)?)
        .ok_or_else(|| io::Error::other("child has pid 0"))?;
    let mut forwarded: Option<(Interrupted, Instant)> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            if forwarded.is_some() {
                // What the interrupted child left running in its group (a dpkg of its chroot)
                // would keep the output pipes, and so this wait, open.
                signal_group(group, Signal::KILL)?;
            }
            return Ok((status, forwarded.map(|(i, _)| i)));
        }
        match (forwarded, interrupt::requested()) {
            (None, Some(i)) => {
                let sig = Signal::from_named_raw(i.signal).unwrap_or(Signal::INT);
                tracing::info!(pid = child.id(), signal = %interrupt::signal_name(i.signal), "forwarding the interrupt to the child");
                signal_group(group, sig)?;
                forwarded = Some((i, Instant::now()));
            }
            (Some((_, since)), _) if since.elapsed() > KILL_GRACE => {
                tracing::warn!(
                    pid = child.id(),
                    "the child ignored the interrupt: killing it"
                );
                signal_group(group, Signal::KILL)?;
            }
            _ => {}
        }
        std::thread::sleep(POLL);
    }
}

/// Signals the process group `group`; one that has already gone (ESRCH: the child exited
/// between the poll and now) is no error.
fn signal_group(group: Pid, sig: Signal) -> io::Result<()> {
    match kill_process_group(group, sig) {
        Err(rustix::io::Errno::SRCH) => Ok(()),
        other => other.map_err(io::Error::from),
    }
}

/// Reads `pipe` to its end, line by line (lossy UTF-8), into `tail` (the last `keep` lines of
/// every pipe) and `on_line`. A read error ends the reading: the child's status still says how
/// it ended, and the lines so far are kept.
fn read_lines(
    pipe: Box<dyn Read + Send>,
    keep: usize,
    tail: &Mutex<VecDeque<String>>,
    on_line: &(dyn Fn(&str) + Sync),
) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the child's output");
                return;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        on_line(line);
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if keep > 0 {
            if t.len() == keep {
                t.pop_front();
            }
            t.push_back(line.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tail_and_status() {
        let seen = Mutex::new(Vec::new());
        let on_line = |l: &str| seen.lock().unwrap().push(l.to_owned());
        let ended = run(
            Command::new("sh").args([
                "-c",
                "for i in 1 2 3 4; do echo out$i; done; echo err >&2; exit 3",
            ]),
            3,
            &on_line,
        )
        .unwrap();
        let Ended::Exited(f) = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.tail.len(), 3);
        assert!(f.tail.contains(&"out4".to_owned()), "{:?}", f.tail);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(seen.contains(&"err".to_owned()));
    }

    #[test]
    fn the_child_has_its_own_process_group() {
        let ended = run(
            Command::new("sh").args(["-c", "ps -o pgid= -p $$; ps -o pgid= -p $PPID"]),
            2,
            &|_| {},
        )
        .unwrap();
        let Ended::Exited(f) = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(f.tail.len(), 2, "{:?}", f.tail);
        assert_ne!(f.tail[0].trim(), f.tail[1].trim(), "same group as netroot");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run(&mut Command::new("/nonexistent/netroot-child"), 1, &|_| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
