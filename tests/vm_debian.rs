//! The README's main demo, for real: `netroot qemu qemu --kernel K --out OUT --check` on a copy of
//! the shipped project (profiles/ + overlays/). The `qemu` profile's root is Debian 12 minbase
//! with systemd, built by mmdebstrap; the command publishes it into a scratch TFTP/NFS dir,
//! serves it from its own nfs-ganesha and PXE-boots a 4-NIC QEMU node to the serial login.
//!
//! Asserted: exit 0 and the one PASS verdict line (the init's OK line with `bond=4/4`, the
//! `login:` marker, every stage of the timeline seen, in order); on the console: the init's OK
//! line, systemd's welcome, the login prompt with the host name from `overlays/netboot-node`
//! and the automatic root login of `overlays/qemu-autologin`; and no systemd failure line
//! beyond [`ACCEPTED_FAILURES`].
//!
//! mmdebstrap runs once per recipe (~40-60 s plus the download): the build cache is
//! `NETROOT_CACHE` when set, else a directory under Cargo's target tmp dir, so repeated runs in
//! one CI job (same target dir) reuse the root tree. Skipped like the other VM tests
//! (tests/vm/env.rs), and also without mmdebstrap; `NETROOT_REQUIRE_VM=1` turns a skip into a
//! failure. The `netroot` binary must embed the current init (do not set `NETROOT_INIT_BIN` to
//! an old one).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[allow(dead_code)] // shared with other VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use netroot::pipeline::CACHE_ENV;
use netroot::qemu::Stage;
use vm::env::{find_in_path, vm_tools_or_skip, VmTools, REQUIRE_VM_VAR};
use vm::report::Report;

/// The shipped profile under test.
const PROFILE: &str = "qemu";
/// The NFS root as the guest mounts it: qemu-base's server and export, then the scratch
/// publication's PROFILE/GENERATION.
const ROOT_PREFIX: &str = "10.0.2.2:/export/qemu/";
/// The bond of profiles/qemu-base.toml: four virtio NICs, all up.
const BOND_FIELD: &str = " bond=4/4 ";
/// The host name /etc/hostname gets from `overlays/netboot-node` (no node inventory: the
/// profile name), as agetty shows it.
const LOGIN_PROMPT: &str = "qemu login:";
/// What agetty prints for the console autologin of `overlays/qemu-autologin`.
const AUTOLOGIN: &str = "qemu login: root (automatic login)";
/// systemd's banner once it runs as the real root's init.
const WELCOME: &str = "Welcome to Debian GNU/Linux 12 (bookworm)!";
/// Program the `[root]` recipe needs.
const MMDEBSTRAP: &str = "mmdebstrap";
/// Cache directory under Cargo's per-target tmp dir when `NETROOT_CACHE` is unset: stable
/// across runs with one target dir, so mmdebstrap and the root tree are built once per job.
const CACHE_SUBDIR: &str = "netroot-vm-debian-cache";
/// Text of systemd console lines that report a failure.
const FAILURE_NEEDLES: [&str; 5] = [
    "[FAILED]",
    "Failed to start",
    "Dependency failed",
    "Timed out",
    "systemd[1]: Failed",
];
/// Failure lines accepted, with why. The root tree carries no kernel modules (netroot puts them
/// in the initramfs only), so systemd's early autofs4 load finds nothing; autofs is optional
/// for PID 1 (only the binfmt_misc automount is then unsupported).
const ACCEPTED_FAILURES: [&str; 1] = ["systemd[1]: Failed to find module 'autofs4'"];
/// Hard limit of the command as the test sees it: a first mmdebstrap run (~1-2 min on a
/// loaded 2-core machine), the image build, the 5 s KVM probe, and `--check`'s own default
/// 300 s boot timeout. Past it the test kills the command and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(540);
/// Poll interval while waiting for the command.
const POLL: Duration = Duration::from_millis(200);

/// The build cache: `NETROOT_CACHE`, else [`CACHE_SUBDIR`] under the target tmp dir.
fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join(CACHE_SUBDIR))
}

