//! Issue 3's VM boot test: a real netroot image (the `netroot` binary with its embedded static
//! init, the test kernel) booted under QEMU with four virtio NICs on a hub, its root a busybox
//! tree served by a per-test nfs-ganesha. The guest's `/sbin/init` checks the overlay, the
//! read-only NFS lower, the tmpfs upper and the bond, then powers off; failure tests check the
//! init's single `FAILED` line and its reboot. Skipped (with a message) without root, QEMU,
//! ganesha, busybox or the test kernel, unless `NETROOT_REQUIRE_VM=1`.
//!
//! Every test has its own temp dir, ganesha port and QEMU, so they run in parallel.

#[allow(dead_code)] // shared with later VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use tempfile::TempDir;

use netroot::qemu::args::{Boot, Uplink, VmSpec, CONSOLE_ARGS, DEFAULT_MACS};
use netroot::qemu::ganesha::{self, Export, Ganesha, PSEUDO};
use netroot::qemu::runner::{self, Exit, VmRun, Watch};
use vm::console::{Console, FailedLine, GuestChecks, Summary};
use vm::env::{vm_tools_or_skip, VmTools};
use vm::project::{self, TestProfile, Timeouts};
use vm::report::Report;
use vm::rootfs::{self, GuestExpect, RootTree, CHECKS};

/// The host as seen from QEMU user networking.
const NFS_SERVER: &str = "10.0.2.2";
/// Name of the generated profile in each test's project.
const PROFILE: &str = "vmtest";
/// Hard limit of one VM run: each test stays within 90 s wall under TCG.
const QEMU_TIMEOUT: Duration = Duration::from_secs(80);
/// Reboot delay of the failure action: short, so a failed boot ends the VM quickly.
const FAILURE_ACTION: &str = "reboot:1s";
/// Kernel and init timestamps come from different clocks (printk's local clock, the init's
/// CLOCK_BOOTTIME); allow this much skew when ordering them.
const CLOCK_SKEW: Duration = Duration::from_millis(200);
/// The phases of a successful boot, in order (initramfs-init/src/phases/mod.rs).
const PHASES: &[&str] = &[
    "early",
    "config",
    "modules",
    "links",
    "bond",
    "dhcp",
    "nfs",
    "overlay",
    "switch_root",
];

/// Timeouts of a boot that should succeed: generous for TCG, within the test's 90 s.
fn ok_timeouts(links: &str) -> Timeouts {
    Timeouts {
        links: links.into(),
        dhcp: "20s".into(),
        nfs: "20s".into(),
        boot: "60s".into(),
    }
}

/// A per-test token: unique enough to tell this test's export from any other.
fn token(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// What one boot needs. Fields drop in order: ganesha is killed before its tree and the
/// temp dir are removed.
struct Bed {
    /// Kept alive for the VM's lifetime; killed on drop.
    _ganesha: Option<Ganesha>,
    tree: RootTree,
    image: project::Image,
    tmp: TempDir,
}

/// Builds the tree, starts ganesha (or not, leaving a port nothing listens on), writes the
/// project and builds the image.
fn prepare(
    tools: &VmTools,
    name: &str,
    mode: &str,
    serve: bool,
    timeouts: Timeouts,
) -> Result<Bed> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("netroot-vm-{name}-"))
        .tempdir()
        .context("temp dir")?;
    let expect = GuestExpect {
        bond: "bond0".into(),
        mode: mode.into(),
        slaves: DEFAULT_MACS.len(),
        nfs_source: format!("{NFS_SERVER}:{PSEUDO}"),
        token: token(name),
    };
    let tree = rootfs::build_root(&tmp.path().join("root"), &tools.busybox, &expect)?;
    let (server, port) = if serve {
        let export = Export {
            path: &tree.dir,
            pseudo: PSEUDO,
        };
        let g = Ganesha::start(&tools.ganesha, &export, tmp.path())?;
        let port = g.port();
        (Some(g), port)
    } else {
        (None, ganesha::free_port()?)
    };
    let profile = TestProfile {
        name: PROFILE.into(),
        inherits: "qemu-base".into(),
        bond_mode: mode.into(),
        nfs_options: Some(format!("port={port}")),
        failure: FAILURE_ACTION.into(),
        timeouts,
        root_dir: None,
    };
    let proj = tmp.path().join("project");
    project::create_project(&proj, &profile)?;
    let image = project::build(
        &tools.netroot,
        &proj,
        PROFILE,
        &tools.kernel,
        &tmp.path().join("out"),
    )?;
    Ok(Bed {
        _ganesha: server,
        tree,
        image,
        tmp,
    })
}

