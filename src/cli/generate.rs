//! The hidden `netroot --generate KIND [DIR]`: man pages and shell completions generated from the
//! clap definition (ripgrep's way), so they cannot disagree with `--help`. `ci/package` calls it.
//!
//! - `man`: `netroot(1)`, one page per subcommand (`netroot-build(1)`, …) and
//!   `netroot-profile(5)` (the profile file format, [`super::profile_page`]). With DIR every page
//!   is written there; without, `netroot(1)` goes to stdout.
//! - `complete-bash`, `complete-zsh`, `complete-fish`: the completion script, to stdout or into
//!   DIR under the name the shell's completion directory expects (`netroot`, `_netroot`,
//!   `netroot.fish`).
//! - `profile-doc`: the profile and nodes.toml reference in Markdown (`profiles.md`, the
//!   repository's `docs/profiles.md`), from the same tables as netroot-profile(5).
//!
//! It is intercepted before the normal parse (it must be the first argument) because the main
//! parser requires a subcommand.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, ValueEnum};
use clap_complete::Shell;

use super::{EXIT_FAILURE, EXIT_USAGE};

/// The flag that selects this mode; only recognized as the first argument.
pub const GENERATE_FLAG: &str = "--generate";

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Man pages: netroot(1), one per subcommand, netroot-profile(5).
    Man,
    /// The bash completion script.
    CompleteBash,
    /// The zsh completion function.
    CompleteZsh,
    /// The fish completion script.
    CompleteFish,
    /// The profile and nodes.toml reference in Markdown (docs/profiles.md).
    ProfileDoc,
}

/// `netroot --generate KIND [DIR]`.
#[derive(Debug, Parser)]
#[command(
    name = "netroot",
    about = "Generate netroot's man pages or shell completions",
    disable_version_flag = true
)]
struct GenerateCli {
    /// What to generate.
    #[arg(long, value_enum, value_name = "KIND")]
    generate: Kind,
    /// Directory to write into (created when missing); without it, netroot(1) or the completion
    /// script goes to stdout.
    dir: Option<PathBuf>,
}

/// Runs `--generate` when it is the first argument; `None` lets the normal parser run.
pub fn main() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1)?.to_str()?;
    if first != GENERATE_FLAG && !first.starts_with("--generate=") {
        return None;
    }
    let cli = match GenerateCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Some(ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 }));
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    Some(match run(cli.generate, cli.dir.as_deref(), &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netroot: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    })
}

/// Writes `kind` into `dir` (one file per page or the completion file), or to `out`.
pub fn run(kind: Kind, dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let files = match kind {
        Kind::Man => man_pages()?,
        Kind::CompleteBash => vec![completion(Shell::Bash, "netroot")],
        Kind::CompleteZsh => vec![completion(Shell::Zsh, "_netroot")],
        Kind::CompleteFish => vec![completion(Shell::Fish, "netroot.fish")],
        Kind::ProfileDoc => vec![(
            "profiles.md".to_string(),
            super::profile_page::markdown().into_bytes(),
        )],
    };
    match dir {
        Some(dir) => {
            for (name, bytes) in &files {
                let path = dir.join(name);
                crate::fsx::atomic::write_atomic(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        None => {
            // The first file is netroot(1) or the one completion script.
            if let Some((_, bytes)) = files.first() {
                out.write_all(bytes).context("cannot write to stdout")?;
            }
        }
    }
    Ok(())
}

/// The completion script for `shell`, under the file name its completion directory expects.
fn completion(shell: Shell, file_name: &str) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "netroot", &mut bytes);
    (file_name.to_string(), bytes)
}

/// Every man page as (file name, roff): netroot.1 first, then one per subcommand (recursively),
/// then netroot-profile.5.
pub fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    let mut commands = Vec::new();
    collect(&root, &mut commands);
    let names: Vec<String> = commands.iter().map(page_name).collect();
    let mut pages = Vec::new();
    for (i, cmd) in commands.into_iter().enumerate() {
        let mut see_also: Vec<String> = if i == 0 {
            // netroot(1) points at every subcommand's page.
            names[1..].iter().map(|n| format!("{n}(1)")).collect()
        } else {
            vec!["netroot(1)".to_string()]
        };
        see_also.push(format!("{}(5)", super::profile_page::PAGE_NAME));
        let name = page_name(&cmd);
        let man = clap_mangen::Man::new(cmd)
            .source(format!("netroot {}", env!("CARGO_PKG_VERSION")))
            .manual(super::profile_page::MANUAL);
        let mut bytes = Vec::new();
        man.render(&mut bytes)
            .with_context(|| format!("cannot render {name}(1)"))?;
        let mut roff = roff::Roff::new();
        if i == 0 {
            main_page_sections(&mut roff);
        }
        roff.control("SH", ["SEE ALSO"]);
        roff.text([roff::roman(see_also.join(", "))]);
        bytes.extend_from_slice(roff.to_roff().as_bytes());
        pages.push((format!("{name}.1"), bytes));
    }
    pages.push((
        format!("{}.5", super::profile_page::PAGE_NAME),
        super::profile_page::render().context("cannot render netroot-profile(5)")?,
    ));
    Ok(pages)
}

