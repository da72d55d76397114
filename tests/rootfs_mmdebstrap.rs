//! `RootSource::Mmdebstrap`: the tarball cache (a fake mmdebstrap counts its runs), failures,
//! and one real mmdebstrap run (minbase, ~40 s), skipped unless NETROOT_TEST_MMDEBSTRAP=1 or
//! NETROOT_REQUIRE_VM=1.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use netroot::rootfs::{
    materialize, materialize_with, source_date_epoch, Recipe, RootSource, RootfsError, Tools,
};

/// Enables the real mmdebstrap test.
const REAL_ENV: &str = "NETROOT_TEST_MMDEBSTRAP";
/// CI's "run everything slow" switch, shared with the VM tests.
const REQUIRE_ENV: &str = "NETROOT_REQUIRE_VM";

fn is_root() -> bool {
    common::root_or_skip("extracting the tree keeps owners, which needs root")
}

/// A fake mmdebstrap: logs each run and its arguments, builds a tiny tree, runs the customize
/// hooks on it like mmdebstrap does (`sh -c HOOK sh ROOT`), and tars it to the output path.
/// The suite `fail` makes it fail like a broken mirror would.
fn fake_mmdebstrap(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("runs.log");
    let script = format!(
        r#"#!/bin/sh
set -e
log='{log}'
echo "run SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >> "$log"
for a in "$@"; do echo "arg $a" >> "$log"; done
n=0
for a in "$@"; do
  case "$a" in --*) ;; *) n=$((n+1)); [ $n = 1 ] && suite=$a; [ $n = 2 ] && out=$a;; esac
done
if [ "$suite" = fail ]; then echo "E: simulated mirror failure" >&2; exit 3; fi
root=$(mktemp -d)
mkdir -p "$root/etc" "$root/usr/bin" "$root/tmp"
echo build-host > "$root/etc/hostname"
echo "nameserver 192.0.2.1" > "$root/etc/resolv.conf"
echo '#!/bin/sh' > "$root/usr/bin/su"
chmod 4755 "$root/usr/bin/su"; chmod 1777 "$root/tmp"
for a in "$@"; do
  case "$a" in --customize-hook=*) sh -c "${{a#--customize-hook=}}" sh "$root" ;; esac
done
tar -C "$root" --numeric-owner -cf "$out" .
rm -rf "$root"
"#,
        log = log.display()
    );
    let path = dir.join("fake-mmdebstrap");
    // Written by a child process: a write fd held by this (multi-threaded) test process leaks
    // into any child another test thread forks meanwhile, and exec of the script then fails
    // with ETXTBSY ("Text file busy", seen in CI) until that child execs.
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut sh.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(sh.wait().unwrap().success(), "writing {}", path.display());
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o755
    );
    (path, log)
}

fn runs(log: &Path) -> usize {
    fs::read_to_string(log)
        .map(|s| s.lines().filter(|l| l.starts_with("run ")).count())
        .unwrap_or(0)
}

