//! Shared helpers of the publish tests: a fixture root tree with every file type and metadata kind,
//! boot artifacts, a menu renderer, and an independent tree comparison (std + rustix only, not the
//! engine's own scanner). Crates including it include `tests/common` too.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::tree;

use rustix::fs::FileType;

use netroot::publish::{
    Artifacts, GenerationPaths, MenuFiles, PublishOptions, PublishReport, Targets,
};

/// Directory on a tmpfs (fsync and syncfs are free there) for tests that publish hundreds of
/// times; falls back to the temp dir. Crash tests kill processes, which keeps the page cache, so
/// durability calls do not matter to them; the engine tests run on the temp dir's filesystem.
pub fn fast_tmp() -> PathBuf {
    const SHM: &str = "/dev/shm";
    let shm = Path::new(SHM);
    match tempfile::tempdir_in(shm) {
        Ok(_) => shm.to_path_buf(),
        Err(_) => std::env::temp_dir(),
    }
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A test world: source dir, targets, artifacts, all under `base`.
pub struct World {
    _tmp: Option<tempfile::TempDir>,
    pub base: PathBuf,
    pub src: PathBuf,
    pub targets: Targets,
}

impl World {
    /// A fresh world in a temporary directory, with artifacts and a root tree.
    pub fn new() -> World {
        World::new_in(&std::env::temp_dir())
    }
    /// A fresh world under `parent`.
    pub fn new_in(parent: &Path) -> World {
        let tmp = tempfile::tempdir_in(parent).unwrap();
        let mut w = World::at(tmp.path());
        w._tmp = Some(tmp);
        fs::create_dir_all(w.src.join("boot")).unwrap();
        w.set_artifacts(b"kernel-1", b"initramfs-1");
        make_tree(&w.root());
        w
    }
    /// The world already at `base` (made by another process).
    pub fn at(base: &Path) -> World {
        World {
            _tmp: None,
            base: base.to_path_buf(),
            src: base.join("src"),
            targets: Targets {
                tftp: base.join("tftp"),
                nfs: base.join("nfs"),
            },
        }
    }
    pub fn root(&self) -> PathBuf {
        self.src.join("root")
    }
    pub fn set_artifacts(&self, kernel: &[u8], initramfs: &[u8]) {
        fs::write(self.src.join("boot/vmlinuz"), kernel).unwrap();
        fs::write(self.src.join("boot/initramfs.img"), initramfs).unwrap();
        fs::write(
            self.src.join("boot/manifest.json"),
            b"{\"profile\":\"compute\"}\n",
        )
        .unwrap();
    }
    pub fn artifacts(&self) -> Artifacts {
        Artifacts {
            profile: "compute".into(),
            vmlinuz: self.src.join("boot/vmlinuz"),
            initramfs: self.src.join("boot/initramfs.img"),
            manifest: self.src.join("boot/manifest.json"),
            root_tree: Some(self.root()),
        }
    }
    /// Publishes the world's artifacts with [`menus`] and [`World::opts`] (panics on failure).
    pub fn publish(&self) -> PublishReport {
        netroot::publish::publish(&self.artifacts(), menus, &self.targets, &self.opts()).unwrap()
    }
    /// [`World::publish`]: the name of the generation published.
    pub fn publish_gen(&self) -> String {
        self.publish().generation
    }
    /// Publishes `n` generations, the i-th with `etc/version` = `i`; their names, oldest first.
    pub fn publish_versions(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                fs::write(self.root().join("etc/version"), format!("{i}\n")).unwrap();
                self.publish_gen()
            })
            .collect()
    }
    /// [`snapshot`]s of the TFTP and NFS targets.
    pub fn snapshots(&self) -> (Snapshot, Snapshot) {
        (snapshot(&self.targets.tftp), snapshot(&self.targets.nfs))
    }
    pub fn opts(&self) -> PublishOptions {
        PublishOptions {
            cmdline: "console=ttyS0 quiet".into(),
            ..PublishOptions::default()
        }
    }
    pub fn tftp(&self, rel: &str) -> PathBuf {
        self.targets.tftp.join(rel)
    }
    pub fn nfs(&self, rel: &str) -> PathBuf {
        self.targets.nfs.join(rel)
    }
    pub fn gen_tree(&self, g: &str) -> PathBuf {
        self.nfs(&format!("compute/{g}"))
    }
}

