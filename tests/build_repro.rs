//! Reproducibility: two builds from clean copies of the project in different directories, with a
//! different umask, TZ, locale and cache, give byte-identical initramfs.img and manifest.json.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn build_in(project: &Path, kernel: &Path, umask: &str, tz: &str, lang: &str) {
    // umask applies to the process through a shell; everything else through the environment.
    let script = format!("umask {umask} && exec \"$0\" \"$@\"");
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_netroot"));
    c.arg("-C")
        .arg(project)
        .args(["build", "compute", "--out"])
        .arg(project.join("out"))
        .arg("--kernel")
        .arg(kernel);
    c.env("TZ", tz)
        .env("LANG", lang)
        .env("LC_ALL", lang)
        .env_remove("NETROOT_CACHE")
        .env_remove("SOURCE_DATE_EPOCH");
    let o = run(&mut c);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn builds_in_different_directories_and_environments_are_byte_identical() {
    let Some(kernel) = kernel_dir() else { return };
    let (a, _b, b_proj) = two_checkouts("checkout-a", "other-checkout-b", "deeper/netroot");
    copy_profiles(a.path());
    copy_profiles(&b_proj);
    build_in(a.path(), &kernel, "022", "UTC", "C");
    build_in(&b_proj, &kernel, "077", "Pacific/Kiritimati", "C.UTF-8");
    for f in ["initramfs.img", "manifest.json", "vmlinuz", "SHA256SUMS"] {
        let x = fs::read(a.path().join("out/compute").join(f)).unwrap();
        let y = fs::read(b_proj.join("out/compute").join(f)).unwrap();
        assert!(x == y, "{f} differs between the two builds");
    }
    let manifest = fs::read_to_string(a.path().join("out/compute/manifest.json")).unwrap();
    assert!(
        !manifest.contains(&a.path().display().to_string()),
        "manifest leaks the build directory"
    );
    // SHA256SUMS verifies with the standard tool.
    let o = run(Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(a.path().join("out/compute")));
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "vmlinuz: OK\ninitramfs.img: OK\nmanifest.json: OK\n"
    );
}

#[test]
fn source_date_epoch_sets_every_mtime() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let o = run(netroot(p.path(), &["build", "qemu-base", "--out"])
        .arg(p.path().join("out"))
        .arg("--kernel")
        .arg(&kernel)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(o.status.success());
    let img = fs::read(p.path().join("out/qemu-base/initramfs.img")).unwrap();
    let parsed = netroot::image::read_image(&img).unwrap();
    let mut n = 0;
    for seg in &parsed.segments {
        for e in &seg.entries {
            assert_eq!(e.mtime, 1_700_000_000, "{}", e.path);
            assert_eq!((e.uid, e.gid), (0, 0), "{}", e.path);
            n += 1;
        }
    }
    assert!(n > 40);
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(p.path().join("out/qemu-base/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["source_date_epoch"], 1_700_000_000);
    let bad = run(netroot(p.path(), &["build", "qemu-base"]).env("SOURCE_DATE_EPOCH", "yesterday"));
    assert_eq!(bad.status.code(), Some(2));
    assert_has(
        &stderr(&bad),
        "SOURCE_DATE_EPOCH=\"yesterday\" is not a non-negative integer",
    );
}