/// Copies `src` into `dest` (which must not exist): directories, regular files with their
/// mode, symlinks as links.
fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir(dest).with_context(|| format!("create {dest:?}"))?;
    for entry in fs::read_dir(src).with_context(|| format!("read {src:?}"))? {
        let entry = entry.with_context(|| format!("read {src:?}"))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry
            .file_type()
            .with_context(|| format!("stat {from:?}"))?;
        if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&from).with_context(|| format!("readlink {from:?}"))?;
            std::os::unix::fs::symlink(&target, &to).with_context(|| format!("link {to:?}"))?;
        } else if kind.is_file() {
            fs::copy(&from, &to).with_context(|| format!("copy {from:?} to {to:?}"))?;
        } else {
            bail!("{from:?} is not a file, directory or symlink");
        }
    }
    Ok(())
}

/// Removes ANSI escape sequences (systemd colours its status lines).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Console lines reporting a systemd failure that [`ACCEPTED_FAILURES`] does not name.
fn unexpected_failures(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| FAILURE_NEEDLES.iter().any(|n| l.contains(n)))
        .filter(|l| !ACCEPTED_FAILURES.iter().any(|a| l.contains(a)))
        .collect()
}

/// Index of the first line containing `needle`.
fn line_of(lines: &[String], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

/// `netroot -C PROJECT qemu qemu --kernel K --out OUT --check`, output in files, killed after
/// [`COMMAND_TIMEOUT`].
fn run_check(tools: &VmTools, project: &Path, out: &Path) -> Result<(ExitStatus, String, String)> {
    let (stdout_path, stderr_path) = (out.with_extension("stdout"), out.with_extension("stderr"));
    let stdout = fs::File::create(&stdout_path).context("stdout file")?;
    let stderr = fs::File::create(&stderr_path).context("stderr file")?;
    let mut child = Command::new(&tools.netroot)
        .arg("-C")
        .arg(project)
        .args(["qemu", PROFILE, "--kernel"])
        .arg(&tools.kernel)
        .arg("--out")
        .arg(out)
        .arg("--check")
        .env(CACHE_ENV, cache_dir())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .context("run netroot")?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for netroot")? {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            // The test fails either way; the kill keeps the machine clean.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "netroot qemu still running after {COMMAND_TIMEOUT:?}; stderr:\n{}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        thread::sleep(POLL);
    };
    Ok((
        status,
        fs::read_to_string(&stdout_path).context("read stdout")?,
        fs::read_to_string(&stderr_path).context("read stderr")?,
    ))
}

/// What a passing verdict line reports.
#[derive(Debug, Clone, PartialEq)]
struct Passed {
    /// The console log it names.
    log: PathBuf,
    /// Kernel start to the OK line (the init's `t=`).
    kernel_to_ok: Duration,
    /// QEMU start to the OK line, and to the login marker.
    qemu_to_ok: Duration,
    qemu_to_login: Duration,
}

/// Seconds as `netroot qemu` prints them (`5.771`, `21.3s`).
fn seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.strip_suffix('s').unwrap_or(text).parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Checks the verdict line; returns what it reports.
fn check_verdict(line: &str) -> Result<Passed> {
    let parts: Vec<&str> = line.split(" | ").collect();
    let [head, timeline, log] = parts[..] else {
        bail!("verdict {line:?} is not 'HEAD | TIMELINE | log PATH'");
    };
    let pass = format!("netroot qemu: PASS profile={PROFILE} loader=ipxe accel=");
    ensure!(head.starts_with(&pass), "expected {pass}...: {line}");
    let ok = head
        .split_once(": netroot-init: OK root=")
        .map(|(_, rest)| rest)
        .with_context(|| format!("no init OK line in {line:?}"))?;
    ensure!(
        ok.starts_with(ROOT_PREFIX),
        "root not under {ROOT_PREFIX}: {line}"
    );
    ensure!(ok.contains(BOND_FIELD), "no{BOND_FIELD}in {line}");
    ensure!(
        head.contains(", marker \"login:\" at "),
        "no login: marker in {line}"
    );
    let stages: Vec<(&str, &str)> = timeline
        .split(" → ")
        .map(|s| s.split_once(' ').unwrap_or((s, "")))
        .collect();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    let want: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    ensure!(names == want, "stages {names:?}, expected {want:?}");
    let mut last = 0.0;
    for (name, t) in stages {
        let t: f64 = t
            .strip_suffix('s')
            .and_then(|t| t.parse().ok())
            .with_context(|| format!("stage {name} not seen or malformed ({t:?}): {line}"))?;
        ensure!(t >= last, "stage {name} at {t}s before {last}s: {line}");
        last = t;
    }
    let log = log
        .strip_prefix("log ")
        .with_context(|| format!("no log path in {line:?}"))?;
    // "... bond=4/4 t=5.771 at 21.3s, marker \"login:\" at 45.2s"
    let field = |after: &str| {
        ok.split_once(after)
            .and_then(|(_, rest)| seconds(rest.split([' ', ',']).next().unwrap_or("")))
            .with_context(|| format!("no time after {after:?} in {line:?}"))
    };
    Ok(Passed {
        log: PathBuf::from(log),
        kernel_to_ok: field(" t=")?,
        qemu_to_ok: field(" at ")?,
        qemu_to_login: field("\"login:\" at ")?,
    })
}

