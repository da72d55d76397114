//! The conventions admins expect of the command line (issue 14): `-v`/`-q` and `NETROOT_LOG`
//! (logs on stderr only, stdout unchanged), and `netroot qemu --check --json`.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// `netroot -C PROJECT [FLAGS] build qemu-base --out OUT --kernel KERNEL` sharing one cache.
fn build_cmd(p: &Path, flags: &[&str], out: &Path, cache: &Path, kernel: &Path) -> Command {
    let mut c = netroot(p, flags);
    c.args(["build", "qemu-base", "--out"])
        .arg(out)
        .arg("--kernel")
        .arg(kernel)
        .env("NETROOT_CACHE", cache)
        .env_remove("NETROOT_LOG");
    c
}

#[test]
fn quiet_says_nothing_verbose_shows_stages_and_the_cache_size_and_stdout_stays_the_result() {
    let Some(kernel) = kernel_dir() else {
        return;
    };
    let p = project();
    let cache = p.path().join("cache");
    // -q: a cold build prints its summary and nothing on stderr.
    let o = output_ok(&mut build_cmd(
        p.path(),
        &["-q"],
        &p.path().join("o1"),
        &cache,
        &kernel,
    ));
    assert_eq!(stderr(&o), "", "-q printed on stderr");
    assert_has(&stdout(&o), "qemu-base: built ");
    // Without a flag: the progress lines (stderr is not a terminal here).
    let o = output_ok(&mut build_cmd(
        p.path(),
        &[],
        &p.path().join("o2"),
        &cache,
        &kernel,
    ));
    assert_has(&stderr(&o), "netroot: [qemu-base] kernel");
    assert!(!stderr(&o).contains(" INFO "), "{}", stderr(&o));
    // -v --json: stage lines and the cache size on stderr, one JSON document on stdout.
    let o = output_ok(
        build_cmd(p.path(), &["-v"], &p.path().join("o3"), &cache, &kernel).arg("--json"),
    );
    let err = stderr(&o);
    for part in [
        "stage done stage=\"kernel\" cached=",
        "stage done stage=\"compress\"",
        "cache size cache=",
        "rebuilding reason=",
    ] {
        assert_has(&err, part);
    }
    assert!(!err.contains(" DEBUG "), "-v is info: {err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON under -v ({e}): {}", stdout(&o)));
    assert_eq!(report["profile"], "qemu-base");
    // NETROOT_LOG=debug: debug lines, and the up-to-date build logs that it runs no stage.
    let o = output_ok(
        build_cmd(p.path(), &[], &p.path().join("o3"), &cache, &kernel).env("NETROOT_LOG", "debug"),
    );
    assert_has(&stderr(&o), "up to date: no stage runs");
    let o = output_ok(
        build_cmd(p.path(), &[], &p.path().join("o4"), &cache, &kernel)
            .env("NETROOT_LOG", "netroot::pipeline::stage=debug"),
    );
    let err = stderr(&o);
    assert_has(
        &err,
        " DEBUG netroot::pipeline::stage: stage started stage=\"kernel\"",
    );
    assert!(
        !err.contains("netroot::pipeline::run:"),
        "the directive names one target: {err}"
    );
    // A flag overrides NETROOT_LOG.
    let o = output_ok(
        build_cmd(p.path(), &["-q"], &p.path().join("o5"), &cache, &kernel)
            .env("NETROOT_LOG", "trace"),
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_bad_netroot_log_is_a_usage_error_naming_it_and_v_with_q_is_refused() {
    let p = project();
    let o = run(netroot(p.path(), &["profiles"]).env("NETROOT_LOG", "netroot=loud"));
    assert_eq!(o.status.code(), Some(2));
    assert_has(
        &stderr(&o),
        "netroot: error: NETROOT_LOG=\"netroot=loud\": ",
    );
    assert_eq!(stdout(&o), "");
    // Under --json the usage error is the JSON document on stdout.
    let o = run(netroot(p.path(), &["profiles", "--json"]).env("NETROOT_LOG", "netroot=loud"));
    assert_eq!(o.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["exit"], 2);
    assert!(
        err["error"].as_str().unwrap().contains("NETROOT_LOG"),
        "{err}"
    );
    // A flag decides without reading NETROOT_LOG.
    let o = run(netroot(p.path(), &["-v", "profiles", "show", "compute"])
        .env("NETROOT_LOG", "netroot=loud"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&mut netroot(p.path(), &["-v", "-q", "profiles"]));
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "cannot be used with");
    // -vv is accepted anywhere (global).
    let o = run(&mut netroot(
        p.path(),
        &["profiles", "show", "compute", "-vv"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn qemu_check_json_prints_a_failure_before_the_vm_as_the_error_document() {
    if !root_or_skip("netroot qemu refuses to run unless root") {
        return;
    }
    let p = project();
    // compute has no [root]: refused before any build or VM.
    let o = run(&mut netroot(
        p.path(),
        &["qemu", "compute", "--check", "--json"],
    ));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(err["exit"], 1);
    assert_has(
        err["error"].as_str().unwrap(),
        "profile \"compute\" has no [root] section",
    );
    assert!(!stdout(&o).contains("netroot qemu: FAIL"), "{}", stdout(&o));
    assert!(!p.path().join("build").exists(), "nothing was built");
    // Without --json the verdict line is still the one line on stdout.
    let o = run(&mut netroot(p.path(), &["qemu", "compute", "--check"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("netroot qemu: FAIL profile=compute: "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn qemu_json_without_check_is_a_usage_error() {
    let p = project();
    let o = run(&mut netroot(p.path(), &["qemu", "qemu", "--json"]));
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "--check");
    assert_eq!(stdout(&o), "");
}

#[test]
fn quiet_moves_a_builds_warnings_into_its_summary() {
    let Some(deb) = kernel_deb() else {
        return;
    };
    let p = project();
    // compute's modules want firmware the test host lacks: the build warns.
    let mut c = netroot(p.path(), &["-q", "build", "compute", "--out"]);
    c.arg(p.path().join("out"))
        .arg("--kernel")
        .arg(&deb)
        .env_remove("NETROOT_LOG");
    let o = output_ok(&mut c);
    assert_eq!(stderr(&o), "", "-q printed on stderr");
    let text = stdout(&o);
    let warning = text
        .lines()
        .find(|l| l.starts_with("  warning: firmware "))
        .unwrap_or_else(|| panic!("no warning in the summary: {text}"));
    // Once: not on stderr, once on stdout.
    assert_eq!(text.matches(warning).count(), 1, "{text}");
}

#[test]
fn verbose_publish_logs_the_plan_the_lock_and_each_step() {
    let Some(kernel) = kernel_dir() else {
        return;
    };
    let p = project();
    root_tree(p.path(), &[("etc/os-release", "ID=one\n")]);
    std::fs::write(
        p.path().join("profiles/site.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n[publish]\nclient_network = \"10.0.2.0/24\"\n",
    )
    .unwrap();
    let mut c = netroot(p.path(), &["-v", "publish", "site", "--json", "--out"]);
    c.arg(p.path().join("out"))
        .arg("--kernel")
        .arg(&kernel)
        .arg("--tftp")
        .arg(p.path().join("tftp"))
        .arg("--nfs")
        .arg(p.path().join("nfs"))
        .env_remove("NETROOT_LOG");
    let o = output_ok(&mut c);
    let err = stderr(&o);
    for part in [
        "publish plan profile=site generation=",
        "publish lock acquired lock=",
        "publish step done step=\"stage tree\"",
        "publish step done step=\"activate\"",
    ] {
        assert_has(&err, part);
    }
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON under -v ({e}): {}", stdout(&o)));
    assert!(report.is_object(), "{report}");
}

/// QEMU and nfs-ganesha, which a `netroot qemu` run needs; `false` (skipped) without them.
fn vm_tools() -> bool {
    let have = ["/usr/bin/qemu-system-x86_64", "/usr/bin/ganesha.nfsd"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !have {
        eprintln!("skipped: qemu-system-x86_64 or ganesha.nfsd not installed");
    }
    have
}

#[test]
fn qemu_check_json_of_a_timed_out_boot_and_its_logs() {
    if !root_or_skip("netroot qemu runs as root") || !vm_tools() {
        return;
    }
    let Some(kernel) = kernel_dir() else {
        return;
    };
    let p = project();
    root_tree(p.path(), &[("etc/os-release", "ID=one\n")]);
    std::fs::write(
        p.path().join("profiles/site.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n",
    )
    .unwrap();
    // A two-second timeout ends the boot long before the init: a FAIL verdict in seconds.
    let qemu = |flag: &str| {
        let mut c = netroot(p.path(), &[flag, "qemu", "site", "--check", "--json"]);
        c.args([
            "--loader",
            "direct",
            "--accel",
            "tcg",
            "--timeout",
            "2",
            "--kernel",
        ])
        .arg(&kernel)
        .env_remove("NETROOT_LOG");
        run(&mut c)
    };
    let o = qemu("-v");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(v["profile"], "site");
    assert_eq!(
        (v["loader"].as_str(), v["accel"].as_str()),
        (Some("direct"), Some("tcg"))
    );
    assert_eq!(v["network"], "hub");
    assert_eq!(v["pass"], false);
    assert_has(v["reason"].as_str().unwrap(), "timed out after 2.0s");
    assert_eq!(v["qemu"]["how"], "timed-out");
    assert_eq!(v["exit"], 1);
    assert_eq!(v["timeline"].as_array().unwrap().len(), 10, "{v}");
    assert!(Path::new(v["log"].as_str().unwrap()).is_file(), "{v}");
    assert!(v["wall_seconds"].as_f64().unwrap() >= 2.0, "{v}");
    let err = stderr(&o);
    for part in [
        "qemu run profile=site",
        "nfs-ganesha started pid=",
        "qemu started pid=",
    ] {
        assert_has(&err, part);
    }
    // -q: the notes are gone, the verdict stays.
    let o = qemu("-q");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "", "-q printed on stderr");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pass"], false);
}

/// The MiB figures of `what`'s progress lines in `stderr` (`netroot: [p] WHAT D / T MiB`).
fn byte_lines(stderr: &str, what: &str) -> Vec<(f64, f64)> {
    stderr
        .lines()
        .filter_map(|l| l.split_once(&format!("] {what} "))?.1.strip_suffix(" MiB"))
        .filter_map(|r| {
            let (d, t) = r.split_once(" / ")?;
            Some((d.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

/// Without a terminal, the kernel package's extraction and a root tarball's show byte
/// progress lines (a few, throttled), ending at the whole file; `-q` shows none.
#[test]
fn kernel_extraction_and_root_tarball_show_byte_progress() {
    if !root_or_skip("extracting trees keeps owners, which needs root") {
        return;
    }
    let Some(deb) = kernel_deb() else { return };
    let p = project();
    // A root tarball of a few MiB (incompressible, so the archive is that big).
    let tree = p.path().join("tree");
    let mut noise = vec![0u8; 6 << 20];
    let mut x: u32 = 1;
    for b in noise.iter_mut() {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *b = (x >> 24) as u8;
    }
    write_mode(&tree, "usr/share/noise", &noise, 0o644);
    let tarball = p.path().join("root.tar");
    let tarred = Command::new("tar")
        .args(["-C"])
        .arg(&tree)
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(tarred.success());
    let tar_mib = std::fs::metadata(&tarball).unwrap().len() as f64 / 1048576.0;
    std::fs::write(
        p.path().join("profiles/tarred.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"tarball\"\npath = \"root.tar\"\n",
    )
    .unwrap();
    let deb_mib = std::fs::metadata(&deb).unwrap().len() as f64 / 1048576.0;
    let run_build = |flags: &[&str], cache: &str| {
        let mut c = netroot(p.path(), flags);
        c.args(["build", "tarred", "--out"])
            .arg(p.path().join("out"))
            .arg("--kernel")
            .arg(&deb)
            .env("NETROOT_CACHE", p.path().join(cache))
            .env_remove("NETROOT_LOG");
        output_ok(&mut c)
    };
    let o = run_build(&[], "cache");
    let err = stderr(&o);
    let kernel = byte_lines(&err, "kernel: extracting");
    assert!(!kernel.is_empty(), "{err}");
    let (done, total) = *kernel.last().unwrap();
    assert!(
        (total - deb_mib).abs() < 0.1 && done == total,
        "{kernel:?} vs {deb_mib}"
    );
    assert!(kernel.windows(2).all(|w| w[0].0 <= w[1].0), "{kernel:?}");
    let root = byte_lines(&err, "root: extracting");
    let (done, total) = *root.last().unwrap_or_else(|| panic!("{err}"));
    assert!(
        (total - tar_mib).abs() < 0.1 && done == total,
        "{root:?} vs {tar_mib}"
    );
    // Throttled: a line per 2 s at most, plus the first and the last.
    assert!(kernel.len() <= 2 + 30, "{kernel:?}");
    // A directory source is copied: bytes so far, no total.
    std::fs::write(
        p.path().join("profiles/copied.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n",
    )
    .unwrap();
    let mut c = netroot(p.path(), &["build", "copied", "--out"]);
    c.arg(p.path().join("out"))
        .arg("--kernel")
        .arg(&deb)
        .env("NETROOT_CACHE", p.path().join("cache"))
        .env_remove("NETROOT_LOG");
    let err = stderr(&output_ok(&mut c));
    let copied: Vec<f64> = err
        .lines()
        .filter_map(|l| l.split_once("] root: copying ")?.1.strip_suffix(" MiB"))
        .filter_map(|v| v.parse().ok())
        .collect();
    assert!(copied.iter().any(|m| *m >= 6.0), "{err}");
    let quiet = run_build(&["-q"], "cache-q");
    assert!(!stderr(&quiet).contains("extracting"), "{}", stderr(&quiet));
}
