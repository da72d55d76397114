//! Command-line interface: argument definitions, dispatch, and error → exit-code mapping.
//! One file per subcommand.

mod build;
mod clean;
mod gc;
pub mod generate;
mod generations;
pub mod inspect;
pub mod log;
mod output;
pub mod profile_page;
mod profiles;
mod progress;
mod publish;
mod qemu;
mod rollback;
mod verify;
pub mod version;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgAction, Parser, Subcommand};

/// Exit code for a failed build or any runtime error.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error (bad arguments, unknown profile name).
pub const EXIT_USAGE: u8 = 2;

/// netroot builds initramfs and netboot images for diskless cluster nodes.
#[derive(Debug, Parser)]
#[command(name = "netroot", version = version::VERSION, about, long_about = None)]
pub struct Cli {
    /// Change to DIR first, like make -C: the project (profiles/, overlays/) is DIR, and every
    /// relative path (the default --out build/, --kernel, --tftp, --nfs) is relative to DIR.
    #[arg(
        short = 'C',
        long,
        global = true,
        default_value = ".",
        env = "NETROOT_PROJECT"
    )]
    pub project: PathBuf,
    /// More diagnostics on stderr: -v info (build stages with timings and cache use, publish
    /// steps, QEMU processes), -vv debug, -vvv trace. Overrides NETROOT_LOG.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Errors only on stderr: no progress, notes or warnings (a build's text summary on stdout
    /// lists its warnings instead). Overrides NETROOT_LOG.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a profile's kernel, initramfs, root tree (when the profile has one), manifest.json and SHA256SUMS
    /// (make-style).
    Build(build::BuildArgs),
    /// List an initramfs image's entries, verify it, print or unpack its files, or diff two
    /// images.
    Inspect(inspect::InspectArgs),
    /// List profiles, or show one fully merged and validated.
    Profiles(profiles::ProfilesArgs),
    /// Publish a profile into scratch TFTP/NFS directories and boot exactly that under QEMU (4
    /// NICs, PXE or direct, NFS root from a local nfs-ganesha).
    Qemu(qemu::QemuArgs),
    /// Build if needed, then publish an immutable generation into the TFTP and NFS directories
    /// and flip every boot menu and `current` link to it atomically.
    Publish(publish::PublishArgs),
    /// Flip every consumer back to the previous (or a given) published generation.
    Rollback(rollback::RollbackArgs),
    /// Remove build outputs, and with --cache or --all the build cache and QEMU state.
    Clean(clean::CleanArgs),
    /// Remove old published generations that no menu or `current` link references.
    Gc(gc::GcArgs),
    /// List a profile's published generations: date, active, rollback target, size, what
    /// changed from the one before (from the published records).
    Generations(generations::GenerationsArgs),
    /// Re-hash published files against their manifests; exit 1 naming every difference.
    Verify(verify::VerifyArgs),
}

