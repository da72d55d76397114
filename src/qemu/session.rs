//! One `netroot qemu` run: build the profile (make-style, fast when up to date), publish it
//! with the real publish engine into scratch TFTP and NFS directories ([`super::serve`]), start
//! nfs-ganesha exporting the scratch NFS directory on a free loopback port, lay out the guest
//! network so the profile's NFS server address reaches it ([`ServedNet`]), pick the
//! accelerator, boot the VM through the loader's published entry point and, with a check, decide
//! pass or fail. Every process it starts is owned by a guard, so each exit path (error,
//! timeout, verdict, interrupt, panic) stops QEMU and ganesha.
//!
//! Run state lives in `OUT/.qemu/PROFILE/` (console log, QEMU's stderr, ganesha config and
//! log), kept after the run for inspection and replaced by the next one; the scratch
//! publication in `OUT/.qemu/PROFILE.served/` persists, like a master's TFTP and NFS
//! directories. A lock file refuses a second concurrent run of the same profile into the same
//! `OUT`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

use super::accel::{self, AccelChoice};
use super::args::{Accel, ConsoleMode, Uplink, VmSpec, QEMU};
use super::check::CheckWatch;
use super::ganesha::{Export, Ganesha, GANESHA};
use super::guest;
use super::lacpbed::{LacpBed, LacpBedSpec};
use super::loader::{self, Loader, LoaderTools};
use super::outcome::Outcome;
use super::partner::{Aggregation, PartnerSpec};
use super::runner::{self, Watch};
use super::serve;
use super::servednet::{self, ServedNet};
use super::timeline::TimelineBuilder;
use super::QemuError;
use crate::pipeline::{self, BuildOptions, Progress, Quiet};
use crate::profile::{Profile, Project};
use netroot_boot::bootconfig::BondMode;

/// Directory of run state below `OUT`.
pub const RUN_SUBDIR: &str = ".qemu";

/// Programs and files a run uses from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub qemu: PathBuf,
    pub ganesha: PathBuf,
    pub loaders: LoaderTools,
    /// A static busybox: the LACP partner VM's userland.
    pub busybox: PathBuf,
}

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

impl Default for Tools {
    fn default() -> Self {
        Tools {
            qemu: PathBuf::from(QEMU),
            ganesha: PathBuf::from(GANESHA),
            loaders: LoaderTools::default(),
            busybox: PathBuf::from(BUSYBOX),
        }
    }
}

/// The network the node's four NICs are on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// One QEMU hub with user networking ([`ServedNet`]): no switch, any bond mode.
    #[default]
    Hub,
    /// Four cables to an LACP partner VM, with dnsmasq and nfs-ganesha behind it in a private
    /// network namespace ([`LacpBed`]): the profile's bond must be 802.3ad or balance-xor.
    Lacp,
}

impl Network {
    /// The `--network` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Hub => "hub",
            Network::Lacp => "lacp",
        }
    }
}

