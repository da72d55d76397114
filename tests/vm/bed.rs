//! The test bed of one direct-boot VM test (`tests/vm_boot.rs`, `tests/vm_faults.rs`): a
//! busybox root tree with a per-test token, an nfs-ganesha serving it (now, later on a reserved
//! port, or never), a per-test project whose generated profile inherits `qemu-base`, the image
//! built from it, and the QEMU run; plus the assertions every boot test makes on the init's
//! lines (an OK boot with its timeline and bond line, the guest checker's verdict, a FAILED boot
//! and its reboot), and the whole of a failure test ([`failing_boot_test`]).

use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use tempfile::TempDir;

use netroot::qemu::args::{Boot, Uplink, VmSpec, CONSOLE_ARGS, DEFAULT_MACS};
use netroot::qemu::ganesha::{self, Export, Ganesha, PSEUDO};
use netroot::qemu::runner::{self, Exit, TimedLine, VmRun, Watch};

use netroot_boot::phase::Phase;

use super::console::{self, Console, FailedLine, GuestChecks, OkLine, PhaseLine, Summary};
use super::env::{vm_tools_or_skip, VmTools};
use super::ioloop::{self, IoLoop};
use super::project::{self, ProfileExtra, TestProfile, Timeouts};
use super::report::Report;
use super::rootfs::{self, GuestExpect, RootTree, CHECKS};

/// The host as seen from QEMU user networking.
pub const NFS_SERVER: &str = "10.0.2.2";
/// Name of the generated profile in each test's project.
pub const PROFILE: &str = "vmtest";
/// Hard limit of one VM run: a boot test stays within 90 s wall under TCG.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(80);
/// Reboot delay of the failure action: short, so a failed boot ends the VM quickly.
pub const FAILURE_ACTION: &str = "reboot:1s";
/// The notice the init prints right after its FAILED line with [`FAILURE_ACTION`].
pub const REBOOT_NOTICE: &str = "netroot-init: rebooting in 1s";
/// Kernel and init timestamps come from different clocks (printk's local clock, the init's
/// CLOCK_BOOTTIME); allow this much skew when ordering them.
const CLOCK_SKEW: Duration = Duration::from_millis(200);

/// The one line of `lines` (the console's `what` lines); an error naming how many there are
/// otherwise, with the console text `t`.
fn exactly_one<T: Clone>(
    lines: std::result::Result<Vec<T>, String>,
    what: &str,
    t: &str,
) -> Result<T> {
    let lines = lines.map_err(anyhow::Error::msg)?;
    ensure!(
        lines.len() == 1,
        "{} {what} lines, expected exactly one:\n{t}",
        lines.len()
    );
    Ok(lines[0].clone())
}

/// QEMU exited by itself (else "qemu did not `how` by itself") for the shutdown `reason`,
/// which `why` causes; `t` is the console transcript for the error.
fn assert_exited(run: &VmRun, how: &str, reason: &str, why: &str, t: &str) -> Result<()> {
    ensure!(
        matches!(run.exit, Exit::Exited(s) if s.success()),
        "qemu did not {how} by itself:\n{t}"
    );
    ensure!(
        run.shutdown.as_deref() == Some(reason),
        "shutdown reason {:?}, expected {reason} ({why}):\n{t}",
        run.shutdown
    );
    Ok(())
}

/// Runs the VM test `name` unless [`vm_tools_or_skip`] skips it: `body` gets the name, the
/// tools and the test's [`Report`] and returns the report's note; the report passes when `body`
/// returns `Ok` (an error or a panic leaves it FAIL).
pub fn vm_test(
    name: &str,
    body: impl FnOnce(&str, &VmTools, &mut Report) -> Result<String>,
) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    report.note = body(name, &tools, &mut report)?;
    report.pass();
    Ok(())
}

/// Timeouts of a boot that should succeed: generous for TCG, within the test's 90 s.
pub fn ok_timeouts(links: &str) -> Timeouts {
    Timeouts {
        links: links.into(),
        dhcp: "20s".into(),
        nfs: "20s".into(),
        boot: "60s".into(),
    }
}

/// A per-test token: unique enough to tell this test's export from any other.
pub fn token(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Whether and when the NFS server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Started before the image is built.
    Now,
    /// Never: the profile names a port nothing listens on.
    Absent,
    /// The port is reserved; the test starts the server with [`Bed::start_server`].
    Later,
}

/// What the root tree's `/sbin/init` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guest {
    /// The checker of `rootfs.rs`, then poweroff.
    Checks,
    /// The NFS read loop of `ioloop.rs`, then poweroff.
    IoLoop(IoLoop),
}