/// The side file [`menus`] puts at the top of the NFS target.
pub const SIDE_FILE: &str = "netroot.exports";
/// The shared file [`menus`] puts in `TFTP/netroot/`.
pub const SITE_FILE: &str = "site.json";

/// Menu files naming the generation explicitly, like the real renderers do.
pub fn menus(p: &GenerationPaths) -> MenuFiles {
    let nfs = p.nfs_rel.clone().unwrap_or_default();
    let cmd = format!("root=nfs:10.0.0.1:/netroot/{nfs},vers=4.2 ro {}", p.cmdline);
    MenuFiles {
        files: vec![
            (
                "netroot.ipxe".into(),
                format!(
                    "#!ipxe\nkernel tftp://10.0.0.1/{} {cmd}\ninitrd tftp://10.0.0.1/{}\nboot\n",
                    p.vmlinuz, p.initramfs
                )
                .into_bytes(),
            ),
            (
                "boot/grub/grub.cfg".into(),
                format!(
                    "menuentry netroot {{\n  linux (tftp)/{} {cmd}\n  initrd (tftp)/{}\n}}\n",
                    p.vmlinuz, p.initramfs
                )
                .into_bytes(),
            ),
            (
                "pxelinux.cfg/default".into(),
                format!(
                    "DEFAULT netroot\nLABEL netroot\n  KERNEL {}\n  INITRD {}\n  APPEND {cmd}\n",
                    p.vmlinuz, p.initramfs
                )
                .into_bytes(),
            ),
        ],
        // Side files like the real renderers' export snippets and site settings: they name the
        // generation so the crash tests can tell old from new.
        nfs_files: vec![(
            SIDE_FILE.into(),
            format!("# exports for {}\n", p.tftp_dir).into_bytes(),
        )],
        site_files: vec![(
            SITE_FILE.into(),
            format!("{{\"entry\": \"{}\"}}\n", p.tftp_dir).into_bytes(),
        )],
        ..Default::default()
    }
}

fn set_mtime(p: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 123_456_789,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// Sets a user xattr if the filesystem supports them; returns whether it did.
pub fn try_xattr(p: &Path, name: &str, value: &[u8]) -> bool {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).is_ok()
}

/// Number of regular files (hardlink groups counted once) in [`make_tree`].
pub const TREE_FILES: usize = 54;

