//! `netroot qemu --check` end to end: the real binary builds a generated profile whose `[root]`
//! is a busybox tree (tests/vm/rootfs.rs: its `/sbin/init` checks the overlay, the NFS lower,
//! the bond, and prints `vmcheck: N passed, 0 failed`, the marker), serves it from its own
//! nfs-ganesha and boots it through each loader. Asserted: the exit code, the ONE verdict line
//! (init's OK line, marker, a complete and ordered stage timeline, the log path), the guest's
//! checks in the log, and that no process the command started outlives it. Failure cases: a
//! missing NFS root path (the init's FAILED line is the verdict), usage errors, a profile
//! without a root. Skipped with a message without root, QEMU, ganesha, busybox or the test
//! kernel, unless `NETROOT_REQUIRE_VM=1` (tests/vm/env.rs).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[allow(dead_code)] // shared with other VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;

use netroot::qemu::args::DEFAULT_MACS;
use netroot::qemu::ganesha::PSEUDO;
use netroot::qemu::{Stage, KVM_PROBE_TIMEOUT};
use vm::bed::vm_test;
use vm::console::{all_passed_line, Console, GuestChecks};
use vm::env::{find_in_path, vm_tools_or_skip, VmTools, KERNEL_DEB_VAR, KERNEL_DIR_VAR};
use vm::project::{self, TestProfile, Timeouts};
use vm::report::Report;
use vm::rootfs::{self, GuestExpect, RootTree, CHECKS};

/// Name of the generated profile in each test's project.
const PROFILE: &str = "qt";
/// The NFS server of profiles/qemu-base.toml, which the test profile inherits: `netroot qemu`
/// makes this address reach its ganesha, so the published command line works unchanged.
const NFS_SERVER: &str = "10.0.2.2";
/// `netroot qemu --timeout`: every boot here ends (OK + marker, or FAILED) within ~25 s under
/// TCG on an idle machine; 150 s leaves room for parallel tests on 2 cores.
const QEMU_TIMEOUT_SECS: &str = "150";
/// Hard limit of one `netroot qemu` command as the test sees it: its own timeout plus the
/// build, the KVM probe and ganesha start; past it the test kills the command and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(240);
/// The NFS phase's timeout of the failing boot: short, so the FAILED line comes quickly.
const FAILING_NFS_TIMEOUT: &str = "8s";
/// Console lines shown when a boot that should pass fails.
const CONSOLE_TAIL_LINES: usize = 60;
/// Poll interval while waiting for the command.
const POLL: Duration = Duration::from_millis(100);
/// Slack on top of the probe's own bound: QEMU start-up and the kill of a hung probe.
const PROBE_SLACK: Duration = Duration::from_secs(3);

/// A per-test token: tells this test's export from any other.
fn token(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// A project whose profile `qt` boots a busybox checker root.
struct Bed {
    tree: RootTree,
    project: PathBuf,
    out: PathBuf,
    _tmp: TempDir,
}

impl Bed {
    /// `netroot qemu`'s scratch publication (src/qemu/serve.rs).
    fn served(&self) -> PathBuf {
        self.out.join(".qemu").join(format!("{PROFILE}.served"))
    }

    /// The generation the scratch publication's `current` link names.
    fn current_generation(&self) -> Result<String> {
        let link = self
            .served()
            .join("tftp/netroot")
            .join(PROFILE)
            .join("current");
        let target = std::fs::read_link(&link).with_context(|| format!("read {link:?}"))?;
        target
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .with_context(|| format!("{link:?} -> {target:?}"))
    }
}

/// The bond mode of profiles/qemu-base.toml: what most boots here use.
const DEFAULT_MODE: &str = "active-backup";

fn bed(tools: &VmTools, name: &str, nfs_timeout: &str) -> Result<Bed> {
    bed_with_mode(tools, name, nfs_timeout, DEFAULT_MODE)
}

fn bed_with_mode(tools: &VmTools, name: &str, nfs_timeout: &str, mode: &str) -> Result<Bed> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("netroot-qemu-{name}-"))
        .tempdir()
        .context("temp dir")?;
    let expect = GuestExpect {
        bond: "bond0".into(),
        mode: mode.into(),
        slaves: DEFAULT_MACS.len(),
        // Any generation of the scratch publication (checked exactly on the host side).
        nfs_source: format!("{NFS_SERVER}:{PSEUDO}/{PROFILE}/*"),
        token: token(name),
    };
    let tree = rootfs::build_root(&tmp.path().join("root"), &tools.busybox, &expect)?;
    let profile = TestProfile {
        name: PROFILE.into(),
        inherits: "qemu-base".into(),
        bond_mode: mode.into(),
        nfs_options: None,
        failure: "reboot:1s".into(),
        timeouts: Timeouts {
            links: "20s".into(),
            dhcp: "20s".into(),
            nfs: nfs_timeout.into(),
            boot: "90s".into(),
        },
        root_dir: Some(tree.dir.clone()),
    };
    let project = tmp.path().join("project");
    project::create_project(&project, &profile)?;
    Ok(Bed {
        tree,
        project,
        out: tmp.path().join("out"),
        _tmp: tmp,
    })
}