fn cache_entries(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(cache.join("rootfs"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn recipe(hooks: Vec<PathBuf>) -> Recipe {
    Recipe {
        suite: "bookworm".into(),
        variant: "minbase".into(),
        packages: vec!["iproute2".into()],
        mirror: Some("http://deb.example.invalid/debian".into()),
        hooks,
        components: vec!["main".into()],
    }
}

#[test]
fn unchanged_recipe_reuses_the_cached_tarball() {
    if !is_root() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (fake, log) = fake_mmdebstrap(work.path());
    let tools = Tools { mmdebstrap: fake };
    let hook = work.path().join("my hook's file");
    fs::write(&hook, "#!/bin/sh\necho from-hook > \"$1/etc/hook-ran\"\n").unwrap();
    // Quotes and spaces in the cache path: the hook copies live there.
    let cache = work.path().join("the cache's dir");
    let src = RootSource::Mmdebstrap(recipe(vec![hook.clone()]));

    let report = materialize_with(&src, &cache, &work.path().join("r1"), &tools).unwrap();
    assert_eq!(runs(&log), 1);
    let r1 = work.path().join("r1");
    assert_eq!(fs::read(r1.join("etc/hook-ran")).unwrap(), b"from-hook\n");
    assert!(
        !r1.join("etc/hostname").exists(),
        "build host's hostname must be stripped"
    );
    assert!(
        !r1.join("etc/resolv.conf").exists(),
        "build host's resolv.conf must be stripped"
    );
    assert_eq!(report.setuid, vec![PathBuf::from("/usr/bin/su")]);
    assert_eq!(report.sticky_dirs, vec![PathBuf::from("/tmp")]);
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!(
            "run SOURCE_DATE_EPOCH={}",
            source_date_epoch().unwrap()
        )),
        "{logged}"
    );
    for arg in [
        "arg --variant=minbase",
        "arg --include=iproute2",
        "arg --components=main",
        "arg bookworm",
        "arg http://deb.example.invalid/debian",
    ] {
        assert!(
            logged.lines().any(|l| l == arg),
            "{arg} missing in:\n{logged}"
        );
    }
    let cached = cache_entries(&cache);
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].ends_with(".tar"));
    let tar = cache.join("rootfs").join(&cached[0]);
    let ino = fs::metadata(&tar).unwrap().ino();

    // Same recipe, same hook contents (even at another path): no rerun.
    let moved = work.path().join("moved-hook");
    fs::copy(&hook, &moved).unwrap();
    materialize_with(
        &RootSource::Mmdebstrap(recipe(vec![moved])),
        &cache,
        &work.path().join("r2"),
        &tools,
    )
    .unwrap();
    assert_eq!(runs(&log), 1);
    assert_eq!(fs::metadata(&tar).unwrap().ino(), ino);
    assert_eq!(
        fs::read(work.path().join("r2/etc/hook-ran")).unwrap(),
        b"from-hook\n"
    );

    // Changed hook contents: a new tarball.
    fs::write(&hook, "#!/bin/sh\necho changed > \"$1/etc/hook-ran\"\n").unwrap();
    materialize_with(&src, &cache, &work.path().join("r3"), &tools).unwrap();
    assert_eq!(runs(&log), 2);
    assert_eq!(
        fs::read(work.path().join("r3/etc/hook-ran")).unwrap(),
        b"changed\n"
    );
    assert_eq!(cache_entries(&cache).len(), 2);
}

#[test]
fn failed_run_leaves_no_cache_entry_and_no_tree() {
    let work = tempfile::tempdir().unwrap();
    let (fake, log) = fake_mmdebstrap(work.path());
    let cache = work.path().join("cache");
    let mut r = recipe(vec![]);
    r.suite = "fail".into();
    let dest = work.path().join("root");
    let e = materialize_with(
        &RootSource::Mmdebstrap(r),
        &cache,
        &dest,
        &Tools { mmdebstrap: fake },
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RootfsError::MmdebstrapFailed { .. }), "{text}");
    assert!(text.contains("failed (exit status: 3)"), "{text}");
    assert!(text.contains("E: simulated mirror failure"), "{text}");
    assert!(text.contains("--variant=minbase"), "{text}");
    assert_eq!(runs(&log), 1);
    assert!(
        cache_entries(&cache).is_empty(),
        "{:?}",
        cache_entries(&cache)
    );
    assert!(!dest.exists());
}

#[test]
fn missing_program_and_hook_are_named() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let tools = Tools {
        mmdebstrap: PathBuf::from("/nonexistent/mmdebstrap"),
    };
    let e = materialize_with(
        &RootSource::Mmdebstrap(recipe(vec![])),
        &cache,
        &work.path().join("a"),
        &tools,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot run /nonexistent/mmdebstrap: No such file or directory (os error 2) \
         (install it with `apt-get install mmdebstrap`)"
    );
    let hook = work.path().join("no-such-hook");
    let e = materialize_with(
        &RootSource::Mmdebstrap(recipe(vec![hook.clone()])),
        &cache,
        &work.path().join("b"),
        &tools,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "customize hook {}: No such file or directory (os error 2)",
            hook.display()
        )
    );
    let mut bad = recipe(vec![]);
    bad.packages.push("a b".into());
    let e = materialize_with(
        &RootSource::Mmdebstrap(bad),
        &cache,
        &work.path().join("c"),
        &tools,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid mmdebstrap recipe: package \"a b\""),
        "{e}"
    );
}

