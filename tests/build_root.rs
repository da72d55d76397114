//! The root tree in `netroot build`: materialized into the cache with root overlays applied,
//! checked against the allow-list, linked as OUT/PROFILE/rootfs, and rebuilt only when it changes.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

fn write_root(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("usr/bin")).unwrap();
    fs::write(dir.join("etc/os-release"), "ID=test\n").unwrap();
    fs::write(dir.join("usr/bin/su"), "binary").unwrap();
    fs::set_permissions(dir.join("usr/bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("/run", dir.join("etc/run-link")).unwrap();
}

fn profile(p: &Path, allow_su: bool) {
    let allow = if allow_su {
        "[root.allow]\nsetuid = [\"/usr/bin/su\"]\n"
    } else {
        ""
    };
    fs::write(
        p.join("profiles/withroot.toml"),
        format!("inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n{allow}[overlays]\nroot = [\"site\"]\n[vars]\nrack = \"r7\"\n"),
    )
    .unwrap();
}

#[test]
fn root_tree_is_built_checked_linked_and_cached() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    write_root(&p.path().join("tree"));
    fs::create_dir_all(p.path().join("overlays/site/etc")).unwrap();
    fs::write(p.path().join("overlays/site/etc/rack.j2"), "{{ rack }}\n").unwrap();
    let out = p.path().join("out");

    // The setuid file is not allowed: the build fails naming it, and nothing is published.
    profile(p.path(), false);
    let o = build(p.path(), "withroot", &[], &out, &kernel);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/usr/bin/su"), "{}", stderr(&o));
    assert!(!out.join("withroot").exists());

    profile(p.path(), true);
    let r = build_json(p.path(), "withroot", &kernel, &out);
    let stage = |r: &serde_json::Value, n: &str| {
        r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()["cached"]
            .clone()
    };
    assert_eq!(stage(&r, "root"), false);
    let rootfs = out.join("withroot/rootfs");
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
        "ID=test\n"
    );
    assert_eq!(fs::read_to_string(rootfs.join("etc/rack")).unwrap(), "r7\n");
    assert_eq!(
        fs::symlink_metadata(rootfs.join("usr/bin/su"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::read_link(rootfs.join("etc/run-link")).unwrap(),
        Path::new("/run")
    );
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("withroot/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["root"]["report"]["setuid"],
        serde_json::json!(["/usr/bin/su"])
    );

    // Nothing changed: up to date. A changed source file rebuilds the root, not the initramfs.
    assert_eq!(
        build_json(p.path(), "withroot", &kernel, &out)["up_to_date"],
        true
    );
    fs::write(p.path().join("tree/etc/os-release"), "ID=changed\n").unwrap();
    let r = build_json(p.path(), "withroot", &kernel, &out);
    assert_eq!(r["up_to_date"], false);
    assert_eq!(stage(&r, "root"), false);
    assert!(
        r["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["cached"] == true),
        "{r}"
    );
    assert_eq!(
        fs::read_to_string(out.join("withroot/rootfs/etc/os-release")).unwrap(),
        "ID=changed\n"
    );
    // A metadata-only change (mode) counts too.
    fs::set_permissions(
        p.path().join("tree/etc/os-release"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let r = build_json(p.path(), "withroot", &kernel, &out);
    assert_eq!(r["up_to_date"], false, "{r}");
    // Reverting both gives the first tree back from the cache.
    fs::write(p.path().join("tree/etc/os-release"), "ID=test\n").unwrap();
    fs::set_permissions(
        p.path().join("tree/etc/os-release"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = build_json(p.path(), "withroot", &kernel, &out);
    assert_eq!(stage(&r, "root"), true, "{r}");
}

/// Issue 14: root variants of one source share its files. A changed overlay file builds a new
/// variant whose unchanged files are links to the same inodes as the first variant's (through
/// the cached base), whose overlay file is its own, and the first variant is left as it was.
#[test]
fn root_variants_share_the_unchanged_files_of_their_source() {
    use std::os::unix::fs::MetadataExt;
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    write_root(&p.path().join("tree"));
    let big = vec![7u8; 1 << 20];
    fs::write(p.path().join("tree/usr/bin/big"), &big).unwrap();
    fs::create_dir_all(p.path().join("overlays/site/etc")).unwrap();
    fs::write(p.path().join("overlays/site/etc/motd"), "one\n").unwrap();
    fs::write(p.path().join("overlays/site/etc/rack.j2"), "{{ rack }}\n").unwrap();
    profile(p.path(), true);
    let out = p.path().join("out");
    build_json(p.path(), "withroot", &kernel, &out);
    let first = fs::canonicalize(out.join("withroot/rootfs")).unwrap();

    fs::write(p.path().join("overlays/site/etc/motd"), "two\n").unwrap();
    let r = build_json(p.path(), "withroot", &kernel, &out);
    assert_eq!(r["up_to_date"], false, "{r}");
    let second = fs::canonicalize(out.join("withroot/rootfs")).unwrap();
    assert_ne!(first, second, "a new variant");

    let ino = |root: &Path, rel: &str| {
        let m = fs::symlink_metadata(root.join(rel)).unwrap();
        (m.dev(), m.ino())
    };
    let base = first.parent().unwrap().read_dir().unwrap().find_map(|e| {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("base-").then(|| e.path())
    });
    let base = base.expect("a base tree in the cache");
    for rel in ["usr/bin/big", "usr/bin/su", "etc/os-release"] {
        assert_eq!(ino(&first, rel), ino(&second, rel), "{rel} shared");
        assert_eq!(ino(&base, rel), ino(&second, rel), "{rel} is the base's");
    }
    assert_eq!(
        fs::symlink_metadata(second.join("usr/bin/big"))
            .unwrap()
            .nlink(),
        3
    );
    // Each variant's overlay file is its own; the first variant kept its content.
    assert_ne!(ino(&first, "etc/motd"), ino(&second, "etc/motd"));
    assert_eq!(fs::read_to_string(first.join("etc/motd")).unwrap(), "one\n");
    assert_eq!(
        fs::read_to_string(second.join("etc/motd")).unwrap(),
        "two\n"
    );
    assert!(
        !base.join("etc/motd").exists(),
        "overlays never reach the base"
    );
    // Directories are the variant's own (an overlay's directory mtime must not leak).
    assert_ne!(ino(&first, "etc"), ino(&second, "etc"));
    // Metadata survives the link: the setuid bit is the inode's.
    assert_eq!(
        fs::symlink_metadata(second.join("usr/bin/su"))
            .unwrap()
            .mode()
            & 0o7777,
        0o4755
    );
}
