//! The inode writer's tests: every node kind, the step order, links never followed.
use super::*;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, CWD};
use rustix::io::Errno;
use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const T1: Time = Time {
    sec: 1_234_567_890,
    nsec: 123_456_789,
};
const T0: Time = Time {
    sec: 1_000,
    nsec: 7,
};

/// Every before/after the writer showed, in order.
#[derive(Default)]
struct Log(RefCell<Vec<String>>);

impl Observer for Log {
    fn before(&self, op: Op) {
        self.0.borrow_mut().push(format!("before {op}"));
    }
    fn after(&self, change: &Change<'_>) {
        self.0.borrow_mut().push(format!("{change:?}"));
    }
}

impl Log {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn own(mode: u32) -> Meta {
    Meta {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        mode,
        mtime: Some(T1),
        xattrs: Vec::new(),
    }
}

fn xattr(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
}

/// A scratch directory and an open fd of it.
fn scratch() -> (tempfile::TempDir, File) {
    let d = tempfile::tempdir().unwrap();
    let fd = File::open(d.path()).unwrap();
    (d, fd)
}

fn lstat(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap()
}

fn mtime(md: &fs::Metadata) -> Time {
    Time {
        sec: md.mtime(),
        nsec: u32::try_from(md.mtime_nsec()).unwrap(),
    }
}

fn set_mtime(p: &Path, t: Time) {
    rfs::utimensat(CWD, p, &t.timestamps(), AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn a_file_gets_exactly_its_bytes_its_xattrs_and_its_mtime() {
    let (d, dir) = scratch();
    let w = Writer::new(Chown::Always);
    let mut meta = own(0o640);
    meta.xattrs = vec![xattr("user.b", "2"), xattr("user.a", "")];
    let mut data: &[u8] = b"hello world";
    let mut buf = [0u8; 3];
    w.create_file(dir.as_fd(), name("f"), &mut data, 5, &meta, &mut buf)
        .unwrap();
    let p = d.path().join("f");
    assert_eq!(fs::read(&p).unwrap(), b"hello");
    let md = lstat(&p);
    assert_eq!(md.mode() & MODE_BITS, 0o640);
    assert_eq!(mtime(&md), T1);
    let got = read_xattrs(&p).unwrap();
    assert_eq!(got.get("user.a").map(Vec::as_slice), Some(&b""[..]));
    assert_eq!(got.get("user.b").map(Vec::as_slice), Some(&b"2"[..]));

    let mut short: &[u8] = b"12345";
    let err = w
        .create_file(dir.as_fd(), name("g"), &mut short, 10, &meta, &mut buf)
        .unwrap_err();
    assert!(
        matches!(
            err,
            InodeError::Truncated {
                expected: 10,
                got: 5
            }
        ),
        "{err}"
    );
    // A name that is taken is never written through.
    let mut more: &[u8] = b"x";
    let err = w
        .create_file(dir.as_fd(), name("f"), &mut more, 1, &meta, &mut buf)
        .unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EXIST), "{err}");
    assert_eq!(fs::read(&p).unwrap(), b"hello");
}

#[test]
fn chown_comes_first_so_setuid_and_capabilities_survive_it() {
    let (d, dir) = scratch();
    let log = Log::default();
    let w = Writer::observed(Chown::Always, &log);
    let mut meta = own(0o4755);
    if is_root() {
        (meta.uid, meta.gid) = (1000, 1000);
        // VFS_CAP_REVISION_2 | effective, cap_net_raw permitted.
        let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
        cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
        cap.extend_from_slice(&[0; 12]);
        meta.xattrs.push((b"security.capability".to_vec(), cap));
    }
    meta.xattrs.push(xattr("user.z", "1"));
    let mut data: &[u8] = b"#!/bin/sh\n";
    w.create_file(dir.as_fd(), name("su"), &mut data, 10, &meta, &mut [0; 64])
        .unwrap();
    let p = d.path().join("su");
    let md = lstat(&p);
    assert_eq!(md.mode() & MODE_BITS, 0o4755);
    assert_eq!((md.uid(), md.gid()), (meta.uid, meta.gid));
    let got = read_xattrs(&p).unwrap();
    for (k, v) in &meta.xattrs {
        assert_eq!(got.get(std::str::from_utf8(k).unwrap()), Some(v));
    }
    let mut want = vec![
        "before create".to_string(),
        "NewFile".into(),
        "before chown".into(),
        format!("Owner({}, {})", meta.uid, meta.gid),
        "before chmod".into(),
        format!("Mode({})", 0o4755),
    ];
    for (k, _) in &meta.xattrs {
        want.push("before setxattr".into());
        want.push(format!("{:?}", Change::Xattr(k)));
    }
    want.push("before setting the mtime".into());
    want.push(format!("{:?}", Change::Times(T1)));
    assert_eq!(log.take(), want);

    // The same order on an existing node named by its directory.
    w.apply_at(dir.as_fd(), name("su"), &meta).unwrap();
    assert_eq!(log.take(), want.get(2..).unwrap());
    assert_eq!(lstat(&p).mode() & MODE_BITS, 0o4755);
}

#[test]
fn a_symlink_is_never_followed() {
    let (d, dir) = scratch();
    let f = d.path().join("f");
    fs::write(&f, b"x").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    set_mtime(&f, T0);
    let l = d.path().join("l");
    std::os::unix::fs::symlink("f", &l).unwrap();
    let log = Log::default();
    let w = Writer::observed(Chown::Always, &log);
    let mut meta = own(0o777);
    if is_root() {
        (meta.uid, meta.gid) = (4242, 4343);
    }
    let owner = (lstat(&f).uid(), lstat(&f).gid());
    w.apply_at(dir.as_fd(), name("l"), &meta).unwrap();
    let ops = log.take();
    assert!(!ops.iter().any(|o| o.starts_with("Mode")), "{ops:?}");
    // The file is untouched, the link has its owner and mtime.
    let fmd = lstat(&f);
    assert_eq!(fmd.mode() & MODE_BITS, 0o600);
    assert_eq!(mtime(&fmd), T0);
    assert_eq!((fmd.uid(), fmd.gid()), owner);
    let lmd = lstat(&l);
    assert!(lmd.file_type().is_symlink());
    assert_eq!(mtime(&lmd), T1);
    assert_eq!((lmd.uid(), lmd.gid()), (meta.uid, meta.gid));

    // The same through a whole path from the working directory.
    meta.mtime = Some(Time { sec: 5, nsec: 6 });
    w.apply_at(CWD, l.as_os_str(), &meta).unwrap();
    assert_eq!(mtime(&lstat(&l)), Time { sec: 5, nsec: 6 });
    assert_eq!(mtime(&lstat(&f)), T0);
    assert_eq!(lstat(&f).mode() & MODE_BITS, 0o600);
}

#[test]
fn each_kind_of_node_is_created_with_its_meta() {
    let (d, dir) = scratch();
    let w = Writer::new(Chown::Always);
    let mut dmeta = own(0o2750);
    dmeta.xattrs.push(xattr("user.d", "dir"));
    w.create(dir.as_fd(), name("d"), Node::Dir, &dmeta).unwrap();
    w.create(dir.as_fd(), name("l"), Node::Symlink(b"/no/such"), &own(0))
        .unwrap();
    w.create(dir.as_fd(), name("p"), Node::Fifo, &own(0o640))
        .unwrap();
    w.create(dir.as_fd(), name("s"), Node::Socket, &own(0o604))
        .unwrap();
    let mut want = vec![
        ("d", FileType::Directory, 0o2750),
        ("p", FileType::Fifo, 0o640),
        ("s", FileType::Socket, 0o604),
    ];
    if is_root() {
        w.create(
            dir.as_fd(),
            name("c"),
            Node::Char(rfs::makedev(1, 3)),
            &own(0o666),
        )
        .unwrap();
        w.create(
            dir.as_fd(),
            name("b"),
            Node::Block(rfs::makedev(7, 0)),
            &own(0o660),
        )
        .unwrap();
        want.push(("c", FileType::CharacterDevice, 0o666));
        want.push(("b", FileType::BlockDevice, 0o660));
        assert_eq!(lstat(&d.path().join("c")).rdev(), rfs::makedev(1, 3));
        assert_eq!(lstat(&d.path().join("b")).rdev(), rfs::makedev(7, 0));
    }
    for (n, t, mode) in want {
        let md = lstat(&d.path().join(n));
        assert_eq!(FileType::from_raw_mode(md.mode()), t, "{n}");
        assert_eq!(md.mode() & MODE_BITS, mode, "{n}");
        assert_eq!(mtime(&md), T1, "{n}");
    }
    let got = read_xattrs(&d.path().join("d")).unwrap();
    assert_eq!(got.get("user.d").map(Vec::as_slice), Some(&b"dir"[..]));
    let l = d.path().join("l");
    assert_eq!(fs::read_link(&l).unwrap(), Path::new("/no/such"));
    assert_eq!(mtime(&lstat(&l)), T1);

    for (target, reason) in [(&b""[..], "empty"), (&b"a\0b"[..], "contains a nul byte")] {
        let err = w
            .create(dir.as_fd(), name("bad"), Node::Symlink(target), &own(0))
            .unwrap_err();
        assert!(
            matches!(&err, InodeError::SymlinkTarget { reason: r, .. } if *r == reason),
            "{err}"
        );
    }
    assert!(fs::symlink_metadata(d.path().join("bad")).is_err());
}

#[test]
fn an_existing_special_node_is_changed_without_opening_it() {
    let (d, dir) = scratch();
    let p = d.path().join("p");
    rfs::mknodat(CWD, &p, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    // Opening a fifo for real would block here: no reader.
    Writer::new(Chown::Always)
        .apply_at(dir.as_fd(), name("p"), &own(0o604))
        .unwrap();
    let md = lstat(&p);
    assert_eq!(md.mode() & MODE_BITS, 0o604);
    assert_eq!(mtime(&md), T1);
    // A node of another type than the one just created is refused, untouched.
    let err = Writer::new(Chown::Always)
        .apply(
            dir.as_fd(),
            name("p"),
            &own(0o600),
            Some(FileType::Directory),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "the new directory was replaced by a fifo");
    assert_eq!(lstat(&p).mode() & MODE_BITS, 0o604);
}

#[test]
fn the_chown_rule_and_a_missing_mtime_skip_their_steps() {
    let (d, dir) = scratch();
    let p = d.path().join("f");
    fs::write(&p, b"").unwrap();
    set_mtime(&p, T0);
    let f = File::open(&p).unwrap();
    let log = Log::default();
    let mut meta = own(0o644);
    meta.mtime = None;
    Writer::observed(Chown::UnlessEffective, &log)
        .apply_fd(f.as_fd(), &meta)
        .unwrap();
    assert_eq!(log.take(), ["before chmod", "Mode(420)"]);
    assert_eq!(mtime(&lstat(&p)), T0);
    Writer::observed(Chown::Always, &log)
        .apply_fd(f.as_fd(), &meta)
        .unwrap();
    assert_eq!(log.take().len(), 4);
    let other = Meta {
        uid: 4242,
        ..meta.clone()
    };
    Writer::observed(Chown::Never, &log)
        .apply_fd(f.as_fd(), &other)
        .unwrap();
    assert_eq!(log.take(), ["before chmod", "Mode(420)"]);
    assert_ne!(lstat(&p).uid(), 4242);
    // chown's "leave it" is refused before any step.
    let bad = Meta {
        uid: u32::MAX,
        ..meta
    };
    let w = Writer::observed(Chown::Always, &log);
    let err = w.apply_fd(f.as_fd(), &bad).unwrap_err();
    assert!(matches!(err, InodeError::Owner { .. }), "{err}");
    let err = w
        .create(dir.as_fd(), name("d"), Node::Dir, &bad)
        .unwrap_err();
    assert!(matches!(err, InodeError::Owner { .. }), "{err}");
    assert!(log.take().is_empty());
    assert!(fs::symlink_metadata(d.path().join("d")).is_err());
}
