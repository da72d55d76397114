//! `netroot gc PROFILE [--keep N] [--dry-run]`: remove old generations no consumer references,
//! or with `--dry-run` list each generation and path that would go and remove nothing.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::output::emit;
use super::publish::TargetArgs;
use super::Cli;
use crate::deploy;

#[derive(Debug, Args)]
pub struct GcArgs {
    pub profile: String,
    /// Generations to keep (default: the profile's publish.keep); the active one and the rollback
    /// target are always kept.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// List what would be removed (each generation with its paths, and leftovers); remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Print the report as JSON (a failure as {"error": …, "exit": N}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &GcArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let keep = match args.keep {
        Some(k) => k,
        None => deploy::load(&cli.project, &args.profile)?.publish.keep as usize,
    };
    if args.dry_run {
        let report = deploy::gc_dry_run(&args.profile, &targets, keep)?;
        emit(out, args.json, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut opts =
        deploy::maintenance_options(&args.profile, &args.targets.cache(cli, &args.profile));
    opts.on_lock_wait = super::progress::lock_note(cli.chatter());
    let report = deploy::gc(&args.profile, &targets, keep, &opts)?;
    emit(out, args.json, &report)?;
    Ok(ExitCode::SUCCESS)
}