/// One test bed's settings.
#[derive(Debug, Clone)]
pub struct BedSpec {
    pub name: String,
    /// Bond mode in sysfs spelling.
    pub mode: String,
    pub server: Server,
    pub timeouts: Timeouts,
    pub extra: ProfileExtra,
    pub guest: Guest,
}

impl BedSpec {
    /// The checker guest, the profile unchanged beyond mode and timeouts.
    pub fn new(name: &str, mode: &str, server: Server, timeouts: Timeouts) -> Self {
        BedSpec {
            name: name.into(),
            mode: mode.into(),
            server,
            timeouts,
            extra: ProfileExtra::default(),
            guest: Guest::Checks,
        }
    }
}

/// How one VM of a bed runs.
#[derive(Debug, Clone)]
pub struct BootOpts {
    pub uplink: Uplink,
    /// NIC ids (`nic0`..) whose link is down when the guest starts.
    pub links_down: Vec<String>,
    /// Appended to the kernel command line.
    pub cmdline_extra: String,
    pub timeout: Duration,
    /// The network namespace QEMU runs in (the LACP bed's).
    pub netns: Option<String>,
}

impl Default for BootOpts {
    fn default() -> Self {
        BootOpts {
            uplink: Uplink::User,
            links_down: Vec::new(),
            cmdline_extra: String::new(),
            timeout: QEMU_TIMEOUT,
            netns: None,
        }
    }
}

/// What one boot needs. Fields drop in order: ganesha is killed before its tree and the
/// temp dir are removed.
pub struct Bed {
    /// Kept alive for the VM's lifetime; killed on drop.
    _ganesha: Option<Ganesha>,
    /// The port the profile mounts.
    pub port: u16,
    pub tree: RootTree,
    pub image: project::Image,
    pub tmp: TempDir,
}

/// Builds the tree, starts ganesha (or reserves its port), writes the project and builds the
/// image.
pub fn prepare(tools: &VmTools, spec: &BedSpec) -> Result<Bed> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("netroot-vm-{}-", spec.name))
        .tempdir()
        .context("temp dir")?;
    let expect = GuestExpect {
        bond: "bond0".into(),
        mode: spec.mode.clone(),
        slaves: DEFAULT_MACS.len(),
        nfs_source: format!("{NFS_SERVER}:{PSEUDO}"),
        token: token(&spec.name),
    };
    let tree = rootfs::build_root(&tmp.path().join("root"), &tools.busybox, &expect)?;
    if let Guest::IoLoop(io) = &spec.guest {
        ioloop::install(&tree, &expect, io)?;
    }
    let (server, port) = match spec.server {
        Server::Now => {
            let export = Export {
                path: &tree.dir,
                pseudo: PSEUDO,
            };
            let g = Ganesha::start(&tools.ganesha, &export, tmp.path())?;
            let port = g.port();
            (Some(g), port)
        }
        Server::Absent | Server::Later => (None, ganesha::free_port()?),
    };
    let profile = TestProfile {
        name: PROFILE.into(),
        inherits: "qemu-base".into(),
        bond_mode: spec.mode.clone(),
        nfs_options: Some(format!("port={port}")),
        failure: FAILURE_ACTION.into(),
        timeouts: spec.timeouts.clone(),
        root_dir: None,
    };
    let proj = tmp.path().join("project");
    project::create_project_with(&proj, &profile, &spec.extra)?;
    let image = project::build(
        &tools.netroot,
        &proj,
        PROFILE,
        &tools.kernel,
        &tmp.path().join("out"),
    )?;
    Ok(Bed {
        _ganesha: server,
        port,
        tree,
        image,
        tmp,
    })
}

impl Bed {
    /// Starts ganesha on the bed's reserved port (for [`Server::Later`]); the caller keeps it
    /// alive for as long as the VM needs it.
    pub fn start_server(&self, tools: &VmTools) -> Result<Ganesha> {
        let export = Export {
            path: &self.tree.dir,
            pseudo: PSEUDO,
        };
        Ok(Ganesha::start_on_port(
            &tools.ganesha,
            &export,
            self.tmp.path(),
            self.port,
        )?)
    }

    /// Boots the image once; `watch` sees every console line.
    pub fn boot(
        &self,
        tools: &VmTools,
        opts: &BootOpts,
        watch: &mut dyn FnMut(&TimedLine) -> Watch,
    ) -> Result<VmRun> {
        self.boot_with(tools, opts, None, watch)
    }

