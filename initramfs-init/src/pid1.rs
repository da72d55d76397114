//! PID-1 mode: install the panic hook, run the boot phases against the real system, exec the real
//! init; on any failure print the FAILED line and carry out the failure action. Never returns.

use crate::failure::{self, Fatal, Phase};
use crate::paths::Paths;
use crate::phases::{self, Ctx};
use crate::sys::{RealSys, Sys};

/// A panic prints `FAILED phase=panic` and carries out the configured failure action from inside
/// the hook (the init profile aborts on panic, and PID 1 must not die).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let mut sys = RealSys::new();
        let dev = Paths::standard().dev;
        // Best effort: the console fds are already set up if the panic came after `early`.
        let _ = sys.open_kmsg(&dev);
        let fatal = Fatal::new(Phase::Panic, info);
        failure::fail_forever(&mut sys, &fatal, failure::failure_action());
    }));
}

/// Boots the node; `args` are argv (the kernel's leftover arguments follow `argv[0]`).
pub fn main(args: &[String]) -> ! {
    install_panic_hook();
    let mut sys = RealSys::new();
    let init_args = args.get(1..).unwrap_or_default();
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    ctx.publish_failure_action = true;
    let fatal = match phases::boot(&mut ctx, init_args) {
        Ok(handoff) => Fatal::new(
            Phase::SwitchRoot,
            ctx.sys.exec(&handoff.init, &handoff.args),
        ),
        Err(fatal) => fatal,
    };
    let action = ctx.failure_action;
    failure::fail_forever(ctx.sys, &fatal, action)
}

/// Whether this process is PID 1.
pub fn is_pid1() -> bool {
    RealSys::new().getpid() == 1
}
