//! Issue 5's end-to-end fault suite, cases 2-6, on the direct-boot VM bed of `tests/vm/bed.rs`
//! (the current `netroot` binary and its embedded init, the test kernel, four virtio NICs on a
//! QEMU hub, a per-test nfs-ganesha, a busybox root). Every case asserts the init's exact lines:
//! - 2, links down at boot: each of the 14 subsets of 1, 2 or 3 of the 4 ports has its link
//!   down (QMP `set_link` before the guest runs); the node boots with `bond=<n>/4` and the bond
//!   line lists exactly those ports as `down=`.
//! - 3, link loss during I/O: the root reads a file of the NFS lower with O_DIRECT in a loop;
//!   the test pulls the active port's cable mid-loop; zero read errors, reads go on, and the
//!   longest read (the stall) is reported. active-backup, 802.3ad and balance-alb.
//! - 4, NFS server late: ganesha starts 20 s after QEMU on the port the profile names; the init
//!   retries and boots; the delay from the server's start to the OK line is reported and bounded.
//! - 5, NFS server absent: `tests/vm_boot.rs`, `absent_nfs_server_fails_in_phase_nfs_and_reboots`.
//! - 6, wrong export path (phase nfs), a boot config loading a module the image lacks and a
//!   profile without the NIC driver (phase links, naming the missing ports): the FAILED line
//!   names the cause. A profile naming a module the kernel lacks is a build error naming it.
//!
//! Case 7 (reproducible publish) is `tests/e2e_repro.rs`.
//!
//! `NETROOT_E2E=quick` runs a subset (one links-down subset per size, link loss in active-backup
//! only, every other case); unset or `full` runs everything. Tests outside the subset print
//! `skipped: ...`. Skips like `tests/vm_boot.rs` without root, QEMU, ganesha, busybox or the test
//! kernel, unless `NETROOT_REQUIRE_VM=1`. Every test has its own temp dir, ganesha port and QEMU.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[allow(dead_code)] // shared with other VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use netroot::qemu::args::{mac_text, DEFAULT_MACS};
use netroot::qemu::runner::{TimedLine, Watch};
use vm::bed::{self, vm_test, BedSpec, BootOpts, Guest, Server};
use vm::env::kernel_or_skip;
use vm::ioloop::{self, IoLine, IoLoop};
use vm::project::{self, ProfileExtra, TestProfile, Timeouts};
use vm::report::Report;

/// Selects the quick subset (`quick`) or everything (`full`, the default).
const E2E_VAR: &str = "NETROOT_E2E";
/// Links timeout of the links-down boots: the bond waits this long for the missing carriers.
const LINKS_TIMEOUT: &str = "4s";
/// The link-loss loop: long enough for several reads before and after the cable pull under TCG.
const IO_LOOP: IoLoop = IoLoop {
    loop_ms: 14_000,
    file_bytes: 2 * 1024 * 1024,
    report_bond: false,
};
/// When the cable is pulled, in loop time: the loop has settled by then.
const PULL_AFTER_MS: u64 = 4_000;
/// Reads that must complete after the pull (the loop goes on ~10 s, reads take ~0.1-0.5 s).
const MIN_READS_AFTER_PULL: u64 = 3;
/// Boot (~20 s under load) plus the loop plus poweroff, with room for a loaded machine.
const IO_QEMU_TIMEOUT: Duration = Duration::from_secs(120);
/// The delay before the NFS server starts, from QEMU's start.
const SERVER_DELAY: Duration = Duration::from_secs(20);
/// The server also starts at least this long after the init's first failed NFS round, so it is
/// late even when a loaded machine brings the init to its NFS phase after [`SERVER_DELAY`].
const LATE_AFTER_RETRY: Duration = Duration::from_secs(3);
/// The init's line for a failed NFS round (initramfs-init/src/phases/nfs.rs).
const NFS_RETRY: &str = "] phase=nfs round 1 failed (";
/// The init's NFS retry pause grows to 15 s (initramfs-init/src/phases/nfs.rs NFS_MAX_BACKOFF,
/// plus jitter); then the mount, overlay and switch_root take ~1 s; the rest is load margin.
const LATE_SERVER_BOUND: Duration = Duration::from_secs(30);
/// The late-server boot: the NFS phase waits up to 60 s, the VM up to 120 s.
const LATE_QEMU_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether this test runs in the selected depth; prints `skipped:` when not.
fn selected(name: &str, in_quick: bool) -> Result<bool> {
    match std::env::var(E2E_VAR).as_deref() {
        Err(_) | Ok("full") => Ok(true),
        Ok("quick") if in_quick => Ok(true),
        Ok("quick") => {
            println!("skipped: {name}: not in the {E2E_VAR}=quick subset");
            Ok(false)
        }
        Ok(other) => bail!("{E2E_VAR}={other:?}: expected quick or full"),
    }
}

