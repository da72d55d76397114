//! `netroot publish PROFILE [--kernel K] [--out DIR] [--tftp DIR] [--nfs DIR] [--dry-run]`:
//! build when out of date, then publish an immutable generation and flip every consumer to it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::build::build_options;
use super::output::emit;
use super::progress::CliProgress;
use super::Cli;
use crate::deploy::{self, SiteSource};
use crate::pipeline::cache_dir_for;
use crate::publish::Targets;
use crate::site::SiteSettings;

/// Where the build and the publish go; shared by publish, rollback, gc and verify.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// TFTP root on this master (default: the profile's publish.tftp).
    #[arg(long, value_name = "DIR")]
    pub tftp: Option<PathBuf>,
    /// Directory the NFS server exports as the profile's nfs.export (default: publish.nfs).
    #[arg(long, value_name = "DIR")]
    pub nfs: Option<PathBuf>,
    /// Build output directory (its .cache holds the publish hash memo).
    #[arg(long, value_name = "DIR", default_value = "build")]
    pub out: PathBuf,
}

impl TargetArgs {
    /// The targets for `profile`: the flags, else the profile's `[publish]` (the profile file is
    /// read only when a flag is missing, so rollback, gc and verify work on a broken one).
    pub(super) fn targets(&self, cli: &Cli, profile: &str) -> anyhow::Result<Targets> {
        Ok(deploy::targets(
            profile,
            self.tftp.as_deref(),
            self.nfs.as_deref(),
            || deploy::load(&cli.project, profile),
        )?)
    }

    /// The build cache under `out` (which holds the publish hash memo).
    pub(super) fn cache(&self, cli: &Cli, name: &str) -> PathBuf {
        cache_dir_for(&super::build::options_for(cli, name, &self.out))
    }
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    pub profile: String,
    /// Kernel to build with instead of the profile's (DIR, DEB or "host").
    #[arg(long, value_name = "DIR|DEB|host")]
    pub kernel: Option<String>,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON (a failure as {"error": …, "exit": N}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &PublishArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let profile = deploy::load(&cli.project, &args.profile)?;
    let targets = args.targets.targets(cli, &args.profile)?;
    // Everything that can be checked without building is checked before the build.
    let site = SiteSettings::load(&cli.project)?;
    deploy::check_publishable(&cli.project, &profile)?;
    let bopts = build_options(
        cli,
        &args.profile,
        args.kernel.as_deref(),
        &args.targets.out,
    )?;
    let progress = CliProgress::new(&args.profile, args.json, cli.chatter());
    let built = deploy::build_first(&bopts, &progress);
    progress.finish();
    let built = built.with_context(|| format!("build of profile \"{}\" failed", args.profile))?;
    if !built.up_to_date && !args.json {
        writeln!(out, "{}: built {}", built.profile, built.out_dir.display())?;
    }
    let artifacts = deploy::artifacts(&args.targets.out, &args.profile)?;
    let boot = deploy::build_record(&args.targets.out, &args.profile)?;
    let mut opts = deploy::options(&profile, &cache_dir_for(&bopts), boot);
    opts.on_lock_wait = super::progress::lock_note(cli.chatter());
    // Every shared file is rendered from published records before the engine writes anything;
    // a failure leaves the targets as they were.
    let source = SiteSource::Project(site);
    let menus = |g: &crate::publish::GenerationPaths| deploy::render(&source, &targets, g);
    if args.dry_run {
        let plan = deploy::dry_run(&artifacts, menus, &targets, &opts)?;
        emit(out, args.json, &plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = deploy::publish_artifacts(&artifacts, menus, &targets, &opts)?;
    emit(out, args.json, &report)?;
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
