//! The `netroot` command line: exit codes (0 ok, 1 build error, 2 usage), profile listing and
//! display, error messages naming file:line:col, inspect on a freshly built image.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `netroot build compute --out PROJECT/out` is a build error (exit 1) whose stderr has `why`,
/// and writes no output.
#[track_caller]
fn build_fails(p: &std::path::Path, why: &str) {
    let o = run(netroot(p, &["build", "compute", "--out"]).arg(p.join("out")));
    assert_eq!(o.status.code(), Some(1));
    assert_has(&stderr(&o), why);
    assert!(!p.join("out/compute").exists());
}

#[test]
fn usage_errors_exit_2() {
    let p = project();
    let o = run(&mut netroot(
        p.path(),
        &["build", "compute", "--frobnicate"],
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unexpected argument '--frobnicate'"));
    let o = run(&mut netroot(p.path(), &["build", "nosuch"]));
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "profile \"nosuch\" not found in");
    assert_has(&stderr(&o), "(available: base, compute, qemu, qemu-base)");
    let o = run(&mut netroot(
        p.path(),
        &["build", "compute", "--kernel", "/does/not/exist"],
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--kernel /does/not/exist: no such file or directory"));
    let o = run(&mut netroot(p.path(), &["--version"]));
    assert_eq!(o.status.code(), Some(0));
    // The build facts after the version are checked in tests/package.rs.
    assert!(
        stdout(&o).starts_with(&format!("netroot {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        stdout(&o)
    );
}

#[test]
fn broken_profile_is_a_build_error_naming_the_position() {
    let p = project();
    edit_profile(
        p.path(),
        "compute",
        "mode = \"802.3ad\"",
        "mode = \"8023ad\"",
    );
    build_fails(p.path(), "profiles/compute.toml:12:8: unknown bond mode \"8023ad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)");
    // The listing shows which profiles are broken and exits 1.
    let o = run(&mut netroot(p.path(), &["profiles"]));
    assert_eq!(o.status.code(), Some(1));
    assert_has(
        &stdout(&o),
        "compute          INVALID: profiles/compute.toml:12:8: unknown bond mode",
    );
    assert_has(&stdout(&o), "qemu-base        compute adapted to QEMU");
}

#[test]
fn the_shipped_profiles_list_cleanly_with_base_abstract() {
    // The repository itself is the shipped tree (profiles and overlays).
    let o = run(&mut netroot(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["profiles"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("base             (abstract) common settings"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("INVALID"), "{}", stdout(&o));
}

#[test]
fn profiles_show_prints_the_merged_profile() {
    let p = project();
    let o = run(&mut netroot(p.path(), &["profiles", "show", "qemu-base"]));
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.starts_with("# profile qemu-base (merged from: profiles/base.toml, profiles/compute.toml, profiles/qemu-base.toml)\n"));
    // Values from every layer: base (timeouts.links), compute (lacp_rate), qemu-base (mode).
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["bond"]["mode"].as_str(), Some("active-backup"));
    assert_eq!(parsed["bond"]["lacp_rate"].as_str(), Some("fast"));
    assert_eq!(parsed["timeouts"]["links"].as_str(), Some("30s"));
    assert_eq!(parsed["timeouts"]["boot"].as_str(), Some("600s"));
    assert_eq!(
        parsed["modules"]["params"]["bonding"].as_str(),
        Some("max_bonds=0")
    );
}

#[test]
fn profiles_show_refuses_what_build_refuses_at_the_profile_key() {
    let p = project();
    edit_profile(
        p.path(),
        "compute",
        "server = \"10.0.0.1\"",
        "server = \"0.0.0.0\"",
    );
    let o = run(&mut netroot(p.path(), &["profiles", "show", "compute"]));
    assert_eq!(o.status.code(), Some(1));
    assert_has(&stderr(&o), "profiles/compute.toml:22:10: nfs.server: invalid IPv4 address \"0.0.0.0\": not a host address");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    // The build loads the profile the same way: the same message, before any output is written.
    build_fails(p.path(), "profiles/compute.toml:22:10: nfs.server:");
}

#[test]
fn inspect_lists_a_built_image_with_path_last() {
    let Some((_, p, out, _)) = built("qemu-base") else {
        return;
    };
    let o = run(netroot(p.path(), &["inspect"]).arg(out.join("qemu-base/initramfs.img")));
    assert!(o.status.success());
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let init = lines
        .iter()
        .find(|l| l.ends_with(" init"))
        .expect("init line");
    assert!(init.starts_with("-rwxr-xr-x"), "{init}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("crw-------") && l.ends_with(" dev/console")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("kernel/drivers/net/virtio_net.ko")),
        "{text}"
    );
    // Corrupting the image is detected.
    let img = out.join("qemu-base/initramfs.img");
    let mut data = fs::read(&img).unwrap();
    let len = data.len();
    data.truncate(len - 100);
    fs::write(&img, &data).unwrap();
    let o = run(netroot(p.path(), &["inspect"]).arg(&img));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("segment 2"), "{}", stderr(&o));
}

#[test]
fn inspect_diff_shows_module_changes_between_builds() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    build_json(p.path(), "qemu-base", &kernel, &p.path().join("a"));
    edit_profile(
        p.path(),
        "qemu-base",
        "\"virtio_pci\"]",
        "\"virtio_pci\", \"e1000\"]",
    );
    edit_profile(
        p.path(),
        "qemu-base",
        "mode = \"active-backup\"",
        "mode = \"balance-alb\"",
    );
    build_json(p.path(), "qemu-base", &kernel, &p.path().join("b"));
    let (a, b) = (
        p.path().join("a/qemu-base/initramfs.img"),
        p.path().join("b/qemu-base/initramfs.img"),
    );
    // Different images: exit 1 (diff's convention), the boot config shown key by key.
    let o = run(netroot(p.path(), &["inspect", "--diff"]).arg(&a).arg(&b));
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("e1000.ko"), "{text}");
    assert!(text.contains("changed etc/netroot/boot.conf"), "{text}");
    let module_line = text
        .lines()
        .find(|l| l.starts_with("    netroot.module: "))
        .unwrap_or_else(|| panic!("no key-by-key boot.conf change in {text}"));
    assert!(module_line.contains("- -> e1000 "), "{module_line}");
    assert!(
        text.contains("    netroot.bond.mode: active-backup -> balance-alb\n"),
        "{text}"
    );
    assert!(
        !text.contains("    netroot.bond.name:"),
        "unchanged key shown: {text}"
    );
    // The same image: exit 0.
    let o = run(netroot(p.path(), &["inspect", "--diff"]).arg(&a).arg(&a));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn dash_c_changes_directory_like_make_so_the_default_out_is_inside_it() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let o = run(netroot(p.path(), &["build", "qemu-base", "--kernel"])
        .arg(&kernel)
        .current_dir(elsewhere.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(p.path().join("build/qemu-base/initramfs.img").is_file());
    assert!(!elsewhere.path().join("build").exists());
    // A directory that cannot be entered is a usage error naming it.
    let o = run(&mut netroot(&p.path().join("missing"), &["profiles"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot change to directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn clean_removes_only_what_builds_wrote_and_lists_it_first_with_dry_run() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let out = p.path().join("out");
    build_json(p.path(), "qemu-base", &kernel, &out);
    fs::create_dir_all(out.join("notes")).unwrap();
    fs::write(out.join("notes/keep.txt"), "mine").unwrap();
    let clean = |args: &[&str]| {
        let mut c = netroot(p.path(), &["clean", "--out"]);
        c.arg(&out).args(args);
        run(&mut c)
    };
    let o = clean(&["--all", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("would remove "), "{}", stdout(&o));
    assert!(stdout(&o).contains("qemu-base ("), "{}", stdout(&o));
    assert!(stdout(&o).contains(".cache ("), "{}", stdout(&o));
    assert!(out.join("qemu-base/initramfs.img").is_file() && out.join(".cache").is_dir());
    // The cache is shared: not per profile.
    assert_eq!(clean(&["qemu-base", "--cache"]).status.code(), Some(2));
    // Outputs only by default: the cache and what netroot did not write stay.
    let o = clean(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("qemu-base").exists());
    assert!(out.join(".cache").is_dir());
    assert_eq!(
        fs::read_to_string(out.join("notes/keep.txt")).unwrap(),
        "mine"
    );
    let o = clean(&["--cache", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        report["removed"][0]["path"],
        out.join(".cache").to_str().unwrap()
    );
    assert!(report["removed"][0]["bytes"].as_u64().unwrap() > 0);
    assert!(!out.join(".cache").exists() && out.join("notes/keep.txt").is_file());
}

#[test]
fn clean_refuses_a_tree_with_a_mount_below_it_and_removes_nothing() {
    if !root_or_skip("mounts a tmpfs inside a build cache") {
        return;
    }
    let p = project();
    let out = p.path().join("out");
    let mnt = out.join(".cache/roots/x/proc");
    fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "none"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success());
    fs::write(mnt.join("precious"), "x").unwrap();
    let o = run(netroot(p.path(), &["clean", "--cache", "--out"]).arg(&out));
    let umount = std::process::Command::new("umount")
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(umount.success());
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("roots/x/proc"), "{}", stderr(&o));
    assert!(mnt.is_dir(), "nothing removed");
}

#[test]
fn json_everywhere_and_a_failure_under_json_is_json_on_stdout() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = run(&mut netroot(repo, &["profiles", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let list: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let base = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "base")
        .unwrap();
    assert_eq!(base["kind"], "abstract");
    let o = run(&mut netroot(repo, &["profiles", "show", "qemu", "--json"]));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["overlays"]["owner"], "0:0");
    // A usage error (unknown profile) and a runtime error, each one JSON document on stdout.
    let p = project();
    for (args, exit) in [
        (&["build", "nope", "--json"][..], 2),
        (&["inspect", "/nonexistent.img", "--json"][..], 1),
        (
            &[
                "generations",
                "../x",
                "--json",
                "--tftp",
                "/t",
                "--nfs",
                "/n",
            ][..],
            1,
        ),
    ] {
        let o = run(&mut netroot(p.path(), args));
        assert_eq!(o.status.code(), Some(exit), "{args:?}: {}", stderr(&o));
        let err: serde_json::Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)));
        assert_eq!(err["exit"], exit, "{args:?}");
        assert!(!err["error"].as_str().unwrap().is_empty(), "{args:?}");
        assert!(stderr(&o).contains("netroot: error: "), "{args:?}");
    }
}

#[test]
fn a_held_publish_lock_is_waited_for_naming_its_holder() {
    let d = tempfile::tempdir().unwrap();
    let (tftp, nfs) = (d.path().join("tftp"), d.path().join("nfs"));
    fs::create_dir_all(tftp.join("netroot")).unwrap();
    fs::create_dir_all(&nfs).unwrap();
    let lock = tftp.join("netroot/.lock");
    // util-linux flock(1) holds the lock for two seconds.
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "2"])
        .spawn()
        .expect("flock(1) from util-linux");
    while !lock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = run(netroot(d.path(), &["gc", "site", "--keep", "1", "--tftp"])
        .arg(&tftp)
        .arg("--nfs")
        .arg(&nfs));
    holder.wait().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = format!(
        "netroot: waiting for the publish lock {} (held by pid {};",
        lock.display(),
        holder.id()
    );
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("waiting for the publish lock").count(),
        1
    );
}

#[test]
fn a_pinned_kernel_package_builds_and_any_other_content_is_refused() {
    let Some(deb) = kernel_deb() else { return };
    let p = project();
    let out = p.path().join("out");
    // A package with other content (the real one with one byte more) at another path.
    let other = p.path().join("other.deb");
    let mut bytes = fs::read(&deb).unwrap();
    bytes.push(0);
    fs::write(&other, &bytes).unwrap();
    let pinned = |path: &Path, sha: &str| {
        format!(
            "inherits = [\"qemu-base\"]\n[kernel]\ndeb = \"{}\"\nsha256 = \"{sha}\"\n",
            path.display()
        )
    };
    // The pin profiles/base.toml ships (ci/setup fetches exactly that package).
    let shipped = netroot::profile::Project::new(env!("CARGO_MANIFEST_DIR"))
        .load_profile("compute")
        .unwrap()
        .kernel;
    let Some(netroot::profile::KernelSpec::Deb {
        sha256: Some(real), ..
    }) = shipped
    else {
        panic!("profiles/base.toml pins no kernel package: {shipped:?}")
    };
    let real = real.as_str();
    fs::write(p.path().join("profiles/pinned.toml"), pinned(&deb, real)).unwrap();
    let o = run(netroot(p.path(), &["build", "pinned", "--out"]).arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    // The same pin on other content: refused, naming the package and both digests.
    fs::write(p.path().join("profiles/pinned.toml"), pinned(&other, real)).unwrap();
    let o = run(netroot(p.path(), &["build", "pinned", "--out"]).arg(&out));
    assert_eq!(o.status.code(), Some(1));
    let actual = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_has(
        &stderr(&o),
        &format!(
            "kernel package {} has sha256 {actual}, but the profile pins kernel.sha256 = {real}",
            other.display()
        ),
    );
    // A pin is checked even when the package's extraction is already cached.
    let wrong = "0".repeat(64);
    fs::write(p.path().join("profiles/pinned.toml"), pinned(&deb, &wrong)).unwrap();
    let o = run(netroot(p.path(), &["build", "pinned", "--out"]).arg(&out));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_has(&stderr(&o), &format!("pins kernel.sha256 = {wrong}"));
}