/// `nic<i>` for NIC index `i`.
fn nic(i: usize) -> String {
    format!("nic{i}")
}

/// The kernel name of each port from the links line `found=4/4 ports=eth0=<mac>,...`, in MAC
/// (NIC) order.
fn port_names(links: &str) -> Result<Vec<String>> {
    let list = links
        .split(' ')
        .find_map(|w| w.strip_prefix("ports="))
        .with_context(|| format!("no ports= in links line {links:?}"))?;
    let pairs: Vec<(&str, &str)> = list
        .split(',')
        .map(|p| p.split_once('='))
        .collect::<Option<_>>()
        .with_context(|| format!("bad ports= in links line {links:?}"))?;
    DEFAULT_MACS
        .iter()
        .map(|mac| {
            let want = mac_text(mac);
            pairs
                .iter()
                .find(|(_, m)| *m == want)
                .map(|(name, _)| name.to_string())
                .with_context(|| format!("no port with MAC {want} in {links:?}"))
        })
        .collect()
}

/// Case 2: the NICs `down` have no link from the start.
fn links_down_at_boot(name: &str, down: &[usize], in_quick: bool) -> Result<()> {
    if !selected(name, in_quick)? {
        return Ok(());
    }
    vm_test(name, |name, tools, report| {
        let mode = "active-backup";
        let spec = BedSpec::new(name, mode, Server::Now, bed::ok_timeouts(LINKS_TIMEOUT));
        let bed = bed::prepare(tools, &spec)?;
        let opts = BootOpts {
            links_down: down.iter().map(|&i| nic(i)).collect(),
            ..BootOpts::default()
        };
        let run = bed.boot(tools, &opts, &mut |_| Watch::Continue)?;
        report.vm_wall = Some(run.wall);
        let up = (DEFAULT_MACS.len() - down.len()) as u32;
        let init = bed::assert_init_ok(&run, mode, up)?;
        report.kernel_to_ok = Some(init.ok.t);
        report.qemu_to_ok = run.seen_at(vm::console::OK_PREFIX);
        let names = port_names(&init.links.text)?;
        ensure!(
            init.links.text.starts_with("found=4/4 "),
            "links line {:?}: every port must be found (a link down is not a missing port)",
            init.links
        );
        let list = |pick: &dyn Fn(usize) -> bool| -> String {
            (0..names.len())
                .filter(|&i| pick(i))
                .map(|i| names[i].clone())
                .collect::<Vec<_>>()
                .join(",")
        };
        let want_up = format!(" up={} ", list(&|i| !down.contains(&i)));
        let want_down = format!(" down={}", list(&|i| down.contains(&i)));
        ensure!(
            init.bond.text.contains(&want_up) && init.bond.text.ends_with(&want_down),
            "bond line {:?}, expected{want_up}and{want_down} (ports {names:?})",
            init.bond.text
        );
        bed::assert_guest_checks(&run, &bed)?;
        Ok(format!("down={} bond={up}/4", list(&|i| down.contains(&i))))
    })
}

/// Declares one case-2 test per subset: `name: [nics down], in the quick subset`.
macro_rules! links_down_tests {
    ($($name:ident: [$($i:expr),+], $quick:expr;)+) => {$(
        #[test]
        fn $name() -> Result<()> {
            links_down_at_boot(stringify!($name), &[$($i),+], $quick)
        }
    )+};
}

