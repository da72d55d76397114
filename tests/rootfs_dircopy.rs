//! `RootSource::Dir`: the copy keeps everything a root tree needs (owner, mode bits, xattrs,
//! hardlinks, symlinks, devices, fifos, sockets, nanosecond mtimes), stays on the source's
//! filesystem and refuses a destination inside the source. Needs root (skipped otherwise).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use netroot::rootfs::{materialize, RootSource, RootfsError};
use rustix::fs::{self as rfs, AtFlags, FileType, Timespec, Timestamps, XattrFlags};

/// cap_net_raw=ep (revision 2), as `setcap cap_net_raw=ep` writes it.
const CAP_NET_RAW: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// As root (else `None`: skipped), a work directory and the path of the source tree in it,
/// `src` (not created yet).
fn root_work() -> Option<(tempfile::TempDir, PathBuf)> {
    if !common::root_or_skip("copying owners and device nodes needs root") {
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    Some((work, src))
}

/// Everything compared between source and copy, per path.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    rdev: u64,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    content: Vec<u8>,
    /// First path (in walk order) sharing the inode: hardlink structure.
    link_group: PathBuf,
}

fn xattrs(p: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut names = vec![0u8; 4096];
    let n = rfs::llistxattr(p, &mut names[..]).unwrap();
    let mut out = BTreeMap::new();
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let mut v = vec![0u8; 4096];
        let m = rfs::lgetxattr(p, name, &mut v[..]).unwrap();
        out.insert(name.to_vec(), v[..m].to_vec());
    }
    out
}

/// The names in directory `dir`, in the order read_dir gives them.
fn names(dir: &Path) -> Vec<std::ffi::OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

fn describe(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut groups: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        if ft.is_dir() {
            let mut children = names(&p);
            children.sort();
            stack.extend(children.into_iter().rev().map(|n| rel.join(n)));
        }
        let kind = common::tree::kind_name(ft);
        let content = match kind {
            "file" => fs::read(&p).unwrap(),
            "symlink" => fs::read_link(&p).unwrap().as_os_str().as_bytes().to_vec(),
            _ => Vec::new(),
        };
        let group = groups
            .entry((md.dev(), md.ino()))
            .or_insert_with(|| rel.clone())
            .clone();
        out.insert(
            rel.clone(),
            Node {
                kind,
                mode: md.permissions().mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: (md.mtime(), md.mtime_nsec()),
                rdev: md.rdev(),
                xattrs: xattrs(&p),
                content,
                link_group: if kind == "dir" { PathBuf::new() } else { group },
            },
        );
    }
    out
}

