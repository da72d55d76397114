//! `netroot gc PROFILE [--keep N]`: remove old generations no consumer references.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

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
    #[command(flatten)]
    pub targets: TargetArgs,
}

pub fn run(cli: &Cli, args: &GcArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let keep = match args.keep {
        Some(k) => k,
        None => deploy::load(&cli.project, &args.profile)?.publish.keep as usize,
    };
    let opts = deploy::maintenance_options(&args.profile, &args.targets.cache(cli, &args.profile));
    let report = deploy::gc(&args.profile, &targets, keep, &opts)?;
    write!(out, "{report}")?;
    Ok(ExitCode::SUCCESS)
}