impl Network {
    pub fn name(self) -> &'static str {
        match self {
            Network::Hub => "hub",
            Network::Lacp => "lacp",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct QemuOptions {
    /// The build it boots. Its `out_dir` also holds the run state (`OUT/.qemu/PROFILE/`) and
    /// the scratch publication (`OUT/.qemu/PROFILE.served/`).
    pub build: BuildOptions,
    pub loader: Loader,
    pub accel: AccelChoice,
    /// `Some(marker)`: `--check` mode; `None`: interactive console.
    pub check: Option<String>,
    /// QEMU is killed after this long (`None`: never).
    pub timeout: Option<Duration>,
    /// Extra kernel parameters, after everything else.
    pub append: Vec<String>,
    pub network: Network,
    pub tools: Tools,
}

/// Progress notes for the user (the CLI prints them on stderr).
pub trait Events {
    fn note(&self, text: &str);

    /// Where the build before the boot shows its stages and warnings (as `netroot build` does);
    /// nothing by default.
    fn build_progress(&self) -> &dyn Progress {
        &Quiet
    }

    /// The build ended (built, up to date or failed): a spinner is cleared here, before
    /// anything else (QEMU's console) writes to the terminal.
    fn build_done(&self) {}
}

/// Notes nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Events for Silent {
    fn note(&self, _: &str) {}
}

/// Holds `OUT/.qemu/PROFILE.lock` for the run.
#[derive(Debug)]
struct RunLock(#[allow(dead_code)] fs::File);

fn lock(path: &Path, profile: &str) -> Result<RunLock, QemuError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(QemuError::io("open", path))?;
    flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(|_| QemuError::Busy {
        profile: profile.to_string(),
        lock: path.to_path_buf(),
    })?;
    Ok(RunLock(file))
}

fn check_interrupt(interrupt: &AtomicBool) -> Result<(), QemuError> {
    if interrupt.load(Ordering::SeqCst) {
        Err(QemuError::Interrupted)
    } else {
        Ok(())
    }
}

/// Runs `opts` to the end. `interrupt` (set by a SIGINT/SIGTERM handler) stops the run
/// between steps and the VM while it runs.
pub fn run(
    opts: &QemuOptions,
    events: &dyn Events,
    interrupt: &AtomicBool,
) -> Result<Outcome, QemuError> {
    if !rustix::process::geteuid().is_root() {
        return Err(QemuError::NotRoot);
    }
    let name = &opts.build.profile;
    // The profile first: a profile `netroot qemu` cannot boot is refused before a build that
    // may run mmdebstrap.
    let profile = Project::new(&opts.build.project)
        .load_profile(name)
        .map_err(|e| QemuError::Build {
            profile: name.clone(),
            source: Box::new(e.into()),
        })?;
    if profile.root.is_none() {
        return Err(QemuError::NoRoot {
            profile: profile.name.clone(),
        });
    }
    guest::require_v4(&profile.name, &profile.boot)?;
    // Checked before the build: `None` on the hub, the partner's aggregation with lacp.
    let lacp = lacp_preflight(opts, &profile)?;
    let extra = guest::cmdline_extra(&profile.boot, &profile.menu.cmdline_extra, &opts.append)?;
    let built = pipeline::build(&opts.build, events.build_progress());
    events.build_done();
    let report = built.map_err(|source| {
        if crate::interrupt::find(&source).is_some() {
            // Stopped by the user, not broken: the same answer as an interrupt between steps.
            return QemuError::Interrupted;
        }
        QemuError::Build {
            profile: name.clone(),
            source: Box::new(source),
        }
    })?;
    events.note(&format!(
        "{} {} ({:.1}s)",
        if report.up_to_date {
            "up to date:"
        } else {
            "built"
        },
        report.out_dir.display(),
        report.seconds
    ));
    check_interrupt(interrupt)?;

    // Absolute: ganesha's config and the reported log path must not depend on the cwd.
    let state = opts.build.out_dir.join(RUN_SUBDIR);
    let state = std::path::absolute(&state).map_err(QemuError::io("resolve", &state))?;
    fs::create_dir_all(&state).map_err(QemuError::io("create", &state))?;
    let _lock = lock(&state.join(format!("{}.lock", profile.name)), &profile.name)?;
    let run_dir = state.join(&profile.name);
    if run_dir.exists() {
        fs::remove_dir_all(&run_dir).map_err(QemuError::io("remove", &run_dir))?;
    }
    fs::create_dir_all(&run_dir).map_err(QemuError::io("create", &run_dir))?;

    let served_dir = serve::served_dir(&state, &profile.name);
    tracing::info!(
        profile = %profile.name,
        run_dir = %run_dir.display(),
        served = %served_dir.display(),
        loader = opts.loader.name(),
        network = opts.network.as_str(),
        "qemu run"
    );
    loader::install(opts.loader, &opts.tools.loaders, &served_dir.join("tftp"))?;
    let served = serve::publish(&profile, &extra, &opts.build.out_dir, &served_dir)?;
    events.note(&format!(
        "published generation {} ({}) into {}",
        served.generation.generation,
        match served.report.state {
            crate::publish::PlanState::New => "new",
            crate::publish::PlanState::Published { active: true } => "unchanged",
            crate::publish::PlanState::Published { active: false } => "reactivated",
        },
        served_dir.display()
    ));
    check_interrupt(interrupt)?;

    let kernel = served.targets.tftp.join(&served.generation.vmlinuz);
    let (accel, probe) = accel::resolve(opts.accel, &opts.tools.qemu, &kernel)?;
    if let Some(p) = &probe {
        events.note(&format!("kvm probe: {p}; using {}", accel.as_str()));
    }
    check_interrupt(interrupt)?;

    let export = Export {
        path: &served.targets.nfs,
        pseudo: &profile.boot.nfs.export,
    };
    let published = loader::Published {
        kernel: &served.generation.vmlinuz,
        initrd: &served.generation.initramfs,
        cmdline: &served.cmdline,
    };
    let boot_spec = loader::boot(
        opts.loader,
        &opts.tools.loaders,
        &served.targets.tftp,
        &published,
    )?;
    let (mut spec, servers) = match lacp {
        None => {
            let ganesha = Ganesha::start(&opts.tools.ganesha, &export, &run_dir)?;
            let net = ServedNet::plan(
                profile.boot.nfs.server,
                servednet::nfs_port(&profile.boot.nfs.options)?,
                ganesha.port(),
            )?;
            events.note(&format!(
                "nfs-ganesha (pid {}) serves {} as {} on 127.0.0.1:{}, reached by the guest as {}:{}",
                ganesha.pid(),
                served.targets.nfs.display(),
                export.pseudo,
                ganesha.port(),
                net.server,
                net.server_port
            ));
            let spec = VmSpec::new(boot_spec, Uplink::Served(net), accel);
            (spec, Servers::Hub(ganesha))
        }
        Some(aggregation) => {
            let nfs = &served.targets.nfs;
            let bed = start_lacp_bed(opts, &profile, aggregation, &export, nfs, accel, &run_dir)?;
            events.note(&format!(
                "lacp partner vm ready ({}); dnsmasq and nfs-ganesha (pid {}) on {} in network namespace {}",
                aggregation.mode(),
                bed.ganesha.pid(),
                profile.boot.nfs.server,
                bed.netns.name()
            ));
            let (uplink, ns) = bed.node_uplink();
            let mut spec = VmSpec::new(boot_spec, uplink, accel);
            spec.netns = Some(ns);
            (spec, Servers::Lacp(Box::new(bed)))
        }
    };
    spec.macs = guest::nic_macs(&profile.boot.bond);
    spec.timeout = opts.timeout;
    spec.console = match opts.check {
        Some(_) => ConsoleMode::Capture,
        None => ConsoleMode::Terminal,
    };
    check_interrupt(interrupt)?;
    events.note(&format!(
        "booting via {} with {} (console log {})",
        opts.loader.name(),
        accel.as_str(),
        run_dir.join("console.log").display()
    ));
    let needle = opts.loader.console_needle();
    let (vm, verdict, timeline) = match &opts.check {
        Some(marker) => {
            // Both closures need the watch: complete lines and the unfinished prompt line
            // alternate within one poll, never at once.
            let watch = std::cell::RefCell::new(CheckWatch::new(marker, needle));
            let vm = runner::run_watching_prompts(
                &opts.tools.qemu,
                &spec,
                &run_dir,
                Some(interrupt),
                &mut |l| watch.borrow_mut().observe(l),
                Some(&mut |l| watch.borrow_mut().observe_prompt(l)),
            )?;
            let watch = watch.into_inner();
            let v = watch.verdict(vm.exit, vm.shutdown.as_deref(), opts.timeout);
            let t = v.timeline.clone();
            (vm, Some(v), t)
        }
        None => {
            let mut tb = TimelineBuilder::new(needle);
            let vm = runner::run(
                &opts.tools.qemu,
                &spec,
                &run_dir,
                Some(interrupt),
                &mut |l| {
                    tb.observe(l);
                    Watch::Continue
                },
            )?;
            (vm, None, tb.timeline().clone())
        }
    };
    let verdict = verdict.map(|mut v| {
        if let Servers::Lacp(bed) = &servers {
            // The partner's last report: how the switch saw the node's ports.
            let view = bed
                .partner
                .latest()
                .map_or("lacp=no partner report".to_string(), |(_, v)| v.to_string());
            v.reason = format!("{}; partner {view}", v.reason);
        }
        v
    });
    drop(servers);
    Ok(Outcome {
        profile: profile.name,
        loader: opts.loader,
        accel,
        network: opts.network,
        probe,
        log: run_dir.join("console.log"),
        exit: vm.exit,
        wall: vm.wall,
        verdict,
        timeline,
    })
}

/// The servers of a run, stopped when dropped (after the VM).
enum Servers {
    // Held for its drop: the guard stops ganesha.
    Hub(#[allow(dead_code)] Ganesha),
    Lacp(Box<LacpBed>),
}

/// With `--network lacp`: how the partner aggregates for the profile's bond mode (other modes
/// need no switch support and would misdeliver on a LAG), after checking the loader can boot
/// from the published DHCP wiring; `None` on the hub.
fn lacp_preflight(opts: &QemuOptions, profile: &Profile) -> Result<Option<Aggregation>, QemuError> {
    if opts.network == Network::Hub {
        return Ok(None);
    }
    if !matches!(opts.loader, Loader::Ipxe | Loader::Direct) {
        return Err(QemuError::BadSetting {
            what: "--loader",
            value: opts.loader.name().to_string(),
            reason: "--network lacp serves the published DHCP wiring (netroot.dnsmasq.conf), which gives iPXE the netroot.ipxe menu: use --loader ipxe or direct".into(),
        });
    }
    match profile.boot.bond.mode {
        BondMode::Ieee8023ad => Ok(Some(Aggregation::Lacp)),
        BondMode::BalanceXor => Ok(Some(Aggregation::Xor)),
        other => Err(QemuError::BadSetting {
            what: "bond.mode",
            value: other.as_str().to_string(),
            reason: "--network lacp cables the node to a switch LAG: use 802.3ad (LACP) or balance-xor (static), or --network hub".into(),
        }),
    }
}

/// The LACP bed for `profile`: the partner runs the build's own kernel tree.
fn start_lacp_bed(
    opts: &QemuOptions,
    profile: &Profile,
    aggregation: Aggregation,
    export: &Export<'_>,
    served_nfs: &Path,
    accel: Accel,
    run_dir: &Path,
) -> Result<LacpBed, QemuError> {
    let kernel = pipeline::kernel_tree(&opts.build).map_err(|e| QemuError::Build {
        profile: profile.name.clone(),
        source: Box::new(e),
    })?;
    let spec = LacpBedSpec {
        server: profile.boot.nfs.server,
        nfs_port: servednet::nfs_port(&profile.boot.nfs.options)?,
        export: export.clone(),
        partner: PartnerSpec {
            aggregation,
            hash: profile.boot.bond.xmit_hash_policy.as_str().to_string(),
            // A profile's VLAN is tagged by the switch, as on the cluster network.
            vlan: profile.boot.vlan.as_ref().map(|v| v.id().get()),
            // PXE (firmware, iPXE) does not tag: the VLAN's port is also native for it.
            native: opts.loader != Loader::Direct,
        },
        kernel: &kernel,
        busybox: &opts.tools.busybox,
        ganesha: &opts.tools.ganesha,
        qemu: &opts.tools.qemu,
        accel,
        // The published wiring itself: TFTP of the scratch TFTP root, netroot.ipxe for iPXE,
        // the reservations of nodes.toml.
        dhcp_conf: Some(served_nfs.join(crate::deploy::DNSMASQ_FILE)),
        dir: &run_dir.join("lacp"),
    };
    LacpBed::start(&spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_of_the_same_profile_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.lock");
        let held = lock(&path, "p").expect("first");
        let e = lock(&path, "p").expect_err("second");
        assert_eq!(
            e.to_string(),
            format!(
                "another netroot qemu run of profile \"p\" holds {}",
                path.display()
            )
        );
        drop(held);
        lock(&path, "p").expect("free again");
    }
}