fn boot(tools: &VmTools, bed: &Bed, uplink: Uplink, links_down: &[&str]) -> Result<VmRun> {
    let mut spec = VmSpec::new(
        Boot::Direct {
            kernel: bed.image.vmlinuz.clone(),
            initrd: bed.image.initramfs.clone(),
            cmdline: CONSOLE_ARGS.into(),
        },
        uplink,
        tools.accel,
    );
    spec.timeout = Some(QEMU_TIMEOUT);
    spec.links_down = links_down.iter().map(|s| s.to_string()).collect();
    let vmdir = bed.tmp.path().join("vm");
    std::fs::create_dir_all(&vmdir).context("vm dir")?;
    Ok(runner::run(&tools.qemu, &spec, &vmdir, None, &mut |_| {
        Watch::Continue
    })?)
}

/// The phase lines are in boot order with non-decreasing timestamps, after the kernel started
/// /init, and the OK line's `t=` is not before the last of them.
fn check_timeline(console: &Console, ok_t: Duration) -> Result<()> {
    let phases = console.phase_lines().map_err(anyhow::Error::msg)?;
    let mut order: Vec<&str> = phases.iter().map(|p| p.phase.as_str()).collect();
    order.dedup();
    ensure!(
        order == PHASES,
        "phase order {order:?}, expected {PHASES:?}"
    );
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

/// A boot that must reach the guest checker: the OK line, every check passing, poweroff.
fn boot_ok(
    name: &str,
    mode: &str,
    links_down: &[&str],
    links_timeout: &str,
    up: u32,
) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    let bed = prepare(&tools, name, mode, true, ok_timeouts(links_timeout))?;
    let run = boot(&tools, &bed, Uplink::User, links_down)?;
    report.vm_wall = Some(run.wall);
    let t = run.transcript();
    let console = run.console();

    ensure!(
        console
            .failed_lines()
            .map_err(anyhow::Error::msg)?
            .is_empty(),
        "boot failed:\n{t}"
    );
    let oks = console.ok_lines().map_err(anyhow::Error::msg)?;
    ensure!(
        oks.len() == 1,
        "{} OK lines, expected exactly one:\n{t}",
        oks.len()
    );
    let ok = &oks[0];
    report.kernel_to_ok = Some(ok.t);
    report.qemu_to_ok = run.seen_at(vm::console::OK_PREFIX);
    report.note = format!("{mode} bond={}/{}", ok.ports_up, ok.ports_total);
    let total = DEFAULT_MACS.len() as u32;
    ensure!(
        ok.root == format!("{NFS_SERVER}:{PSEUDO}") && ok.ports_up == up && ok.ports_total == total,
        "OK line {ok:?}, expected root={NFS_SERVER}:{PSEUDO} bond={up}/{total}:\n{t}"
    );
    check_timeline(&console, ok.t).with_context(|| t.clone())?;
    let bond_line = console
        .phase_lines()
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|p| p.phase == "bond")
        .context("no bond line")?;
    let want = format!("name=bond0 mode={mode} ports={up}/{total} ");
    ensure!(
        bond_line.text.contains(" down=") == (up < total),
        "bond line {bond_line:?}: ports without carrier must be listed as down="
    );
    ensure!(
        bond_line.text.starts_with(&want),
        "bond line {bond_line:?}, expected {want}..."
    );

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
    ensure!(
        matches!(run.exit, Exit::Exited(s) if s.success()),
        "qemu did not power off by itself:\n{t}"
    );
    ensure!(
        run.shutdown.as_deref() == Some("guest-shutdown"),
        "shutdown reason {:?}, expected guest-shutdown (poweroff -f):\n{t}",
        run.shutdown
    );
    report.pass();
    Ok(())
}

