//! Crash safety, proven by killing a real publisher process. The test binary re-executes itself
//! (`child_process_entry_point` with `NETROOT_CRASH_CHILD` set) to publish, roll back or gc; the
//! child is stopped
//! - deterministically before each filesystem step (`PublishOptions::crash_after_ops`, which
//!   aborts the process like SIGKILL: no destructors, no cleanup), and
//! - with SIGKILL after 30 different delays.
//!
//! After each crash: every consumer (menu files, the NFS side file, the shared site file, both
//! `current` symlinks) must be a complete file
//! naming generation 1 or 2, whose artifacts and root tree equal that version's sources exactly;
//! every generation the history lists must verify clean. Then a normal run must complete, leave no
//! `.netroot-tmp-*` leftovers, and verify clean.
//!
//! A process crash keeps the page cache; power loss or a DRBD failover additionally relies on the
//! fsync/syncfs ordering, which these tests cannot observe. They run on a tmpfs when /dev/shm is
//! usable (hundreds of publishes; fsync is free there); the engine tests cover the real disk.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod publish_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use netroot::publish::{
    dry_run, gc, publish, rollback, verify, Artifacts, GenerationPaths, PublishOptions,
};
use publish_support::*;

const CHILD_ENV: &str = "NETROOT_CRASH_CHILD";
const BASE_ENV: &str = "NETROOT_CRASH_BASE";
const ACTION_ENV: &str = "NETROOT_CRASH_ACTION";
const AFTER_ENV: &str = "NETROOT_CRASH_AFTER";
const MENUS: [&str; 3] = ["netroot.ipxe", "boot/grub/grub.cfg", "pxelinux.cfg/default"];
/// SIGKILL delays spread over one uncrashed child run.
const KILL_POINTS: u32 = 30;
/// Extra files in version 2 for the SIGKILL test, so staging takes long enough to be hit.
const KILL_EXTRA_FILES: usize = 3000;

fn artifacts(w: &World, version: u32) -> Artifacts {
    let (boot, root) = if version == 1 {
        (w.src.join("boot"), w.root())
    } else {
        (
            w.src.join(format!("boot{version}")),
            w.src.join(format!("root{version}")),
        )
    };
    Artifacts {
        profile: "compute".into(),
        vmlinuz: boot.join("vmlinuz"),
        initramfs: boot.join("initramfs.img"),
        manifest: boot.join("manifest.json"),
        root_tree: Some(root),
    }
}

