//! `netroot rollback PROFILE [--to GEN]`: flip every consumer back to the previous generation.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::output::emit;
use super::publish::TargetArgs;
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
    /// Print the report as JSON (a failure as {"error": …, "exit": N}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &RollbackArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let mut opts =
        deploy::maintenance_options(&args.profile, &args.targets.cache(cli, &args.profile));
    opts.on_lock_wait = super::progress::lock_note(cli.chatter());
    // Rendered from the target generation's record and the published site settings before
    // anything is written: a failure changes nothing, and no project file is read.
    let menus = |g: &crate::publish::GenerationPaths| {
        deploy::render(&deploy::SiteSource::Published, &targets, g)
    };
    let report = deploy::rollback(&args.profile, args.to.as_deref(), menus, &targets, &opts)?;
    emit(out, args.json, &report)?;
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
