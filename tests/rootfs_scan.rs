//! `scan` on hand-made trees and `check_allowed` on its report.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use netroot::rootfs::{check_allowed, scan, AllowList, Category, RootReport, RootfsError};

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn paths(v: &[&str]) -> Vec<PathBuf> {
    v.iter().map(PathBuf::from).collect()
}

/// A tree with one of each reviewable thing (no devices or capabilities: those need root).
fn tree(root: &Path) {
    for d in ["bin", "tmp", "shared", "var/mail", "odd"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["bin/su", "bin/wall", "bin/both", "shared/open", "plain"] {
        fs::write(root.join(f), f.as_bytes()).unwrap();
    }
    fs::write(root.join("bin/big"), vec![1u8; 10_000]).unwrap();
    fs::hard_link(root.join("bin/big"), root.join("bin/big-again")).unwrap();
    symlink("/anywhere", root.join("link")).unwrap();
    chmod(&root.join("bin/su"), 0o4755);
    chmod(&root.join("bin/wall"), 0o2755);
    chmod(&root.join("bin/both"), 0o6755);
    chmod(&root.join("tmp"), 0o1777);
    chmod(&root.join("shared"), 0o777);
    chmod(&root.join("shared/open"), 0o666);
    // A setgid directory (like /var/mail) and a setuid directory are not "files" to review.
    chmod(&root.join("var/mail"), 0o2775);
    chmod(&root.join("odd"), 0o4755);
    chmod(root, 0o755);
}

#[test]
fn scan_finds_every_category() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let r = scan(dir.path()).unwrap();
    assert_eq!(r.setuid, paths(&["/bin/both", "/bin/su"]));
    assert_eq!(r.setgid, paths(&["/bin/both", "/bin/wall"]));
    assert_eq!(r.world_writable, paths(&["/shared", "/shared/open"]));
    assert_eq!(r.sticky_dirs, paths(&["/tmp"]));
    assert!(r.capabilities.is_empty() && r.devices.is_empty());
    assert_eq!((r.files, r.dirs, r.symlinks, r.specials), (7, 7, 1, 0));
    // Hardlinked data counted once.
    assert_eq!(r.bytes, 6 + 8 + 8 + 11 + 5 + 10_000);
}

#[test]
fn report_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let r = scan(dir.path()).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains("\"sticky_dirs\":[\"/tmp\"]"), "{text}");
    let back: RootReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn allow_list_reports_every_offender() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let r = scan(dir.path()).unwrap();
    let allow = AllowList {
        setuid: vec!["/bin/su".into()],
        setgid: vec!["/bin/*".into()],
        sticky_dirs: vec!["/tmp".into()],
        world_writable: vec!["/shared".into()],
        ..AllowList::default()
    };
    let e = check_allowed(&r, &allow).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2 path(s) not allowed: setuid /bin/both, world-writable /shared/open"
    );
    let RootfsError::NotAllowed { offenders } = e else {
        panic!("wrong error")
    };
    assert_eq!(offenders[0].category, Category::Setuid);
    assert_eq!(offenders[1].path, PathBuf::from("/shared/open"));

    let allow = AllowList {
        setuid: vec!["/bin/*".into()],
        world_writable: vec!["/shared/**".into(), "/shared".into()],
        ..allow
    };
    check_allowed(&r, &allow).unwrap();
}

#[test]
fn missing_root_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = scan(&dir.path().join("nope")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "scanning {}: No such file or directory (os error 2)",
            dir.path().join("nope").display()
        )
    );
}