/// The console as the node printed it: the init's OK line, then systemd, then the login.
fn check_console(lines: &[String]) -> Result<()> {
    let ok = lines
        .iter()
        .position(|l| l.starts_with(&format!("netroot-init: OK root={ROOT_PREFIX}")))
        .context("no 'netroot-init: OK root=10.0.2.2:/export/qemu/...' line")?;
    ensure!(
        lines[ok].contains(BOND_FIELD),
        "OK line without{BOND_FIELD}: {}",
        lines[ok]
    );
    let welcome = line_of(lines, WELCOME).with_context(|| format!("no {WELCOME:?}"))?;
    let login = line_of(lines, LOGIN_PROMPT).with_context(|| format!("no {LOGIN_PROMPT:?}"))?;
    ensure!(
        ok < welcome && welcome < login,
        "order: OK line {ok}, welcome {welcome}, login {login}"
    );
    ensure!(
        lines[login].contains(AUTOLOGIN),
        "login prompt without the autologin: {}",
        lines[login]
    );
    let failures = unexpected_failures(lines);
    ensure!(failures.is_empty(), "systemd failures: {failures:#?}");
    Ok(())
}

fn mmdebstrap_or_skip(test: &str) -> bool {
    if find_in_path(MMDEBSTRAP, &std::env::var("PATH").unwrap_or_default()).is_some() {
        return true;
    }
    let reason = format!("{MMDEBSTRAP} not found in PATH");
    if std::env::var(REQUIRE_VM_VAR).is_ok_and(|v| v == "1") {
        panic!("{test}: {reason} (and {REQUIRE_VM_VAR}=1)");
    }
    println!("skipped: {test}: {reason}");
    false
}

#[test]
fn qemu_profile_boots_debian_to_a_serial_login() -> Result<()> {
    let name = "qemu_profile_boots_debian_to_a_serial_login";
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    if !mmdebstrap_or_skip(name) {
        return Ok(());
    }
    let mut report = Report::start(name);
    let tmp = tempfile::Builder::new()
        .prefix("netroot-vm-debian-")
        .tempdir()
        .context("temp dir")?;
    let project = tmp.path().join("project");
    fs::create_dir(&project).context("project dir")?;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["profiles", "overlays"] {
        copy_tree(&shipped.join(dir), &project.join(dir))?;
    }
    let out = tmp.path().join("out");
    let (status, stdout, stderr) = run_check(&tools, &project, &out)?;
    let ctx = || format!("stdout:\n{stdout}stderr:\n{stderr}");
    let verdict: Vec<&str> = stdout.lines().collect();
    ensure!(
        verdict.len() == 1,
        "stdout must be one verdict line: {}",
        ctx()
    );
    // The PASS line with its timeline, for the CI log.
    eprintln!("{}", verdict[0]);
    ensure!(status.code() == Some(0), "exit {status:?}: {}", ctx());
    let passed = check_verdict(verdict[0]).with_context(ctx)?;
    report.kernel_to_ok = Some(passed.kernel_to_ok);
    report.qemu_to_ok = Some(passed.qemu_to_ok);
    let log = &passed.log;
    let text = fs::read(log).with_context(|| format!("read {log:?}"))?;
    let lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .map(strip_ansi)
        .collect();
    check_console(&lines).with_context(|| format!("console log {log:?}"))?;
    report.note = format!(
        "debian 12 minbase+systemd, ipxe, bond 4/4, login at {:.1}s",
        passed.qemu_to_login.as_secs_f64()
    );
    report.pass();
    Ok(())
}

