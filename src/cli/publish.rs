//! `netroot publish PROFILE [--kernel K] [--out DIR] [--tftp DIR] [--nfs DIR] [--dry-run]`:
//! build when out of date, then publish an immutable generation and flip every consumer to it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::build::build_options;
use super::progress::CliProgress;
use super::Cli;
use crate::build::cache_dir_for;
use crate::deploy;

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

/// The profile and its publish targets, loaded the same way by every publish subcommand.
pub(super) struct Loaded {
    pub profile: crate::profile::Profile,
    pub targets: crate::publish::Targets,
}

impl TargetArgs {
    /// Loads `profile` from the project and resolves its targets (flags override the profile).
    pub(super) fn load(&self, cli: &Cli, profile: &str) -> anyhow::Result<Loaded> {
        let profile = deploy::load(&cli.project, profile)?;
        let targets = deploy::targets(&profile, self.tftp.as_deref(), self.nfs.as_deref())?;
        Ok(Loaded { profile, targets })
    }

    /// The engine options for `profile`, with the hash memo in the build cache under `out`.
    pub(super) fn options(
        &self,
        cli: &Cli,
        name: &str,
        profile: &crate::profile::Profile,
    ) -> crate::publish::PublishOptions {
        let cache = cache_dir_for(&super::build::options_for(cli, name, &self.out));
        deploy::options(profile, &cache)
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
}

pub fn run(cli: &Cli, args: &PublishArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let Loaded { profile, targets } = args.targets.load(cli, &args.profile)?;
    let bopts = build_options(
        cli,
        &args.profile,
        args.kernel.as_deref(),
        &args.targets.out,
    )?;
    let progress = CliProgress::new(&args.profile, false);
    let built = deploy::build_first(&bopts, &progress);
    progress.finish();
    let built = built.with_context(|| format!("build of profile \"{}\" failed", args.profile))?;
    if !built.up_to_date {
        writeln!(out, "{}: built {}", built.profile, built.out_dir.display())?;
    }
    let artifacts = deploy::artifacts(&args.targets.out, &args.profile)?;
    let opts = deploy::options(&profile, &cache_dir_for(&bopts));
    // Menus are rendered before the engine writes anything; a failure leaves the targets as
    // they were.
    let menus = |g: &crate::publish::GenerationPaths| {
        deploy::render_menus(&cli.project, &profile, &built.kernel_version, g, &targets)
    };
    if args.dry_run {
        let plan = deploy::dry_run(&artifacts, menus, &targets, &opts)?;
        write!(out, "{plan}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = deploy::publish_artifacts(&artifacts, menus, &targets, &opts)?;
    write!(out, "{report}")?;
    for f in deploy::write_exports(&profile, &targets)? {
        writeln!(out, "exports: {}", f.display())?;
    }
    for f in deploy::write_dhcp_snippets(&cli.project, &targets)? {
        writeln!(out, "dhcp hosts: {}", f.display())?;
    }
    if deploy::install_grub(&targets)? {
        writeln!(
            out,
            "grub: installed network boot images into {}",
            targets.tftp.display()
        )?;
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
