//! `netroot verify PROFILE [--repair]`: re-hash the published files against their manifests; exits
//! 1 naming every file that differs. With `--repair`, restore each damaged or missing file from an
//! intact copy (another generation, the build output under `--out`, the build cache's root tree)
//! and exit 1 naming whatever could not be restored.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::output::emit;
use super::publish::TargetArgs;
use super::Cli;
use crate::deploy;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub profile: String,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Restore damaged files from intact copies (other generations, the build output).
    #[arg(long)]
    pub repair: bool,
    /// Print the report as JSON (a failure as {"error": …, "exit": N}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let clean = if args.repair {
        let report = crate::publish::repair(&args.profile, &targets, &sources(args))?;
        emit(out, args.json, &report)?;
        report.is_clean()
    } else {
        let report = deploy::verify(&args.profile, &targets)?;
        emit(out, args.json, &report)?;
        report.is_clean()
    };
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}

/// The build output `OUT/PROFILE` and the root tree its `rootfs` link names, where present.
fn sources(args: &VerifyArgs) -> crate::publish::RepairSources {
    let dir = args.targets.out.join(&args.profile);
    let root_tree = std::fs::canonicalize(dir.join(crate::pipeline::ROOTFS))
        .ok()
        .filter(|r| r.is_dir());
    crate::publish::RepairSources {
        build_out: Some(dir).filter(|d| d.is_dir()),
        root_tree,
    }
}