/// Makes version `v` (boot files and root tree) from version 1 with some changes.
fn make_version(w: &World, v: u32, extra_files: usize) {
    let a = artifacts(w, v);
    let boot = a.vmlinuz.parent().unwrap();
    fs::create_dir_all(boot).unwrap();
    fs::write(&a.vmlinuz, format!("kernel-{v}")).unwrap();
    fs::write(&a.initramfs, format!("initramfs-{v}").repeat(1000)).unwrap();
    fs::write(&a.manifest, format!("{{\"v\":{v}}}\n")).unwrap();
    let root = a.root_tree.unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(w.root())
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    fs::write(root.join("data/f05"), format!("changed in {v}\n")).unwrap();
    fs::remove_file(root.join("data/f06")).unwrap();
    fs::write(root.join(format!("etc/new-in-{v}")), b"new\n").unwrap();
    fs::set_permissions(root.join("data/f07"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(root.join("many")).unwrap();
    for i in 0..extra_files {
        fs::write(root.join(format!("many/{i:05}")), format!("{i}")).unwrap();
    }
}

struct Version {
    generation: String,
    artifacts: Artifacts,
}

/// A world with version 1 published and versions 2.. prepared (not published).
fn world(versions: u32, extra_files: usize) -> (World, Vec<Version>) {
    let w = World::new_in(&fast_tmp());
    publish(&artifacts(&w, 1), menus, &w.targets, &w.opts()).unwrap();
    for v in 2..=versions {
        make_version(&w, v, extra_files);
    }
    let vs = (1..=versions)
        .map(|v| {
            let a = artifacts(&w, v);
            Version {
                generation: dry_run(&a, menus, &w.targets, &w.opts())
                    .unwrap()
                    .generation,
                artifacts: a,
            }
        })
        .collect();
    (w, vs)
}

fn paths(g: &str, cmdline: &str) -> GenerationPaths {
    let dir = format!("netroot/compute/{g}");
    GenerationPaths {
        profile: "compute".into(),
        generation: g.into(),
        vmlinuz: format!("{dir}/vmlinuz"),
        initramfs: format!("{dir}/initramfs.img"),
        manifest: format!("{dir}/manifest.json"),
        tftp_dir: dir,
        nfs_root: None,
        nfs_rel: Some(format!("compute/{g}")),
        cmdline: cmdline.into(),
        boot: None,
    }
}

/// The invariant after a crash at any point.
fn check_consistent(w: &World, vs: &[Version], context: &str) {
    let find = |g: &str| {
        vs.iter()
            .find(|v| v.generation == g)
            .unwrap_or_else(|| panic!("{context}: consumer names unknown generation {g}"))
    };
    let mut named = Vec::new();
    for link in [w.nfs("compute/current"), w.tftp("netroot/compute/current")] {
        let g =
            fs::read_link(&link).unwrap_or_else(|e| panic!("{context}: {}: {e}", link.display()));
        named.push(g.to_string_lossy().into_owned());
    }
    // Menus, the NFS side file and the shared site file: each complete, old or new.
    let side = [
        (w.nfs(SIDE_FILE), SIDE_FILE),
        (w.tftp(&format!("netroot/{SITE_FILE}")), SITE_FILE),
    ];
    let consumers = MENUS
        .iter()
        .map(|rel| (w.tftp(rel), *rel))
        .chain(side.iter().map(|(p, n)| (p.clone(), *n)));
    for (path, rel) in consumers {
        let data = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{context}: {rel}: {e}"));
        let at = data
            .find("netroot/compute/g")
            .unwrap_or_else(|| panic!("{context}: {rel}: {data}"));
        let g = &data[at + 16..at + 33];
        let want = menus(&paths(g, &w.opts().cmdline));
        let bytes = want
            .files
            .iter()
            .chain(&want.nfs_files)
            .chain(&want.site_files)
            .find(|(p, _)| p == rel)
            .map(|(_, b)| b)
            .unwrap();
        assert_eq!(
            data.as_bytes(),
            bytes.as_slice(),
            "{context}: {rel} is not a complete file"
        );
        named.push(g.to_string());
    }
    named.sort();
    named.dedup();
    for g in &named {
        let v = find(g);
        let a = &v.artifacts;
        for (name, src) in [
            ("vmlinuz", &a.vmlinuz),
            ("initramfs.img", &a.initramfs),
            ("manifest.json", &a.manifest),
        ] {
            let got = fs::read(w.tftp(&format!("netroot/compute/{g}/{name}")))
                .unwrap_or_else(|e| panic!("{context}: {g}/{name}: {e}"));
            assert_eq!(got, fs::read(src).unwrap(), "{context}: {g}/{name}");
        }
        assert_same_tree(a.root_tree.as_ref().unwrap(), &w.gen_tree(g));
    }
    let report = verify("compute", &w.targets).unwrap_or_else(|e| panic!("{context}: verify: {e}"));
    for gc in &report.generations {
        assert!(
            gc.problems.is_empty(),
            "{context}: listed generation damaged:\n{report}"
        );
    }
    for p in &report.consumers {
        assert!(!p.to_string().contains("not published"), "{context}: {p}");
    }
}

/// After recovery: finished state, no leftovers, verify clean.
fn check_recovered(w: &World, active: &Version, context: &str) {
    assert!(
        leftovers(&w.targets).is_empty(),
        "{context}: leftovers {:?}",
        leftovers(&w.targets)
    );
    let v = verify("compute", &w.targets).unwrap();
    assert!(v.is_clean(), "{context}:\n{v}");
    for link in [w.nfs("compute/current"), w.tftp("netroot/compute/current")] {
        assert_eq!(
            fs::read_link(link).unwrap().to_str(),
            Some(active.generation.as_str()),
            "{context}"
        );
    }
    for rel in MENUS {
        assert!(
            fs::read_to_string(w.tftp(rel))
                .unwrap()
                .contains(&active.generation),
            "{context}: {rel}"
        );
    }
}

fn child(base: &Path, action: &str, crash_after: Option<u64>) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_process_entry_point",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, "1")
    .env(BASE_ENV, base)
    .env(ACTION_ENV, action)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(n) = crash_after {
        c.env(AFTER_ENV, n.to_string());
    }
    c
}

/// Runs the child to completion (or its injected crash); returns its FS_OPS line if it finished.
fn run_child(base: &Path, action: &str, crash_after: Option<u64>) -> Option<u64> {
    let out = child(base, action, crash_after).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        // libtest prints the test name on the same line, before the child's output.
        let ops = stdout
            .split("FS_OPS=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("child printed no FS_OPS: {stdout}"));
        return Some(ops.parse().unwrap());
    }
    assert_eq!(
        out.status.signal(),
        Some(6),
        "child neither finished nor aborted: {:?}",
        out.status
    );
    None
}

/// The re-executed child. Does nothing in a normal test run.
#[test]
fn child_process_entry_point() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let base = PathBuf::from(std::env::var_os(BASE_ENV).unwrap());
    let w = World::at(&base);
    let opts = PublishOptions {
        crash_after_ops: std::env::var(AFTER_ENV).ok().map(|s| s.parse().unwrap()),
        ..w.opts()
    };
    let ops = match std::env::var(ACTION_ENV).unwrap().as_str() {
        "publish" => {
            publish(&artifacts(&w, 2), menus, &w.targets, &opts)
                .unwrap()
                .fs_ops
        }
        "rollback" => {
            rollback("compute", None, menus, &w.targets, &opts)
                .unwrap()
                .fs_ops
        }
        "gc" => gc("compute", &w.targets, 1, &opts).unwrap().fs_ops,
        other => panic!("unknown action {other}"),
    };
    println!("FS_OPS={ops}");
}

