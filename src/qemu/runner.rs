//! Runs one VM: QEMU started paused with its serial console in a log file that is read while the
//! VM runs (each line keeps the time it appeared, from QEMU's start), link states set over QMP
//! before the guest starts, then polled until QEMU exits, the caller's watcher says stop, the
//! timeout passes or the interrupt flag is raised. The watcher may also change a NIC's link
//! state while the guest runs ([`Watch::SetLink`], a cable pull for the fault tests). QEMU is killed on every one of those paths
//! and when the runner unwinds ([`ChildGuard`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use super::args::{qemu_args, ConsoleMode, VmSpec};
use super::console::Console;
use super::qmp::{self, Qmp};
use super::QemuError;

/// Poll interval of the serial log, the QEMU process and the interrupt flag; also the time
/// resolution of the console timeline.
const POLL: Duration = Duration::from_millis(50);
/// QEMU creates its QMP socket before anything slow; 10 s covers a loaded machine.
const QMP_SOCKET_WAIT: Duration = Duration::from_secs(10);
/// After SIGTERM QEMU restores the terminal and exits within milliseconds; past this it is
/// SIGKILLed (a guest wedged under KVM can ignore nothing, but QEMU's main loop can be stuck).
const TERM_GRACE: Duration = Duration::from_secs(2);
/// Poll interval while waiting for a terminated child.
const REAP_POLL: Duration = Duration::from_millis(20);

/// A console line and when it appeared, measured from QEMU's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedLine {
    pub at: Duration,
    pub text: String,
}

/// What the watcher wants after seeing a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Continue,
    /// Kill QEMU now: the run has its answer.
    Stop,
    /// Set the link of NIC `nic` (QEMU id `nic<N>`, the spec's MAC order) up or down over QMP,
    /// then go on.
    SetLink {
        nic: usize,
        up: bool,
    },
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// By itself (guest poweroff, a reset under `-no-reboot`, Ctrl-A x).
    Exited(ExitStatus),
    /// Killed at the timeout.
    TimedOut,
    /// Killed because the watcher had its answer.
    Stopped,
    /// Killed because the interrupt flag was raised (SIGINT/SIGTERM).
    Interrupted,
}

/// The result of one VM run.
#[derive(Debug)]
pub struct VmRun {
    pub lines: Vec<TimedLine>,
    pub exit: Exit,
    /// QEMU start to exit.
    pub wall: Duration,
    /// `reason` of QMP's SHUTDOWN event: `guest-shutdown` (poweroff), `guest-reset` (reboot).
    pub shutdown: Option<String>,
    /// QEMU's own stderr (warnings).
    pub stderr: String,
}

impl VmRun {
    pub fn console(&self) -> Console {
        Console::new(self.lines.iter().map(|l| l.text.clone()).collect())
    }

    /// When the first line starting with `prefix` appeared, from QEMU's start.
    pub fn seen_at(&self, prefix: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.starts_with(prefix))
            .map(|l| l.at)
    }

    /// The whole console with QEMU's stderr, for assertion and error messages.
    pub fn transcript(&self) -> String {
        let mut t: String = self.lines.iter().map(|l| format!("{}\n", l.text)).collect();
        t.push_str(&format!(
            "--- qemu: {:?} after {:.1}s, shutdown reason {:?}\n{}",
            self.exit,
            self.wall.as_secs_f64(),
            self.shutdown,
            self.stderr
        ));
        t
    }
}

/// Splits the serial bytes read so far into complete lines (CR stripped), keeping the rest.
pub fn take_lines(pending: &mut Vec<u8>, at: Duration, out: &mut Vec<TimedLine>) {
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        out.push(TimedLine {
            at,
            text: text.trim_end_matches(['\n', '\r']).to_string(),
        });
    }
}

/// Terminates a child when dropped: SIGTERM, then SIGKILL after a grace period; reaps it.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    grace: Duration,
}

impl ChildGuard {
    /// SIGTERM first, SIGKILL after `TERM_GRACE` (QEMU restores the terminal on SIGTERM).
    pub fn new(child: Child) -> Self {
        ChildGuard {
            child,
            grace: TERM_GRACE,
        }
    }

