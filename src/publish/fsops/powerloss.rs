//! Power loss at every point of three real publishes (the third made durable by fsyncs alone,
//! without syncfs) and a rollback: the engine's
//! recorded operations are replayed against the durability model ([`super::durable`]); after a
//! crash at each operation, under the all-lost, all-kept and mixed outcomes, every menu file must
//! be the old or the new version (never empty or partial), and so must the NFS side files and the
//! shared `TFTP/netroot` files; the boot loader images must be all there or absent; every
//! `current` symlink must name the
//! old or the new generation, and the generation each consumer names must be complete: its TFTP
//! directory and NFS root tree identical (names, types, contents, symlink targets, modes, tree
//! mtimes) to what the finished run left. The same check, fed a log with one necessary fsync
//! removed, must fail.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::durable::{Model, Node, Outcome};
use super::oplog::{record_ops, FsOp};
use crate::publish::{publish, rollback, Artifacts, GenerationPaths, MenuFiles};
use crate::publish::{PublishOptions, Targets};

/// Mixed outcomes tried at each crash point besides all-lost and all-kept.
const MIXED_PER_POINT: u64 = 3;
const PROFILE: &str = "compute";
const MENUS: [&str; 2] = ["netroot.ipxe", "pxelinux.cfg/default"];
/// A side file at the top of the NFS target (like the export and DHCP snippets).
const SIDE: &str = "netroot.side.conf";
/// A shared file in `TFTP/netroot/` (like `site.json`).
const SITE: &str = "site.json";

struct Fixture {
    _dir: tempfile::TempDir,
    src: PathBuf,
    t: Targets,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let t = Targets {
        tftp: dir.path().join("tftp"),
        nfs: dir.path().join("nfs"),
    };
    fs::create_dir_all(&t.tftp).unwrap();
    fs::create_dir_all(&t.nfs).unwrap();
    Fixture {
        src: dir.path().join("src"),
        _dir: dir,
        t,
    }
}