impl Command {
    /// Whether the command was asked for JSON (its failure is then printed as JSON too).
    fn json(&self) -> bool {
        match self {
            Command::Build(a) => a.json,
            Command::Inspect(a) => a.json,
            Command::Profiles(a) => a.json,
            Command::Publish(a) => a.json,
            Command::Rollback(a) => a.json,
            Command::Clean(a) => a.json,
            Command::Gc(a) => a.json,
            Command::Generations(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Qemu(a) => a.json,
        }
    }

    /// Whether the command polls [`crate::interrupt`] (a build, which publish and qemu run
    /// too, and the QEMU session): only those get the handlers. The others keep the default
    /// action, so one Ctrl-C ends them at once; what they write is atomic anyway.
    fn polls_interrupts(&self) -> bool {
        matches!(
            self,
            Command::Build(_) | Command::Publish(_) | Command::Qemu(_)
        )
    }
}

impl Cli {
    /// How much the command says on stderr besides errors (`-q`, `-v`).
    pub fn chatter(&self) -> log::Chatter {
        log::Chatter::of(self.verbose, self.quiet)
    }
}

/// An error that is the user's invocation, not the build: exits with [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `-C DIR`: changes into DIR (make's `-C`), so the project is `.` from then on.
fn enter_project(cli: &mut Cli) -> anyhow::Result<()> {
    if cli.project.as_os_str().is_empty() || cli.project == std::path::Path::new(".") {
        return Ok(());
    }
    std::env::set_current_dir(&cli.project)
        .with_context(|| format!("cannot change to directory {}", cli.project.display()))?;
    cli.project = PathBuf::from(".");
    Ok(())
}

/// Entry point of the `netroot` binary.
pub fn main() -> ExitCode {
    // The hidden `--generate KIND [DIR]` (man pages, completions) needs no subcommand.
    if let Some(code) = generate::main() {
        return code;
    }
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let setup = log::init(cli.verbose, cli.quiet)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            if !cli.command.polls_interrupts() {
                return Ok(());
            }
            crate::interrupt::install().context("cannot install the SIGINT/SIGTERM handlers")
        })
        .and_then(|()| enter_project(&mut cli));
    if let Err(e) = setup {
        return fail(&cli, &mut out, &e, EXIT_USAGE);
    }
    let result = match &cli.command {
        Command::Build(a) => build::run(&cli, a, &mut out),
        Command::Inspect(a) => inspect::run(a, &mut out),
        Command::Profiles(a) => profiles::run(&cli, a, &mut out),
        Command::Qemu(a) => qemu::run(&cli, a, &mut out),
        Command::Publish(a) => publish::run(&cli, a, &mut out),
        Command::Rollback(a) => rollback::run(&cli, a, &mut out),
        Command::Clean(a) => clean::run(&cli, a, &mut out),
        Command::Gc(a) => gc::run(&cli, a, &mut out),
        Command::Generations(a) => generations::run(&cli, a, &mut out),
        Command::Verify(a) => verify::run(&cli, a, &mut out),
    };
    match result {
        Ok(code) => {
            let _ = out.flush();
            code
        }
        Err(e) => fail(&cli, &mut out, &e, exit_code_of(&e)),
    }
}

/// Reports a failed command: the message on stderr, and under `--json` also `{"error", "exit"}`
/// on stdout.
fn fail(cli: &Cli, out: &mut dyn Write, e: &anyhow::Error, code: u8) -> ExitCode {
    let text = error_text(e);
    eprintln!("netroot: error: {text}");
    if cli.command.json() {
        let _ = output::emit_json(
            out,
            &output::JsonError {
                error: &text,
                exit: code,
            },
        );
    }
    let _ = out.flush();
    ExitCode::from(code)
}

/// The error and its causes, each said once: a message that already quotes its cause (the
/// library errors' `{op} {path}: {source}`) is not followed by that cause again.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Usage errors (unknown profile name, bad option value) exit 2, an interrupted command
/// `128 + signal` (as a shell reports it), everything else 1.
fn exit_code_of(e: &anyhow::Error) -> u8 {
    // The error may have lost the interruption's type on its way (a message built from it);
    // the request itself is the truth.
    if let Some(i) = crate::interrupt::find(e.as_ref()).or_else(crate::interrupt::requested) {
        return i.exit_code();
    }
    use crate::pipeline::BuildError;
    use crate::profile::ProfileError;
    let usage_profile =
        |p: &ProfileError| matches!(p, ProfileError::NotFound { .. } | ProfileError::BadName(_));
    let usage = e.chain().any(|c| {
        c.is::<UsageError>()
            || c.downcast_ref::<ProfileError>().is_some_and(usage_profile)
            || matches!(c.downcast_ref::<BuildError>(), Some(BuildError::Profile(p)) if usage_profile(p))
            || matches!(c.downcast_ref::<BuildError>(), Some(BuildError::CacheMax { .. }))
            || matches!(
                c.downcast_ref::<crate::deploy::DeployError>(),
                Some(crate::deploy::DeployError::NoTarget { .. })
            )
            || matches!(c.downcast_ref::<crate::deploy::DeployError>(), Some(crate::deploy::DeployError::Profile(p)) if usage_profile(p))
    });
    if usage {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_the_message_already_quotes_is_said_once() {
        let io = std::io::Error::from_raw_os_error(30);
        let e = crate::publish::error::PublishError::Io {
            op: "open lock",
            path: "/t/.lock".into(),
            source: io,
        };
        let e = anyhow::Error::new(e).context("publish of profile \"a\" failed");
        assert_eq!(
            error_text(&e),
            "publish of profile \"a\" failed: open lock /t/.lock: Read-only file system (os error 30)"
        );
    }
}