/// One `netroot qemu` command's output; stderr lines keep the time they appeared.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: Vec<(Duration, String)>,
}

impl Run {
    fn stderr_text(&self) -> String {
        self.stderr.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// The one verdict line; fails unless stdout is exactly one line.
    fn verdict(&self) -> Result<&str> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        ensure!(
            lines.len() == 1,
            "stdout must be one verdict line, got {lines:?}; stderr:\n{}",
            self.stderr_text()
        );
        Ok(lines[0])
    }

    /// The time the first stderr line containing `needle` appeared.
    fn note_at(&self, needle: &str) -> Option<(Duration, &str)> {
        self.stderr
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, l)| (*t, l.as_str()))
    }
}

/// Runs `netroot -C PROJECT qemu qt --kernel K --out OUT ARGS...`, killed after
/// [`COMMAND_TIMEOUT`].
fn netroot_qemu(tools: &VmTools, bed: &Bed, args: &[&str]) -> Result<Run> {
    let mut child = Command::new(&tools.netroot)
        .arg("-C")
        .arg(&bed.project)
        .args(["qemu", PROFILE, "--kernel"])
        .arg(&tools.kernel)
        .arg("--out")
        .arg(&bed.out)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run netroot")?;
    let start = Instant::now();
    let mut stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err_reader = thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .map(|l| (start.elapsed(), l))
            .collect::<Vec<_>>()
    });
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for netroot")? {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            // The test fails either way; the kill keeps the machine clean.
            let _ = child.kill();
            let _ = child.wait();
            bail!("netroot qemu {args:?} still running after {COMMAND_TIMEOUT:?}");
        }
        thread::sleep(POLL);
    };
    let stdout = out_reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?
        .context("read stdout")?;
    let stderr = err_reader
        .join()
        .map_err(|_| anyhow::anyhow!("stderr reader panicked"))?;
    Ok(Run {
        status,
        stdout,
        stderr,
    })
}

/// Processes (other than this test) whose command line mentions `path`.
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.bytes().all(|b| b.is_ascii_digit()) && name != me
        })
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&needle)
                .then(|| format!("{}: {text}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// The parts of a verdict line: `netroot qemu: HEAD: WHY | TIMELINE | log PATH`.
struct Verdict<'a> {
    head_and_why: &'a str,
    timeline: Vec<(&'a str, Option<f64>)>,
    log: PathBuf,
}

fn split_verdict(line: &str) -> Result<Verdict<'_>> {
    let parts: Vec<&str> = line.split(" | ").collect();
    let [head_and_why, timeline, log] = parts[..] else {
        bail!("verdict {line:?} is not 'HEAD: WHY | TIMELINE | log PATH'");
    };
    let log = log
        .strip_prefix("log ")
        .with_context(|| format!("no log path in {line:?}"))?;
    let timeline = timeline
        .split(" → ")
        .map(|stage| {
            let (name, t) = stage
                .split_once(' ')
                .with_context(|| format!("bad stage {stage:?}"))?;
            let t = match t {
                "-" => None,
                t => Some(
                    t.strip_suffix('s')
                        .and_then(|s| s.parse::<f64>().ok())
                        .with_context(|| format!("bad stage time {stage:?}"))?,
                ),
            };
            Ok((name, t))
        })
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = timeline.iter().map(|(n, _)| *n).collect();
    let want: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    ensure!(names == want, "stages {names:?}, expected {want:?}");
    Ok(Verdict {
        head_and_why,
        timeline,
        log: PathBuf::from(log),
    })
}

/// Everything a passing `--check` must show; returns the verdict line.
fn assert_pass(tools: &VmTools, bed: &Bed, run: &Run, loader: &str, accel: &str) -> Result<String> {
    let line = run.verdict()?.to_string();
    // On a failure the console log (in a temp dir removed with the test) is the evidence.
    let console_tail = || {
        split_verdict(&line)
            .ok()
            .and_then(|v| std::fs::read_to_string(v.log).ok())
            .map(|log| {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(CONSOLE_TAIL_LINES)..].join("\n")
            })
            .unwrap_or_default()
    };
    let ctx = || {
        format!(
            "{line}\nstderr:\n{}\nconsole (last {CONSOLE_TAIL_LINES} lines):\n{}",
            run.stderr_text(),
            console_tail()
        )
    };
    ensure!(
        run.status.code() == Some(0),
        "exit {:?}: {}",
        run.status,
        ctx()
    );
    let v = split_verdict(&line).with_context(ctx)?;
    // The node mounted the generation the scratch publication activated.
    let generation = bed.current_generation()?;
    let head = format!(
        "netroot qemu: PASS profile={PROFILE} loader={loader} accel={accel}: netroot-init: OK root={NFS_SERVER}:{PSEUDO}/{PROFILE}/{generation} bond=4/4 t="
    );
    ensure!(
        v.head_and_why.starts_with(&head),
        "expected {head}...: {}",
        ctx()
    );
    let marker = format!(", marker {:?} at ", all_passed_line());
    ensure!(v.head_and_why.contains(&marker), "no {marker}: {}", ctx());
    let mut last = 0.0;
    for (stage, t) in &v.timeline {
        let t = t.with_context(|| format!("stage {stage} never seen: {}", ctx()))?;
        ensure!(t >= last, "stage {stage} at {t}s before {last}s: {}", ctx());
        last = t;
    }
    let log = std::fs::read_to_string(&v.log).with_context(|| format!("log {:?}", v.log))?;
    let console = Console::new(log.lines().map(str::to_string).collect());
    let checks = console.checks().map_err(anyhow::Error::msg)?;
    let failed: Vec<String> = checks
        .iter()
        .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    ensure!(
        checks.len() == CHECKS.len() && failed.is_empty(),
        "guest checks {} of {}, failed {failed:?}:\n{log}",
        checks.len(),
        CHECKS.len()
    );
    let published = RootTree {
        dir: bed.served().join("nfs").join(PROFILE).join(&generation),
    };
    for tree in [&bed.tree, &published] {
        ensure!(
            tree.leaked_probes().is_empty(),
            "guest writes reached {:?}: {:?}",
            tree.dir,
            tree.leaked_probes()
        );
    }
    assert_cleaned_up(tools, bed, run)?;
    Ok(line)
}