/// Source version 1: boot files and a small root tree with a symlink, a hardlink pair, an
/// executable and an empty file.
fn source_v1(f: &Fixture) -> Artifacts {
    let base = f.src.join("v1");
    let root = base.join("root");
    for d in ["etc", "data/sub", "bin"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(base.join("vmlinuz"), b"kernel 1").unwrap();
    fs::write(base.join("initramfs.img"), b"initramfs".repeat(500)).unwrap();
    fs::write(base.join("manifest.json"), b"{}\n").unwrap();
    fs::write(root.join("etc/hostname"), b"node\n").unwrap();
    for i in 0..8 {
        fs::write(root.join(format!("data/f{i}")), format!("file {i}\n")).unwrap();
    }
    fs::write(root.join("data/sub/deep"), b"deep\n").unwrap();
    fs::write(root.join("data/empty"), b"").unwrap();
    fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::hard_link(root.join("data/f0"), root.join("data/f0-link")).unwrap();
    std::os::unix::fs::symlink("data/f1", root.join("current-data")).unwrap();
    artifacts(&base)
}

/// Version 2: a copy of version 1 (same mtimes, so unchanged entries are linked) with a new
/// kernel, a changed, an added, a re-moded file and a re-targeted symlink.
fn source_v2(f: &Fixture) -> Artifacts {
    let base = f.src.join("v2");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(f.src.join("v1"))
        .arg(&base)
        .status()
        .unwrap();
    assert!(st.success());
    let root = base.join("root");
    fs::write(base.join("vmlinuz"), b"kernel 2").unwrap();
    fs::write(root.join("data/f1"), b"changed\n").unwrap();
    fs::write(root.join("etc/new"), b"new\n").unwrap();
    fs::set_permissions(root.join("data/f2"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(root.join("current-data")).unwrap();
    std::os::unix::fs::symlink("data/f2", root.join("current-data")).unwrap();
    artifacts(&base)
}

/// Version 3: a copy of version 2 with one changed file (the stager fsyncs what it creates
/// instead of calling syncfs).
fn source_v3(f: &Fixture) -> Artifacts {
    let base = f.src.join("v3");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(f.src.join("v2"))
        .arg(&base)
        .status()
        .unwrap();
    assert!(st.success());
    fs::write(base.join("root/data/sub/deep"), b"deeper\n").unwrap();
    artifacts(&base)
}

fn artifacts(base: &Path) -> Artifacts {
    Artifacts {
        profile: PROFILE.into(),
        vmlinuz: base.join("vmlinuz"),
        initramfs: base.join("initramfs.img"),
        manifest: base.join("manifest.json"),
        root_tree: Some(base.join("root")),
    }
}

fn menus(g: &GenerationPaths) -> MenuFiles {
    let nfs = g.nfs_rel.clone().unwrap_or_default();
    MenuFiles {
        files: MENUS
            .iter()
            .map(|m| {
                let body = format!(
                    "# {m}\nkernel {}\ninitrd {}\nroot {nfs}\n",
                    g.vmlinuz, g.initramfs
                );
                (m.to_string(), body.into_bytes())
            })
            .collect(),
        nfs_files: vec![(SIDE.into(), format!("# side {nfs}\n").into_bytes())],
        site_files: vec![(
            SITE.into(),
            format!("{{\"default\": \"{nfs}\"}}\n").into_bytes(),
        )],
        ..Default::default()
    }
}

/// Files the loader installer writes (the first publish stages them, later ones find them).
const LOADER_FILES: [&str; 3] = [
    "boot/grub/i386-pc/core.0",
    "boot/grub/i386-pc/net.mod",
    "boot/grub/fonts/unicode.pf2",
];

fn opts() -> PublishOptions {
    let install = |dir: &Path| -> Result<(), crate::publish::MenuRenderError> {
        for (i, f) in LOADER_FILES.iter().enumerate() {
            let p = dir.join(f);
            fs::create_dir_all(p.parent().unwrap())?;
            fs::write(&p, format!("loader file {i}\n").repeat(100))?;
        }
        Ok(())
    };
    PublishOptions {
        cmdline: "quiet".into(),
        loaders: Some(crate::publish::Loaders {
            marker: LOADER_FILES[0].into(),
            install: std::sync::Arc::new(install),
        }),
        ..PublishOptions::default()
    }
}

/// What nodes are pointed at, and the complete generations as they must look.
struct Served {
    /// Consumer (path) → (content or symlink target, generation it names); absent when missing.
    consumers: BTreeMap<PathBuf, Option<(Node, String)>>,
    /// Generation → its TFTP directory and NFS tree, relative paths and nodes.
    generations: BTreeMap<String, Vec<(PathBuf, Node)>>,
    /// The boot loader images under `TFTP/boot` (empty before they are installed).
    loaders: Vec<(PathBuf, Node)>,
}

/// What is under `TFTP/boot` after a crash with `o`: the loader images, comparable.
fn loaders(m: &Model, t: &Targets, o: Outcome) -> Vec<(PathBuf, Node)> {
    m.crashed_tree(&t.tftp.join("boot"), o)
        .into_iter()
        .map(|(p, n)| (p, comparable(n, false)))
        .collect()
}

fn gen_dirs(t: &Targets, g: &str) -> [PathBuf; 2] {
    [
        t.tftp.join("netroot").join(PROFILE).join(g),
        t.nfs.join(PROFILE).join(g),
    ]
}

/// The generation's parts as the model has them after a crash with `o` (relative paths).
fn generation(m: &Model, t: &Targets, g: &str, o: Outcome) -> Vec<(PathBuf, Node)> {
    let mut out = Vec::new();
    for (i, dir) in gen_dirs(t, g).iter().enumerate() {
        for (p, n) in m.crashed_tree(dir, o) {
            let rel = PathBuf::from(i.to_string()).join(p.strip_prefix(dir).unwrap());
            out.push((rel, comparable(n, i == 1)));
        }
    }
    out
}

/// The part of a node the check compares: everything but owners, xattrs, and mtimes outside the
/// root tree (boot files get the time they were written).
fn comparable(n: Node, tree: bool) -> Node {
    let keep = |mut m: BTreeMap<String, String>| {
        m.retain(|k, _| k == "mode" || (tree && k == "mtime"));
        m
    };
    match n {
        Node::Dir(names, m) => Node::Dir(names, keep(m)),
        Node::File(c, m) => Node::File(c, keep(m)),
        Node::Symlink(t, m) => Node::Symlink(t, keep(m)),
        Node::Special(m) => Node::Special(keep(m)),
    }
}

fn consumers(t: &Targets) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = MENUS.iter().map(|m| t.tftp.join(m)).collect();
    v.push(t.tftp.join("netroot").join(PROFILE).join("current"));
    v.push(t.nfs.join(PROFILE).join("current"));
    v.push(t.nfs.join(SIDE));
    v.push(t.tftp.join("netroot").join(SITE));
    v
}

/// The generation a consumer names (the real file is read: the model keeps only hashes).
fn named(n: &Node, p: &Path) -> String {
    let text = match n {
        Node::Symlink(t, _) => return t.to_string_lossy().into_owned(),
        Node::File(..) => fs::read_to_string(p).ok(),
        _ => None,
    };
    text.and_then(|s| {
        s.split(&format!("{PROFILE}/")).nth(1).map(|r| {
            r.chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect()
        })
    })
    .unwrap_or_default()
}

/// What the real targets serve now (fully durable).
fn served(t: &Targets) -> Served {
    let m = Model::snapshot(&[&t.tftp, &t.nfs]).unwrap();
    let mut s = Served {
        consumers: BTreeMap::new(),
        generations: BTreeMap::new(),
        loaders: loaders(&m, t, Outcome::Kept),
    };
    for c in consumers(t) {
        let n = m.crashed(&c, Outcome::Kept);
        let entry = n.map(|n| {
            let g = named(&n, &c);
            (n, g)
        });
        if let Some((_, g)) = &entry {
            s.generations
                .insert(g.clone(), generation(&m, t, g, Outcome::Kept));
        }
        s.consumers.insert(c, entry);
    }
    s
}

/// Checks what a machine finds after a crash at this point with outcome `o`.
fn check(
    m: &Model,
    t: &Targets,
    o: Outcome,
    before: &Served,
    after: &Served,
) -> Result<(), String> {
    for c in consumers(t) {
        let found = m.crashed(&c, o);
        let known = [&before.consumers[&c], &after.consumers[&c]];
        let same = |k: &&&Option<(Node, String)>| match (**k, &found) {
            (None, None) => true,
            (Some((n, _)), Some(f)) => match (n, f) {
                (Node::File(a, _), Node::File(b, _)) => a == b,
                (Node::Symlink(a, _), Node::Symlink(b, _)) => a == b,
                _ => false,
            },
            _ => false,
        };
        let Some(which) = known.iter().find(same) else {
            return Err(format!("{}: {found:?} is neither old nor new", c.display()));
        };
        let Some((_, g)) = which else { continue };
        let want = before
            .generations
            .get(g)
            .or_else(|| after.generations.get(g))
            .ok_or_else(|| format!("internal: no expectation for {g}"))?;
        let got = generation(m, t, g, o);
        if got != *want {
            let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).take(3).collect();
            return Err(format!(
                "{} names {g}, which is incomplete: {missing:?}",
                c.display()
            ));
        }
    }
    // The loader images appear whole or not at all.
    let found = loaders(m, t, o);
    if found != before.loaders && found != after.loaders {
        return Err(format!(
            "the boot loader images are partial: {} of {} entries",
            found.len(),
            after.loaders.len()
        ));
    }
    let history = t.tftp.join("netroot").join(PROFILE).join("history.json");
    if let Some(Node::File(None, _)) = m.crashed(&history, o) {
        return Err("history.json is empty".into());
    }
    Ok(())
}

/// Replays `ops` from `start` and checks every crash point; the first failure.
fn first_failure(
    start: &Model,
    ops: &[FsOp],
    t: &Targets,
    before: &Served,
    after: &Served,
) -> Option<String> {
    let mut m = start.clone();
    for k in 0..=ops.len() {
        if k > 0 {
            m.apply(&ops[k - 1]).unwrap();
        }
        let mixed = (0..MIXED_PER_POINT).map(|j| Outcome::Mixed(k as u64 * 131 + j));
        for o in [Outcome::Lost, Outcome::Kept].into_iter().chain(mixed) {
            if let Err(e) = check(&m, t, o, before, after) {
                return Some(format!("crash after {k} of {} ops ({o:?}): {e}", ops.len()));
            }
        }
    }
    None
}

/// One recorded run: the model before it, its operations and what was served before and after.
struct Run {
    start: Model,
    ops: Vec<FsOp>,
    before: Served,
    after: Served,
}

fn run(t: &Targets, action: impl FnOnce()) -> Run {
    let start = Model::snapshot(&[&t.tftp, &t.nfs]).unwrap();
    let before = served(t);
    let ((), ops) = record_ops(action);
    Run {
        start,
        ops,
        before,
        after: served(t),
    }
}

/// First, second and third publish, then a rollback: each recorded.
fn runs() -> (Fixture, Vec<Run>) {
    let f = fixture();
    let (a1, a2) = (source_v1(&f), source_v2(&f));
    let a3 = source_v3(&f);
    let t = f.t.clone();
    let r1 = run(&t, || {
        publish(&a1, menus, &t, &opts()).unwrap();
    });
    let r2 = run(&t, || {
        publish(&a2, menus, &t, &opts()).unwrap();
    });
    let r3 = run(&t, || {
        publish(&a3, menus, &t, &opts()).unwrap();
    });
    let r4 = run(&t, || {
        rollback(PROFILE, None, menus, &t, &opts()).unwrap();
    });
    (f, vec![r1, r2, r3, r4])
}

#[test]
fn every_crash_point_serves_a_complete_old_or_new_generation() {
    let (f, runs) = runs();
    for (i, r) in runs.iter().enumerate() {
        assert!(
            r.ops.len() > 20,
            "run {i}: only {} ops recorded",
            r.ops.len()
        );
        if let Some(e) = first_failure(&r.start, &r.ops, &f.t, &r.before, &r.after) {
            panic!("run {i}: {e}");
        }
    }
    // The second publish links unchanged inodes and changes the served generation.
    let r2 = &runs[1];
    assert!(r2.ops.iter().any(|o| matches!(o, FsOp::Link { .. })));
    assert_ne!(
        r2.before.consumers.values().collect::<Vec<_>>(),
        r2.after.consumers.values().collect::<Vec<_>>()
    );
    // New symlinks need syncfs; a change without any is made durable by fsyncs alone.
    let syncfs = |r: &Run| r.ops.iter().any(|o| matches!(o, FsOp::Syncfs { .. }));
    assert!(syncfs(r2));
    assert!(!syncfs(&runs[2]));
}

/// Picks the operation to remove from a log.
type Picker<'a> = Box<dyn Fn(&FsOp) -> bool + 'a>;

#[test]
fn removing_a_necessary_fsync_is_detected() {
    let (f, runs) = runs();
    let tftp_profile = f.t.tftp.join("netroot").join(PROFILE);
    let is_tmp = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".netroot-tmp-"))
    };
    let staged = |p: &Path| {
        p.components().any(|c| {
            c.as_os_str()
                .to_string_lossy()
                .starts_with(".netroot-tmp-tree")
        })
    };
    let loader_tmp = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".netroot-tmp-loaders"))
    };
    let cases: Vec<(usize, &str, Picker)> = vec![
        (
            0,
            "syncfs of the staged boot loader images",
            Box::new(|o| matches!(o, FsOp::Syncfs { path } if loader_tmp(path))),
        ),
        (
            1,
            "fsync of the new NFS side file",
            Box::new(|o| {
                matches!(o, FsOp::FsyncFile { path }
                    if path.parent() == Some(f.t.nfs.as_path()) && is_tmp(path))
            }),
        ),
        (
            1,
            "syncfs of the staged root tree",
            Box::new(|o| matches!(o, FsOp::Syncfs { path } if !loader_tmp(path))),
        ),
        (
            2,
            "fsync of the changed file in the staged tree",
            Box::new(|o| matches!(o, FsOp::FsyncFile { path } if staged(path))),
        ),
        (
            2,
            "fsync of the staged tree's top directory",
            Box::new(|o| {
                matches!(o, FsOp::FsyncDir { path }
                    if staged(path) && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".netroot-tmp-tree")))
            }),
        ),
        (
            1,
            "fsync of the staged TFTP generation directory",
            Box::new(|o| {
                matches!(o, FsOp::FsyncDir { path }
                    if path.parent() == Some(tftp_profile.as_path()) && is_tmp(path))
            }),
        ),
        (
            1,
            "fsync of the new kernel",
            Box::new(|o| matches!(o, FsOp::FsyncFile { path } if path.ends_with("vmlinuz"))),
        ),
        (
            1,
            "fsync of the new iPXE menu",
            Box::new(|o| {
                matches!(o, FsOp::FsyncFile { path }
                    if path.parent() == Some(f.t.tftp.as_path()) && is_tmp(path))
            }),
        ),
    ];
    for (run, what, pick) in cases {
        let r = &runs[run];
        let i = r.ops.iter().position(&pick);
        let Some(i) = i else {
            panic!("no {what} in the log");
        };
        let mut ops = r.ops.clone();
        ops.remove(i);
        let e = first_failure(&r.start, &ops, &f.t, &r.before, &r.after);
        assert!(e.is_some(), "removing the {what} went unnoticed");
    }
}
