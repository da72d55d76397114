//! Interruption by SIGINT, SIGTERM or SIGHUP: the one owner of netroot's signal handling.
//!
//! [`install`] (the CLI calls it once) makes the first signal only *record* itself. The running
//! command sees it at its next [`check`] (between build stages, per archive entry, per walked
//! file, while it waits for a child in [`crate::child`]), stops with an [`Interrupted`] error and
//! unwinds: every temporary directory is a guard removed on the way, and a child is sent the
//! signal and waited for, so mmdebstrap unmounts its chroot's `/proc`, `/sys`, `/dev/pts` and
//! `/dev/shm` and removes its own temporaries. A second signal ends the process at once (the
//! user insists), with the same `128 + signal` exit status a shell would report.
//!
//! Without [`install`] (library use, unit tests) nothing is ever requested and [`check`] is
//! always `Ok`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals that interrupt a command.
pub const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Shell convention for "killed by signal N": exit status `128 + N`.
const SIGNAL_EXIT_BASE: i32 = 128;

/// The flags the handlers set: whether any signal came, and which (the last one).
#[derive(Debug)]
struct Flags {
    any: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Set when no handler was installed: a flag nothing ever sets.
static NEVER: AtomicBool = AtomicBool::new(false);

/// A command stopped because the user (or a supervisor) asked it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", signal_name(*signal))]
pub struct Interrupted {
    /// The signal number (SIGINT, SIGTERM or SIGHUP).
    pub signal: i32,
}

impl Interrupted {
    /// The exit status for it: `128 + signal`, as a shell reports a process the signal killed.
    pub fn exit_code(&self) -> u8 {
        u8::try_from(SIGNAL_EXIT_BASE + self.signal).unwrap_or(u8::MAX)
    }
}

impl From<Interrupted> for io::Error {
    /// An `Other` error, never `ErrorKind::Interrupted`: std's read loops retry on that kind, and
    /// an interrupt raised inside a reader must end the loop, not spin it.
    fn from(e: Interrupted) -> io::Error {
        io::Error::other(e)
    }
}

/// `SIGINT`, `SIGTERM`, `SIGHUP` or `signal N`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".to_owned(),
        SIGTERM => "SIGTERM".to_owned(),
        SIGHUP => "SIGHUP".to_owned(),
        n => format!("signal {n}"),
    }
}

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() -> io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        any: Arc::new(AtomicBool::new(false)),
        which: Arc::new(AtomicUsize::new(0)),
    };
    for sig in SIGNALS {
        // Registered before the flag is set by the next registration, so it sees the flag as
        // it was: the first signal only records itself, a repeated one exits.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            SIGNAL_EXIT_BASE + sig,
            Arc::clone(&flags.any),
        )?;
        signal_hook::flag::register_usize(sig, Arc::clone(&flags.which), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&flags.any))?;
    }
    // A racing second install lost: its handlers set flags nobody reads, which is harmless.
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The flag the handlers set: for loops that poll it directly (the QEMU session).
pub fn flag() -> &'static AtomicBool {
    FLAGS.get().map_or(&NEVER, |f| &f.any)
}

/// The interruption asked for so far, if any.
pub fn requested() -> Option<Interrupted> {
    let flags = FLAGS.get()?;
    if !flags.any.load(Ordering::SeqCst) {
        return None;
    }
    let signal = i32::try_from(flags.which.load(Ordering::SeqCst)).unwrap_or(SIGINT);
    Some(Interrupted {
        // The handlers set `which` before `any`; a zero would be a signal seen between the two.
        signal: if signal == 0 { SIGINT } else { signal },
    })
}

/// `Err` once an interruption was asked for: the point where a long operation stops.
pub fn check() -> Result<(), Interrupted> {
    requested().map_or(Ok(()), Err)
}

/// [`check`] as an I/O error, for code whose errors are I/O errors (walks, readers).
pub fn check_io() -> io::Result<()> {
    check().map_err(io::Error::from)
}

/// The interruption `e` carries somewhere in its chain, if any.
pub fn find(e: &(dyn std::error::Error + 'static)) -> Option<Interrupted> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(i) = err.downcast_ref::<Interrupted>() {
            return Some(*i);
        }
        if let Some(i) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Interrupted>())
        {
            return Some(*i);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_requested_without_handlers() {
        // The lib's unit tests never install handlers (a signal would then stop other tests).
        assert_eq!(requested(), None);
        assert!(check().is_ok());
        assert!(check_io().is_ok());
        assert!(!flag().load(Ordering::SeqCst));
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Interrupted { signal: SIGINT }.exit_code(), 130);
        assert_eq!(Interrupted { signal: SIGTERM }.exit_code(), 143);
        assert_eq!(Interrupted { signal: SIGHUP }.exit_code(), 129);
    }

    #[test]
    fn messages_name_the_signal() {
        assert_eq!(
            Interrupted { signal: SIGTERM }.to_string(),
            "interrupted by SIGTERM"
        );
        assert_eq!(signal_name(10), "signal 10");
    }

    #[test]
    fn found_through_io_errors_and_sources() {
        let io: io::Error = Interrupted { signal: SIGINT }.into();
        assert_ne!(io.kind(), io::ErrorKind::Interrupted);
        assert_eq!(find(&io), Some(Interrupted { signal: SIGINT }));
        let wrapped = anyhow::Error::from(io).context("copying /x");
        assert_eq!(find(wrapped.as_ref()), Some(Interrupted { signal: SIGINT }));
        let other = io::Error::other("disk full");
        assert_eq!(find(&other), None);
    }
}
