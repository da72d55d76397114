//! `NETROOT_CACHE_MAX`: after a build the cache is kept under the bound, least recently used
//! entries first, never what the build uses; an evicted root makes its profile rebuild.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A profile `name` with a directory root `tree-NAME` holding one file of `kib` KiB.
fn root_profile(project: &Path, name: &str, kib: usize) {
    let tree = project.join(format!("tree-{name}"));
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::write(tree.join("etc/os-release"), format!("ID={name}\n")).unwrap();
    fs::write(tree.join("blob"), vec![name.as_bytes()[0]; kib * 1024]).unwrap();
    fs::write(
        project.join(format!("profiles/{name}.toml")),
        format!("inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree-{name}\"\n"),
    )
    .unwrap();
}

/// `netroot build PROFILE --json --out OUT --kernel KERNEL` with a shared cache and a bound.
fn build_in(
    project: &Path,
    profile: &str,
    out: &Path,
    kernel: &Path,
    cache: &Path,
    max: Option<&str>,
) -> Output {
    let mut c = netroot(project, &["build", profile, "--json", "--out"]);
    c.arg(out)
        .arg("--kernel")
        .arg(kernel)
        .env("NETROOT_CACHE", cache);
    match max {
        Some(m) => c.env("NETROOT_CACHE_MAX", m),
        None => c.env_remove("NETROOT_CACHE_MAX"),
    };
    run(&mut c)
}

fn report(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The root tree `OUT/PROFILE/rootfs` points at.
fn root_of(out: &Path, profile: &str) -> PathBuf {
    fs::read_link(out.join(profile).join("rootfs")).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_bad_bound_is_an_error_naming_the_variable_and_value() {
    let p = project();
    let cache = p.path().join("cache");
    let o = build_in(
        p.path(),
        "compute",
        &p.path().join("o"),
        p.path(),
        &cache,
        Some("12 parsecs"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_has(
        &stderr(&o),
        "NETROOT_CACHE_MAX=\"12 parsecs\" is not a size",
    );
    assert!(!cache.exists(), "nothing was built");
}

#[test]
fn the_bound_evicts_another_profiles_root_and_kernel_and_that_profile_rebuilds() {
    let (Some(kdir), Some(deb)) = (kernel_dir(), kernel_deb()) else {
        return;
    };
    let p = project();
    let cache = p.path().join("cache");
    let (out_a, out_b) = (p.path().join("a"), p.path().join("b"));
    root_profile(p.path(), "alpha", 512);
    root_profile(p.path(), "beta", 512);
    // alpha: kernel package (extracted into the cache) and its root, in another output dir.
    report(&build_in(p.path(), "alpha", &out_a, &deb, &cache, None));
    let root_a = root_of(&out_a, "alpha");
    assert_eq!(names(&cache.join("kernels")).len(), 1);
    // beta with a bound of 1 byte: everything of alpha's goes, beta's own stays.
    let r = report(&build_in(
        p.path(),
        "beta",
        &out_b,
        &kdir,
        &cache,
        Some("1"),
    ));
    assert!(r["evicted_bytes"].as_u64().unwrap() > 512 * 1024, "{r}");
    assert!(!root_a.exists(), "alpha's root tree is evicted");
    assert!(
        names(&cache.join("kernels")).is_empty(),
        "alpha's kernel is evicted"
    );
    let root_b = root_of(&out_b, "beta");
    assert!(root_b.join("etc/os-release").is_file(), "beta's root stays");
    assert!(
        cache.join("state/alpha.json").is_file(),
        "state is never evicted"
    );
    assert!(!names(&cache.join("roots"))
        .iter()
        .any(|n| n.starts_with(".netroot-tmp-")));
    // alpha's next build sees its root gone and rebuilds it.
    let again = report(&build_in(p.path(), "alpha", &out_a, &deb, &cache, None));
    assert_eq!(again["up_to_date"], false, "{again}");
    assert_eq!(
        fs::read_to_string(out_a.join("alpha/rootfs/etc/os-release")).unwrap(),
        "ID=alpha\n"
    );
}

#[test]
fn least_recently_used_goes_first_and_the_current_build_is_never_evicted() {
    let Some(kdir) = kernel_dir() else { return };
    let p = project();
    let cache = p.path().join("cache");
    for n in ["alpha", "beta", "gamma"] {
        root_profile(p.path(), n, 256);
    }
    let out = |n: &str| p.path().join(format!("out-{n}"));
    // Use alpha, then beta, then alpha again (an up-to-date build counts as a use).
    report(&build_in(
        p.path(),
        "alpha",
        &out("alpha"),
        &kdir,
        &cache,
        None,
    ));
    report(&build_in(
        p.path(),
        "beta",
        &out("beta"),
        &kdir,
        &cache,
        None,
    ));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let up = report(&build_in(
        p.path(),
        "alpha",
        &out("alpha"),
        &kdir,
        &cache,
        None,
    ));
    assert_eq!(up["up_to_date"], true);
    let (root_a, root_b) = (
        root_of(&out("alpha"), "alpha"),
        root_of(&out("beta"), "beta"),
    );
    // gamma with a bound that takes more than beta's initramfs segment (~720 KiB) or its root
    // alone but less than all of beta's entries: beta (the older use) goes entirely, in whichever
    // order its entries were stamped, and nothing of alpha's.
    let r = report(&build_in(
        p.path(),
        "gamma",
        &out("gamma"),
        &kdir,
        &cache,
        None,
    ));
    let size = du(&cache);
    let bound = format!("{}", size - 900 * 1024);
    let o = build_in(
        p.path(),
        "gamma",
        &out("gamma"),
        &kdir,
        &cache,
        Some(&bound),
    );
    let up = report(&o);
    assert_eq!(up["up_to_date"], true, "{r}");
    assert!(
        !root_b.exists(),
        "beta, used longest ago, is evicted: {up} {}",
        stderr(&o)
    );
    assert!(root_a.exists(), "alpha, used after beta, stays");
    assert!(root_of(&out("gamma"), "gamma").is_dir());
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // A bound smaller than what gamma itself uses: everything else goes, gamma stays, and a
    // warning says so once.
    let o = build_in(p.path(), "gamma", &out("gamma"), &kdir, &cache, Some("1K"));
    report(&o);
    assert!(!root_a.exists());
    assert!(root_of(&out("gamma"), "gamma").join("blob").is_file());
    assert_eq!(
        stderr(&o).matches("over NETROOT_CACHE_MAX").count(),
        1,
        "{}",
        stderr(&o)
    );
}

/// Allocated bytes below `dir`, hardlinks once (as `netroot clean --dry-run` counts).
fn du(dir: &Path) -> u64 {
    let o = output_ok(
        std::process::Command::new("du")
            .args(["-s", "-B1"])
            .arg(dir),
    );
    stdout(&o)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