    /// [`Bed::boot`], also carrying out the actions sent on `commands` as they arrive (another
    /// party's link changes, without waiting for a console line).
    pub fn boot_with(
        &self,
        tools: &VmTools,
        opts: &BootOpts,
        commands: Option<&std::sync::mpsc::Receiver<Watch>>,
        watch: &mut dyn FnMut(&TimedLine) -> Watch,
    ) -> Result<VmRun> {
        let cmdline = match opts.cmdline_extra.as_str() {
            "" => CONSOLE_ARGS.to_string(),
            extra => format!("{CONSOLE_ARGS} {extra}"),
        };
        let mut spec = VmSpec::new(
            Boot::Direct {
                kernel: self.image.vmlinuz.clone(),
                initrd: self.image.initramfs.clone(),
                cmdline,
            },
            opts.uplink.clone(),
            tools.accel,
        );
        spec.timeout = Some(opts.timeout);
        spec.links_down = opts.links_down.clone();
        spec.netns = opts.netns.clone();
        let vmdir = self.tmp.path().join("vm");
        std::fs::create_dir_all(&vmdir).context("vm dir")?;
        Ok(match commands {
            Some(rx) => runner::run_with_commands(&tools.qemu, &spec, &vmdir, None, rx, watch)?,
            None => runner::run(&tools.qemu, &spec, &vmdir, None, watch)?,
        })
    }
}

/// The phase lines are in boot order with non-decreasing timestamps, after the kernel started
/// /init, and the OK line's `t=` is not before the last of them.
pub fn check_timeline(console: &Console, ok_t: Duration) -> Result<()> {
    let phases = console.phase_lines().map_err(anyhow::Error::msg)?;
    let mut order: Vec<&str> = phases.iter().map(|p| p.phase.as_str()).collect();
    order.dedup();
    // Every phase of the one list, in order; `panic` is not a step of a successful boot.
    let want: Vec<&str> = Phase::ALL
        .iter()
        .filter(|p| **p != Phase::Panic)
        .map(|p| p.name())
        .collect();
    ensure!(order == want, "phase order {order:?}, expected {want:?}");
    for pair in phases.windows(2) {
        ensure!(pair[0].t <= pair[1].t, "time goes back: {pair:?}");
    }
    let run_init = console
        .kernel_time("Run /init as init process")
        .context("no kernel line 'Run /init as init process'")?
        .map_err(anyhow::Error::msg)?;
    let first = phases.first().context("no phase lines")?.t;
    let last = phases.last().context("no phase lines")?.t;
    ensure!(
        first + CLOCK_SKEW >= run_init,
        "init's first line at {first:?} before the kernel ran /init at {run_init:?}"
    );
    ensure!(
        ok_t >= last,
        "OK t={ok_t:?} before the last phase line at {last:?}"
    );
    Ok(())
}

/// What an OK boot's init printed: the OK line and the links and bond phase lines.
#[derive(Debug, Clone)]
pub struct InitOk {
    pub ok: OkLine,
    pub links: PhaseLine,
    pub bond: PhaseLine,
}

/// The first line of `phase`.
fn phase_line(console: &Console, phase: &str) -> Result<PhaseLine> {
    console
        .phase_lines()
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|p| p.phase == phase)
        .with_context(|| format!("no {phase} phase line"))
}

/// The init reached the real root: no FAILED line, exactly one OK line naming this test's root
/// and `up` of the four ports, the phases in order, and a bond line for `mode` that lists the
/// ports without carrier as `down=` exactly when some are.
pub fn assert_init_ok(run: &VmRun, mode: &str, up: u32) -> Result<InitOk> {
    let t = run.transcript();
    let console = run.console();
    ensure!(
        console
            .failed_lines()
            .map_err(anyhow::Error::msg)?
            .is_empty(),
        "boot failed:\n{t}"
    );
    let ok = exactly_one(console.ok_lines(), "OK", &t)?;
    let total = DEFAULT_MACS.len() as u32;
    ensure!(
        ok.root == format!("{NFS_SERVER}:{PSEUDO}") && ok.ports_up == up && ok.ports_total == total,
        "OK line {ok:?}, expected root={NFS_SERVER}:{PSEUDO} bond={up}/{total}:\n{t}"
    );
    check_timeline(&console, ok.t).with_context(|| t.clone())?;
    let bond = phase_line(&console, "bond").with_context(|| t.clone())?;
    let want = format!("name=bond0 mode={mode} ports={up}/{total} ");
    ensure!(
        bond.text.contains(" down=") == (up < total),
        "bond line {bond:?}: ports without carrier must be listed as down="
    );
    ensure!(
        bond.text.starts_with(&want),
        "bond line {bond:?}, expected {want}..."
    );
    let links = phase_line(&console, "links").with_context(|| t.clone())?;
    Ok(InitOk { ok, links, bond })
}