/// The ganesha the command started is gone, and nothing else runs out of its output dir.
fn assert_cleaned_up(_tools: &VmTools, bed: &Bed, run: &Run) -> Result<()> {
    let (_, note) = run
        .note_at("nfs-ganesha (pid ")
        .with_context(|| format!("no ganesha note:\n{}", run.stderr_text()))?;
    let pid = note
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .with_context(|| format!("no pid in {note:?}"))?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    ensure!(!comm.starts_with("ganesha"), "ganesha pid {pid} still runs");
    let left = processes_mentioning(&bed.out);
    ensure!(left.is_empty(), "left running: {left:?}");
    Ok(())
}

/// `netroot qemu --loader LOADER --accel ACCEL --check` waiting for the guest checker's
/// all-passed line, killed by QEMU after [`QEMU_TIMEOUT_SECS`].
fn check_run(tools: &VmTools, bed: &Bed, loader: &str, accel: &str) -> Result<Run> {
    check_run_with(tools, bed, loader, accel, &[])
}

/// [`check_run`] with more arguments (`--network lacp`).
fn check_run_with(
    tools: &VmTools,
    bed: &Bed,
    loader: &str,
    accel: &str,
    extra: &[&str],
) -> Result<Run> {
    let marker = all_passed_line();
    let mut args = vec![
        "--loader",
        loader,
        "--accel",
        accel,
        "--check",
        "--marker",
        &marker,
        "--timeout",
        QEMU_TIMEOUT_SECS,
    ];
    args.extend_from_slice(extra);
    netroot_qemu(tools, bed, &args)
}

/// The menu file a loader reads from the published TFTP root (none for `direct`).
fn published_menu(loader: &str) -> Option<&'static str> {
    match loader {
        "ipxe" => Some("netroot.ipxe"),
        "grub" => Some("boot/grub/grub.cfg"),
        "pxelinux" => Some("pxelinux.cfg/default"),
        _ => None,
    }
}

/// The VM booted what the scratch publication serves: the kernel's command line (as the
/// guest kernel logged it) names the active generation's root, every word of it is in the
/// loader's published menu, and `netroot verify` finds the publication intact.
fn assert_served(tools: &VmTools, bed: &Bed, run: &Run, loader: &str) -> Result<()> {
    let line = run.verdict()?;
    let v = split_verdict(line)?;
    let log = std::fs::read_to_string(&v.log).context("log")?;
    let cmdline = log
        .lines()
        .find_map(|l| l.split_once("Command line: ").map(|(_, c)| c.trim()))
        .with_context(|| format!("no kernel command line in the log:\n{log}"))?;
    let generation = bed.current_generation()?;
    let root = format!("{PSEUDO}/{PROFILE}/{generation}");
    ensure!(cmdline.contains(&root), "{cmdline:?} lacks {root}");
    if let Some(menu) = published_menu(loader) {
        let path = bed.served().join("tftp").join(menu);
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {path:?}"))?;
        // Loaders add their own words (PXELINUX's BOOT_IMAGE= and initrd=).
        for word in cmdline
            .split_whitespace()
            .filter(|w| !w.starts_with("BOOT_IMAGE=") && !w.starts_with("initrd="))
        {
            ensure!(
                text.contains(word),
                "{word:?} of {cmdline:?} is not in {path:?}:\n{text}"
            );
        }
    }
    let out = Command::new(&tools.netroot)
        .arg("-C")
        .arg(&bed.project)
        .args(["verify", PROFILE, "--tftp"])
        .arg(bed.served().join("tftp"))
        .arg("--nfs")
        .arg(bed.served().join("nfs"))
        .arg("--out")
        .arg(&bed.out)
        .output()
        .context("run netroot verify")?;
    ensure!(
        out.status.success(),
        "netroot verify of the scratch publication: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn check_boot(name: &str, loader: &str) -> Result<()> {
    check_boot_mode(name, loader, DEFAULT_MODE)
}

/// A PASS through `loader` with the bond in `mode`: the guest's checks include the bond's mode
/// and its four slaves (tests/vm/rootfs.rs).
fn check_boot_mode(name: &str, loader: &str, mode: &str) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    if loader == "grub" && !grub_or_skip(name)? {
        return Ok(());
    }
    let mut report = Report::start(name);
    let bed = bed_with_mode(&tools, name, "20s", mode)?;
    let accel = tools.accel.as_str();
    let run = check_run(&tools, &bed, loader, accel)?;
    let line = assert_pass(&tools, &bed, &run, loader, accel)?;
    assert_served(&tools, &bed, &run, loader)?;
    fill_report(&mut report, &line);
    report.pass();
    Ok(())
}

