//! `netroot gc PROFILE [--keep N] [--dry-run]`: remove old generations no consumer references,
//! or with `--dry-run` list each generation and path that would go and remove nothing.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::{Loaded, TargetArgs};
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
}

pub fn run(cli: &Cli, args: &GcArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let Loaded { profile, targets } = args.targets.load(cli, &args.profile)?;
    let keep = args.keep.unwrap_or(profile.publish.keep as usize);
    if args.dry_run {
        let report = deploy::gc_dry_run(&args.profile, &targets, keep)?;
        write!(out, "{report}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = deploy::gc(
        &args.profile,
        &targets,
        keep,
        &args.targets.options(cli, &args.profile, &profile),
    )?;
    write!(out, "{report}")?;
    Ok(ExitCode::SUCCESS)
}
