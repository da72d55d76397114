//! `netroot generations PROFILE [--json]`: the published generations of a profile, from the
//! published history and records: date, active, rollback target, size, what changed.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::TargetArgs;
use super::Cli;
use crate::publish;

#[derive(Debug, Args)]
pub struct GenerationsArgs {
    pub profile: String,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &GenerationsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let targets = args.targets.targets(cli, &args.profile)?;
    let list = publish::generations(&args.profile, &targets)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &list)?;
        writeln!(out)?;
    } else {
        write!(out, "{list}")?;
    }
    Ok(ExitCode::SUCCESS)
}