/// The summary row's times from a PASS line (`... bond=4/4 t=5.047 at 15.0s, marker ...`) and
/// the timeline as its note.
fn fill_report(report: &mut Report, line: &str) {
    let after = |key: &str| {
        line.split(key)
            .nth(1)
            .and_then(|r| r.split([' ', 's']).next())
    };
    let secs = |text: Option<&str>| {
        text.and_then(|t| t.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
    };
    report.kernel_to_ok = secs(after(" t="));
    report.qemu_to_ok = secs(after(" at "));
    report.note = line.split(" | ").nth(1).unwrap_or_default().to_string();
}

#[test]
fn direct_boot_check_passes_with_a_busybox_root() -> Result<()> {
    check_boot("direct_boot_check_passes_with_a_busybox_root", "direct")
}

/// PXE: nic0's iPXE ROM gets `netroot.ipxe` from QEMU's built-in TFTP.
#[test]
fn ipxe_boot_check_passes() -> Result<()> {
    check_boot("ipxe_boot_check_passes", "ipxe")
}

/// Whether grub-mknetdir is installed; without it a GRUB test skips, or fails under
/// `NETROOT_REQUIRE_VM=1`.
fn grub_or_skip(name: &str) -> Result<bool> {
    let path = std::env::var("PATH").unwrap_or_default();
    if find_in_path("grub-mknetdir", &path).is_some() {
        return Ok(true);
    }
    if std::env::var(vm::env::REQUIRE_VM_VAR).is_ok_and(|v| v == "1") {
        bail!(
            "{name}: grub-mknetdir not found (and {}=1)",
            vm::env::REQUIRE_VM_VAR
        );
    }
    println!("skipped: {name}: grub-mknetdir not found in PATH");
    Ok(false)
}

/// PXE into GRUB (grub-mknetdir's core.0 reading the published grub.cfg).
#[test]
fn grub_boot_check_passes() -> Result<()> {
    check_boot("grub_boot_check_passes", "grub")
}

/// Issue 5's matrix: PXE via GRUB and via iPXE, each with an 802.3ad and a balance-alb bond
/// (active-backup is the tests above), all four links up.
#[test]
fn grub_boot_with_an_802_3ad_bond() -> Result<()> {
    check_boot_mode("grub_boot_with_an_802_3ad_bond", "grub", "802.3ad")
}

#[test]
fn grub_boot_with_a_balance_alb_bond() -> Result<()> {
    check_boot_mode("grub_boot_with_a_balance_alb_bond", "grub", "balance-alb")
}

#[test]
fn ipxe_boot_with_an_802_3ad_bond() -> Result<()> {
    check_boot_mode("ipxe_boot_with_an_802_3ad_bond", "ipxe", "802.3ad")
}

/// `--network lacp`: PXE and the whole boot through the LACP partner VM, with dnsmasq (not
/// QEMU's DHCP) and ganesha in the bed's namespace; the verdict carries the partner's view.
#[test]
fn ipxe_boot_through_lacp_partner() -> Result<()> {
    let name = "ipxe_boot_through_lacp_partner";
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    let bed = bed_with_mode(&tools, name, "20s", "802.3ad")?;
    // A reservation in nodes.toml: only a DHCP server reading the published wiring knows it.
    std::fs::write(
        bed.project.join("nodes.toml"),
        format!(
            "[[node]]\nname = \"lacp1\"\nmac = \"52:54:00:00:00:01\"\nprofile = \"{PROFILE}\"\n"
        ),
    )
    .context("write nodes.toml")?;
    let accel = tools.accel.as_str();
    let run = check_run_with(&tools, &bed, "ipxe", accel, &["--network", "lacp"])?;
    let line = assert_pass(&tools, &bed, &run, "ipxe", accel)?;
    assert_served(&tools, &bed, &run, "ipxe")?;
    let want = format!(
        "; partner lacp=4/4 partner={} aggregator=",
        netroot::qemu::args::mac_text(&DEFAULT_MACS[0])
    );
    ensure!(line.contains(&want), "no {want:?} in {line}");
    // The real dnsmasq served the published netroot.dnsmasq.conf: iPXE got the menu script by
    // its user class, and the node's leases carry its reserved name.
    let dnsmasq_log = bed
        .out
        .join(".qemu")
        .join(PROFILE)
        .join("lacp/dnsmasq/dnsmasq.log");
    let log = std::fs::read_to_string(&dnsmasq_log).with_context(|| format!("{dnsmasq_log:?}"))?;
    ensure!(
        log.contains("option: 67 bootfile-name  netroot.ipxe")
            && log.contains(" tags: known, ipxe,"),
        "iPXE was not given netroot.ipxe by its user class:\n{log}"
    );
    let acks = log
        .lines()
        .filter(|l| l.contains("DHCPACK(") && l.contains(" 52:54:00:00:00:01 lacp1"))
        .count();
    ensure!(
        acks >= 2,
        "{acks} DHCPACKs naming lacp1 (iPXE's and the init's), expected 2:\n{log}"
    );
    ensure!(
        run.stderr_text()
            .contains("lacp partner vm ready (802.3ad)"),
        "{}",
        run.stderr_text()
    );
    fill_report(&mut report, &line);
    // Not a hub boot: kept out of ci/vm-summary's per-loader timeline medians.
    report.note = format!("lacp: {}", report.note);
    report.pass();
    Ok(())
}

/// A bond mode a switch LAG cannot carry is refused before anything is built.
#[test]
fn network_lacp_refuses_an_active_backup_bond() -> Result<()> {
    let name = "network_lacp_refuses_an_active_backup_bond";
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let bed = bed(&tools, name, "20s")?;
    let run = netroot_qemu(&tools, &bed, &["--network", "lacp", "--check"])?;
    ensure!(run.status.code() == Some(1), "exit {:?}", run.status);
    let err = run.stderr_text();
    ensure!(
        err.contains(
            "invalid bond.mode \"active-backup\": --network lacp cables the node to a switch LAG"
        ),
        "{err}"
    );
    ensure!(!bed.out.join(PROFILE).exists(), "built anyway");
    // A loader the published wiring does not hand out is refused before the build too.
    let run = netroot_qemu(
        &tools,
        &bed,
        &["--network", "lacp", "--loader", "grub", "--check"],
    )?;
    ensure!(run.status.code() == Some(1), "exit {:?}", run.status);
    let err = run.stderr_text();
    ensure!(
        err.contains("invalid --loader \"grub\": --network lacp serves the published DHCP wiring"),
        "{err}"
    );
    ensure!(!bed.out.join(PROFILE).exists(), "built anyway");
    Ok(())
}

#[test]
fn ipxe_boot_with_a_balance_alb_bond() -> Result<()> {
    check_boot_mode("ipxe_boot_with_a_balance_alb_bond", "ipxe", "balance-alb")
}

/// PXE into PXELINUX when its files are installed; otherwise the command names what is missing.
#[test]
fn pxelinux_boot_check_passes_or_names_the_missing_files() -> Result<()> {
    let name = "pxelinux_boot_check_passes_or_names_the_missing_files";
    let loaders = netroot::qemu::loader::LoaderTools::default();
    if loaders.pxelinux.is_file() && loaders.ldlinux.is_file() {
        return check_boot(name, "pxelinux");
    }
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let bed = bed(&tools, name, "20s")?;
    let run = netroot_qemu(
        &tools,
        &bed,
        &["--loader", "pxelinux", "--accel", "tcg", "--check"],
    )?;
    let line = run.verdict()?;
    ensure!(run.status.code() == Some(1), "exit {:?}", run.status);
    let want = format!(
        "netroot qemu: FAIL profile={PROFILE}: pxelinux loader needs {} (Debian packages pxelinux and syslinux-common)",
        [&loaders.pxelinux, &loaders.ldlinux]
            .into_iter()
            .find(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    ensure!(line == want, "{line:?}, expected {want:?}");
    assert_cleaned_up(&tools, &bed, &run)
}

/// The guest asks for an export path the server does not have: the init's FAILED line is the
/// verdict, exit 1, and the real init never runs.
#[test]
fn a_missing_nfs_root_path_fails_with_the_inits_failed_line() -> Result<()> {
    vm_test(
        "a_missing_nfs_root_path_fails_with_the_inits_failed_line",
        |name, tools, _report| {
            let bed = bed(tools, name, FAILING_NFS_TIMEOUT)?;
            let accel = tools.accel.as_str();
            let run = netroot_qemu(
                tools,
                &bed,
                &[
                    "--loader",
                    "direct",
                    "--accel",
                    accel,
                    "--check",
                    "--timeout",
                    QEMU_TIMEOUT_SECS,
                    "--append",
                    "netroot.nfs.export=/missing",
                ],
            )?;
            let line = run.verdict()?;
            let ctx = || format!("{line}\nstderr:\n{}", run.stderr_text());
            ensure!(
                run.status.code() == Some(1),
                "exit {:?}: {}",
                run.status,
                ctx()
            );
            let v = split_verdict(line)?;
            let head = format!(
        "netroot qemu: FAIL profile={PROFILE} loader=direct accel={accel}: netroot-init: FAILED phase=nfs reason={NFS_SERVER}:/missing: not mounted after {FAILING_NFS_TIMEOUT} "
    );
            ensure!(
                v.head_and_why.starts_with(&head),
                "expected {head}...: {}",
                ctx()
            );
            ensure!(v.head_and_why.contains("ENOENT"), "no ENOENT: {}", ctx());
            let reached: Vec<&str> = v
                .timeline
                .iter()
                .filter(|(_, t)| t.is_some())
                .map(|(n, _)| *n)
                .collect();
            ensure!(
                reached == ["firmware", "loader", "kernel", "init", "modules", "bond", "lease"],
                "stages reached {reached:?}: {}",
                ctx()
            );
            let log = std::fs::read_to_string(&v.log).context("log")?;
            ensure!(!log.contains(rootfs::PREFIX), "the real init ran:\n{log}");
            assert_cleaned_up(tools, &bed, &run)?;
            Ok("FAILED phase=nfs ENOENT".into())
        },
    )
}

/// `--accel auto` probes KVM within its bound and boots with what the probe found (TCG on
/// machines where KVM hangs).
#[test]
fn accel_auto_probes_within_a_bound_and_falls_back_to_tcg() -> Result<()> {
    vm_test(
        "accel_auto_probes_within_a_bound_and_falls_back_to_tcg",
        |name, tools, report| {
            let bed = bed(tools, name, "20s")?;
            let run = check_run(tools, &bed, "direct", "auto")?;
            // The probe runs right after the scratch publication, whose note is the last before it.
            let (published_at, _) = run
                .note_at("published generation ")
                .with_context(|| format!("no publish note:\n{}", run.stderr_text()))?;
            let (probed_at, probe) = run
                .note_at("kvm probe: ")
                .with_context(|| format!("no probe note:\n{}", run.stderr_text()))?;
            let took = probed_at.saturating_sub(published_at);
            ensure!(
                took <= KVM_PROBE_TIMEOUT + PROBE_SLACK,
                "the probe took {took:?}: {probe}"
            );
            let accel = if probe.ends_with("; using kvm") {
                "kvm"
            } else {
                ensure!(
                    probe.ends_with("; using tcg"),
                    "probe note {probe:?} names no accelerator"
                );
                "tcg"
            };
            let line = assert_pass(tools, &bed, &run, "direct", accel)?;
            fill_report(report, &line);
            Ok(format!(
                "{} ({:.1}s)",
                probe.trim_start_matches("netroot qemu: "),
                took.as_secs_f64()
            ))
        },
    )
}

/// Without `--check` the serial console is the command's stdout (and still logged); the guest
/// powers off after its checks, QEMU exits 0 and so does the command, with a summary on stderr.
#[test]
fn interactive_mode_passes_the_console_through() -> Result<()> {
    vm_test(
        "interactive_mode_passes_the_console_through",
        |name, tools, _report| {
            let bed = bed(tools, name, "20s")?;
            let accel = tools.accel.as_str();
            let run = netroot_qemu(
                tools,
                &bed,
                &[
                    "--loader",
                    "direct",
                    "--accel",
                    accel,
                    "--timeout",
                    QEMU_TIMEOUT_SECS,
                ],
            )?;
            let ctx = || format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr_text());
            ensure!(
                run.status.code() == Some(0),
                "exit {:?}: {}",
                run.status,
                ctx()
            );
            let console = Console::new(
                run.stdout
                    .lines()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect(),
            );
            ensure!(
                console.ok_lines().map_err(anyhow::Error::msg)?.len() == 1,
                "no OK line on stdout: {}",
                ctx()
            );
            ensure!(
                console.position(&all_passed_line()).is_some(),
                "no checker summary on stdout: {}",
                ctx()
            );
            let (_, summary) = run
        .note_at(&format!("netroot qemu: profile={PROFILE} loader=direct accel={accel}: qemu exited (exit status: 0) after "))
        .with_context(|| format!("no summary line: {}", ctx()))?;
            let v = split_verdict(summary)?;
            let log = std::fs::read_to_string(&v.log).context("log")?;
            ensure!(
                log.contains(&all_passed_line()),
                "the console log misses the checker:\n{log}"
            );
            assert_cleaned_up(tools, &bed, &run)?;
            Ok(v.head_and_why.to_string())
        },
    )
}

/// Usage errors exit 2 before anything runs (no tools needed).
#[test]
fn usage_errors_exit_2() -> Result<()> {
    let netroot = env!("CARGO_BIN_EXE_netroot");
    for (args, needle) in [
        (
            &["qemu", "qt", "--loader", "uboot"][..],
            "unknown loader \"uboot\" (expected grub, ipxe, pxelinux or direct)",
        ),
        (
            &["qemu", "qt", "--accel", "xen"][..],
            "unknown accelerator \"xen\" (expected auto, kvm or tcg)",
        ),
        (
            &["qemu", "qt", "--marker", "x"][..],
            "the following required arguments were not provided:\n  --check\n",
        ),
        (
            &["qemu", "qt", "--timeout", "0", "--check"][..],
            "--timeout must be at least 1 second",
        ),
    ] {
        let out = Command::new(netroot).args(args).output().context("run")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(2),
            "{args:?}: {:?} {stderr}",
            out.status
        );
        ensure!(stderr.contains(needle), "{args:?}: {stderr}");
        ensure!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    }
    if rustix::process::geteuid().is_root() {
        // Past the root check, an unknown profile is still the invocation's fault.
        let dir = tempfile::tempdir().context("tempdir")?;
        std::fs::create_dir(dir.path().join("profiles")).context("mkdir")?;
        let out = Command::new(netroot)
            .arg("-C")
            .arg(dir.path())
            .args(["qemu", "nosuch", "--check", "--out"])
            .arg(dir.path().join("out"))
            .output()
            .context("run")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.code() == Some(2), "{:?}", out.status);
        ensure!(
            stdout.starts_with("netroot qemu: FAIL profile=nosuch: build of profile \"nosuch\" failed: profile \"nosuch\" not found"),
            "{stdout}"
        );
    }
    Ok(())
}

