//! Fatal errors and what PID 1 does after one: print exactly one `FAILED` line, then reboot after
//! a delay (default), power off, or run a rescue shell. PID 1 never exits: if even the reboot
//! fails it sleeps forever, reaping children, instead of panicking the kernel silently.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use crate::bootconfig::{FailureAction, DEFAULT_REBOOT_DELAY};
use crate::log;
use crate::sys::{PowerAction, Sys, SysError};

/// The failure action before the config is loaded, and for panics before that.
pub const DEFAULT_FAILURE_ACTION: FailureAction = FailureAction::Reboot {
    delay: DEFAULT_REBOOT_DELAY,
};
/// Rescue shell run by `FailureAction::Shell`, when the image has one.
pub const SHELL_PATH: &str = "/bin/sh";
/// Granularity of the reboot countdown: children are reaped between steps.
const COUNTDOWN_STEP: Duration = Duration::from_secs(1);
/// Sleep of the last-resort loop when reboot itself failed (PID 1 must not exit).
pub const HALT_SLEEP: Duration = Duration::from_secs(60);

pub use netroot_boot::phase::Phase;

/// A fatal boot error: the phase and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("phase={phase} reason={reason}")]
pub struct Fatal {
    pub phase: Phase,
    pub reason: String,
}

impl Fatal {
    pub fn new(phase: Phase, reason: impl fmt::Display) -> Self {
        Self {
            phase,
            reason: reason.to_string(),
        }
    }

    /// The `netroot-init: FAILED phase=... reason=...` line.
    pub fn line(&self) -> String {
        log::failed_line(self.phase.name(), &self.reason)
    }
}

/// The configured failure action (also used by the panic hook); set once the config is loaded.
static FAILURE_ACTION: Mutex<Option<FailureAction>> = Mutex::new(None);

/// Records the configured failure action.
pub fn set_failure_action(action: FailureAction) {
    if let Ok(mut slot) = FAILURE_ACTION.lock() {
        *slot = Some(action);
    }
}

/// The failure action to carry out now (the default until the config is loaded).
pub fn failure_action() -> FailureAction {
    FAILURE_ACTION
        .lock()
        .ok()
        .and_then(|slot| *slot)
        .unwrap_or(DEFAULT_FAILURE_ACTION)
}

/// Carries out `action`; returns only if it could not end the machine (the error says why).
pub fn act(sys: &mut dyn Sys, action: FailureAction) -> SysError {
    match action {
        FailureAction::Reboot { delay } => reboot_after(sys, delay),
        FailureAction::Poweroff => {
            sys.log_line(&format!("{} powering off", log::INIT_PREFIX));
            sys.power(PowerAction::Poweroff)
        }
        FailureAction::Shell => {
            if sys.lstat(SHELL_PATH).is_ok() {
                // A child rather than exec: when the shell exits, PID 1 is still here to reboot.
                sys.log_line(&format!(
                    "{} starting {SHELL_PATH}; the node reboots when it exits",
                    log::INIT_PREFIX
                ));
                if let Err(e) = sys.run_child(SHELL_PATH) {
                    sys.log_line(&format!("{} rescue shell failed: {e}", log::INIT_PREFIX));
                }
                reap(sys);
                sys.power(PowerAction::Reboot)
            } else {
                sys.log_line(&format!(
                    "{} no {SHELL_PATH} in this image, rebooting instead of a shell",
                    log::INIT_PREFIX
                ));
                reboot_after(sys, DEFAULT_REBOOT_DELAY)
            }
        }
    }
}

fn reboot_after(sys: &mut dyn Sys, delay: Duration) -> SysError {
    sys.log_line(&format!(
        "{} rebooting in {}s",
        log::INIT_PREFIX,
        delay.as_secs()
    ));
    let mut left = delay;
    while !left.is_zero() {
        let step = left.min(COUNTDOWN_STEP);
        sys.sleep(step);
        left -= step;
        reap(sys);
    }
    sys.power(PowerAction::Reboot)
}

/// Reaps exited children; an error here is logged (there is nothing else to do with it).
pub fn reap(sys: &mut dyn Sys) {
    if let Err(e) = sys.reap_children() {
        sys.log_line(&format!(
            "{} reaping children failed: {e}",
            log::INIT_PREFIX
        ));
    }
}

/// Prints the FAILED line, carries out `action`, and never returns.
pub fn fail_forever(sys: &mut dyn Sys, fatal: &Fatal, action: FailureAction) -> ! {
    sys.log_line(&fatal.line());
    let e = act(sys, action);
    sys.log_line(&format!("{} could not end the boot: {e}", log::INIT_PREFIX));
    loop {
        sys.sleep(HALT_SLEEP);
        reap(sys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{Call, FakeSys};

    #[test]
    fn failure_line_has_the_exact_format() {
        let f = Fatal::new(Phase::SwitchRoot, "exec /sbin/init: ENOENT");
        assert_eq!(
            f.line(),
            "netroot-init: FAILED phase=switch_root reason=exec /sbin/init: ENOENT"
        );
        assert_eq!(
            f.to_string(),
            "phase=switch_root reason=exec /sbin/init: ENOENT"
        );
    }

    #[test]
    fn reboot_waits_the_delay_reaping_then_reboots() {
        let mut sys = FakeSys::new();
        let start = sys.clock;
        sys.zombies = 2;
        let e = act(
            &mut sys,
            FailureAction::Reboot {
                delay: Duration::from_millis(2500),
            },
        );
        assert_eq!(e.op, "reboot");
        assert_eq!(sys.clock - start, Duration::from_millis(2500));
        assert_eq!(sys.zombies, 0, "children reaped during the countdown");
        assert_eq!(sys.calls.last(), Some(&Call::Power(PowerAction::Reboot)));
        assert_eq!(sys.logs, ["netroot-init: rebooting in 2s"]);
    }

    #[test]
    fn poweroff_powers_off() {
        let mut sys = FakeSys::new();
        act(&mut sys, FailureAction::Poweroff);
        assert_eq!(sys.effects(), [&Call::Power(PowerAction::Poweroff)]);
    }

    #[test]
    fn shell_runs_when_present_then_reboots() {
        let mut sys = FakeSys::new();
        sys.add_file(SHELL_PATH, "");
        act(&mut sys, FailureAction::Shell);
        assert_eq!(
            sys.effects(),
            [
                &Call::RunChild(SHELL_PATH.to_string()),
                &Call::Power(PowerAction::Reboot)
            ]
        );
    }

    #[test]
    fn shell_without_sh_reboots_after_the_default_delay() {
        let mut sys = FakeSys::new();
        act(&mut sys, FailureAction::Shell);
        assert!(sys.logs[0].contains("no /bin/sh in this image"));
        assert!(!sys.calls.iter().any(|c| matches!(c, Call::RunChild(_))));
        assert_eq!(sys.calls.last(), Some(&Call::Power(PowerAction::Reboot)));
    }

    #[test]
    fn failure_action_defaults_until_set() {
        // The only test touching the process-wide slot (boot tests use `Ctx::failure_action`).
        assert_eq!(failure_action(), DEFAULT_FAILURE_ACTION);
        set_failure_action(FailureAction::Poweroff);
        assert_eq!(failure_action(), FailureAction::Poweroff);
    }
}
