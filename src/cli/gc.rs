//! `netroot gc PROFILE [--keep N]`: remove old generations no consumer references.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::TargetArgs;
use super::Cli;
use crate::build::cache_dir_for;
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
    let profile = deploy::load(&cli.project, &args.profile)?;
    let targets = deploy::targets(
        &profile,
        args.targets.tftp.as_deref(),
        args.targets.nfs.as_deref(),
    )?;
    let cache = cache_dir_for(&super::build::options_for(
        cli,
        &args.profile,
        &args.targets.out,
    ));
    let keep = args.keep.unwrap_or(profile.publish.keep as usize);
    let report = deploy::gc(
        &args.profile,
        &targets,
        keep,
        &deploy::options(&profile, &cache),
    )?;
    write!(out, "{report}")?;
    Ok(ExitCode::SUCCESS)
}