/// A profile without `[root]` cannot be booted: the verdict names the missing section.
#[test]
fn a_profile_without_a_root_is_refused_with_a_fail_line() -> Result<()> {
    let name = "a_profile_without_a_root_is_refused_with_a_fail_line";
    let dir = tempfile::tempdir().context("tempdir")?;
    let profile = TestProfile {
        name: PROFILE.into(),
        inherits: "qemu-base".into(),
        bond_mode: "active-backup".into(),
        nfs_options: None,
        failure: "reboot:1s".into(),
        timeouts: Timeouts {
            links: "20s".into(),
            dhcp: "20s".into(),
            nfs: "20s".into(),
            boot: "60s".into(),
        },
        root_dir: None,
    };
    project::create_project(dir.path(), &profile)?;
    let root = rustix::process::geteuid().is_root();
    let kernel = std::env::var_os(KERNEL_DIR_VAR).or_else(|| std::env::var_os(KERNEL_DEB_VAR));
    let want = match (root, kernel) {
        (false, _) => "netroot qemu must run as root".to_string(),
        (true, Some(_)) => format!("profile \"{PROFILE}\" has no [root] section"),
        (true, None) => {
            if std::env::var(vm::env::REQUIRE_KERNEL_VAR).is_ok_and(|v| v == "1") {
                bail!(
                    "{name}: {KERNEL_DIR_VAR} not set (and {}=1)",
                    vm::env::REQUIRE_KERNEL_VAR
                );
            }
            println!("skipped: {name}: {KERNEL_DIR_VAR} not set");
            return Ok(());
        }
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netroot"));
    cmd.arg("-C")
        .arg(dir.path())
        .args(["qemu", PROFILE, "--check", "--out"]);
    cmd.arg(dir.path().join("out"));
    if let Some(k) = std::env::var_os(KERNEL_DIR_VAR).or_else(|| std::env::var_os(KERNEL_DEB_VAR)) {
        cmd.arg("--kernel").arg(k);
    }
    let out = cmd.output().context("run netroot")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(1), "{:?}: {stderr}", out.status);
    let line = format!("netroot qemu: FAIL profile={PROFILE}: {want}");
    ensure!(
        stdout.lines().count() == 1 && stdout.starts_with(&line),
        "stdout {stdout:?}, expected {line}..."
    );
    ensure!(stderr.contains(&want), "stderr {stderr}");
    Ok(())
}