/// netroot(1)'s sections beyond the clap definition: exit status and environment.
fn main_page_sections(roff: &mut roff::Roff) {
    use roff::{bold, roman};
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        ("0", "success (inspect --diff: the images are the same)"),
        (
            "1",
            "a build or runtime error, or a difference (inspect --diff, verify)",
        ),
        (
            "2",
            "a usage error: bad arguments, an unknown profile, a -C directory that cannot be entered",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in [
        ("NETROOT_PROJECT", "the project directory, as -C"),
        (
            super::log::LOG_ENV,
            "a tracing env-filter directive for the diagnostics on stderr (e.g. netroot::publish=debug); -v and -q override it",
        ),
        (
            crate::pipeline::CACHE_ENV,
            "the build cache directory (default OUT/.cache)",
        ),
        (
            crate::pipeline::SOURCE_DATE_EPOCH_ENV,
            "the mtime of image entries and of the files netroot writes into a root tree (default 0)",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(what)]);
    }
}

/// `cmd` and its visible subcommands, depth first.
fn collect(cmd: &clap::Command, into: &mut Vec<clap::Command>) {
    into.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, into);
    }
}

/// `netroot`, `netroot-build`, `netroot-profiles-show`: clap's display name once built.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_and_the_profile_page() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "netroot.1",
            "netroot-build.1",
            "netroot-inspect.1",
            "netroot-profiles.1",
            "netroot-qemu.1",
            "netroot-publish.1",
            "netroot-rollback.1",
            "netroot-gc.1",
            "netroot-verify.1",
            "netroot-profile.5",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert_eq!(names[0], "netroot.1");
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(main.contains("\n.TH netroot 1 "), "{main}");
        assert!(main.contains("netroot\\-build(1)"), "{main}");
        assert!(main.contains("netroot\\-profile(5)"), "{main}");
        assert!(main.contains(".SH \"EXIT STATUS\""), "{main}");
        assert!(main.contains("NETROOT_CACHE"), "{main}");
        assert!(main.contains("NETROOT_LOG"), "{main}");
        // --generate is hidden: it is in no page.
        assert!(!main.contains("generate"), "{main}");
    }

    #[test]
    fn completions_name_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let (_, bytes) = completion(shell, "x");
            let text = String::from_utf8(bytes).unwrap();
            for sub in ["build", "inspect", "publish", "rollback", "verify"] {
                assert!(text.contains(sub), "{shell}: {sub} missing");
            }
        }
    }

    #[test]
    fn writes_into_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        run(Kind::Man, Some(dir.path()), &mut out).unwrap();
        assert!(out.is_empty());
        assert!(dir.path().join("netroot-build.1").is_file());
        assert!(dir.path().join("netroot-profile.5").is_file());
        run(Kind::CompleteZsh, Some(dir.path()), &mut out).unwrap();
        assert!(dir.path().join("_netroot").is_file());
        run(Kind::CompleteFish, None, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("complete -c netroot"));
    }
}
