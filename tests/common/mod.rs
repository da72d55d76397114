//! Shared helpers of the CLI integration tests: the real test kernel, temp projects, running the
//! `netroot` binary.
#![allow(dead_code)]

pub mod tree;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The extracted test kernel (`ci/setup`), or `None` (test skipped) unless NETROOT_REQUIRE_KERNEL=1.
pub fn kernel_dir() -> Option<PathBuf> {
    kernel_env("NETROOT_TEST_KERNEL_DIR")
}

/// The test kernel package.
pub fn kernel_deb() -> Option<PathBuf> {
    kernel_env("NETROOT_TEST_KERNEL_DEB")
}

fn kernel_env(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("NETROOT_REQUIRE_KERNEL").as_deref() == Ok("1") => {
            panic!("{var} not set but NETROOT_REQUIRE_KERNEL=1")
        }
        None => {
            eprintln!("skipped: {var} not set");
            None
        }
    }
}

/// Whether the test runs as root; when not, `skipped: <why>` is printed and the test is to
/// return, unless `NETROOT_REQUIRE_ROOT=1` (set by ci/test), which makes a skip a failure.
pub fn root_or_skip(why: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("NETROOT_REQUIRE_ROOT").as_deref() != Ok("1"),
        "not root, but NETROOT_REQUIRE_ROOT=1: {why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// Writes `data` to `root/rel` (creating its parent directories) and sets its permission bits
/// to `mode`.
pub fn write_mode(root: &Path, rel: &str, data: impl AsRef<[u8]>, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    set_mode(&p, mode);
}

/// Sets the permission bits of `p` (following a symlink) to `mode`.
pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A root tree at `PROJECT/tree` (a profile's `root.path = "tree"`) holding `files` (path,
/// content), their directories created; its path.
pub fn root_tree(project: &Path, files: &[(&str, &str)]) -> PathBuf {
    let tree = project.join("tree");
    for (rel, data) in files {
        let p = tree.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
    }
    tree
}

/// A node inventory parsed as `nodes.toml`; its error as text.
pub fn parse_inventory(text: &str) -> Result<netroot::nodes::Inventory, String> {
    netroot::nodes::Inventory::parse(Path::new("nodes.toml"), text).map_err(|e| e.to_string())
}

/// Two temporary directories named with the prefixes `a` and `b` (two checkouts at paths of
/// different lengths), and the path `deeper` below the second, where its project goes.
pub fn two_checkouts(
    a: &str,
    b: &str,
    deeper: &str,
) -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let tmp = |prefix: &str| tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let (a, b) = (tmp(a), tmp(b));
    let b_proj = b.path().join(deeper);
    (a, b, b_proj)
}

/// A temporary project: a copy of the repository's profiles (as a clean checkout has them).
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_profiles(dir.path());
    dir
}

pub fn copy_profiles(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    fs::create_dir_all(dest.join("profiles")).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dest.join("profiles").join(e.file_name())).unwrap();
    }
}

/// `netroot -C project ARGS...` with a clean environment for reproducibility-relevant variables.
pub fn netroot(project: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netroot"));
    c.arg("-C").arg(project).args(args);
    c.env_remove("NETROOT_CACHE")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

pub fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    if !out.status.success() {
        eprintln!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs `c` to its end and asserts that it succeeded, with its stderr as the failure message.
#[track_caller]
pub fn output_ok(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts that `text` contains `part`, with the whole text as the failure message.
#[track_caller]
pub fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "{text}");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `netroot -C project build profile --out OUT --kernel KERNEL` (ARGS before `--out`), run.
pub fn build(project: &Path, profile: &str, args: &[&str], out: &Path, kernel: &Path) -> Output {
    let mut c = netroot(project, &["build", profile]);
    c.args(args)
        .arg("--out")
        .arg(out)
        .arg("--kernel")
        .arg(kernel);
    run(&mut c)
}

/// Builds `profile` with `--json` and returns the parsed report.
pub fn build_json(project: &Path, profile: &str, kernel: &Path, out: &Path) -> serde_json::Value {
    let o = build(project, profile, &["--json"], out, kernel);
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A fresh project with one profile built into its `out` directory: the test kernel, the
/// project, `PROJECT/out` and the build's `--json` report.
pub type Built = (PathBuf, tempfile::TempDir, PathBuf, serde_json::Value);

/// Builds `profile` in a fresh [`project`] into its `out` directory; `None` (skipped) without
/// the test kernel.
pub fn built(profile: &str) -> Option<Built> {
    let kernel = kernel_dir()?;
    let project = project();
    let out = project.path().join("out");
    let report = build_json(project.path(), profile, &kernel, &out);
    Some((kernel, project, out, report))
}

/// Replaces `from` by `to` in a project's profile file (the text must be present).
pub fn edit_profile(project: &Path, name: &str, from: &str, to: &str) {
    let p = project.join("profiles").join(format!("{name}.toml"));
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", p.display());
    fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// The generation a published profile's `current` link in `TFTP/netroot/PROFILE/` names.
pub fn current(tftp: &Path, profile: &str) -> String {
    fs::read_link(tftp.join("netroot").join(profile).join("current"))
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// The generation directories published for a profile (`TFTP/netroot/PROFILE/g*`), sorted.
pub fn generations(tftp: &Path, profile: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(tftp.join("netroot").join(profile))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('g'))
        .collect();
    v.sort();
    v
}

/// An `ar` archive of `(name, data)` members: a Debian package when the members are
/// `debian-binary`, `control.tar*` and `data.tar*`.
pub fn ar_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = ar::Builder::new(Vec::new());
    for (name, data) in members {
        let header = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}
