//! Applying overlay plans to a directory tree (never following symlinks out of it) and adding
//! them to an initramfs.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{set_mode, write_mode as write};
use netroot::image::{EntryKind, ImageBuilder};
use netroot::overlay::{self, OverlaySpec, Ownership, Plan, Vars};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// An overlay `base` with a file, a template, a symlink and a read-only directory.
fn sample(t: &Path, overrides: &BTreeMap<String, Ownership>) -> Plan {
    write(t, "ov/base/etc/motd", "hello\n", 0o644);
    write(t, "ov/base/etc/hostname.j2", "{{ name }}\n", 0o600);
    write(t, "ov/base/opt/ro/data", "d", 0o444);
    fs::set_permissions(t.join("ov/base/opt/ro"), fs::Permissions::from_mode(0o555)).unwrap();
    symlink("motd", t.join("ov/base/etc/issue")).unwrap();
    let spec = OverlaySpec {
        name: "base".into(),
        dir: t.join("ov/base"),
        owner: None,
    };
    let vars: Vars = [("name".to_string(), toml::Value::from("c001"))].into();
    let plan = overlay::plan(&[spec], overrides, &vars, &[]).unwrap();
    // Leave the source tree writable so the temp dir can be removed.
    fs::set_permissions(t.join("ov/base/opt/ro"), fs::Permissions::from_mode(0o755)).unwrap();
    plan
}

/// [`sample`] without overrides in a fresh temporary directory, and `dest` there (not created).
fn plain_sample() -> (tempfile::TempDir, Plan, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let plan = sample(t.path(), &BTreeMap::new());
    let dest = t.path().join("dest");
    (t, plan, dest)
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn writes_files_templates_symlinks_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let mut ov = BTreeMap::new();
    ov.insert(
        "etc/motd".to_string(),
        Ownership {
            mode: Some(0o640),
            uid: Some(1234),
            gid: Some(5678),
        },
    );
    let plan = sample(t.path(), &ov);
    let dest = t.path().join("dest");
    fs::create_dir(&dest).unwrap();
    overlay::apply(&plan, &dest).unwrap();
    assert_eq!(
        fs::read_to_string(dest.join("etc/motd")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("etc/hostname")).unwrap(),
        "c001\n"
    );
    assert!(!dest.join("etc/hostname.j2").exists());
    assert_eq!(
        fs::read_link(dest.join("etc/issue")).unwrap(),
        Path::new("motd")
    );
    assert_eq!(mode(&dest.join("etc/motd")), 0o640);
    assert_eq!(mode(&dest.join("etc/hostname")), 0o600);
    assert_eq!(mode(&dest.join("opt/ro")), 0o555);
    assert_eq!(fs::read_to_string(dest.join("opt/ro/data")).unwrap(), "d");
    let meta = fs::metadata(dest.join("etc/motd")).unwrap();
    if is_root() {
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    } else {
        println!("skipped owner check: not running as root");
    }
    // No temporary file is left behind.
    assert!(!dest.join("etc/.netroot-overlay.tmp").exists());
    // Applying again over the result is fine and gives the same tree.
    set_mode(&dest.join("opt/ro"), 0o755);
    overlay::apply(&plan, &dest).unwrap();
    assert_eq!(mode(&dest.join("opt/ro")), 0o555);
    set_mode(&dest.join("opt/ro"), 0o755);
}

#[test]
fn replaces_existing_files_and_symlinks_without_following_them() {
    let (t, plan, dest) = plain_sample();
    let outside = t.path().join("outside");
    fs::create_dir_all(dest.join("etc")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), "keep").unwrap();
    // etc/motd is a symlink out of the tree: it must be replaced, not written through.
    symlink(outside.join("victim"), dest.join("etc/motd")).unwrap();
    fs::write(dest.join("etc/issue"), "old file where a symlink goes").unwrap();
    overlay::apply(&plan, &dest).unwrap();
    assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "keep");
    assert!(fs::symlink_metadata(dest.join("etc/motd"))
        .unwrap()
        .is_file());
    assert_eq!(
        fs::read_to_string(dest.join("etc/motd")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_link(dest.join("etc/issue")).unwrap(),
        Path::new("motd")
    );
    set_mode(&dest.join("opt/ro"), 0o755);
}

#[test]
fn a_symlinked_directory_in_the_destination_is_refused() {
    let (t, plan, dest) = plain_sample();
    let outside = t.path().join("outside");
    fs::create_dir_all(&dest).unwrap();
    fs::create_dir_all(&outside).unwrap();
    symlink(&outside, dest.join("etc")).unwrap();
    let err = overlay::apply(&plan, &dest).unwrap_err().to_string();
    assert_eq!(
        err,
        "etc: etc in the destination is a symlink; refusing to follow it"
    );
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_directory_where_a_file_goes_is_an_error() {
    let (_t, plan, dest) = plain_sample();
    fs::create_dir_all(dest.join("etc/motd")).unwrap();
    let err = overlay::apply(&plan, &dest).unwrap_err().to_string();
    assert_eq!(
        err,
        "etc/motd: motd exists in the destination as a directory, not a file"
    );
    assert!(!dest.join("etc/.netroot-overlay.tmp").exists());
    fs::write(dest.join("opt"), "file where a directory goes").unwrap();
    fs::remove_dir(dest.join("etc/motd")).unwrap();
    let err = overlay::apply(&plan, &dest).unwrap_err().to_string();
    assert_eq!(
        err,
        "opt: opt exists in the destination as a file, not a directory"
    );
}

#[test]
fn a_missing_destination_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let plan = sample(t.path(), &BTreeMap::new());
    let dest = t.path().join("nope");
    let err = overlay::apply(&plan, &dest).unwrap_err().to_string();
    assert_eq!(err, format!("cannot open destination {}", dest.display()));
}

#[test]
fn adds_to_an_initramfs_and_refuses_owners_it_cannot_store() {
    let t = tempfile::tempdir().unwrap();
    let mut root_owned = BTreeMap::new();
    for p in [
        "etc",
        "etc/motd",
        "etc/hostname",
        "etc/issue",
        "opt",
        "opt/ro",
        "opt/ro/data",
    ] {
        root_owned.insert(
            p.to_string(),
            Ownership {
                mode: None,
                uid: Some(0),
                gid: Some(0),
            },
        );
    }
    let plan = sample(t.path(), &root_owned);
    let mut img = ImageBuilder::new();
    plan.add_to_image(&mut img).unwrap();
    let entries: Vec<(String, EntryKind, u32)> =
        img.entries().map(|e| (e.path, e.kind, e.mode)).collect();
    assert!(entries.contains(&("etc/hostname".into(), EntryKind::File, 0o600)));
    assert!(entries.contains(&("etc/issue".into(), EntryKind::Symlink, 0o777)));
    assert!(entries.contains(&("opt/ro".into(), EntryKind::Directory, 0o555)));

    let t = tempfile::tempdir().unwrap();
    let mut ov = root_owned.clone();
    ov.insert(
        "etc/motd".to_string(),
        Ownership {
            mode: None,
            uid: Some(1000),
            gid: Some(0),
        },
    );
    let plan = sample(t.path(), &ov);
    let err = plan
        .add_to_image(&mut ImageBuilder::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "etc/motd: owner 1000:0 cannot be stored in an initramfs (its entries are all owned by root)"
    );
}
