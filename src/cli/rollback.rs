//! `netroot rollback PROFILE [--to GEN]`: flip every consumer back to the previous generation.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::{Loaded, TargetArgs};
use super::Cli;
use crate::deploy;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub profile: String,
    /// Generation to activate (default: the one before the active one).
    #[arg(long, value_name = "GEN")]
    pub to: Option<String>,
    #[command(flatten)]
    pub targets: TargetArgs,
}

pub fn run(cli: &Cli, args: &RollbackArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let Loaded { profile, targets } = args.targets.load(cli, &args.profile)?;
    let opts = args.targets.options(cli, &args.profile, &profile);
    // Rendered before anything is written: a failure changes nothing.
    let menus = |g: &crate::publish::GenerationPaths| {
        let kver = deploy::kernel_version(&targets, g)?;
        deploy::render_menus(&cli.project, &profile, &kver, g, &targets)
    };
    let report = deploy::rollback(&args.profile, args.to.as_deref(), menus, &targets, &opts)?;
    write!(out, "{report}")?;
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
