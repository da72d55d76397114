//! `netroot qemu PROFILE [--kernel K] [--out DIR] [--loader grub|ipxe|pxelinux|direct]
//! [--accel auto|kvm|tcg] [--network hub|lacp] [--check [--marker TEXT] [--json]]
//! [--timeout SECS] [--append PARAM]...`.
//!
//! Interactive: the serial console on the terminal (Ctrl-A x quits QEMU). `--check`: the
//! console goes to a log; exits 0 on PASS, 1 on FAIL, with one verdict line on stdout, or with
//! `--json` the verdict as JSON (a failure before the VM as `{"error", "exit"}`). SIGINT,
//! SIGTERM and SIGHUP stop the VM and the NFS server before exiting (130); a second signal
//! exits at once.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::build::build_options;
use super::log::Chatter;
use super::progress::CliProgress;
use super::{output, Cli};
use crate::qemu::{self, AccelChoice, Events, Loader, QemuError, QemuOptions, Tools};

/// Exit code after SIGINT/SIGTERM (128 + SIGINT, as shells report a Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 130;
/// The literal behind [`DEFAULT_CHECK_TIMEOUT_SECS`], so `--help` states the same number.
macro_rules! default_check_timeout {
    () => {
        300
    };
}

/// Default `--timeout` of `--check`: a Debian systemd root reaches its login prompt ~33 s
/// after QEMU starts under TCG (shared notes); five minutes leaves room for a loaded 2-core
/// machine and a GRUB/TFTP transfer, and still ends a hung boot in CI.
pub const DEFAULT_CHECK_TIMEOUT_SECS: u64 = default_check_timeout!();

#[derive(Debug, Args)]
pub struct QemuArgs {
    /// Profile to boot (profiles/NAME.toml); it needs a [root] section.
    pub profile: String,
    /// Kernel to use instead of the profile's: a directory, a Debian kernel package, or "host".
    #[arg(long, value_name = "DIR|DEB|host")]
    pub kernel: Option<String>,
    /// Build output directory; the scratch publication the VM boots goes to
    /// OUT/.qemu/PROFILE.served/{tftp,nfs}, run state (console log) to OUT/.qemu/PROFILE/.
    #[arg(long, value_name = "DIR", default_value = "build")]
    pub out: PathBuf,
    /// How the VM loads the kernel: PXE into GRUB, an iPXE script or PXELINUX, or QEMU's
    /// -kernel/-initrd.
    #[arg(long, default_value = "ipxe", value_parser = parse_loader)]
    pub loader: Loader,
    /// Accelerator; auto probes KVM (bounded) and falls back to TCG.
    #[arg(long, default_value = "auto", value_parser = parse_accel)]
    pub accel: AccelChoice,
    /// Capture the console and wait for the init's OK line and the marker; exit 0/1 with a
    /// one-line verdict.
    #[arg(long)]
    pub check: bool,
    /// With --check: the real root's success text, after the OK line.
    #[arg(long, default_value = qemu::DEFAULT_MARKER, requires = "check")]
    pub marker: String,
    /// With --check: print the verdict as JSON (profile, loader, accel, network, pass, reason,
    /// each timeline stage's seconds, log, wall time, how QEMU ended, exit); a failure before
    /// the VM as {"error", "exit"}. Not without --check: the console owns the terminal.
    #[arg(long, requires = "check")]
    pub json: bool,
    #[arg(long, value_name = "SECS", help = concat!(
        "Kill QEMU after this many seconds (default with --check: ",
        default_check_timeout!(),
        "; interactive: none)"
    ))]
    pub timeout: Option<u64>,
    /// Extra kernel parameter for the scratch publication's menus (repeatable), e.g.
    /// --append netroot.debug.
    #[arg(long, value_name = "PARAM", allow_hyphen_values = true)]
    pub append: Vec<String>,
    /// The node's network: hub (one QEMU hub, QEMU's DHCP and TFTP) or lacp (the four NICs
    /// cabled to a partner VM bonding them in 802.3ad or balance-xor as the profile's bond,
    /// with dnsmasq serving the published DHCP wiring and nfs-ganesha behind it in a private
    /// network namespace; with --loader ipxe or direct; --check adds the partner's view, e.g.
    /// lacp=4/4).
    #[arg(long, default_value = "hub", value_parser = parse_network)]
    pub network: qemu::Network,
}