/// Per-node overlay files, booted: `nodes.toml` names nic0's MAC as node `n1`, whose layer
/// renders the checker's token file from a template that needs the node (`{{ node.name }}`),
/// while the shared tree keeps a token the guest rejects. Only the per-MAC iPXE entry (with
/// `netroot.node=n1`) mounting the node layer above the shared root makes the guest's
/// `export_token` check pass.
#[test]
fn a_node_boots_its_own_layer_through_its_per_mac_menu() -> Result<()> {
    vm_test(
        "a_node_boots_its_own_layer_through_its_per_mac_menu",
        |name, tools, report| {
            let bed = bed(tools, name, "20s")?;
            // The guest expects `token(name)`; the layer renders it as `{{ nodetoken }}` plus the
            // node's name, so the profile's variable is the token without the node suffix.
            let expected = std::fs::read_to_string(bed.tree.dir.join(rootfs::TOKEN_FILE))
                .context("read token")?
                .trim()
                .to_string();
            let (base, node) = expected
                .rsplit_once('-')
                .context("token without a '-' suffix")?;
            std::fs::write(bed.tree.dir.join(rootfs::TOKEN_FILE), "the-shared-tree\n")
                .context("write shared token")?;
            let overlay = bed.project.join("overlays/nodetest/etc");
            std::fs::create_dir_all(&overlay).context("mkdir overlay")?;
            std::fs::write(
                overlay.join("vmcheck-token.j2"),
                "{{ nodetoken }}-{{ node.name }}\n",
            )
            .context("write template")?;
            let profile = bed.project.join(format!("profiles/{PROFILE}.toml"));
            let mut text = std::fs::read_to_string(&profile).context("read profile")?;
            text.push_str(&format!(
                "\n[overlays]\nroot = [\"nodetest\"]\n\n[vars]\nnodetoken = \"{base}\"\n"
            ));
            std::fs::write(&profile, text).context("write profile")?;
            std::fs::write(
                bed.project.join("nodes.toml"),
                format!(
            "[[node]]\nname = \"{node}\"\nmac = \"52:54:00:00:00:01\"\nprofile = \"{PROFILE}\"\n"
        ),
            )
            .context("write nodes.toml")?;
            let accel = tools.accel.as_str();
            let run = check_run(tools, &bed, "ipxe", accel)?;
            let line = assert_pass(tools, &bed, &run, "ipxe", accel)?;
            let generation = bed.current_generation()?;
            let layer = bed
                .served()
                .join("nfs")
                .join(PROFILE)
                .join(&generation)
                .join(".netroot/nodes")
                .join(node)
                .join(rootfs::TOKEN_FILE);
            ensure!(
                std::fs::read_to_string(&layer)
                    .context("read layer")?
                    .trim()
                    == expected,
                "{layer:?} does not hold {expected}"
            );
            let log = std::fs::read_to_string(split_verdict(&line)?.log).context("log")?;
            ensure!(
                log.contains(&format!("netroot.node={node}")),
                "the kernel command line lacks netroot.node={node}:\n{log}"
            );
            fill_report(report, &line);
            Ok(format!("node {node}: layer mounted, token from the layer"))
        },
    )
}