/// The real thing, once: minbase bookworm with a hook, then a cache hit.
#[test]
fn real_mmdebstrap_minbase() {
    let wanted = |v: &str| std::env::var(v).as_deref() == Ok("1");
    if !wanted(REAL_ENV) && !wanted(REQUIRE_ENV) {
        eprintln!("skipped: {REAL_ENV} not set");
        return;
    }
    assert!(
        rustix::process::geteuid().is_root(),
        "mmdebstrap root mode needs root"
    );
    let work = tempfile::tempdir().unwrap();
    let hook = work.path().join("hook.sh");
    fs::write(
        &hook,
        "#!/bin/sh\nset -e\necho netroot > \"$1/etc/netroot-hook\"\n",
    )
    .unwrap();
    let cache = work.path().join("cache");
    let src = RootSource::Mmdebstrap(Recipe {
        suite: "bookworm".into(),
        variant: "minbase".into(),
        packages: vec!["iproute2".into()],
        mirror: None,
        hooks: vec![hook],
        components: vec![],
    });
    let root = work.path().join("root");
    let report = materialize(&src, &cache, &root).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(
        fs::read(root.join("etc/netroot-hook")).unwrap(),
        b"netroot\n"
    );
    assert!(root.join("usr/sbin/ip").is_file() || root.join("sbin/ip").exists());
    // Debian's var/run -> /run survived as a link and nothing went through it to the host.
    assert_eq!(
        fs::read_link(root.join("var/run")).unwrap(),
        PathBuf::from("/run")
    );
    assert!(root.join("run").is_dir());
    assert!(!root.join("etc/hostname").exists());
    assert!(
        report.setuid.contains(&PathBuf::from("/usr/bin/su")),
        "{:?}",
        report.setuid
    );
    assert!(
        report.sticky_dirs.contains(&PathBuf::from("/tmp")),
        "{:?}",
        report.sticky_dirs
    );
    assert!(
        report.files > 1000 && report.bytes > 50_000_000,
        "{report:?}"
    );
    let tar = cache.join("rootfs").join(&cache_entries(&cache)[0]);
    let stamp = fs::metadata(&tar).unwrap().ino();

    let again = work.path().join("again");
    let t0 = std::time::Instant::now();
    let report2 = materialize(&src, &cache, &again).unwrap();
    assert_eq!(
        fs::metadata(&tar).unwrap().ino(),
        stamp,
        "cache hit must not rerun mmdebstrap"
    );
    assert_eq!(report2, report);
    eprintln!("cache hit + extraction took {:?}", t0.elapsed());
}

/// `netroot build --refresh-root` runs the recipe again although nothing it knows of changed,
/// and the new tarball's content makes a new root; without it the cached one is used.
#[test]
fn refresh_root_reruns_the_recipe_and_rebuilds_the_root() {
    if !is_root() {
        return;
    }
    let Some(kernel) = common::kernel_dir() else {
        return;
    };
    let p = common::project();
    let (fake, log) = fake_mmdebstrap(p.path());
    let bin = p.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&fake, bin.join("mmdebstrap")).unwrap();
    // What the mirror serves changes between runs: the hook stamps each run's nanoseconds.
    fs::create_dir_all(p.path().join("hooks")).unwrap();
    fs::write(
        p.path().join("hooks/stamp.sh"),
        "date +%s%N > \"$1/etc/stamp\"\n",
    )
    .unwrap();
    fs::write(
        p.path().join("profiles/mm.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"mmdebstrap\"\nsuite = \"bookworm\"\nhooks = [\"hooks/stamp.sh\"]\n[root.allow]\nsetuid = [\"/usr/bin/su\"]\nsticky_dirs = [\"/tmp\"]\n",
    )
    .unwrap();
    let out = p.path().join("out");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let build = |extra: &[&str]| {
        let mut c = common::netroot(p.path(), &["build", "mm", "--json"]);
        c.args(extra)
            .arg("--out")
            .arg(&out)
            .arg("--kernel")
            .arg(&kernel)
            .env("PATH", &path);
        let o = common::output_ok(&mut c);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let stamp = || fs::read_to_string(out.join("mm/rootfs/etc/stamp")).unwrap();
    build(&[]);
    let first = stamp();
    assert_eq!(runs(&log), 1);
    assert_eq!(build(&[])["up_to_date"], true);
    assert_eq!(runs(&log), 1, "the cached tarball is used");
    let r = build(&["--refresh-root"]);
    assert_eq!(runs(&log), 2, "the recipe ran again");
    assert_eq!(r["up_to_date"], false, "{r}");
    assert_eq!(r["reason"], "--refresh-root", "{r}");
    assert_ne!(stamp(), first, "the root is the new tarball's");
    // And it stays: the next plain build is up to date with the refreshed root.
    assert_eq!(build(&[])["up_to_date"], true);
    assert_eq!(runs(&log), 2);
}
