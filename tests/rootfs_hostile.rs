//! The hostile-archive corpus (tests/fixtures/hostile/, made by its gen.rs) against the one tar
//! extractor under both its policies: `Policy::Root` (root tarballs, through `materialize`) and
//! `Policy::Strict` (what kernel packages are unpacked with, through `extract_tarball`). Every
//! archive has an expected outcome, an error message or a tree, for the root policy; the cases
//! where the strict policy legitimately differs are listed in `strict_differences`.
//!
//! Every case also checks that nothing appeared outside the image root (next to it, or at the
//! host paths an escape would reach) and, on error, that nothing is at the destination.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
#[path = "fixtures/hostile/gen.rs"]
mod gen;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gen::{Compression, ESCAPE};
use netroot::rootfs::{
    extract_tarball, materialize, scan, DeviceKind, Policy, RootReport, RootSource,
};

/// Set to 1 to rewrite the committed corpus from the generator.
const REGEN_ENV: &str = "NETROOT_REGEN_HOSTILE";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

fn is_root() -> bool {
    common::root_or_skip("extraction keeps owners and device nodes, which needs root")
}

/// What a case must produce.
enum Expect {
    /// The error message contains this.
    Error(&'static str),
    /// The tree passes this check.
    Tree(fn(&Path, &RootReport)),
}

use Expect::{Error, Tree};

fn read(root: &Path, p: &str) -> Vec<u8> {
    fs::read(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn lmeta(root: &Path, p: &str) -> fs::Metadata {
    fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn link(root: &Path, p: &str) -> String {
    fs::read_link(root.join(p))
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn mode(root: &Path, p: &str) -> u32 {
    lmeta(root, p).permissions().mode() & 0o7777
}

fn absent(p: &Path) {
    assert!(
        fs::symlink_metadata(p).is_err(),
        "{} must not exist",
        p.display()
    );
}

fn xattr(root: &Path, p: &str, name: &str) -> Option<Vec<u8>> {
    let path = root.join(p);
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(&path, name, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("{p}: getxattr {name}: {e}"),
    }
}

fn host_passwd() -> Vec<u8> {
    fs::read("/etc/passwd").unwrap()
}

fn expectations() -> Vec<(&'static str, Expect)> {
    vec![
        (
            "dotdot.tar",
            Error("entry \"../netroot-hostile-escape\": path contains \"..\""),
        ),
        (
            "dotdot_inner.tar",
            Error("entry \"a/../../netroot-hostile-escape\": path contains \"..\""),
        ),
        (
            "absolute.tar",
            Tree(|r, _| {
                assert_eq!(read(r, ESCAPE), b"abs");
                assert_eq!(read(r, "etc/abs"), b"abs");
            }),
        ),
        (
            "symlink_etc_write.tar",
            Tree(|r, _| {
                assert_eq!(link(r, "link"), "/etc");
                assert_eq!(read(r, "etc/passwd"), b"hostile\n");
                assert!(!String::from_utf8_lossy(&host_passwd()).contains("hostile"));
            }),
        ),
        (
            "symlink_chain.tar",
            Tree(|r, _| {
                assert_eq!(link(r, "d/l1"), "../l2");
                assert_eq!(read(r, ESCAPE), b"chain");
            }),
        ),
        (
            "symlink_relative_escape.tar",
            Tree(|r, _| assert_eq!(read(r, &format!("tmp/{ESCAPE}")), b"up")),
        ),
        (
            "symlink_loop.tar",
            Error("entry \"a/x\": too many levels of symbolic links"),
        ),
        (
            "symlink_empty_target.tar",
            Error("entry \"e\": invalid symlink target \"\": empty"),
        ),
        (
            "symlink_dangling_parent.tar",
            Tree(|r, _| {
                assert_eq!(link(r, "lib"), "usr/lib");
                assert_eq!(read(r, "usr/lib/x.so"), b"so");
                assert_eq!(mode(r, "usr"), 0o755);
            }),
        ),
        (
            "hardlink_etc_passwd_absent.tar",
            Error("entry \"h\": hardlink target \"/etc/passwd\": /etc: no such file or directory"),
        ),
        (
            "hardlink_etc_passwd_inside.tar",
            Tree(|r, _| {
                let (a, b) = (lmeta(r, "h"), lmeta(r, "etc/passwd"));
                assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
                assert_eq!(a.nlink(), 2);
                assert_ne!(a.ino(), fs::metadata("/etc/passwd").unwrap().ino());
            }),
        ),
        (
            "hardlink_dotdot.tar",
            Error("entry \"h\": hardlink target \"../x\": path contains \"..\""),
        ),
        (
            "hardlink_via_symlink.tar",
            Error("entry \"h\": hardlink target \"l/shadow\": /etc: no such file or directory"),
        ),
        (
            "hardlink_to_dir.tar",
            Error("entry \"h\": hardlink target \"d\" is a directory"),
        ),
        (
            "hardlink_self.tar",
            Tree(|r, _| {
                assert_eq!(read(r, "f"), b"self");
                assert_eq!(lmeta(r, "f").nlink(), 1);
            }),
        ),
        (
            "var_run.tar",
            Tree(|r, _| {
                assert_eq!(link(r, "var/run"), "/run");
                assert_eq!(read(r, "run/foo"), b"foo");
                assert_eq!(read(r, "run/lock/bar"), b"bar");
                assert_eq!(mode(r, "run/lock"), 0o1777);
            }),
        ),
        (
            "var_run_no_run.tar.gz",
            Tree(|r, _| {
                assert_eq!(link(r, "var/run"), "/run");
                assert_eq!(read(r, "run/foo"), b"foo");
                assert_eq!(mode(r, "run"), 0o755);
                assert_eq!(lmeta(r, "run").uid(), 0);
            }),
        ),
        (
            "setuid.tar",
            Tree(|r, rep| {
                assert_eq!(mode(r, "usr/bin/su"), 0o4755);
                assert_eq!(mode(r, "usr/bin/wall"), 0o2755);
                assert_eq!(lmeta(r, "usr/bin/wall").gid(), 5);
                // Owned by 1000: chown before chmod, or the bits would be gone.
                assert_eq!(mode(r, "usr/bin/mine"), 0o6750);
                assert_eq!(
                    (
                        lmeta(r, "usr/bin/mine").uid(),
                        lmeta(r, "usr/bin/mine").gid()
                    ),
                    (1000, 1000)
                );
                assert_eq!(mode(r, "tmp"), 0o1777);
                let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
                assert_eq!(rep.setuid, p(&["/usr/bin/mine", "/usr/bin/su"]));
                assert_eq!(rep.setgid, p(&["/usr/bin/mine", "/usr/bin/wall"]));
                assert_eq!(rep.sticky_dirs, p(&["/tmp"]));
                assert!(rep.world_writable.is_empty(), "{:?}", rep.world_writable);
            }),
        ),
        (
            "capability.tar",
            Tree(|r, rep| {
                assert_eq!(
                    xattr(r, "ping", "security.capability").unwrap(),
                    gen::CAP_NET_RAW
                );
                // Owned by 1000: xattrs after chown, or the capability would be gone.
                assert_eq!(
                    xattr(r, "ping-user", "security.capability").unwrap(),
                    gen::CAP_NET_RAW
                );
                assert_eq!(xattr(r, "ping-user", "user.netroot").unwrap(), b"kept");
                assert_eq!(lmeta(r, "ping-user").uid(), 1000);
                let caps: Vec<(String, String)> = rep
                    .capabilities
                    .iter()
                    .map(|c| (c.path.display().to_string(), c.caps.clone()))
                    .collect();
                assert_eq!(
                    caps,
                    vec![
                        ("/ping".into(), "cap_net_raw=ep".into()),
                        ("/ping-user".into(), "cap_net_raw=ep".into())
                    ]
                );
            }),
        ),
        (
            "devices.tar",
            Tree(|r, rep| {
                let null = lmeta(r, "dev/null");
                assert!(null.file_type().is_char_device());
                assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
                assert_eq!(mode(r, "dev/null"), 0o666);
                let sda = lmeta(r, "dev/sda");
                assert!(sda.file_type().is_block_device());
                assert_eq!(sda.rdev(), rustix::fs::makedev(8, 0));
                assert_eq!((mode(r, "dev/sda"), sda.gid()), (0o660, 6));
                let devs: Vec<(String, DeviceKind, u32, u32)> = rep
                    .devices
                    .iter()
                    .map(|d| (d.path.display().to_string(), d.kind, d.major, d.minor))
                    .collect();
                assert_eq!(
                    devs,
                    vec![
                        ("/dev/null".into(), DeviceKind::Char, 1, 3),
                        ("/dev/sda".into(), DeviceKind::Block, 8, 0)
                    ]
                );
                assert_eq!(rep.world_writable, vec![PathBuf::from("/dev/null")]);
            }),
        ),
        (
            "fifo.tar",
            Tree(|r, rep| {
                assert!(lmeta(r, "run/initctl").file_type().is_fifo());
                assert_eq!(mode(r, "run/initctl"), 0o600);
                assert_eq!(mode(r, "run/ww"), 0o666);
                assert_eq!(rep.world_writable, vec![PathBuf::from("/run/ww")]);
                assert_eq!(rep.specials, 2);
            }),
        ),
        (
            "huge_size.tar",
            Error("entry \"big\": truncated archive: expected 1099511627776 data bytes, got 512"),
        ),
        (
            "truncated.tar.xz",
            Error("entry \"cut\": truncated archive: expected 4096 data bytes, got 1000"),
        ),
        (
            "truncated_stream.tar.zst",
            Error("at the first entry: incomplete frame"),
        ),
        (
            "missing_eof.tar",
            Error("no end-of-archive marker (truncated archive?)"),
        ),
        (
            "trailing_garbage.tar",
            Error("data after the end-of-archive marker"),
        ),
        (
            "bad_checksum.tar",
            Error("after entry \"ok\": archive header checksum mismatch"),
        ),
        (
            "pax_long_name.tar",
            Tree(|r, _| {
                let long = format!("long/{}/{}", "a".repeat(150), "b".repeat(150));
                assert_eq!(read(r, &long), b"long");
                assert_eq!(link(r, "longlink"), format!("/{}", "t".repeat(200)));
                absent(&r.join("placeholder"));
            }),
        ),
        (
            "gnu_long_name.tar",
            Tree(|r, _| assert_eq!(read(r, &format!("gnu/{}", "g".repeat(200))), b"gnu")),
        ),
        (
            "duplicate.tar",
            Tree(|r, _| {
                assert_eq!(read(r, "f"), b"second");
                assert_eq!((mode(r, "f"), lmeta(r, "f").uid()), (0o600, 7));
                assert_eq!(mode(r, "d"), 0o700);
            }),
        ),
        (
            "dir_replaced_by_file.tar",
            Error("entry \"d\": cannot replace non-empty directory with a regular file"),
        ),
        (
            "empty_dir_replaced.tar",
            Tree(|r, _| {
                assert_eq!(read(r, "e"), b"now a file");
                assert!(lmeta(r, "s").is_dir());
            }),
        ),
        (
            "file_over_symlink.tar",
            Tree(|r, _| {
                assert!(lmeta(r, "l").is_file());
                assert_eq!(read(r, "l"), b"new");
                assert_eq!(read(r, "target"), b"orig");
                assert_eq!(read(r, "abs"), b"not through");
                assert!(!String::from_utf8_lossy(&host_passwd()).contains("not through"));
            }),
        ),
        (
            "gnu_sparse.tar",
            Error("entry \"sparse\": unsupported entry type: gnu sparse file"),
        ),
        (
            "pax_sparse.tar",
            Error("unsupported entry type: pax sparse file (GNU.sparse.*)"),
        ),
        (
            "nul_name.tar",
            Error("entry \"a\\0b\": path contains a nul byte"),
        ),
        (
            "newline_name.tar",
            Tree(|r, _| {
                assert_eq!(read(r, "new\nline"), b"nl");
                assert_eq!(read(r, "dir\nx/f"), b"f");
            }),
        ),
        (
            "bomb.tar.zst",
            Tree(|r, rep| {
                assert_eq!(lmeta(r, "zeros").len(), 32 << 20);
                assert_eq!(rep.bytes, 32 << 20);
                assert!(read(r, "zeros").iter().all(|b| *b == 0));
            }),
        ),
        (
            "unsupported_type.tar",
            Error("entry \"vol\": unsupported entry type: type 'M' (multi-volume continuation)"),
        ),
        (
            "pax_global_comment.tar",
            Tree(|r, _| assert_eq!(read(r, "after"), b"after")),
        ),
        (
            "pax_global_uid.tar",
            Error("unsupported entry type: pax global header with key \"uid\""),
        ),
        (
            "pax_owner_mtime.tar",
            Tree(|r, _| {
                let m = lmeta(r, "owned");
                assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
                assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
            }),
        ),
        (
            "pax_uid_max.tar",
            Error("entry \"owned\": invalid uid: \"4294967295\""),
        ),
        (
            "root_entry.tar",
            Tree(|r, rep| {
                assert_eq!(mode(r, ""), 0o700);
                assert_eq!(lmeta(r, "").mtime(), gen::MTIME as i64);
                assert_eq!(rep.dirs, 2);
            }),
        ),
        (
            "root_as_file.tar",
            Error("entry \"./\": the image root can only be a directory, not a regular file"),
        ),
        (
            "acl.tar",
            Error("entry \"acl\": unsupported entry type: posix acls (SCHILY.acl.*)"),
        ),
        (
            "file_as_parent.tar",
            Error("entry \"f/x\": /f: not a directory"),
        ),
        (
            "not_a_tar.bin",
            Error("unrecognized archive format (expected tar, tar.gz, tar.zst or tar.xz)"),
        ),
    ]
}

#[test]
fn corpus_files_match_the_generator() {
    let dir = corpus_dir();
    let regen = std::env::var(REGEN_ENV).as_deref() == Ok("1");
    let fixtures = gen::corpus();
    let mut names = BTreeSet::new();
    for f in &fixtures {
        assert!(names.insert(f.file), "duplicate fixture {}", f.file);
        let path = dir.join(f.file);
        if regen {
            fs::write(&path, f.bytes()).unwrap();
        }
        let committed = fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate with {REGEN_ENV}=1)", path.display()));
        let c = Compression::of(f.file);
        match f.cut_compressed {
            None => assert!(
                c.decompress(&committed) == f.tar,
                "{} differs from the generator (regenerate with {REGEN_ENV}=1)",
                f.file
            ),
            Some(n) => {
                assert_eq!(committed.len(), n, "{}", f.file);
                assert!(
                    zstd::decode_all(&committed[..]).is_err(),
                    "{} must be cut",
                    f.file
                );
            }
        }
    }
    let mut on_disk = BTreeSet::new();
    for e in fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name != "gen.rs" {
            on_disk.insert(name);
        }
    }
    let expected: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        on_disk,
        expected,
        "stray or missing files in {}",
        dir.display()
    );
    assert!(fixtures.len() >= 20);
}

/// Where the strict policy (kernel packages) differs from the root policy, and why.
fn strict_differences() -> Vec<(&'static str, Expect)> {
    let mut cases = vec![
        // Absolute names and symlink targets, `..` after a name or above the tree: refused, not
        // made relative or resolved inside the root.
        (
            "absolute.tar",
            Error("entry \"/netroot-hostile-escape\": absolute path"),
        ),
        (
            "symlink_etc_write.tar",
            Error("entry \"link\": absolute symlink target"),
        ),
        (
            "symlink_chain.tar",
            Error("entry \"l2\": symlink target has \"..\" after a directory name"),
        ),
        (
            "symlink_relative_escape.tar",
            Error("entry \"up\": symlink target points outside the tree"),
        ),
        (
            "symlink_empty_target.tar",
            Error("entry \"e\": empty symlink target"),
        ),
        (
            "hardlink_via_symlink.tar",
            Error("entry \"l\": absolute symlink target"),
        ),
        (
            "var_run.tar",
            Error("entry \"var/run\": absolute symlink target"),
        ),
        (
            "var_run_no_run.tar.gz",
            Error("entry \"var/run\": absolute symlink target"),
        ),
        (
            "pax_long_name.tar",
            Error("entry \"longlink\": absolute symlink target"),
        ),
        (
            "file_over_symlink.tar",
            Error("entry \"abs\": absolute symlink target"),
        ),
        // A path through a symlink is refused, never followed.
        (
            "symlink_loop.tar",
            Error("entry \"a/x\": a is a symlink; refusing to write through it"),
        ),
        (
            "symlink_dangling_parent.tar",
            Error("entry \"lib/x.so\": lib is a symlink; refusing to write through it"),
        ),
        // Hardlinks, devices and fifos are not written.
        (
            "hardlink_self.tar",
            Error("entry \"f\": unsupported entry type Link"),
        ),
        (
            "devices.tar",
            Error("entry \"dev/null\": unsupported entry type Char"),
        ),
        (
            "fifo.tar",
            Error("entry \"run/initctl\": unsupported entry type Fifo"),
        ),
        // A directory is never replaced, even an empty one.
        (
            "dir_replaced_by_file.tar",
            Error("entry \"d\": refusing to replace a directory with a regular file"),
        ),
        (
            "empty_dir_replaced.tar",
            Error("entry \"e\": refusing to replace a directory with a regular file"),
        ),
        // Permission bits only, owned by the running user, no xattrs; mtimes are kept.
        (
            "setuid.tar",
            Tree(|r, rep| {
                assert_eq!(mode(r, "usr/bin/su"), 0o755);
                assert_eq!(mode(r, "usr/bin/mine"), 0o750);
                assert_eq!(lmeta(r, "usr/bin/mine").uid(), euid());
                assert_eq!(mode(r, "tmp"), 0o777);
                assert!(rep.setuid.is_empty() && rep.setgid.is_empty());
                assert!(rep.sticky_dirs.is_empty());
            }),
        ),
        (
            "capability.tar",
            Tree(|r, rep| {
                assert_eq!(xattr(r, "ping", "security.capability"), None);
                assert_eq!(xattr(r, "ping-user", "user.netroot"), None);
                assert!(rep.capabilities.is_empty());
            }),
        ),
        (
            "duplicate.tar",
            Tree(|r, _| {
                assert_eq!(read(r, "f"), b"second");
                assert_eq!((mode(r, "f"), lmeta(r, "f").uid()), (0o600, euid()));
                assert_eq!(mode(r, "d"), 0o700);
            }),
        ),
        (
            "pax_owner_mtime.tar",
            Tree(|r, _| {
                let m = lmeta(r, "owned");
                assert_eq!(m.uid(), euid());
                assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
            }),
        ),
        // Owners are not read, so an owner id the root policy refuses does not matter.
        (
            "pax_uid_max.tar",
            Tree(|r, _| assert_eq!(lmeta(r, "owned").uid(), euid())),
        ),
    ];
    for file in [
        "hardlink_etc_passwd_absent.tar",
        "hardlink_etc_passwd_inside.tar",
        "hardlink_dotdot.tar",
        "hardlink_to_dir.tar",
    ] {
        cases.push((file, Error("entry \"h\": unsupported entry type Link")));
    }
    cases
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[test]
fn every_fixture_has_an_expectation() {
    let fixtures: BTreeSet<&str> = gen::corpus().iter().map(|f| f.file).collect();
    let expected: BTreeSet<&str> = expectations().iter().map(|(f, _)| *f).collect();
    assert_eq!(fixtures, expected);
}

/// Host paths an escaping write would reach.
fn escape_targets() -> Vec<PathBuf> {
    ["/", "/etc", "/tmp", "/run", "/usr/lib"]
        .iter()
        .map(|d| Path::new(d).join(ESCAPE))
        .collect()
}

/// The expectations under `policy`: the root ones, with the strict differences applied.
fn expectations_for(policy: Policy) -> Vec<(&'static str, Expect)> {
    let mut all = expectations();
    if policy == Policy::Strict {
        for (file, expect) in strict_differences() {
            let slot = all.iter_mut().find(|(f, _)| *f == file);
            slot.unwrap_or_else(|| panic!("{file}: not in the corpus"))
                .1 = expect;
        }
    }
    all
}

/// Extracts one fixture under `policy` at `dest`.
fn extract(
    policy: Policy,
    archive: &Path,
    cache: &Path,
    dest: &Path,
) -> Result<RootReport, String> {
    let result = match policy {
        Policy::Root => materialize(&RootSource::Tarball(archive.to_path_buf()), cache, dest),
        Policy::Strict => extract_tarball(archive, dest, policy).and_then(|()| scan(dest)),
    };
    result.map_err(|e| e.to_string())
}

fn run_corpus(policy: Policy) {
    let passwd = host_passwd();
    let mut failures = Vec::new();
    for (file, expect) in expectations_for(policy) {
        let sandbox = tempfile::tempdir().unwrap();
        let out = sandbox.path().join("out");
        fs::create_dir(&out).unwrap();
        let dest = out.join("root");
        let cache = sandbox.path().join("cache");
        let result = extract(policy, &corpus_dir().join(file), &cache, &dest);
        let listing: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        match (&expect, result) {
            (Error(msg), Err(text)) => {
                if !text.contains(msg) {
                    failures.push(format!("{file}: error {text:?} lacks {msg:?}"));
                }
                if !text.contains(file) {
                    failures.push(format!("{file}: error {text:?} does not name the archive"));
                }
                if !listing.is_empty() {
                    failures.push(format!("{file}: left {listing:?} after an error"));
                }
            }
            (Error(msg), Ok(_)) => {
                failures.push(format!("{file}: expected error {msg:?}, got a tree"))
            }
            (Tree(check), Ok(report)) => {
                assert_eq!(
                    listing,
                    vec!["root".to_owned()],
                    "{file}: stray files next to root"
                );
                let r = std::panic::catch_unwind(|| check(&dest, &report));
                if r.is_err() {
                    failures.push(format!("{file}: tree check failed (see panic above)"));
                }
            }
            (Tree(_), Err(e)) => failures.push(format!("{file}: expected a tree, got: {e}")),
        }
        for p in escape_targets() {
            if fs::symlink_metadata(&p).is_ok() {
                failures.push(format!("{file}: ESCAPED to {}", p.display()));
            }
        }
        assert_eq!(host_passwd(), passwd, "{file}: host /etc/passwd changed");
    }
    assert!(
        failures.is_empty(),
        "{policy:?}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_corpus_root_policy() {
    if !is_root() {
        return;
    }
    run_corpus(Policy::Root);
}

/// The strict policy writes no owners, devices or xattrs, so it runs unprivileged too.
#[test]
fn hostile_corpus_strict_policy() {
    run_corpus(Policy::Strict);
}

/// Fixtures refused through a kernel package: by name (before the kernel parts are selected) or
/// as a whole archive; every other entry of the corpus is outside the kernel subtrees, skipped.
const REFUSED_AS_PACKAGES: [&str; 12] = [
    "dotdot.tar",
    "dotdot_inner.tar",
    "absolute.tar",
    "nul_name.tar",
    "huge_size.tar",
    "truncated.tar.xz",
    "truncated_stream.tar.zst",
    "missing_eof.tar",
    "trailing_garbage.tar",
    "bad_checksum.tar",
    "pax_global_uid.tar",
    "not_a_tar.bin",
];

/// The corpus as the data member of kernel packages, through `extract_deb`.
#[test]
fn hostile_corpus_as_kernel_packages() {
    let mut refused = BTreeSet::new();
    for f in gen::corpus() {
        let sandbox = tempfile::tempdir().unwrap();
        let suffix = [".gz", ".zst", ".xz"]
            .into_iter()
            .find(|s| f.file.ends_with(s))
            .unwrap_or("");
        let data = fs::read(corpus_dir().join(f.file)).unwrap();
        let member = format!("data.tar{suffix}");
        let package = common::ar_archive(&[("debian-binary", b"2.0\n"), (&member, &data)]);
        let deb = sandbox.path().join("pkg.deb");
        fs::write(&deb, package).unwrap();
        let dest = sandbox.path().join("kernel");
        match netroot::kernel::extract_deb(&deb, &dest) {
            Ok(()) => assert_eq!(fs::read_dir(&dest).unwrap().count(), 0, "{}", f.file),
            Err(e) => {
                assert!(e.to_string().contains("pkg.deb"), "{}: {e}", f.file);
                absent(&dest);
                refused.insert(f.file);
            }
        }
        for p in escape_targets() {
            absent(&p);
        }
    }
    assert_eq!(refused, REFUSED_AS_PACKAGES.into_iter().collect());
}

#[test]
fn destination_must_not_exist() {
    let sandbox = tempfile::tempdir().unwrap();
    let dest = sandbox.path().join("root");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep"), b"mine").unwrap();
    let e = materialize(
        &RootSource::Tarball(corpus_dir().join("absolute.tar")),
        sandbox.path(),
        &dest,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: destination already exists", dest.display())
    );
    assert_eq!(fs::read(dest.join("keep")).unwrap(), b"mine");
    let e = materialize(
        &RootSource::Tarball(corpus_dir().join("missing.tar")),
        sandbox.path(),
        &sandbox.path().join("new"),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("opening "), "{e}");
    assert!(e.to_string().contains("missing.tar"), "{e}");
    absent(&sandbox.path().join("new"));
}
