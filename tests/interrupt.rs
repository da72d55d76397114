//! Clean interruption of `netroot build`: a real Ctrl-C typed on a pseudo-terminal (util-linux
//! `script` runs netroot on a pty and passes our `\x03` to it, so the line discipline raises
//! SIGINT for the foreground group, as a terminal does) at several points of a build, and a
//! SIGTERM sent to netroot alone. After each: the exit status is `128 + signal`, the message
//! names the signal, no temporary is left in the cache, nothing is mounted below it, and the
//! next build succeeds.
//!
//! The real-mmdebstrap case needs the Debian mirror and ~20 s: it runs with
//! NETROOT_TEST_MMDEBSTRAP=1 or NETROOT_REQUIRE_VM=1 (ci/test), like tests/rootfs_mmdebstrap.rs.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Poll interval while waiting for a build to reach the point to interrupt.
const POLL: Duration = Duration::from_millis(10);
/// Longest wait for a build to reach that point.
const REACH: Duration = Duration::from_secs(180);
/// Longest wait for an interrupted netroot to exit (mmdebstrap's cleanup included).
const EXIT: Duration = Duration::from_secs(90);

fn is_root() -> bool {
    common::root_or_skip("extracting kernels and trees keeps owners, which needs root")
}

/// `netroot ARGS` on a pseudo-terminal; our pipe is the terminal's keyboard.
struct OnPty {
    child: Child,
}

impl OnPty {
    fn spawn(netroot: &Command) -> OnPty {
        let mut line = shell_quote(netroot.get_program());
        for a in netroot.get_args() {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut c = Command::new("script");
        // -q no banner, -e the command's exit status, -f flush at once.
        c.args(["-qefc", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = netroot.get_current_dir() {
            c.current_dir(dir);
        }
        for (k, v) in netroot.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        OnPty {
            child: c.spawn().expect("util-linux script"),
        }
    }

    /// Types Ctrl-C.
    fn ctrl_c(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"\x03").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the end (closing the keyboard only then: `script` would pass EOF on) and
    /// returns the exit code and what the terminal showed.
    fn finish(mut self) -> (Option<i32>, String) {
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > EXIT {
                let _ = self.child.kill();
                panic!("netroot did not exit within {EXIT:?} of the interrupt");
            }
            std::thread::sleep(POLL);
        };
        drop(self.child.stdin.take());
        let mut text = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        (status.code(), text)
    }
}

fn shell_quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"))
}

/// Waits until `reached` holds; fails the test if `child` ends first or after [`REACH`].
fn wait_for(what: &str, child: &mut Child, mut reached: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !reached() {
        assert!(t0.elapsed() < REACH, "the build never reached {what}");
        if let Some(status) = child.try_wait().unwrap() {
            let mut text = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut text);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut text);
            }
            panic!("the build ended ({status}) before {what}:\n{text}");
        }
        std::thread::sleep(POLL);
    }
    eprintln!("reached {what} after {:?}", t0.elapsed());
}

/// Entries of `cache` and of its subdirectories (`kernels/`, `rootfs/`, `roots/`, ...) whose
/// name starts with `.`: how every temporary is marked (`.netroot-extract-*`, `.mmdebstrap-*`,
/// `.NAME.partial-*`, `.KEY.staging`, atomic writes' `.tmp*`). Finished trees are not entered:
/// they hold dot-files of their own.
fn hidden_below(cache: &Path) -> Vec<PathBuf> {
    let hidden = |e: &fs::DirEntry| e.file_name().to_string_lossy().starts_with('.');
    let mut found = Vec::new();
    for e in fs::read_dir(cache).into_iter().flatten().flatten() {
        if hidden(&e) {
            found.push(e.path());
        } else if e.file_type().is_ok_and(|t| t.is_dir()) {
            let inner = fs::read_dir(e.path()).into_iter().flatten().flatten();
            found.extend(inner.filter(hidden).map(|e| e.path()));
        }
    }
    found
}

/// Mount points at or below `dir`.
fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// Asserts the interrupted run's verdict and that the cache holds no temporary and no mount.
#[track_caller]
fn assert_clean_interrupt(code: Option<i32>, text: &str, signal: &str, status: i32, cache: &Path) {
    assert_eq!(code, Some(status), "{text}");
    assert!(text.contains(&format!("interrupted by {signal}")), "{text}");
    assert_eq!(mounts_below(cache), Vec::<String>::new(), "mounts left");
    assert_eq!(
        hidden_below(cache),
        Vec::<PathBuf>::new(),
        "temporaries left"
    );
}

/// A project with the shipped profiles and overlays (the `qemu` profile's root needs them).
fn project() -> tempfile::TempDir {
    let p = common::project();
    let overlays = Path::new(env!("CARGO_MANIFEST_DIR")).join("overlays");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(overlays)
        .arg(p.path())
        .status()
        .unwrap();
    assert!(copied.success());
    p
}

/// A project whose `PROFILE` builds with a fresh cache in `PROJECT/cache`.
fn build_cmd(project: &Path, profile: &str, kernel: &Path) -> Command {
    let mut c = common::netroot(project, &["build", profile, "--out"]);
    c.arg(project.join("out"))
        .arg("--kernel")
        .arg(kernel)
        .env("NETROOT_CACHE", project.join("cache"));
    c
}