/// Crash points to try out of `total`: all of them when few (the fixture's publish has ~160), else
/// every point of the first and last 60 (staging starts, activation) and 60 through the middle.
fn points(total: u64) -> Vec<u64> {
    const EDGE: u64 = 60;
    const MIDDLE: u64 = 60;
    if total <= 2 * EDGE + MIDDLE {
        return (0..total).collect();
    }
    let mut v: Vec<u64> = (0..EDGE).chain(total - EDGE..total).collect();
    let stride = (total - 2 * EDGE) / MIDDLE;
    v.extend((0..MIDDLE).map(|i| EDGE + i * stride));
    v.sort();
    v.dedup();
    v
}

#[test]
fn publish_survives_a_crash_before_any_filesystem_step() {
    let (w, vs) = world(2, 0);
    let total = run_child(&w.base, "publish", None).expect("uncrashed run finishes");
    check_recovered(&w, &vs[1], "uncrashed");
    assert!(total > 100, "expected many steps, got {total}");
    let pts = points(total);
    for &n in &pts {
        let (w, vs) = world(2, 0);
        assert_eq!(
            run_child(&w.base, "publish", Some(n)),
            None,
            "step {n} of {total}: no crash"
        );
        let ctx = format!("crash before step {n} of {total}");
        check_consistent(&w, &vs, &ctx);
        let r = publish(&vs[1].artifacts, menus, &w.targets, &w.opts()).unwrap();
        assert_eq!(r.generation, vs[1].generation);
        check_recovered(&w, &vs[1], &ctx);
        assert_same_tree(
            vs[1].artifacts.root_tree.as_ref().unwrap(),
            &w.gen_tree(&vs[1].generation),
        );
    }
    eprintln!(
        "publish: {} crash points out of {total} steps checked",
        pts.len()
    );
}