fn set_mtime(p: &Path, sec: i64, nsec: i64) {
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    let ts = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rfs::utimensat(rfs::CWD, p, &ts, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    rfs::chownat(
        rfs::CWD,
        p,
        Some(rfs::Uid::from_raw(uid)),
        Some(rfs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A source tree with every kind of node and metadata.
fn build_source(src: &Path) {
    fs::create_dir_all(src.join("usr/bin")).unwrap();
    fs::create_dir_all(src.join("var")).unwrap();
    fs::create_dir(src.join("tmp")).unwrap();
    fs::create_dir(src.join("ro")).unwrap();
    fs::create_dir(src.join("locked")).unwrap();
    fs::write(src.join("usr/bin/su"), b"su").unwrap();
    fs::write(src.join("usr/bin/mine"), b"mine").unwrap();
    fs::write(src.join("usr/bin/ping"), b"ping").unwrap();
    fs::write(src.join("ro/inside"), b"in a 0555 dir").unwrap();
    fs::write(src.join("locked/secret"), b"in a 0000 dir").unwrap();
    fs::write(src.join("usr/bin/multi"), vec![7u8; 300_000]).unwrap();
    fs::hard_link(src.join("usr/bin/multi"), src.join("usr/bin/multi2")).unwrap();
    fs::hard_link(src.join("usr/bin/multi"), src.join("var/multi3")).unwrap();
    fs::write(src.join(OsStr::from_bytes(b"latin1-\xe9")), b"not utf-8").unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    symlink("/run", src.join("var/run")).unwrap();
    symlink("../usr/bin/su", src.join("var/su-link")).unwrap();
    symlink("/nonexistent/dangling", src.join("dangling")).unwrap();
    let dev = |name: &str, ft: FileType, mode: u32, maj: u32, min: u32| {
        common::tree::mknod(&src.join(name), ft, mode, maj, min)
    };
    dev("null", FileType::CharacterDevice, 0o666, 1, 3);
    dev("sda", FileType::BlockDevice, 0o660, 8, 0);
    dev("fifo", FileType::Fifo, 0o600, 0, 0);
    let sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    drop(sock);
    // mknod and bind apply the umask: set the modes explicitly.
    chmod(&src.join("null"), 0o666);
    chmod(&src.join("sda"), 0o660);
    chmod(&src.join("sock"), 0o755);

    chown(&src.join("usr/bin/mine"), 1000, 1001);
    chmod(&src.join("usr/bin/mine"), 0o6750);
    chmod(&src.join("usr/bin/su"), 0o4755);
    chmod(&src.join("tmp"), 0o1777);
    chown(&src.join("sda"), 0, 6);
    chown(&src.join("var/su-link"), 1000, 1000);
    chown(&src.join("usr/bin/ping"), 1000, 1000);
    rfs::setxattr(
        src.join("usr/bin/ping"),
        "security.capability",
        &CAP_NET_RAW,
        XattrFlags::empty(),
    )
    .unwrap();
    rfs::setxattr(
        src.join("usr/bin/ping"),
        "user.origin",
        b"test",
        XattrFlags::empty(),
    )
    .unwrap();
    rfs::setxattr(
        src.join("var"),
        "user.dir",
        b"on a dir",
        XattrFlags::empty(),
    )
    .unwrap();
    rfs::lsetxattr(
        src.join("var/su-link"),
        "trusted.link",
        b"on a link",
        XattrFlags::empty(),
    )
    .unwrap();
    rfs::setxattr(src, "user.root", b"on the root", XattrFlags::empty()).unwrap();

    // mtimes last (children first), with nanoseconds, on every kind of node.
    let mut n = 0;
    for rel in [
        "usr/bin/su",
        "usr/bin/mine",
        "usr/bin/ping",
        "usr/bin/multi",
        "ro/inside",
        "locked/secret",
        "empty",
        "var/run",
        "var/su-link",
        "dangling",
        "null",
        "sda",
        "fifo",
        "sock",
        "usr/bin",
        "usr",
        "var",
        "tmp",
        "ro",
        "locked",
    ] {
        n += 1;
        set_mtime(&src.join(rel), 1_500_000_000 + n, 100 * n);
    }
    chmod(&src.join("ro"), 0o555);
    chmod(&src.join("locked"), 0o000);
    set_mtime(&src.join("ro"), 1_400_000_000, 1);
    set_mtime(&src.join("locked"), 1_400_000_000, 2);
    chmod(src, 0o755);
    set_mtime(src, 1_300_000_000, 999_999_999);
}

#[test]
fn dir_copy_preserves_everything() {
    let Some((w, src)) = root_work() else { return };
    fs::create_dir(&src).unwrap();
    build_source(&src);
    let dest = w.path().join("out/root");
    fs::create_dir(w.path().join("out")).unwrap();
    let report = materialize(&RootSource::Dir(src.clone()), w.path(), &dest).unwrap();

    let (a, b) = (describe(&src), describe(&dest));
    assert_eq!(a.len(), b.len());
    for (path, node) in &a {
        assert_eq!(Some(node), b.get(path), "{}", path.display());
    }
    assert_eq!(
        b[Path::new("usr/bin/multi2")].link_group,
        PathBuf::from("usr/bin/multi")
    );
    assert_eq!(
        b[Path::new("var/multi3")].link_group,
        PathBuf::from("usr/bin/multi")
    );
    assert_eq!(
        b[Path::new("usr/bin/ping")].xattrs[&b"security.capability"[..]],
        CAP_NET_RAW
    );

    assert_eq!(report.files, 10);
    assert_eq!(report.symlinks, 3);
    assert_eq!(report.specials, 4);
    assert_eq!(report.dirs, 7);
    assert_eq!(report.bytes, 2 + 4 + 4 + 300_000 + 13 + 13 + 9);
    assert_eq!(
        report.setuid,
        vec![PathBuf::from("/usr/bin/mine"), PathBuf::from("/usr/bin/su")]
    );
    assert_eq!(report.setgid, vec![PathBuf::from("/usr/bin/mine")]);
    assert_eq!(report.capabilities.len(), 1);
    assert_eq!(report.capabilities[0].path, PathBuf::from("/usr/bin/ping"));
    assert_eq!(report.devices.len(), 2);
    assert_eq!(report.world_writable, vec![PathBuf::from("/null")]);
    assert_eq!(report.sticky_dirs, vec![PathBuf::from("/tmp")]);
    assert!(report.other_filesystems.is_empty());
    // Only the finished tree is left next to the destination.
    assert_eq!(
        names(&w.path().join("out")),
        vec![OsStr::new("root").to_owned()]
    );
}

#[test]
fn dest_inside_source_is_refused() {
    let Some((w, src)) = root_work() else { return };
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f"), b"f").unwrap();
    let dest = src.join("a/copy");
    let e = materialize(&RootSource::Dir(src.clone()), w.path(), &dest).unwrap_err();
    assert!(
        matches!(e, RootfsError::DestinationInsideSource { .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("is inside the source directory"),
        "{e}"
    );
    assert_eq!(names(&src.join("a")), vec![OsStr::new("f").to_owned()]);
}

#[test]
fn missing_source_is_named() {
    let work = tempfile::tempdir().unwrap();
    let e = materialize(
        &RootSource::Dir(work.path().join("nope")),
        work.path(),
        &work.path().join("root"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "copying {}: \"/\": reading the source failed: No such file or directory (os error 2)",
            work.path().join("nope").display()
        )
    );
    assert!(!work.path().join("root").exists());
}

/// Unmounts on drop, so a failing test does not leave a mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn other_filesystems_are_not_entered() {
    let Some((w, src)) = root_work() else { return };
    fs::create_dir_all(src.join("proc")).unwrap();
    fs::write(src.join("keep"), b"k").unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(src.join("proc"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _guard = Mount(src.join("proc"));
    fs::write(src.join("proc/inside-mount"), b"x").unwrap();
    let dest = w.path().join("root");
    let report = materialize(&RootSource::Dir(src.clone()), w.path(), &dest).unwrap();
    assert!(dest.join("proc").is_dir());
    assert!(!dest.join("proc/inside-mount").exists());
    assert_eq!(fs::read(dest.join("keep")).unwrap(), b"k");
    assert!(
        report.other_filesystems.is_empty(),
        "the copy itself is one filesystem"
    );
    let scanned = netroot::rootfs::scan(&src).unwrap();
    assert_eq!(scanned.other_filesystems, vec![PathBuf::from("/proc")]);
}