links_down_tests! {
    links_down_at_boot_nic0: [0], true;
    links_down_at_boot_nic1: [1], false;
    links_down_at_boot_nic2: [2], false;
    links_down_at_boot_nic3: [3], false;
    links_down_at_boot_nic0_nic1: [0, 1], false;
    links_down_at_boot_nic0_nic2: [0, 2], false;
    links_down_at_boot_nic0_nic3: [0, 3], false;
    links_down_at_boot_nic1_nic2: [1, 2], false;
    links_down_at_boot_nic1_nic3: [1, 3], true;
    links_down_at_boot_nic2_nic3: [2, 3], false;
    links_down_at_boot_nic0_nic1_nic2: [0, 1, 2], false;
    links_down_at_boot_nic0_nic1_nic3: [0, 1, 3], true;
    links_down_at_boot_nic0_nic2_nic3: [0, 2, 3], false;
    links_down_at_boot_nic1_nic2_nic3: [1, 2, 3], false;
}

/// What the watcher of the link-loss run saw and did.
#[derive(Debug, Default)]
struct Pull {
    /// The NIC carrying the traffic at the loop's start.
    nic: Option<usize>,
    /// The port name the guest gave it.
    port: Option<String>,
    /// Loop time and QEMU time of the progress line that triggered the pull.
    at_ms: Option<u64>,
    at: Option<Duration>,
}

impl Pull {
    fn observe(&mut self, line: &TimedLine) -> Watch {
        match ioloop::parse_line(&line.text) {
            Some(Ok(IoLine::Start { active, mac, .. })) => {
                self.nic = DEFAULT_MACS.iter().position(|m| mac_text(m) == mac);
                self.port = Some(active);
                Watch::Continue
            }
            Some(Ok(IoLine::Progress { at_ms, .. })) if at_ms >= PULL_AFTER_MS => {
                match (self.nic, self.at_ms) {
                    (Some(nic), None) => {
                        self.at_ms = Some(at_ms);
                        self.at = Some(line.at);
                        Watch::SetLink { nic, up: false }
                    }
                    _ => Watch::Continue,
                }
            }
            _ => Watch::Continue,
        }
    }
}