#[test]
fn failure_lines_are_found_and_accepted_ones_named() {
    let lines: Vec<String> = [
        "[    8.4] systemd[1]: Failed to find module 'autofs4'",
        "[  OK  ] Started systemd-journald.service - Journal Service.",
        "[FAILED] Failed to start systemd-logind.service - User Login Management.",
        "[DEPEND] Dependency failed for remote-fs.target.",
        "[ TIME ] Timed out waiting for device dev-ttyS0.device.",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    assert_eq!(
        unexpected_failures(&lines),
        vec![
            "[FAILED] Failed to start systemd-logind.service - User Login Management.",
            "[DEPEND] Dependency failed for remote-fs.target.",
            "[ TIME ] Timed out waiting for device dev-ttyS0.device.",
        ]
    );
}

#[test]
fn ansi_colours_are_stripped() {
    assert_eq!(
        strip_ansi("Welcome to \u{1b}[1mDebian GNU/Linux 12 (bookworm)\u{1b}[0m!\r"),
        WELCOME
    );
    assert_eq!(
        strip_ansi("[\u{1b}[0;32m  OK  \u{1b}[0m] Reached"),
        "[  OK  ] Reached"
    );
}

#[test]
fn console_checks_need_order_autologin_and_no_failures() {
    let good: Vec<String> = [
        "netroot-init: OK root=10.0.2.2:/export/qemu/g1 bond=4/4 t=5.1",
        WELCOME,
        "qemu login: root (automatic login)",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    check_console(&good).unwrap();
    let mut degraded = good.clone();
    degraded[0] = "netroot-init: OK root=10.0.2.2:/export/qemu/g1 bond=3/4 t=5.1".into();
    let e = check_console(&degraded).unwrap_err().to_string();
    assert!(e.starts_with("OK line without bond=4/4"), "{e}");
    let mut prompt_only = good.clone();
    prompt_only[2] = "qemu login: ".into();
    let e = check_console(&prompt_only).unwrap_err().to_string();
    assert!(e.starts_with("login prompt without the autologin"), "{e}");
    let mut reordered = good.clone();
    reordered.swap(0, 1);
    let e = check_console(&reordered).unwrap_err().to_string();
    assert!(e.starts_with("order: OK line 1, welcome 0"), "{e}");
    let mut failed = good;
    failed.insert(2, "[FAILED] Failed to start foo.service - Foo.".into());
    let e = check_console(&failed).unwrap_err().to_string();
    assert!(e.starts_with("systemd failures:"), "{e}");
}

/// A verdict line as `netroot qemu --check` prints it (src/qemu/session.rs), with `bond` and the
/// stage times to vary.
fn verdict(bond: &str, lease: &str) -> String {
    format!(
        "netroot qemu: PASS profile=qemu loader=ipxe accel=tcg: netroot-init: OK \
         root=10.0.2.2:/export/qemu/g32e3847e08d019ec bond={bond} t=5.109 at 26.5s, marker \
         \"login:\" at 48.3s | firmware 0.3s → loader 5.9s → kernel 21.2s → init 23.7s → \
         modules 26.1s → bond 26.2s → lease {lease} → nfs 26.4s → switch_root 26.5s → \
         real-init 26.5s | log /tmp/x/console.log"
    )
}

#[test]
fn verdict_needs_pass_bond_marker_and_a_complete_timeline() {
    assert_eq!(
        check_verdict(&verdict("4/4", "26.2s")).unwrap(),
        Passed {
            log: PathBuf::from("/tmp/x/console.log"),
            kernel_to_ok: Duration::from_millis(5109),
            qemu_to_ok: Duration::from_millis(26500),
            qemu_to_login: Duration::from_millis(48300),
        }
    );
    let e = check_verdict(&verdict("3/4", "26.2s"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("no bond=4/4 in "), "{e}");
    let e = check_verdict(&verdict("4/4", "-")).unwrap_err().to_string();
    assert!(
        e.starts_with("stage lease not seen or malformed (\"-\")"),
        "{e}"
    );
    let e = check_verdict(&verdict("4/4", "20.0s"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("stage lease at 20s before 26.2s"), "{e}");
    let e = check_verdict(&verdict("4/4", "26.2s").replace("PASS", "FAIL"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("expected netroot qemu: PASS profile=qemu"),
        "{e}"
    );
    let e = check_verdict("netroot qemu: PASS").unwrap_err().to_string();
    assert!(
        e.starts_with("verdict \"netroot qemu: PASS\" is not"),
        "{e}"
    );
}