fn parse_network(s: &str) -> Result<qemu::Network, String> {
    match s {
        "hub" => Ok(qemu::Network::Hub),
        "lacp" => Ok(qemu::Network::Lacp),
        other => Err(format!("unknown network {other:?} (expected hub or lacp)")),
    }
}

fn parse_loader(s: &str) -> Result<Loader, String> {
    s.parse()
}

fn parse_accel(s: &str) -> Result<AccelChoice, String> {
    s.parse()
}

/// Progress notes on stderr, so stdout holds only the verdict; none with `-q`. The build's
/// progress is `netroot build`'s (a spinner on a terminal, `netroot: [PROFILE] STAGE` lines
/// otherwise, warnings once; with `--json` only warnings).
struct StderrEvents {
    quiet: bool,
    progress: CliProgress,
}

impl Events for StderrEvents {
    fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("netroot qemu: {text}");
        }
    }

    fn build_progress(&self) -> &dyn crate::pipeline::Progress {
        &self.progress
    }

    fn build_done(&self) {
        self.progress.finish();
    }
}

/// The exit status of an interrupted run: `128 + signal` ([`crate::interrupt`]).
fn interrupted_code() -> u8 {
    crate::interrupt::requested().map_or(EXIT_INTERRUPTED, |i| i.exit_code())
}

pub fn run(cli: &Cli, args: &QemuArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let timeout = match (args.timeout, args.check) {
        (Some(0), _) => {
            return Err(super::UsageError("--timeout must be at least 1 second".into()).into())
        }
        (Some(secs), _) => Some(Duration::from_secs(secs)),
        (None, true) => Some(Duration::from_secs(DEFAULT_CHECK_TIMEOUT_SECS)),
        (None, false) => None,
    };
    let opts = QemuOptions {
        build: build_options(cli, &args.profile, args.kernel.as_deref(), &args.out)?,
        loader: args.loader,
        accel: args.accel,
        check: args.check.then(|| args.marker.clone()),
        timeout,
        append: args.append.clone(),
        network: args.network,
        tools: Tools::default(),
    };
    // main installed the handlers: SIGINT, SIGTERM and SIGHUP stop the run, a second one at once.
    let interrupt = crate::interrupt::flag();
    let events = StderrEvents {
        quiet: cli.chatter() == Chatter::Quiet,
        progress: CliProgress::new(&args.profile, args.json, cli.chatter()),
    };
    let result = qemu::run(&opts, &events, interrupt);
    // A run refused before its build (or one that failed in it) leaves no spinner behind.
    events.build_done();
    let outcome = match result {
        Ok(o) => o,
        Err(QemuError::Interrupted) => {
            if args.json {
                let error = output::JsonError {
                    error: "interrupted before the boot",
                    exit: interrupted_code(),
                };
                output::emit_json(out, &error)?;
            } else if args.check {
                writeln!(
                    out,
                    "netroot qemu: FAIL profile={}: interrupted before the boot",
                    args.profile
                )?;
            }
            return Ok(ExitCode::from(interrupted_code()));
        }
        Err(e) => {
            let e = match e {
                // Unboxed, so that exit_code_of sees the BuildError (a usage error exits 2).
                QemuError::Build { profile, source } => anyhow::Error::from(*source)
                    .context(format!("build of profile \"{profile}\" failed")),
                other => anyhow::Error::from(other),
            };
            if args.check && !args.json {
                // The one verdict line; main prints the error on stderr as well (and under
                // --json the error document).
                writeln!(out, "netroot qemu: FAIL profile={}: {e:#}", args.profile)?;
            }
            return Err(e);
        }
    };
    let code = if outcome.exit == qemu::Exit::Interrupted {
        interrupted_code()
    } else if outcome.success() {
        0
    } else {
        super::EXIT_FAILURE
    };
    if args.check {
        output::emit(out, args.json, &outcome.report(code))?;
    } else {
        eprintln!("{}", outcome.summary_line());
    }
    Ok(ExitCode::from(code))
}