#[test]
fn ctrl_c_during_kernel_extraction_leaves_no_temporary() {
    if !is_root() {
        return;
    }
    let Some(deb) = common::kernel_deb() else {
        return;
    };
    let p = project();
    let cache = p.path().join("cache");
    let cmd = build_cmd(p.path(), "qemu-base", &deb);
    let mut pty = OnPty::spawn(&cmd);
    wait_for("the kernel extraction", &mut pty.child, || {
        fs::read_dir(cache.join("kernels")).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".netroot-extract-")
            })
        })
    });
    pty.ctrl_c();
    let (code, text) = pty.finish();
    assert_clean_interrupt(code, &text, "SIGINT", 130, &cache);
    assert!(text.contains("extracting the kernel package"), "{text}");
    // Nothing half-extracted under a real name either: the next build extracts and succeeds.
    let mut again = build_cmd(p.path(), "qemu-base", &deb);
    common::output_ok(&mut again);
}

#[test]
fn ctrl_c_during_a_root_tree_copy_leaves_no_partial_tree() {
    if !is_root() {
        return;
    }
    let Some(kernel) = common::kernel_dir() else {
        return;
    };
    let p = project();
    // Enough files that the copy takes a few seconds.
    let tree = p.path().join("tree");
    for d in 0..300 {
        let dir = tree.join(format!("usr/share/d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f}")), [b'x'; 2048]).unwrap();
        }
    }
    fs::write(
        p.path().join("profiles/big.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n",
    )
    .unwrap();
    let cache = p.path().join("cache");
    let mut pty = OnPty::spawn(&build_cmd(p.path(), "big", &kernel));
    wait_for("the root tree copy", &mut pty.child, || {
        fs::read_dir(cache.join("roots")).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".partial-"))
        })
    });
    pty.ctrl_c();
    let (code, text) = pty.finish();
    assert_clean_interrupt(code, &text, "SIGINT", 130, &cache);
    assert!(
        !p.path().join("out/big/rootfs").exists(),
        "an output points at an interrupted tree"
    );
    common::output_ok(&mut build_cmd(p.path(), "big", &kernel));
    assert!(p.path().join("out/big/rootfs/usr/share/d299/f99").is_file());
}

/// A fake mmdebstrap that records its process group, then on SIGTERM "cleans up" for a second
/// (as the real one unmounts and removes its chroot) and logs that it finished doing so.
fn slow_cleanup_mmdebstrap(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("fake.log");
    let script = format!(
        "#!/bin/sh\nlog='{}'\nps -o pgid= -p $$ | tr -d ' ' > \"$log.pgid\"\n\
         trap 'echo got-term >> \"$log\"; sleep 1; echo cleaned >> \"$log\"; exit 1' TERM\n\
         echo started >> \"$log\"\nwhile :; do sleep 0.1; done\n",
        log.display()
    );
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    common::write_mode(&bin, "mmdebstrap", script, 0o755);
    (bin, log)
}

#[test]
fn sigterm_is_forwarded_to_mmdebstrap_and_waited_for() {
    let Some(kernel) = common::kernel_dir() else {
        return;
    };
    let p = project();
    let (bin, log) = slow_cleanup_mmdebstrap(p.path());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = p.path().join("cache");
    let mut cmd = build_cmd(p.path(), "qemu", &kernel);
    cmd.env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    wait_for("the mmdebstrap run", &mut child, || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("started"))
    });
    let pgid = fs::read_to_string(log.with_extension("log.pgid")).unwrap();
    assert_ne!(
        pgid.trim(),
        rustix::process::getpgrp().as_raw_nonzero().to_string(),
        "mmdebstrap shares the terminal's process group"
    );
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // netroot exited only after the child's cleanup had finished.
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "started\ngot-term\ncleaned\n",
        "{stderr}"
    );
    assert_clean_interrupt(out.status.code(), &stderr, "SIGTERM", 143, &cache);
    assert!(
        stderr.contains("mmdebstrap: interrupted by SIGTERM"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_during_real_mmdebstrap_unmounts_and_removes_its_chroot() {
    let wanted = ["NETROOT_TEST_MMDEBSTRAP", "NETROOT_REQUIRE_VM"]
        .iter()
        .any(|v| std::env::var(v).as_deref() == Ok("1"));
    if !wanted {
        eprintln!("skipped: set NETROOT_TEST_MMDEBSTRAP=1 (needs the Debian mirror)");
        return;
    }
    if !is_root() {
        return;
    }
    let Some(kernel) = common::kernel_dir() else {
        return;
    };
    let p = project();
    let cache = p.path().join("cache");
    let tmp_before = tmp_mmdebstrap_dirs();
    let mut pty = OnPty::spawn(&build_cmd(p.path(), "qemu", &kernel));
    // Its chroot's /proc, /sys, /dev/pts and /dev/shm: mmdebstrap is installing packages.
    wait_for("mmdebstrap's mounts", &mut pty.child, || {
        mounts_below(&cache).len() >= 4
    });
    std::thread::sleep(Duration::from_secs(2));
    pty.ctrl_c();
    let (code, text) = pty.finish();
    assert_clean_interrupt(code, &text, "SIGINT", 130, &cache);
    assert!(text.contains("mmdebstrap: interrupted by SIGINT"), "{text}");
    let tarballs: Vec<_> = fs::read_dir(cache.join("rootfs"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tarballs.is_empty(), "{tarballs:?}");
    assert_eq!(
        tmp_mmdebstrap_dirs(),
        tmp_before,
        "mmdebstrap temporaries in /tmp"
    );
}

/// `/tmp/mmdebstrap.*`: where mmdebstrap would put its chroot without our TMPDIR.
fn tmp_mmdebstrap_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("mmdebstrap."))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}