/// `netroot qemu` shows the build's progress as `netroot build` does (plain stage lines when
/// stderr is not a terminal). No VM: another run's lock on the profile refuses the run right
/// after its build.
#[test]
fn qemu_shows_the_builds_progress() -> Result<()> {
    let name = "qemu_shows_the_builds_progress";
    if !rustix::process::geteuid().is_root() {
        println!("skipped: {name}: not root (netroot qemu refuses to run)");
        return Ok(());
    }
    let Some(kernel) = vm::env::kernel_or_skip(name) else {
        return Ok(());
    };
    let tmp = TempDir::new()?;
    let proj = tmp.path();
    let profiles = proj.join("profiles");
    std::fs::create_dir_all(&profiles)?;
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles"))? {
        let e = e?;
        std::fs::copy(e.path(), profiles.join(e.file_name()))?;
    }
    std::fs::create_dir_all(proj.join("tree/etc"))?;
    std::fs::write(proj.join("tree/etc/os-release"), "ID=progress\n")?;
    std::fs::write(
        profiles.join(format!("{PROFILE}.toml")),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n",
    )?;
    // Each run builds into its own output directory, whose run lock another "run" holds.
    let refused = |out: &Path, json: bool| -> Result<(String, String)> {
        let state = out.join(".qemu");
        std::fs::create_dir_all(&state)?;
        let lock = std::fs::File::create(state.join(format!("{PROFILE}.lock")))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
        let o = Command::new(env!("CARGO_BIN_EXE_netroot"))
            .arg("-C")
            .arg(proj)
            .args(["qemu", PROFILE, "--check", "--kernel"])
            .arg(&kernel)
            .arg("--out")
            .arg(out)
            .args(json.then_some("--json"))
            .env_remove("NETROOT_CACHE")
            .stdin(Stdio::null())
            .output()?;
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        ensure!(o.status.code() == Some(1), "exit {:?}: {err}", o.status);
        ensure!(err.contains("another netroot qemu run of profile"), "{err}");
        Ok((String::from_utf8_lossy(&o.stdout).into_owned(), err))
    };
    let (_, err) = refused(&proj.join("out"), false)?;
    for stage in ["kernel", "modules", "compress", "root", "write"] {
        let line = format!("netroot: [{PROFILE}] {stage}\n");
        ensure!(err.contains(&line), "no {line:?} on stderr:\n{err}");
    }
    // With --json, as `netroot build --json`: no progress (stdout holds the error document).
    let (stdout, err) = refused(&proj.join("out-json"), true)?;
    ensure!(!stdout.contains("netroot: ["), "{stdout}");
    ensure!(!err.contains(&format!("netroot: [{PROFILE}]")), "{err}");
    Ok(())
}
