//! `netroot clean [PROFILE] [--cache | --all] [--dry-run]`: removes build outputs (`OUT/PROFILE/`,
//! every profile's without PROFILE), with `--cache` the build cache, with `--all` also the QEMU
//! scratch state; `--dry-run` lists what would go with its size.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Cli, UsageError};
use crate::pipeline::{cache_dir_for, clean, CleanWhat};

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only this profile's outputs (default: every profile's).
    pub profile: Option<String>,
    /// Build output directory.
    #[arg(long, value_name = "DIR", default_value = "build")]
    pub out: PathBuf,
    /// Remove the build cache too (OUT/.cache or NETROOT_CACHE: kernels, root trees, segments,
    /// hashes); it is shared by every profile.
    #[arg(long)]
    pub cache: bool,
    /// Remove outputs, the cache and the QEMU scratch state (OUT/.qemu).
    #[arg(long, conflicts_with = "cache")]
    pub all: bool,
    /// List what would be removed, with sizes; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &CleanArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let what = CleanWhat {
        outputs: true,
        cache: args.cache || args.all,
        qemu: args.all,
    };
    if args.profile.is_some() && (what.cache || what.qemu) {
        return Err(UsageError(
            "the cache and the QEMU state are shared by every profile: clean them without a PROFILE"
                .into(),
        )
        .into());
    }
    let cache = cache_dir_for(&super::build::options_for(cli, "", &args.out));
    let report = clean(
        &args.out,
        &cache,
        args.profile.as_deref(),
        what,
        args.dry_run,
    )?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for c in &report.removed {
        writeln!(out, "{verb} {} ({} bytes)", c.path.display(), c.bytes)?;
    }
    writeln!(
        out,
        "{verb} {} path(s), {} bytes",
        report.removed.len(),
        report.bytes()
    )?;
    Ok(ExitCode::SUCCESS)
}