/// The guest checker ran every check, all passed, nothing leaked into the export, and the
/// guest powered the VM off.
pub fn assert_guest_checks(run: &VmRun, bed: &Bed) -> Result<()> {
    let t = run.transcript();
    let console = run.console();
    let checks = console.checks().map_err(anyhow::Error::msg)?;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    let expected: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
    ensure!(
        names == expected,
        "guest checks {names:?}, expected {expected:?}:\n{t}"
    );
    let failed: Vec<String> = checks
        .iter()
        .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    ensure!(failed.is_empty(), "guest checks failed: {failed:?}:\n{t}");
    let summaries = console.summaries().map_err(anyhow::Error::msg)?;
    let want = Summary {
        passed: CHECKS.len() as u32,
        failed: 0,
    };
    ensure!(
        summaries == [want],
        "summary {summaries:?}, expected {want:?}:\n{t}"
    );
    ensure!(
        bed.tree.leaked_probes().is_empty(),
        "guest writes reached the export: {:?}",
        bed.tree.leaked_probes()
    );
    assert_powered_off(run)
}

/// QEMU exited by itself after the guest's `poweroff -f`.
pub fn assert_powered_off(run: &VmRun) -> Result<()> {
    let t = run.transcript();
    assert_exited(run, "power off", "guest-shutdown", "poweroff -f", &t)
}

/// The boot failed in `phase`: exactly one FAILED line whose reason contains every `needle`,
/// the reboot notice right after it, the kernel's restart, QEMU exiting by itself (`-no-reboot`)
/// with a guest reset, never the real init. Returns the FAILED line and the kernel's restart time.
pub fn assert_boot_failed(
    run: &VmRun,
    phase: &str,
    needles: &[&str],
) -> Result<(FailedLine, Duration)> {
    let t = run.transcript();
    let console = run.console();
    ensure!(
        console.ok_lines().map_err(anyhow::Error::msg)?.is_empty(),
        "unexpected OK:\n{t}"
    );
    let line = exactly_one(console.failed_lines(), "FAILED", &t)?;
    ensure!(
        line.phase == phase,
        "failed in phase {}, expected {phase}:\n{t}",
        line.phase
    );
    for needle in needles {
        ensure!(
            line.reason.contains(needle),
            "reason {:?} lacks {needle:?}:\n{t}",
            line.reason
        );
    }
    let failed_at = console
        .lines
        .iter()
        .position(|l| l.starts_with(console::FAILED_PREFIX))
        .context("FAILED line vanished")?;
    ensure!(
        console.lines.get(failed_at + 1).map(String::as_str) == Some(REBOOT_NOTICE),
        "no {REBOOT_NOTICE:?} right after the FAILED line:\n{t}"
    );
    ensure!(
        console.count(|l| l.starts_with("netroot-init: rebooting")) == 1,
        "reboot notice not exactly once:\n{t}"
    );
    let restart = console
        .kernel_time("reboot: Restarting system")
        .context(format!("kernel never restarted:\n{t}"))?
        .map_err(anyhow::Error::msg)?;
    ensure!(
        console.count(|l| l.contains("Kernel panic")) == 0,
        "kernel panicked:\n{t}"
    );
    ensure!(
        console.count(|l| l.starts_with(rootfs::PREFIX) || l.starts_with(ioloop::PREFIX)) == 0,
        "the real init ran:\n{t}"
    );
    assert_exited(run, "exit", "guest-reset", "a reboot under -no-reboot", &t)?;
    Ok((line, restart))
}

/// A whole failure test: skips without the VM tools, boots `spec` with `opts`, asserts that the
/// boot failed in `phase` with every `needle` in the reason and each of `console_needles` in
/// some console line, and prints the report row.
pub fn failing_boot_test(
    spec: &BedSpec,
    opts: &BootOpts,
    phase: &str,
    needles: &[&str],
    console_needles: &[&str],
) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(&spec.name) else {
        return Ok(());
    };
    let mut report = Report::start(&spec.name);
    let bed = prepare(&tools, spec)?;
    let run = bed.boot(&tools, opts, &mut |_| Watch::Continue)?;
    report.vm_wall = Some(run.wall);
    report.note = format!("FAILED phase={phase} expected");
    let (line, restart) = assert_boot_failed(&run, phase, needles)?;
    let console = run.console();
    for needle in console_needles {
        ensure!(
            console.count(|l| l.contains(needle)) > 0,
            "no console line contains {needle:?}:\n{}",
            run.transcript()
        );
    }
    report.note = format!(
        "FAILED phase={} reset at {:.3}s: {}",
        line.phase,
        restart.as_secs_f64(),
        line.reason
    );
    report.pass();
    Ok(())
}
