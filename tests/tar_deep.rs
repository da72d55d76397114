//! Deeply nested archives: extraction cost grows linearly with the archive, so an archive 5,000
//! directories deep is extracted or refused (with the path named) in seconds, on both the root
//! tarball path and the kernel package path.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use netroot::kernel::extract_deb;
use netroot::rootfs::{materialize, RootSource};

/// Nesting of the generated archive: far beyond any real tree, so super-linear work shows.
const DEPTH: usize = 5_000;
/// Time budget of one extraction: the cubic extractors took minutes at depth 2,000 (about an
/// hour at this depth); the linear one takes 2-10 s on a 2-CPU host shared with a CI run, and
/// the margin keeps a loaded host from failing the test.
const BUDGET: Duration = Duration::from_secs(60);

/// Stored in every generated header.
const MTIME: u64 = 1_700_000_000;

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

/// A tar of `prefix`, then `depth` nested directories `d`, and a file `bottom` at the bottom.
fn deep_tar(prefix: &str, depth: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut path = prefix.to_owned();
    for _ in 0..depth {
        path.push_str("d/");
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, &path, &[][..]).unwrap();
    }
    let mut h = header(tar::EntryType::Regular, 0o644, 6);
    b.append_data(&mut h, format!("{path}bottom"), &b"bottom"[..])
        .unwrap();
    b.into_inner().unwrap()
}

/// Checks the outcome of one extraction: in budget, and either the file at the bottom exists or
/// the error names the deep path and says why.
fn check(what: &str, start: Instant, result: Result<(), String>, bottom: &Path) {
    let took = start.elapsed();
    eprintln!("{what}: {DEPTH} nested directories in {took:?}");
    assert!(took < BUDGET, "{what}: {took:?} is over {BUDGET:?}");
    match result {
        Ok(()) => assert_eq!(fs::read(bottom).unwrap(), b"bottom"),
        Err(e) => {
            assert!(e.contains("longer than PATH_MAX"), "{what}: {e}");
            assert!(
                e.contains(&"d/".repeat(100)),
                "{what}: error does not name the path"
            );
        }
    }
}

fn bottom(root: &Path, prefix: &str) -> std::path::PathBuf {
    root.join(format!("{prefix}{}bottom", "d/".repeat(DEPTH)))
}

#[test]
fn deep_root_tarball_is_linear() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("deep.tar");
    fs::write(&archive, deep_tar("", DEPTH)).unwrap();
    let dest = dir.path().join("root");
    let start = Instant::now();
    let r = materialize(&RootSource::Tarball(archive), dir.path(), &dest);
    let r = r.map(|_| ()).map_err(|e| e.to_string());
    check("root tarball", start, r, &bottom(&dest, ""));
}

#[test]
fn deep_kernel_package_is_linear() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("deep.deb");
    let prefix = "lib/modules/6.1/";
    let data = deep_tar(prefix, DEPTH);
    let package = common::ar_archive(&[("debian-binary", b"2.0\n"), ("data.tar", &data)]);
    fs::write(&pkg, package).unwrap();
    let dest = dir.path().join("kernel");
    let start = Instant::now();
    let r = extract_deb(&pkg, &dest).map_err(|e| e.to_string());
    check("kernel package", start, r, &bottom(&dest, prefix));
}
