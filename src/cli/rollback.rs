//! `netroot rollback PROFILE [--to GEN]`: flip every consumer back to the previous generation.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::publish::{Loaded, TargetArgs};
use super::Cli;
use crate::deploy;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub profile: String,
    /// Generation to activate (default: the one before the active one).
    #[arg(long, value_name = "GEN")]
    pub to: Option<String>,
    #[command(flatten)]
    pub targets: TargetArgs,
}

pub fn run(cli: &Cli, args: &RollbackArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let Loaded { profile, targets } = args.targets.load(cli, &args.profile)?;
    let opts = args.targets.options(cli, &args.profile, &profile);
    let failed = std::cell::RefCell::new(None);
    let render = |g: &crate::publish::GenerationPaths| {
        let kver = deploy::kernel_version(&targets, g)?;
        deploy::render_menus(&cli.project, &profile, &kver, g, &targets)
    };
    let callback = |g: &crate::publish::GenerationPaths| match render(g) {
        Ok(m) => m,
        Err(e) => {
            failed.borrow_mut().get_or_insert(e);
            crate::publish::MenuFiles::default()
        }
    };
    let report = deploy::rollback(&args.profile, args.to.as_deref(), callback, &targets, &opts)?;
    if let Some(e) = failed.into_inner() {
        return Err(anyhow::Error::new(e).context("cannot render boot menus"));
    }
    write!(out, "{report}")?;
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}
