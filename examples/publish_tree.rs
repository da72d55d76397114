//! A thin driver of the publish engine (used by `ci/bench-publish` and for manual tests until the
//! `netroot publish` CLI lands): publish, dry-run, rollback, gc or verify a profile on a pair of
//! target directories, with a minimal iPXE menu.
//!
//! ```text
//! publish_tree publish --tftp T --nfs N --profile P --vmlinuz F --initramfs F --manifest F [--root DIR]
//!              [--memo FILE] [--cmdline ARGS] [--hook CMD] [--dry-run]
//! publish_tree rollback|gc|verify --tftp T --nfs N --profile P [--to GEN] [--keep N]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use netroot::publish::{self, Artifacts, GenerationPaths, MenuFiles, PublishOptions, Targets};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Args)]
struct Common {
    #[arg(long)]
    tftp: PathBuf,
    #[arg(long)]
    nfs: PathBuf,
    #[arg(long)]
    profile: String,
    /// Shell command run after activation.
    #[arg(long)]
    hook: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    Publish {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        vmlinuz: PathBuf,
        #[arg(long)]
        initramfs: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long)]
        root: Option<PathBuf>,
        #[arg(long)]
        memo: Option<PathBuf>,
        #[arg(long, default_value = "")]
        cmdline: String,
        #[arg(long)]
        dry_run: bool,
    },
    Rollback {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        to: Option<String>,
    },
    Gc {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 3)]
        keep: usize,
    },
    Verify {
        #[command(flatten)]
        c: Common,
    },
}

/// The minimal consumer: one iPXE script naming the generation explicitly.
fn menus(p: &GenerationPaths) -> MenuFiles {
    let root = p
        .nfs_rel
        .as_deref()
        .map(|r| format!(" root=nfs:${{next-server}}:/netroot/{r}"))
        .unwrap_or_default();
    let script = format!(
        "#!ipxe\nkernel {}{root} {}\ninitrd {}\nboot\n",
        p.vmlinuz, p.cmdline, p.initramfs
    );
    MenuFiles {
        files: vec![(format!("{}.ipxe", p.profile), script.into_bytes())],
        ..Default::default()
    }
}

fn targets(c: &Common) -> Targets {
    Targets {
        tftp: c.tftp.clone(),
        nfs: c.nfs.clone(),
    }
}

fn run(args: Args) -> anyhow::Result<bool> {
    match args.cmd {
        Cmd::Publish {
            c,
            vmlinuz,
            initramfs,
            manifest,
            root,
            memo,
            cmdline,
            dry_run,
        } => {
            let a = Artifacts {
                profile: c.profile.clone(),
                vmlinuz,
                initramfs,
                manifest,
                root_tree: root,
            };
            let opts = PublishOptions {
                cmdline,
                hash_memo: memo,
                hook: c.hook.clone(),
                crash_after_ops: None,
                ..Default::default()
            };
            if dry_run {
                let plan = publish::dry_run(&a, menus, &targets(&c), &opts).context("dry run")?;
                print!("{plan}");
                return Ok(true);
            }
            let r = publish::publish(&a, menus, &targets(&c), &opts).context("publish")?;
            print!("{r}");
            for (phase, secs) in &r.phases {
                println!("  {phase}: {secs:.3} s");
            }
            println!("seconds: {:.3}", r.seconds);
            Ok(r.success())
        }
        Cmd::Rollback { c, to } => {
            let opts = PublishOptions {
                hook: c.hook.clone(),
                ..PublishOptions::default()
            };
            let r = publish::rollback(&c.profile, to.as_deref(), menus, &targets(&c), &opts)
                .context("rollback")?;
            print!("{r}");
            Ok(r.success())
        }
        Cmd::Gc { c, keep } => {
            let r = publish::gc(&c.profile, &targets(&c), keep, &PublishOptions::default())
                .context("gc")?;
            print!("{r}");
            Ok(true)
        }
        Cmd::Verify { c } => {
            let r = publish::verify(&c.profile, &targets(&c)).context("verify")?;
            print!("{r}");
            Ok(r.is_clean())
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("publish_tree: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
