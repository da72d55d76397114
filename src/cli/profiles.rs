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
    /// Print JSON: the listing as [{name, kind, description | error}], `show` as the merged
    /// profile's table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One profile of the `--json` listing.
#[derive(Debug, serde::Serialize)]
struct Listed {
    name: String,
    /// `concrete`, `abstract` or `invalid`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
            if args.json {
                let listed: Vec<Listed> = list
                    .into_iter()
                    .map(|(name, l)| match l {
                        Listing::Concrete(d) => Listed {
                            name,
                            kind: "concrete",
                            description: Some(d),
                            error: None,
                        },
                        Listing::Abstract(d) => Listed {
                            name,
                            kind: "abstract",
                            description: Some(d),
                            error: None,
                        },
                        Listing::Invalid(e) => Listed {
                            name,
                            kind: "invalid",
                            description: None,
                            error: Some(e.to_string()),
                        },
                    })
                    .collect();
                let broken = listed.iter().any(|l| l.kind == "invalid");
                super::output::emit_json(out, &listed)?;
                return Ok(if broken {
                    ExitCode::from(super::EXIT_FAILURE)
                } else {
                    ExitCode::SUCCESS
                });
            }
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
            let text = to_toml(&p);
            if args.json {
                // The same table `show` prints, as JSON.
                let table: toml::Table =
                    toml::from_str(&text).context("cannot re-read the shown profile")?;
                super::output::emit_json(out, &table)?;
            } else {
                write!(out, "{text}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
