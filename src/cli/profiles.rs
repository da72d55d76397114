//! `netroot profiles [show NAME]`: list profiles, or print one fully merged and validated.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Cli;
use crate::profile::{to_toml, Listing, Project};

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub action: Option<ProfilesAction>,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesAction {
    /// Print the fully merged, validated profile as TOML (every default made explicit).
    Show { name: String },
}

pub fn run(cli: &Cli, args: &ProfilesArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let project = Project::new(&cli.project);
    match &args.action {
        None => {
            let list = project.list_profiles().context("cannot list profiles")?;
            let mut broken = false;
            for (name, listing) in list {
                match listing {
                    Listing::Concrete(d) => writeln!(out, "{name:<16} {d}")?,
                    Listing::Abstract(d) => writeln!(out, "{name:<16} (abstract) {d}")?,
                    Listing::Invalid(e) => {
                        broken = true;
                        writeln!(out, "{name:<16} INVALID: {e}")?
                    }
                }
            }
            Ok(if broken {
                ExitCode::from(super::EXIT_FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
        Some(ProfilesAction::Show { name }) => {
            let p = project.load_profile(name)?;
            write!(out, "{}", to_toml(&p))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
