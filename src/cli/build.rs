//! `netroot build [PROFILE] [--kernel DIR|DEB] [--out DIR] [--refresh-root] [--json]`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::progress::CliProgress;
use super::{Cli, UsageError};
use crate::pipeline::{build, BuildOptions, BuildReport, CACHE_MAX_ENV, SOURCE_DATE_EPOCH_ENV};
use crate::profile::KernelSpec;

/// Profile built when none is named.
pub const DEFAULT_PROFILE: &str = "compute";

#[derive(Debug, Args)]
#[command(after_help = "Environment:\n  \
    NETROOT_CACHE      the build cache directory (default OUT/.cache)\n  \
    NETROOT_CACHE_MAX  bound the cache (20G, 500M, 1.5GiB or bytes; K..T and KiB..TiB\n                     \
    are binary, KB..TB decimal): after each build the least recently used kernels,\n                     \
    root tarballs, root trees and segments are evicted until it fits; what the\n                     \
    build uses, and the roots OUT/*/rootfs link to, stay\n  \
    SOURCE_DATE_EPOCH  the mtime of every image entry (default 0)\n\n\
Interruption:\n  \
    Ctrl-C, SIGTERM or SIGHUP stops the build at its next check, forwards the signal to\n  \
    mmdebstrap and waits for it to unmount and clean up, removes the temporaries and exits\n  \
    128 + signal (130 for Ctrl-C); a second signal exits at once")]
pub struct BuildArgs {
    /// Profile to build (profiles/NAME.toml).
    #[arg(default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Kernel to use instead of the profile's: a directory (vmlinuz + lib/modules/KVER),
    /// a Debian kernel package (.deb), or "host".
    #[arg(long, value_name = "DIR|DEB|host")]
    pub kernel: Option<String>,
    /// Output directory; artifacts go to OUT/PROFILE/, the cache to OUT/.cache unless NETROOT_CACHE is set.
    #[arg(long, value_name = "DIR", default_value = "build")]
    pub out: PathBuf,
    /// Run the profile's mmdebstrap recipe again (the mirror's current packages, security
    /// updates included) instead of reusing the cached root tarball.
    #[arg(long)]
    pub refresh_root: bool,
    /// Print a machine-readable summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Interprets `--kernel`: "host", an existing directory, or a package file.
pub fn kernel_spec(arg: &str) -> Result<KernelSpec, UsageError> {
    if arg == "host" {
        return Ok(KernelSpec::Host);
    }
    let p = Path::new(arg);
    if p.is_dir() {
        Ok(KernelSpec::Dir(p.to_path_buf()))
    } else if p.is_file() {
        Ok(KernelSpec::Deb {
            path: p.to_path_buf(),
            sha256: None,
        })
    } else {
        Err(UsageError(format!(
            "--kernel {arg}: no such file or directory"
        )))
    }
}

/// `SOURCE_DATE_EPOCH` as a number; unset means 0.
pub fn source_date_epoch() -> Result<u64, UsageError> {
    match std::env::var(SOURCE_DATE_EPOCH_ENV) {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse().map_err(|_| {
            UsageError(format!(
                "{SOURCE_DATE_EPOCH_ENV}={v:?} is not a non-negative integer"
            ))
        }),
    }
}

/// Build options for a profile with defaults (used to locate the cache of an output directory).
pub fn options_for(cli: &Cli, profile: &str, out: &std::path::Path) -> BuildOptions {
    BuildOptions {
        project: cli.project.clone(),
        profile: profile.to_string(),
        kernel: None,
        out_dir: out.to_path_buf(),
        cache_dir: None,
        source_date_epoch: 0,
        refresh_root: false,
    }
}

/// The build of `profile` that a command's arguments ask for: `--kernel`, `--out`, and
/// SOURCE_DATE_EPOCH from the environment (build, publish and qemu all build this way).
pub fn build_options(
    cli: &Cli,
    profile: &str,
    kernel: Option<&str>,
    out: &std::path::Path,
) -> anyhow::Result<BuildOptions> {
    Ok(BuildOptions {
        project: cli.project.clone(),
        profile: profile.to_string(),
        kernel: kernel.map(kernel_spec).transpose()?,
        out_dir: out.to_path_buf(),
        cache_dir: None,
        source_date_epoch: source_date_epoch()?,
        refresh_root: false,
    })
}

pub fn run(cli: &Cli, args: &BuildArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut opts = build_options(cli, &args.profile, args.kernel.as_deref(), &args.out)?;
    opts.refresh_root = args.refresh_root;
    let progress = CliProgress::new(&args.profile, args.json, cli.chatter());
    let result = build(&opts, &progress);
    progress.finish();
    let report = result.with_context(|| format!("build of profile \"{}\" failed", args.profile))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        let warned = cli.chatter() != super::log::Chatter::Quiet;
        print_report(&report, warned, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary on stdout. A build's warnings were already shown on stderr as they came (the
/// progress sink) unless `-q` muted them (`warned` false); an up-to-date build ran no stage. In
/// those cases its warnings are shown here, once.
fn print_report(r: &BuildReport, warned: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let warnings = |out: &mut dyn Write| -> std::io::Result<()> {
        for w in &r.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        Ok(())
    };
    if r.up_to_date {
        writeln!(
            out,
            "{}: up to date ({}, {:.3}s)",
            r.profile,
            r.out_dir.display(),
            r.seconds
        )?;
        warnings(out)?;
        return evicted(r, out);
    }
    if let Some(reason) = &r.reason {
        writeln!(out, "{}: rebuilding: {reason}", r.profile)?;
    }
    for s in &r.stages {
        writeln!(
            out,
            "  {:<10} {:>7.3}s{}",
            s.name,
            s.seconds,
            if s.cached { " (cached)" } else { "" }
        )?;
    }
    if !warned {
        warnings(out)?;
    }
    writeln!(
        out,
        "{}: built {} (kernel {}, {} modules, initramfs {} bytes, sha256 {}) in {:.3}s",
        r.profile,
        r.out_dir.display(),
        r.kernel_version,
        r.modules,
        r.initramfs_bytes,
        r.initramfs_sha256,
        r.seconds
    )?;
    evicted(r, out)
}

/// The cache eviction line, when the bound evicted anything.
fn evicted(r: &BuildReport, out: &mut dyn Write) -> std::io::Result<()> {
    if r.evicted_bytes == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{}: evicted {:.1} MiB from the cache ({CACHE_MAX_ENV})",
        r.profile,
        r.evicted_bytes as f64 / (1024.0 * 1024.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(up_to_date: bool) -> BuildReport {
        BuildReport {
            profile: "p".into(),
            up_to_date,
            reason: None,
            out_dir: "build/p".into(),
            kernel_version: "6.1".into(),
            initramfs_bytes: 1,
            initramfs_sha256: "00".into(),
            modules: 0,
            warnings: vec!["firmware x.bin not found".into()],
            stages: Vec::new(),
            segments: Vec::new(),
            evicted_bytes: 0,
            seconds: 0.0,
        }
    }

    fn printed(r: &BuildReport) -> String {
        printed_warned(r, true)
    }

    fn printed_warned(r: &BuildReport, warned: bool) -> String {
        let mut out = Vec::new();
        print_report(r, warned, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_warning_is_printed_once() {
        // A build showed it on stderr while it ran: the summary does not repeat it.
        assert!(!printed(&report(false)).contains("firmware x.bin"));
        // An up-to-date build ran nothing: the summary is where it appears.
        assert_eq!(
            printed(&report(true))
                .matches("warning: firmware x.bin not found")
                .count(),
            1
        );
        // -q muted it on stderr: the summary carries it.
        assert_eq!(
            printed_warned(&report(false), false)
                .matches("warning: firmware x.bin not found")
                .count(),
            1
        );
    }
}