/// Case 3: the active port's cable is pulled while the root reads over NFS.
fn link_loss_during_io(name: &str, mode: &str, in_quick: bool) -> Result<()> {
    if !selected(name, in_quick)? {
        return Ok(());
    }
    vm_test(name, |name, tools, report| {
        let mut spec = BedSpec::new(name, mode, Server::Now, bed::ok_timeouts("20s"));
        spec.guest = Guest::IoLoop(IO_LOOP);
        let bed = bed::prepare(tools, &spec)?;
        let opts = BootOpts {
            timeout: IO_QEMU_TIMEOUT,
            ..BootOpts::default()
        };
        let mut pull = Pull::default();
        let run = bed.boot(tools, &opts, &mut |l| pull.observe(l))?;
        report.vm_wall = Some(run.wall);
        let t = run.transcript();
        let init = bed::assert_init_ok(&run, mode, 4)?;
        report.kernel_to_ok = Some(init.ok.t);
        report.qemu_to_ok = run.seen_at(vm::console::OK_PREFIX);
        let lines: Vec<IoLine> = run
            .console()
            .parsed(ioloop::parse_line)
            .map_err(anyhow::Error::msg)?;
        let (Some(nic), Some(port), Some(pulled_ms)) = (pull.nic, pull.port.clone(), pull.at_ms)
        else {
            bail!("the active port was never identified or pulled ({pull:?}):\n{t}");
        };
        ensure!(
            lines.first().is_some_and(
                |l| matches!(l, IoLine::Start { bytes, .. } if *bytes == IO_LOOP.file_bytes as u64)
            ),
            "no start line with bytes={} first:\n{t}",
            IO_LOOP.file_bytes
        );
        let after: Vec<(u64, &str)> = lines
            .iter()
            .filter_map(|l| match l {
                IoLine::Progress {
                    at_ms,
                    reads,
                    active,
                    ..
                } if *at_ms > pulled_ms => Some((*reads, active.as_str())),
                _ => None,
            })
            .collect();
        let reads_at_pull = lines
            .iter()
            .filter_map(|l| match l {
                IoLine::Progress { at_ms, reads, .. } if *at_ms <= pulled_ms => Some(*reads),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let reads_after = after
            .last()
            .map_or(0, |(r, _)| r.saturating_sub(reads_at_pull));
        ensure!(
        reads_after >= MIN_READS_AFTER_PULL,
        "{reads_after} reads completed after the pull of nic{nic} ({port}) at {pulled_ms} ms, expected >= {MIN_READS_AFTER_PULL}:\n{t}"
    );
        let now_active = after.last().map(|(_, a)| *a).unwrap_or("none");
        ensure!(
            now_active != port && now_active != "none",
            "traffic still on {now_active} after pulling {port}:\n{t}"
        );
        let (reads, errors, longest_stall_ms, mean_ms) =
            ioloop::summary(&lines).map_err(|e| anyhow::anyhow!("{e}:\n{t}"))?;
        ensure!(errors == 0, "{errors} read errors:\n{t}");
        ensure!(
            after.last().is_some_and(|(r, _)| *r == reads),
            "summary reads={reads} differs from the last progress line:\n{t}"
        );
        bed::assert_powered_off(&run)?;
        let pulled_at = pull.at.map_or(0.0, |d| d.as_secs_f64());
        Ok(format!(
            "{mode}: pulled nic{nic} ({port}) at {pulled_at:.1}s, then {now_active}; reads={reads} ({reads_after} after) errors=0 longest_stall={longest_stall_ms}ms mean={mean_ms}ms"
        ))
    })
}

#[test]
fn link_loss_during_io_active_backup() -> Result<()> {
    link_loss_during_io("link_loss_during_io_active_backup", "active-backup", true)
}

#[test]
fn link_loss_during_io_802_3ad() -> Result<()> {
    link_loss_during_io("link_loss_during_io_802_3ad", "802.3ad", false)
}

#[test]
fn link_loss_during_io_balance_alb() -> Result<()> {
    link_loss_during_io("link_loss_during_io_balance_alb", "balance-alb", false)
}

/// Case 4: ganesha starts [`SERVER_DELAY`] after QEMU (and [`LATE_AFTER_RETRY`] after the
/// init's first failed round), on the port the image mounts.
#[test]
fn nfs_server_late_boots_after_retries() -> Result<()> {
    vm_test(
        "nfs_server_late_boots_after_retries",
        |name, tools, report| {
            let mode = "active-backup";
            let timeouts = Timeouts {
                links: "20s".into(),
                dhcp: "20s".into(),
                nfs: "60s".into(),
                boot: "90s".into(),
            };
            let bed = bed::prepare(tools, &BedSpec::new(name, mode, Server::Later, timeouts))?;
            let opts = BootOpts {
                timeout: LATE_QEMU_TIMEOUT,
                ..BootOpts::default()
            };
            let (failed_tx, failed_rx) = mpsc::channel::<Instant>();
            let start = Instant::now();
            let (bed, tools) = (&bed, tools);
            let (run, server) = std::thread::scope(|s| {
                let server = s.spawn(move || -> Result<_> {
                    std::thread::sleep(SERVER_DELAY);
                    // Disconnected: the run ended (the watcher and its sender are gone) without a retry.
                    let failed = failed_rx
                        .recv_timeout(LATE_QEMU_TIMEOUT)
                        .context("the init never reported a failed NFS round")?;
                    std::thread::sleep(
                        (failed + LATE_AFTER_RETRY).saturating_duration_since(Instant::now()),
                    );
                    let g = bed.start_server(tools)?;
                    Ok((g, start.elapsed()))
                });
                let mut sender = Some(failed_tx);
                let run = bed.boot(tools, &opts, &mut |l| {
                    if l.text.contains(NFS_RETRY) {
                        if let Some(tx) = sender.take() {
                            // A closed channel means the server thread already gave up; the run shows why.
                            let _ = tx.send(Instant::now());
                        }
                    }
                    Watch::Continue
                });
                (run, server.join())
            });
            let run = run?;
            let (_ganesha, server_up) =
                server.map_err(|_| anyhow::anyhow!("server thread panicked"))??;
            report.vm_wall = Some(run.wall);
            let t = run.transcript();
            let init = bed::assert_init_ok(&run, mode, 4)?;
            report.kernel_to_ok = Some(init.ok.t);
            let ok_at = run
                .seen_at(vm::console::OK_PREFIX)
                .context("OK line without a time")?;
            report.qemu_to_ok = Some(ok_at);
            let console = run.console();
            let retries =
                console.count(|l| l.contains("] phase=nfs round ") && l.contains(" failed ("));
            ensure!(
                retries >= 1,
                "no failed NFS round before the server came up:\n{t}"
            );
            ensure!(
                ok_at > server_up,
                "OK at {ok_at:?}, before the server came up at {server_up:?}:\n{t}"
            );
            let delay = ok_at - server_up;
            ensure!(
                delay <= LATE_SERVER_BOUND,
                "OK {delay:?} after the server came up, expected <= {LATE_SERVER_BOUND:?}:\n{t}"
            );
            bed::assert_guest_checks(&run, bed)?;
            Ok(format!(
                "server up at {:.1}s after {retries} failed rounds; OK {:.1}s later",
                server_up.as_secs_f64(),
                delay.as_secs_f64()
            ))
        },
    )
}

/// Short phase timeouts: the failing phase gives up quickly.
fn fail_timeouts() -> Timeouts {
    Timeouts {
        links: LINKS_TIMEOUT.into(),
        dhcp: "20s".into(),
        nfs: "8s".into(),
        boot: "60s".into(),
    }
}

#[test]
fn wrong_export_path_fails_in_phase_nfs() -> Result<()> {
    let name = "wrong_export_path_fails_in_phase_nfs";
    let mut spec = BedSpec::new(name, "active-backup", Server::Now, fail_timeouts());
    spec.extra.nfs_export = Some("/nosuch".into());
    // The reason quotes each version's most telling error of all rounds: ENOENT, even when the
    // last mount of a loaded machine ran into the deadline (then ` (k of n rounds; last
    // ETIMEDOUT)` follows); the first round's line names the cause too.
    bed::failing_boot_test(
        &spec,
        &BootOpts::default(),
        "nfs",
        &[
            "10.0.2.2:/nosuch: not mounted after 8s (timeout reached, ",
            " rounds): vers=4.1 ENOENT",
        ],
        &["] phase=nfs round 1 failed (vers=4.1 ENOENT), retrying in "],
    )
}

#[test]
fn a_profile_without_the_nic_driver_fails_in_phase_links() -> Result<()> {
    let name = "a_profile_without_the_nic_driver_fails_in_phase_links";
    let mut spec = BedSpec::new(name, "active-backup", Server::Now, fail_timeouts());
    spec.extra.modules_remove = vec!["virtio_net".into()];
    let missing: Vec<String> = DEFAULT_MACS.iter().map(mac_text).collect();
    bed::failing_boot_test(
        &spec,
        &BootOpts::default(),
        "links",
        &[
            "found 0/4 ports after 4.",
            &format!("missing {}; present: none", missing.join(",")),
        ],
        &[],
    )
}

/// The kernel command line replaces the image's module list with one module the image does not
/// hold: the modules phase goes on, the links phase fails and its reason names the module.
#[test]
fn a_boot_config_module_missing_from_the_image_is_named_when_links_fail() -> Result<()> {
    let name = "a_boot_config_module_missing_from_the_image_is_named_when_links_fail";
    let spec = BedSpec::new(name, "active-backup", Server::Now, fail_timeouts());
    let opts = BootOpts {
        cmdline_extra: "netroot.module=\"virtio_net lib/modules/none/virtio_net.ko\"".into(),
        ..BootOpts::default()
    };
    bed::failing_boot_test(
        &spec,
        &opts,
        "links",
        &[
            "found 0/4 ports",
            "(modules that failed to load: virtio_net ENOENT)",
        ],
        &["] phase=modules loaded=0 present=0 failed=1 (virtio_net ENOENT)"],
    )
}

/// A profile naming a module the kernel does not have is a build error that names it; no
/// image is written.
#[test]
fn a_profile_naming_an_unknown_module_is_a_build_error() -> Result<()> {
    let name = "a_profile_naming_an_unknown_module_is_a_build_error";
    let Some(kernel) = kernel_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    let dir = tempfile::tempdir().context("temp dir")?;
    let profile = TestProfile {
        name: bed::PROFILE.into(),
        inherits: "qemu-base".into(),
        bond_mode: "active-backup".into(),
        nfs_options: None,
        failure: bed::FAILURE_ACTION.into(),
        timeouts: fail_timeouts(),
        root_dir: None,
    };
    let extra = ProfileExtra {
        modules_add: vec!["netroot_no_such_module".into()],
        ..ProfileExtra::default()
    };
    project::create_project_with(dir.path(), &profile, &extra)?;
    let out = dir.path().join("out");
    let e = project::build(
        &vm::env::vm_netroot(),
        dir.path(),
        bed::PROFILE,
        &kernel,
        &out,
    )
    .expect_err("the build must fail");
    let text = e.to_string();
    ensure!(
        text.contains("exited with exit status: 1")
            && text.contains("failed: unknown module \"netroot_no_such_module\" (closest: "),
        "build error {text:?} does not name the module"
    );
    ensure!(
        !out.join(bed::PROFILE).join("initramfs.img").exists(),
        "a failed build left an image"
    );
    report.note = text
        .lines()
        .find(|l| l.contains("netroot_no_such_module"))
        .unwrap_or("")
        .trim()
        .to_string();
    report.pass();
    Ok(())
}

/// The pure parts: the links line's port names and the watcher's cable pull.
mod unit {
    use super::*;

    #[test]
    fn port_names_follow_the_nic_order_by_mac() {
        let line = "found=4/4 ports=eth1=52:54:00:00:00:02,eth0=52:54:00:00:00:01,eth3=52:54:00:00:00:04,eth2=52:54:00:00:00:03";
        assert_eq!(
            port_names(line).expect("names"),
            ["eth0", "eth1", "eth2", "eth3"]
        );
        let e = port_names("found=1/4 ports=eth0=52:54:00:00:00:01").expect_err("three missing");
        assert!(
            e.to_string()
                .starts_with("no port with MAC 52:54:00:00:00:02 in "),
            "{e}"
        );
        let e = port_names("found=4/4").expect_err("no list");
        assert_eq!(e.to_string(), "no ports= in links line \"found=4/4\"");
    }

    #[test]
    fn the_watcher_pulls_the_active_nic_once_after_the_settling_time() {
        let line = |at: u64, text: &str| TimedLine {
            at: Duration::from_millis(at),
            text: text.to_string(),
        };
        let mut pull = Pull::default();
        let early = "vmio: at=100 reads=1 errors=0 took=90 active=eth2";
        assert_eq!(
            pull.observe(&line(1, early)),
            Watch::Continue,
            "nothing known yet"
        );
        let start = "vmio: start bytes=2097152 active=eth2 mac=52:54:00:00:00:03";
        assert_eq!(pull.observe(&line(2, start)), Watch::Continue);
        assert_eq!(
            pull.observe(&line(3, early)),
            Watch::Continue,
            "before PULL_AFTER_MS"
        );
        let due = format!("vmio: at={PULL_AFTER_MS} reads=30 errors=0 took=90 active=eth2");
        assert_eq!(
            pull.observe(&line(4, &due)),
            Watch::SetLink { nic: 2, up: false }
        );
        assert_eq!(pull.observe(&line(5, &due)), Watch::Continue, "only once");
        assert_eq!(
            (pull.port.as_deref(), pull.at_ms, pull.at),
            (
                Some("eth2"),
                Some(PULL_AFTER_MS),
                Some(Duration::from_millis(4))
            )
        );
    }
}