    /// SIGKILL at once (probes whose state is worthless).
    pub fn kill_on_drop(child: Child) -> Self {
        ChildGuard {
            child,
            grace: Duration::ZERO,
        }
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Terminates and reaps the child now (idempotent).
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if !self.grace.is_zero() {
            let start = Instant::now();
            // A failed SIGTERM (already exited) leaves the SIGKILL and wait below to settle it.
            let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
            while start.elapsed() < self.grace {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                sleep(REAP_POLL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawn errors, with a hint when the program is missing.
pub fn spawn_error(program: &Path, hint: &'static str) -> impl FnOnce(std::io::Error) -> QemuError {
    let program = program.to_path_buf();
    move |e| match e.kind() {
        std::io::ErrorKind::NotFound => QemuError::ToolMissing {
            program: program.display().to_string(),
            hint,
        },
        _ => QemuError::io("run", program)(e),
    }
}

/// Runs the VM in `workdir` (console log `console.log`, `qmp.sock`, `qemu.stderr`) until it
/// exits, `watch` returns [`Watch::Stop`], the spec's timeout passes or `interrupt` is set.
pub fn run(
    qemu: &Path,
    spec: &VmSpec,
    workdir: &Path,
    interrupt: Option<&AtomicBool>,
    watch: &mut dyn FnMut(&TimedLine) -> Watch,
) -> Result<VmRun, QemuError> {
    run_watching_prompts(qemu, spec, workdir, interrupt, watch, None)
}

/// [`run`], and `prompt` sees the console's unfinished last line after every poll in which it
/// grew: prompts (`login: `, a shell's `# `) end without a newline, so a watcher of complete
/// lines never sees them. `prompt` may see the same text again, longer, and finally as a
/// complete line through `watch`.
pub fn run_watching_prompts(
    qemu: &Path,
    spec: &VmSpec,
    workdir: &Path,
    interrupt: Option<&AtomicBool>,
    watch: &mut dyn FnMut(&TimedLine) -> Watch,
    prompt: Option<&mut dyn FnMut(&TimedLine) -> Watch>,
) -> Result<VmRun, QemuError> {
    run_inner(qemu, spec, workdir, interrupt, None, watch, prompt)
}

/// [`run`], and every poll also carries out the [`Watch`] actions sent on `commands` (another
/// thread's link changes: the LACP partner's cables are pulled while its console is quiet).
pub fn run_with_commands(
    qemu: &Path,
    spec: &VmSpec,
    workdir: &Path,
    interrupt: Option<&AtomicBool>,
    commands: &Receiver<Watch>,
    watch: &mut dyn FnMut(&TimedLine) -> Watch,
) -> Result<VmRun, QemuError> {
    run_inner(qemu, spec, workdir, interrupt, Some(commands), watch, None)
}

fn run_inner(
    qemu: &Path,
    spec: &VmSpec,
    workdir: &Path,
    interrupt: Option<&AtomicBool>,
    commands: Option<&Receiver<Watch>>,
    watch: &mut dyn FnMut(&TimedLine) -> Watch,
    mut prompt: Option<&mut dyn FnMut(&TimedLine) -> Watch>,
) -> Result<VmRun, QemuError> {
    let serial = workdir.join("console.log");
    let qmp_path = workdir.join("qmp.sock");
    let stderr_path = workdir.join("qemu.stderr");
    // A socket left by an earlier run would let the connect below reach nothing.
    match std::fs::remove_file(&qmp_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(QemuError::io("remove", &qmp_path)(e))
        }
        _ => {}
    }
    log_file(&serial)?;
    let stderr = log_file(&stderr_path)?;
    let mut cmd = Command::new(qemu);
    cmd.args(qemu_args(spec, &serial, &qmp_path)).stderr(stderr);
    // Terminal mode keeps the inherited stdin and stdout: they are the serial console.
    if spec.console == ConsoleMode::Capture {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
    }
    let start = Instant::now();
    let spawned = match &spec.netns {
        Some(ns) => super::netns::run_in_named(ns, || cmd.spawn())?,
        None => cmd.spawn(),
    };
    let child = spawned.map_err(spawn_error(qemu, "install qemu-system-x86 and ipxe-qemu"))?;
    tracing::info!(
        pid = child.id(),
        program = %qemu.display(),
        console = %serial.display(),
        qmp = %qmp_path.display(),
        stderr = %stderr_path.display(),
        netns = spec.netns.as_deref().unwrap_or("-"),
        "qemu started"
    );
    tracing::debug!(args = ?cmd.get_args().collect::<Vec<_>>(), "qemu command line");
    let mut guard = ChildGuard::new(child);
    let read_stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut monitor = match Qmp::connect(&qmp_path, QMP_SOCKET_WAIT) {
        Ok(m) => m,
        Err(e) => {
            // QEMU exiting at once (bad arguments) is the likely cause: report its stderr.
            if let Ok(Some(status)) = guard.child().try_wait() {
                return Err(QemuError::Command {
                    program: qemu.display().to_string(),
                    status,
                    stderr: read_stderr(),
                });
            }
            return Err(e);
        }
    };
    for nic in &spec.links_down {
        monitor.set_link(nic, false)?;
    }
    monitor.cont()?;
    let (mut commander, events) = monitor.split();
    let mut log = File::open(&serial).map_err(QemuError::io("open", &serial))?;
    let (mut pending, mut lines) = (Vec::new(), Vec::<TimedLine>::new());
    let interrupted = || interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
    let exit = 'run: loop {
        let status = guard
            .child()
            .try_wait()
            .map_err(QemuError::io("wait for", qemu))?;
        let read = log
            .read_to_end(&mut pending)
            .map_err(QemuError::io("read", &serial))?;
        let seen = lines.len();
        take_lines(&mut pending, start.elapsed(), &mut lines);
        // The unfinished last line, when this poll added to the console.
        let partial = (read > 0 && !pending.is_empty()).then(|| TimedLine {
            at: start.elapsed(),
            text: String::from_utf8_lossy(&pending).into_owned(),
        });
        let prompted = partial
            .into_iter()
            .filter_map(|line| prompt.as_mut().map(|p| p(&line)));
        let sent = commands.into_iter().flat_map(|rx| rx.try_iter());
        for action in lines
            .iter()
            .skip(seen)
            .map(&mut *watch)
            .chain(prompted)
            .chain(sent)
        {
            match action {
                Watch::Continue => {}
                Watch::Stop => {
                    guard.stop();
                    break 'run Exit::Stopped;
                }
                Watch::SetLink { nic, up } => commander.set_link(&format!("nic{nic}"), up)?,
            }
        }
        // Checked before the exit status: a terminal Ctrl-C also reaches QEMU.
        if interrupted() {
            guard.stop();
            break Exit::Interrupted;
        }
        if let Some(status) = status {
            break Exit::Exited(status);
        }
        if spec.timeout.is_some_and(|t| start.elapsed() > t) {
            guard.stop();
            break Exit::TimedOut;
        }
        sleep(POLL);
    };
    let wall = start.elapsed();
    log.read_to_end(&mut pending)
        .map_err(QemuError::io("read", &serial))?;
    pending.push(b'\n');
    take_lines(&mut pending, wall, &mut lines);
    if lines.last().is_some_and(|l| l.text.is_empty()) {
        lines.pop();
    }
    drop(guard);
    drop(commander);
    // The reader ends when QEMU's exit closes the socket; a panicked reader lost its events.
    let shutdown = events.join().ok().and_then(|ev| qmp::shutdown_reason(&ev));
    Ok(VmRun {
        lines,
        exit,
        wall,
        shutdown,
        stderr: read_stderr(),
    })
}

/// Creates (or empties) a log file that a child process writes while it runs: a stream, not an
/// artifact, so it is not written through `fsx::atomic`.
#[allow(
    clippy::disallowed_methods,
    reason = "a log a child process appends to as it runs"
)]
pub(super) fn log_file(path: &std::path::Path) -> Result<File, QemuError> {
    File::create(path).map_err(QemuError::io("create", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::args::{Accel, Boot, Uplink};

    #[test]
    fn serial_bytes_become_lines_without_cr_and_partial_lines_wait() {
        let mut pending = b"a\r\nb\nparti".to_vec();
        let mut out = Vec::new();
        take_lines(&mut pending, Duration::from_secs(2), &mut out);
        let texts: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(pending, b"parti");
        pending.extend_from_slice(b"al\n");
        take_lines(&mut pending, Duration::from_secs(3), &mut out);
        assert_eq!(out[2].text, "partial");
        assert_eq!(out[2].at, Duration::from_secs(3));
    }

    #[test]
    fn a_missing_qemu_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = VmSpec::new(
            Boot::Direct {
                kernel: "/k".into(),
                initrd: "/i".into(),
                cmdline: String::new(),
            },
            Uplink::User,
            Accel::Tcg,
        );
        let e = run(
            Path::new("/nonexistent/qemu"),
            &spec,
            dir.path(),
            None,
            &mut |_| Watch::Continue,
        )
        .expect_err("no qemu");
        assert_eq!(
            e.to_string(),
            "/nonexistent/qemu not found (install qemu-system-x86 and ipxe-qemu)"
        );
    }

    #[test]
    fn the_guard_terminates_a_child_with_sigterm_first() {
        let child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let mut guard = ChildGuard::new(child);
        let start = Instant::now();
        guard.stop();
        assert!(start.elapsed() < TERM_GRACE, "SIGTERM ends sleep at once");
        let status = guard.child().try_wait().expect("wait").expect("reaped");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(15), "{status:?}");
    }

    #[test]
    fn the_guard_kills_a_child_that_ignores_sigterm() {
        let child = Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .expect("sh");
        // Give the shell time to install its trap.
        sleep(Duration::from_millis(200));
        let start = Instant::now();
        let mut guard = ChildGuard::new(child);
        guard.stop();
        let took = start.elapsed();
        assert!(took >= TERM_GRACE && took < TERM_GRACE * 2, "{took:?}");
        assert!(matches!(guard.child().try_wait(), Ok(Some(_))));
        let child = Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .expect("sh");
        let start = Instant::now();
        drop(ChildGuard::kill_on_drop(child));
        assert!(start.elapsed() < TERM_GRACE, "SIGKILL without grace");
    }
}