#[test]
fn publish_survives_sigkill_at_30_delays() {
    let (w, vs) = world(2, KILL_EXTRA_FILES);
    let start = Instant::now();
    run_child(&w.base, "publish", None).expect("uncrashed run finishes");
    let full = start.elapsed();
    check_recovered(&w, &vs[1], "uncrashed");
    let mut outcomes = (0, 0);
    for i in 0..KILL_POINTS {
        let (w, vs) = world(2, KILL_EXTRA_FILES);
        // Up to 90% of an uncrashed run: later kills mostly find the child finished.
        let delay = full * 9 * i / (10 * KILL_POINTS);
        let mut c = child(&w.base, "publish", None).spawn().unwrap();
        std::thread::sleep(delay);
        c.kill().unwrap();
        let st = c.wait().unwrap();
        if st.success() {
            outcomes.1 += 1;
        } else {
            outcomes.0 += 1;
        }
        let ctx = format!("SIGKILL after {delay:?} of {full:?}");
        check_consistent(&w, &vs, &ctx);
        publish(&vs[1].artifacts, menus, &w.targets, &w.opts()).unwrap();
        check_recovered(&w, &vs[1], &ctx);
    }
    eprintln!(
        "sigkill: {} killed mid-run, {} finished first (run took {full:?})",
        outcomes.0, outcomes.1
    );
    assert!(
        outcomes.0 >= KILL_POINTS / 4,
        "too few kills landed mid-run: {outcomes:?}"
    );
}

#[test]
fn rollback_survives_a_crash_at_every_step() {
    let (w, vs) = world(2, 0);
    publish(&vs[1].artifacts, menus, &w.targets, &w.opts()).unwrap();
    let total = run_child(&w.base, "rollback", None).unwrap();
    check_recovered(&w, &vs[0], "uncrashed rollback");
    for n in 0..total {
        let (w, vs) = world(2, 0);
        publish(&vs[1].artifacts, menus, &w.targets, &w.opts()).unwrap();
        assert_eq!(run_child(&w.base, "rollback", Some(n)), None);
        let ctx = format!("rollback crash before step {n} of {total}");
        check_consistent(&w, &vs, &ctx);
        // Finishing: the history may already name the target active; roll back explicitly.
        rollback(
            "compute",
            Some(&vs[0].generation),
            menus,
            &w.targets,
            &w.opts(),
        )
        .unwrap();
        check_recovered(&w, &vs[0], &ctx);
    }
}

#[test]
fn gc_survives_a_crash_at_every_step() {
    let setup = || {
        let (w, vs) = world(3, 0);
        publish(&vs[1].artifacts, menus, &w.targets, &w.opts()).unwrap();
        publish(&vs[2].artifacts, menus, &w.targets, &w.opts()).unwrap();
        (w, vs)
    };
    let (w, vs) = setup();
    let total = run_child(&w.base, "gc", None).unwrap();
    check_recovered(&w, &vs[2], "uncrashed gc");
    assert!(!w.gen_tree(&vs[0].generation).exists());
    for n in 0..total {
        let (w, vs) = setup();
        assert_eq!(run_child(&w.base, "gc", Some(n)), None);
        let ctx = format!("gc crash before step {n} of {total}");
        check_consistent(&w, &vs, &ctx);
        let r = gc("compute", &w.targets, 1, &w.opts()).unwrap();
        assert!(!r.kept.contains(&vs[0].generation), "{ctx}");
        check_recovered(&w, &vs[2], &ctx);
        assert!(!w.gen_tree(&vs[0].generation).exists(), "{ctx}");
        assert!(
            !w.tftp(&format!("netroot/compute/{}", vs[0].generation))
                .exists(),
            "{ctx}"
        );
    }
}

#[test]
fn crash_points_cover_edges_and_middle() {
    assert_eq!(points(5), [0, 1, 2, 3, 4]);
    let p = points(1000);
    assert!(p.contains(&0) && p.contains(&999));
    assert!(p.iter().any(|n| (450..550).contains(n)), "{p:?}");
    assert!(p.len() <= 180);
}
