//! `netroot build` as make: no-op rebuilds, touch without change, partial rebuilds, atomic outputs.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::time::Duration;

use common::*;

fn segment_cached(report: &serde_json::Value, name: &str) -> bool {
    report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["cached"]
        .as_bool()
        .unwrap()
}

#[test]
fn second_build_is_up_to_date_touch_does_not_rebuild_and_changes_rebuild_only_dependents() {
    let Some((kernel, proj, out, first)) = built("compute") else {
        return;
    };
    assert_eq!(first["up_to_date"], false);
    assert!(!segment_cached(&first, "modules") && !segment_cached(&first, "init"));

    // Nothing changed: up to date, in text mode too.
    let o = build(proj.path(), "compute", &[], &out, &kernel);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("compute: up to date ("),
        "{}",
        stdout(&o)
    );

    // Touching a profile and a kernel module without changing content: still up to date.
    std::thread::sleep(Duration::from_millis(20));
    let prof = proj.path().join("profiles/compute.toml");
    fs::write(&prof, fs::read(&prof).unwrap()).unwrap();
    let module = kernel
        .join("lib/modules/6.1.0-56-amd64/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko");
    fs::File::options()
        .write(true)
        .open(&module)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let again = build_json(proj.path(), "compute", &kernel, &out);
    assert_eq!(again["up_to_date"], true, "{again}");

    // A boot-config change (bond mode) rebuilds only the small init segment.
    edit_profile(
        proj.path(),
        "compute",
        "mode = \"802.3ad\"",
        "mode = \"balance-alb\"",
    );
    let r = build_json(proj.path(), "compute", &kernel, &out);
    assert_eq!(r["up_to_date"], false);
    assert!(segment_cached(&r, "modules"), "{r}");
    assert!(!segment_cached(&r, "init"), "{r}");
    let conf = run(netroot(proj.path(), &["inspect"]).arg(out.join("compute/initramfs.img")));
    assert!(stdout(&conf).contains("etc/netroot/boot.conf"));

    // A module-list change rebuilds the modules segment.
    edit_profile(
        proj.path(),
        "compute",
        "\"virtio_pci\"]",
        "\"virtio_pci\", \"e1000\"]",
    );
    let r = build_json(proj.path(), "compute", &kernel, &out);
    assert!(!segment_cached(&r, "modules"), "{r}");
    assert_eq!(r["modules"], first["modules"].as_u64().unwrap() + 1);

    // Reverting gives the first image again, from the cache.
    edit_profile(
        proj.path(),
        "compute",
        "\"virtio_pci\", \"e1000\"]",
        "\"virtio_pci\"]",
    );
    edit_profile(
        proj.path(),
        "compute",
        "mode = \"balance-alb\"",
        "mode = \"802.3ad\"",
    );
    let r = build_json(proj.path(), "compute", &kernel, &out);
    assert!(
        segment_cached(&r, "modules") && segment_cached(&r, "init"),
        "{r}"
    );
    assert_eq!(r["initramfs_sha256"], first["initramfs_sha256"]);
}

#[test]
fn damaged_output_is_rebuilt() {
    let Some((kernel, proj, out, first)) = built("qemu-base") else {
        return;
    };
    fs::write(out.join("qemu-base/initramfs.img"), b"garbage").unwrap();
    let r = build_json(proj.path(), "qemu-base", &kernel, &out);
    assert_eq!(r["up_to_date"], false);
    assert_eq!(r["reason"], "output missing or modified: initramfs.img");
    assert_eq!(r["initramfs_sha256"], first["initramfs_sha256"]);
}

#[test]
fn failed_build_keeps_previous_artifacts_and_state() {
    let Some((kernel, proj, out, _)) = built("qemu-base") else {
        return;
    };
    let before = fs::read(out.join("qemu-base/initramfs.img")).unwrap();
    edit_profile(
        proj.path(),
        "qemu-base",
        "\"virtio_pci\"]",
        "\"virtio_pci\", \"nfsv5\"]",
    );
    let o = build(proj.path(), "qemu-base", &[], &out, &kernel);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("build of profile \"qemu-base\" failed: unknown module \"nfsv5\" (closest: nfsv2, nfsv3, nfsv4)"), "{err}");
    assert_eq!(
        fs::read(out.join("qemu-base/initramfs.img")).unwrap(),
        before
    );
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        leftovers.iter().all(|n| !n.contains("staging")),
        "{leftovers:?}"
    );
    // Fixing the profile again: the old state still describes the old outputs, so no rebuild.
    edit_profile(
        proj.path(),
        "qemu-base",
        "\"virtio_pci\", \"nfsv5\"]",
        "\"virtio_pci\"]",
    );
    assert_eq!(
        build_json(proj.path(), "qemu-base", &kernel, &out)["up_to_date"],
        true
    );
}

#[test]
fn kernel_package_is_extracted_once_and_gives_the_same_image_as_the_directory() {
    let (Some(kernel), Some(deb)) = (kernel_dir(), kernel_deb()) else {
        return;
    };
    let proj = project();
    let from_dir = build_json(proj.path(), "qemu-base", &kernel, &proj.path().join("a"));
    let out = proj.path().join("b");
    let cold = build_json(proj.path(), "qemu-base", &deb, &out);
    assert_eq!(cold["initramfs_sha256"], from_dir["initramfs_sha256"]);
    assert_eq!(cold["stages"][0]["name"], "kernel");
    assert_eq!(cold["stages"][0]["cached"], false);
    // Another profile with the same package reuses the extracted tree.
    let other = build_json(proj.path(), "compute", &deb, &out);
    assert_eq!(other["stages"][0]["cached"], true, "{other}");
    assert!(fs::read_dir(out.join(".cache/kernels")).unwrap().count() == 1);
}

/// Modes of everything under `dir` (itself included), as (path, mode, is_dir).
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(dir).unwrap();
    let mut out = vec![(dir.to_path_buf(), meta.permissions().mode() & 0o7777, true)];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p, m.permissions().mode() & 0o7777, false));
        }
    }
    out
}

#[test]
fn outputs_are_world_readable_whatever_the_umask() {
    let Some(kernel) = kernel_dir() else { return };
    let proj = project();
    for umask in ["022", "077"] {
        let out = proj.path().join(format!("out-{umask}"));
        // The umask is set in a shell that then execs netroot: setting it in this process would
        // change it for every other test thread too.
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_netroot"))
            .arg("-C")
            .arg(proj.path())
            .args(["build", "qemu-base", "--out"])
            .arg(&out)
            .arg("--kernel")
            .arg(&kernel)
            .env_remove("NETROOT_CACHE")
            .env_remove("SOURCE_DATE_EPOCH");
        let o = run(&mut c);
        assert!(o.status.success(), "umask {umask}: {}", stderr(&o));
        let found = modes(&out.join("qemu-base"));
        let names: Vec<String> = found
            .iter()
            .map(|(p, _, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in ["vmlinuz", "initramfs.img", "manifest.json", "SHA256SUMS"] {
            assert!(names.iter().any(|n| n == want), "umask {umask}: {names:?}");
        }
        for (p, mode, is_dir) in &found {
            let want = if *is_dir { 0o755 } else { 0o644 };
            assert_eq!(*mode, want, "umask {umask}: {} is {mode:o}", p.display());
        }
    }
}