/// A root tree: plain and setuid files, a sticky and a setgid directory, a read-only directory,
/// absolute/relative/dangling symlinks, a hardlink pair, a fifo, a non-UTF-8 name, xattrs, fixed
/// mtimes; as root also foreign owners, device nodes and a trusted.* xattr.
pub fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::create_dir_all(root.join("srv/shared")).unwrap();
    fs::create_dir_all(root.join("ro")).unwrap();
    fs::create_dir_all(root.join("dev")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    for i in 0..48 {
        fs::write(
            root.join(format!("data/f{i:02}")),
            format!("data file {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("usr/bin/su"), b"setuid binary\n").unwrap();
    fs::set_permissions(root.join("usr/bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(root.join("etc/hostname"), b"node\n").unwrap();
    fs::write(root.join("etc/shadow"), b"root:*:1::::::\n").unwrap();
    fs::set_permissions(root.join("etc/shadow"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::hard_link(root.join("etc/hostname"), root.join("etc/hostname.link")).unwrap();
    fs::write(root.join("ro/readme"), b"read only dir\n").unwrap();
    fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"data/caf\xe9")),
        b"latin-1 name\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/run", root.join("var-run")).unwrap();
    std::os::unix::fs::symlink("../etc/hostname", root.join("usr/hostname-rel")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", root.join("dangling")).unwrap();
    tree::mknod(&root.join("dev/initctl"), FileType::Fifo, 0o600, 0, 0);
    try_xattr(
        &root.join("usr/bin/tool"),
        "user.netroot.test",
        b"value\x00\x01",
    );
    if !is_root() {
        eprintln!("skipped (not root): device nodes, foreign owners and trusted.* xattrs");
    } else {
        tree::mknod(
            &root.join("dev/null"),
            FileType::CharacterDevice,
            0o666,
            1,
            3,
        );
        tree::mknod(&root.join("dev/sda"), FileType::BlockDevice, 0o660, 8, 0);
        std::os::unix::fs::lchown(root.join("srv/shared"), Some(1000), Some(1001)).unwrap();
        std::os::unix::fs::lchown(root.join("etc/shadow"), Some(0), Some(42)).unwrap();
        std::os::unix::fs::lchown(root.join("usr/hostname-rel"), Some(7), Some(8)).unwrap();
        assert!(try_xattr(&root.join("usr/bin/su"), "trusted.netroot", b"t"));
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(root.join("srv/shared"), fs::Permissions::from_mode(0o2775)).unwrap();
    // Fixed mtimes everywhere, directories last.
    let mut all = Vec::new();
    walk(root, &mut all);
    for (i, p) in all.iter().rev().enumerate() {
        set_mtime(p, 1_700_000_000 + i as i64);
    }
    fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    set_mtime(&root.join("ro"), 1_600_000_000);
}

/// Every path under `root` (pre-order, sorted), root included.
pub fn walk(root: &Path, out: &mut Vec<PathBuf>) {
    out.push(root.to_path_buf());
    let md = fs::symlink_metadata(root).unwrap();
    if md.is_dir() {
        let mut names: Vec<_> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            walk(&n, out);
        }
    }
}

/// What the comparison looks at for one path.
#[derive(Debug, PartialEq, Eq)]
pub struct Meta {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    size: u64,
    content: Vec<u8>,
    link: Option<PathBuf>,
    rdev: u64,
    xattrs: BTreeMap<String, Vec<u8>>,
}

pub fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(p, &mut names[..]).unwrap_or(0);
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec()).unwrap();
        let mut v = vec![0u8; 4096];
        let k = rustix::fs::lgetxattr(p, name.as_str(), &mut v[..]).unwrap();
        v.truncate(k);
        out.insert(name, v);
    }
    out
}

pub fn meta(p: &Path) -> Meta {
    let md = fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    let kind = tree::kind_name(ft);
    Meta {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: (md.mtime(), md.mtime_nsec()),
        size: if ft.is_file() { md.size() } else { 0 },
        content: if ft.is_file() {
            fs::read(p).unwrap()
        } else {
            Vec::new()
        },
        link: ft.is_symlink().then(|| fs::read_link(p).unwrap()),
        rdev: md.rdev(),
        xattrs: xattrs(p),
    }
}

/// Asserts that two trees are identical in content and metadata (and hardlink structure).
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    walk(a, &mut pa);
    walk(b, &mut pb);
    let ra: Vec<_> = pa
        .iter()
        .map(|p| p.strip_prefix(a).unwrap().to_path_buf())
        .collect();
    let rb: Vec<_> = pb
        .iter()
        .map(|p| p.strip_prefix(b).unwrap().to_path_buf())
        .collect();
    assert_eq!(ra, rb, "listings differ");
    for r in &ra {
        assert_eq!(meta(&a.join(r)), meta(&b.join(r)), "{}", r.display());
    }
    let ino = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
    assert_eq!(
        ino(&b.join("etc/hostname")),
        ino(&b.join("etc/hostname.link")),
        "hardlink pair preserved"
    );
}

/// What [`snapshot`] records of a directory.
pub type Snapshot = Vec<(PathBuf, u64, i64, i64, u64, Vec<u8>)>;

/// (path, size, mtime, inode) of everything under `dir`: a change detector.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut all = Vec::new();
    if dir.exists() {
        walk(dir, &mut all);
    }
    all.into_iter()
        .map(|p| {
            let md = fs::symlink_metadata(&p).unwrap();
            let content = if md.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (p, md.size(), md.mtime(), md.mtime_nsec(), md.ino(), content)
        })
        .collect()
}

/// Every `.netroot-tmp-*` path under the targets.
pub fn leftovers(t: &Targets) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for d in [&t.tftp, &t.nfs] {
        if d.exists() {
            walk(d, &mut all);
        }
    }
    all.into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b".netroot-tmp-"))
        })
        .collect()
}
