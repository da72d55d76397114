//! `netroot verify PROFILE`: re-hash the published files against their manifests; exits 1 naming
//! every file that differs.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::TargetArgs;
use super::Cli;
use crate::deploy;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub profile: String,
    #[command(flatten)]
    pub targets: TargetArgs,
}

pub fn run(cli: &Cli, args: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let report = deploy::verify(&args.profile, &targets)?;
    write!(out, "{report}")?;
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
