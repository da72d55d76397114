//! The boot phases, run in order by [`boot`]: early mounts, config, modules, links, bond, VLAN,
//! addressing (DHCP or static), NFS root, overlay, switch_root. Each phase is a function over a
//! [`Ctx`] (the [`Sys`] seam, paths, clock and deadline) and logs one stable line.

pub mod address;
pub mod bond;
pub mod config;
pub mod early;
pub mod links;
pub mod modules;
pub mod nfs;
pub mod overlay;
pub mod switch_root;
pub mod vlan;

use std::time::Duration;

use crate::backoff::Jitter;
use crate::bootconfig::{BootConfig, FailureAction};
use crate::failure::{self, Fatal, Phase};
use crate::log;
use crate::paths::Paths;
use crate::sys::Sys;

/// Interval between polls of sysfs while waiting for ports and carrier: short enough to add
/// little latency, long enough to keep a TCG-emulated CPU mostly idle.
pub const SYSFS_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Everything a phase needs besides the config.
pub struct Ctx<'a> {
    pub sys: &'a mut dyn Sys,
    pub paths: Paths,
    /// Verbose logging (`netroot.debug`).
    pub debug: bool,
    /// Boot deadline as time since kernel start; `Duration::MAX` until the config is loaded.
    pub deadline: Duration,
    pub jitter: Jitter,
    /// Modules that failed to load, quoted in later failure reasons (the likely cause).
    pub failed_modules: Vec<String>,
    /// What to do on a fatal error: the default until the config is loaded.
    pub failure_action: FailureAction,
    /// Also publish the configured action process-wide for the panic hook (PID 1 only; tests
    /// leave it off so they do not share state).
    pub publish_failure_action: bool,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("paths", &self.paths)
            .field("debug", &self.debug)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    pub fn new(sys: &'a mut dyn Sys, paths: Paths) -> Self {
        let seed = sys.now().as_nanos() as u64;
        Self {
            sys,
            paths,
            debug: false,
            deadline: Duration::MAX,
            jitter: Jitter::new(seed),
            failed_modules: Vec::new(),
            failure_action: failure::DEFAULT_FAILURE_ACTION,
            publish_failure_action: false,
        }
    }

    pub fn now(&mut self) -> Duration {
        self.sys.now()
    }

    /// Logs `netroot-init: [t] phase=<phase> <text>`.
    pub fn log(&mut self, phase: Phase, text: &str) {
        let t = self.sys.now();
        self.sys.log_line(&log::phase_line(t, phase.name(), text));
    }

    /// Logs a line only with `netroot.debug`.
    pub fn debug(&mut self, phase: Phase, text: &str) {
        if self.debug {
            self.log(phase, &format!("debug: {text}"));
        }
    }

    pub fn warn(&mut self, phase: Phase, text: &str) {
        self.log(phase, &format!("warning: {text}"));
    }

    /// The end of a phase that may take `timeout`, capped by the boot deadline.
    pub fn until(&mut self, timeout: Duration) -> Duration {
        self.sys.now().saturating_add(timeout).min(self.deadline)
    }

    /// Why a wait ended at `until`: the phase timeout or the boot deadline.
    pub fn limit_name(&self, until: Duration) -> &'static str {
        if until >= self.deadline {
            "boot deadline"
        } else {
            "timeout"
        }
    }

    /// Sleeps `step`, but not past `until`; reaps children afterwards.
    pub fn sleep_until(&mut self, step: Duration, until: Duration) {
        let left = until.saturating_sub(self.sys.now());
        self.sys.sleep(step.min(left));
        failure::reap(self.sys);
    }
}

/// What the init hands to the real root: the program to exec and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub init: String,
    pub args: Vec<String>,
}

/// Runs every phase; on success the new root is `/` and the caller execs `Handoff::init`.
/// `init_args` are the kernel's leftover arguments, forwarded to the real init.
pub fn boot(ctx: &mut Ctx, init_args: &[String]) -> Result<Handoff, Fatal> {
    early::run(ctx)?;
    let cfg: BootConfig = config::load(ctx)?;
    ctx.failure_action = cfg.failure;
    if ctx.publish_failure_action {
        failure::set_failure_action(cfg.failure);
    }
    let result = boot_configured(ctx, &cfg, init_args);
    result.map_err(|mut fatal| {
        if !ctx.failed_modules.is_empty() && fatal.phase != Phase::Modules {
            fatal.reason = format!(
                "{} (modules that failed to load: {})",
                fatal.reason,
                ctx.failed_modules.join(", ")
            );
        }
        fatal
    })
}

fn boot_configured(
    ctx: &mut Ctx,
    cfg: &BootConfig,
    init_args: &[String],
) -> Result<Handoff, Fatal> {
    modules::run(ctx, cfg);
    let ports = links::run(ctx, cfg)?;
    if let Some(first) = ports.first() {
        ctx.jitter.mix(&first.mac);
    }
    let bond = bond::run(ctx, &cfg.bond, &ports, cfg.timeouts.links)?;
    let uplink = vlan::run(ctx, cfg, &bond)?;
    let lease = address::run(ctx, cfg, &uplink)?;
    let root = nfs::run(ctx, cfg, &lease)?;
    overlay::run(ctx, cfg, &root, &lease)?;
    switch_root::prepare(ctx, cfg)?;
    let t = ctx.now();
    ctx.sys
        .log_line(&log::ok_line(&root.source, bond.up.len(), bond.total, t));
    Ok(Handoff {
        init: cfg.real_init.clone(),
        args: init_args.to_vec(),
    })
}

#[cfg(test)]
mod boot_tests;