/// A boot that must fail in `phase`: exactly one FAILED line, the reboot notice, the kernel's
/// restart, QEMU exiting by itself (`-no-reboot`) with a guest reset, never the real init.
fn boot_fails(
    name: &str,
    uplink: Uplink,
    timeouts: Timeouts,
    phase: &str,
    reason: &[&str],
) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    let bed = prepare(&tools, name, "active-backup", false, timeouts)?;
    let run = boot(&tools, &bed, uplink, &[])?;
    report.vm_wall = Some(run.wall);
    report.note = format!("FAILED phase={phase} expected");
    let t = run.transcript();
    let console = run.console();

    ensure!(
        console.ok_lines().map_err(anyhow::Error::msg)?.is_empty(),
        "unexpected OK:\n{t}"
    );
    let failed = console.failed_lines().map_err(anyhow::Error::msg)?;
    ensure!(
        failed.len() == 1,
        "{} FAILED lines, expected exactly one:\n{t}",
        failed.len()
    );
    let FailedLine {
        phase: got,
        reason: why,
    } = &failed[0];
    ensure!(
        got == phase,
        "failed in phase {got}, expected {phase}:\n{t}"
    );
    for needle in reason {
        ensure!(
            why.contains(needle),
            "reason {why:?} lacks {needle:?}:\n{t}"
        );
    }
    let failed_at = console
        .lines
        .iter()
        .position(|l| l.starts_with(vm::console::FAILED_PREFIX))
        .context("FAILED line vanished")?;
    let notice = "netroot-init: rebooting in 1s";
    ensure!(
        console.lines.get(failed_at + 1).map(String::as_str) == Some(notice),
        "no {notice:?} right after the FAILED line:\n{t}"
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
        console.count(|l| l.starts_with(rootfs::PREFIX)) == 0,
        "the real init ran:\n{t}"
    );
    ensure!(
        matches!(run.exit, Exit::Exited(s) if s.success()),
        "qemu did not exit by itself within {QEMU_TIMEOUT:?}:\n{t}"
    );
    ensure!(
        run.shutdown.as_deref() == Some("guest-reset"),
        "shutdown reason {:?}, expected guest-reset (a reboot under -no-reboot):\n{t}",
        run.shutdown
    );
    report.note = format!("FAILED phase={got}, reset at {:.3}s", restart.as_secs_f64());
    report.pass();
    Ok(())
}

#[test]
fn boots_with_an_802_3ad_bond() -> Result<()> {
    boot_ok("boots_with_an_802_3ad_bond", "802.3ad", &[], "20s", 4)
}

#[test]
fn boots_with_an_active_backup_bond() -> Result<()> {
    boot_ok(
        "boots_with_an_active_backup_bond",
        "active-backup",
        &[],
        "20s",
        4,
    )
}

#[test]
fn boots_with_a_balance_alb_bond() -> Result<()> {
    boot_ok(
        "boots_with_a_balance_alb_bond",
        "balance-alb",
        &[],
        "20s",
        4,
    )
}

/// nic3's link is down before the guest starts (QMP set_link): the bond waits `timeouts.links`
/// for it, then boots on three ports (min_ports = 1) with all four enslaved.
#[test]
fn boots_on_three_ports_when_one_link_is_down() -> Result<()> {
    boot_ok(
        "boots_on_three_ports_when_one_link_is_down",
        "active-backup",
        &["nic3"],
        "4s",
        3,
    )
}

#[test]
fn absent_nfs_server_fails_in_phase_nfs_and_reboots() -> Result<()> {
    let timeouts = Timeouts {
        links: "20s".into(),
        dhcp: "20s".into(),
        nfs: "8s".into(),
        boot: "60s".into(),
    };
    boot_fails(
        "absent_nfs_server_fails_in_phase_nfs_and_reboots",
        Uplink::User,
        timeouts,
        "nfs",
        &["10.0.2.2:/export: not mounted after 8s", "ECONNREFUSED"],
    )
}

#[test]
fn no_dhcp_answer_fails_in_phase_dhcp_and_reboots() -> Result<()> {
    let timeouts = Timeouts {
        links: "20s".into(),
        dhcp: "8s".into(),
        nfs: "20s".into(),
        boot: "60s".into(),
    };
    boot_fails(
        "no_dhcp_answer_fails_in_phase_dhcp_and_reboots",
        Uplink::Isolated,
        timeouts,
        "dhcp",
        &["no lease after", "0 OFFER"],
    )
}
