//! `netroot inspect IMAGE --unpack DIR`: a round trip of an image written by the project's own
//! ImageBuilder (two segments, the later overriding a file), hostile archives refused naming the
//! entry and leaving neither DIR nor a staging directory, a non-empty DIR refused.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use netroot::image::ImageBuilder;

/// `netroot inspect IMAGE --unpack DIR [ARGS]`.
fn unpack(image: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = netroot(Path::new("."), &["inspect"]);
    c.arg(image).arg("--unpack").arg(dir).args(args);
    run(&mut c)
}

/// An image of two segments: an early one with `etc/conf` (hardlinked as `etc/conf.link`), then
/// the main one overriding `etc/conf`.
fn two_segment_image(path: &Path) {
    let mut early = ImageBuilder::new();
    early
        .add_file("etc/conf", 0o600, b"early".to_vec())
        .unwrap();
    early.add_hardlink("etc/conf.link", "etc/conf").unwrap();
    let mut main = ImageBuilder::new();
    main.add_dir("etc", 0o750).unwrap();
    main.add_file("etc/conf", 0o640, b"main config".to_vec())
        .unwrap();
    main.add_file("bin/tool", 0o755, b"#!/bin/sh\necho hi\n".to_vec())
        .unwrap();
    main.add_symlink("bin/link", "tool").unwrap();
    main.add_hardlink("bin/tool2", "bin/tool").unwrap();
    main.add_char_device("dev/console", 0o600, 5, 1).unwrap();
    let mut bytes = Vec::new();
    early.write_cpio(&mut bytes, 0).unwrap();
    main.write_cpio(&mut bytes, 0).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn an_image_round_trips_through_unpack() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    two_segment_image(&img);
    let out = d.path().join("out");
    let o = unpack(&img, &out, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["files"], 5, "{report}");
    assert_eq!(report["hardlinks"], 2, "{report}");
    assert_eq!(report["symlinks"], 1, "{report}");
    let mode = |p: &str| {
        fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    // The later segment's entry wins, with its mode, written into the same inode as the kernel
    // does (O_TRUNC): the name hardlinked to it in the early segment shows it too.
    assert_eq!(fs::read(out.join("etc/conf")).unwrap(), b"main config");
    assert_eq!(mode("etc/conf"), 0o640);
    assert_eq!(fs::read(out.join("etc/conf.link")).unwrap(), b"main config");
    assert_eq!(mode("etc/conf.link"), 0o640);
    assert_eq!(mode("etc"), 0o750);
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(
        fs::read_link(out.join("bin/link")).unwrap(),
        Path::new("tool")
    );
    let (a, b) = (
        fs::metadata(out.join("bin/tool")).unwrap(),
        fs::metadata(out.join("bin/tool2")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "a hardlink");
    if rustix::process::geteuid().is_root() {
        let dev = fs::symlink_metadata(out.join("dev/console")).unwrap();
        assert!(dev.file_type().is_char_device());
        assert_eq!(dev.rdev(), rustix::fs::makedev(5, 1));
        assert_eq!(mode("dev/console"), 0o600);
        assert_eq!((a.uid(), a.gid()), (0, 0), "owners as in the archive");
    }
    // The tree holds exactly the image's names.
    let mut names = Vec::new();
    for top in ["bin", "dev", "etc"] {
        for e in fs::read_dir(out.join(top)).unwrap() {
            names.push(format!(
                "{top}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "bin/link",
            "bin/tool",
            "bin/tool2",
            "dev/console",
            "etc/conf",
            "etc/conf.link"
        ]
    );
    let o = unpack(&img, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a second unpack into the full DIR"
    );
    // An empty existing DIR is fine; the text names the counts.
    let empty = d.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let o = unpack(&img, &empty, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_has(&stdout(&o), "5 files (2 hardlinks, ");
    assert_eq!(fs::read(empty.join("etc/conf")).unwrap(), b"main config");
}

/// One raw archive entry: name, mode, data.
type Raw<'a> = (&'a str, u32, &'a [u8]);

/// A newc archive of [`Raw`] entries, written by the `cpio` crate.
fn raw_archive(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ino, (name, mode, data)) in entries.iter().enumerate() {
        let mut w = cpio::NewcBuilder::new(name)
            .ino(ino as u32 + 1)
            .mode(*mode)
            .nlink(1)
            .write(&mut out, data.len() as u32);
        w.write_all(data).unwrap();
        w.finish().unwrap();
    }
    cpio::newc::trailer(&mut out).unwrap();
    out
}

/// Entries of `d` other than the image.
fn left_in(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "img")
        .collect();
    names.sort();
    names
}

#[test]
fn hostile_archives_are_refused_naming_the_entry_and_leave_nothing() {
    const FILE: u32 = 0o100644;
    const DIR: u32 = 0o040755;
    const LINK: u32 = 0o120777;
    let cases: [(&[Raw<'_>], &str); 4] = [
        (
            &[("ok", FILE, b"x"), ("../x", FILE, b"x")],
            "entry \"../x\": has a .. component",
        ),
        (
            &[("a", DIR, b""), ("a/../../x", FILE, b"x")],
            "entry \"a/../../x\": has a .. component",
        ),
        (&[("/abs", FILE, b"x")], "entry \"/abs\": absolute path"),
        (
            &[
                ("a", LINK, b"/etc"),
                ("a/passwd", FILE, b"root::0:0::/:/bin/sh\n"),
            ],
            "entry \"a/passwd\": a is a symlink; refusing to write through it",
        ),
    ];
    for (entries, want) in cases {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("img");
        fs::write(&img, raw_archive(entries)).unwrap();
        let out = d.path().join("out");
        let o = unpack(&img, &out, &["--json"]);
        assert_eq!(o.status.code(), Some(1), "{want}");
        assert_has(&stderr(&o), want);
        let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_has(err["error"].as_str().unwrap(), want);
        assert_eq!(
            left_in(d.path()),
            Vec::<String>::new(),
            "{want}: no DIR, no staging dir"
        );
    }
    assert!(fs::read("/etc/passwd").unwrap() != b"root::0:0::/:/bin/sh\n");
}

#[test]
fn a_non_empty_dir_or_a_file_is_refused_and_kept() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    two_segment_image(&img);
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("mine"), b"keep").unwrap();
    let o = unpack(&img, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_has(
        &stderr(&o),
        &format!("{} exists and is not an empty directory", out.display()),
    );
    assert_eq!(fs::read(out.join("mine")).unwrap(), b"keep");
    assert_eq!(left_in(d.path()), ["out"]);
    let o = unpack(&img, &img, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_has(&stderr(&o), "exists and is not an empty directory");
    // --unpack with --cat is a usage error.
    let o = run(netroot(Path::new("."), &["inspect"])
        .arg(&img)
        .args(["--unpack", "x", "--cat", "etc/conf"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_directory_the_archive_implies_is_created_0755() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    fs::write(&img, raw_archive(&[("./d/e/f", 0o100600, b"x")])).unwrap();
    let out = d.path().join("out");
    let o = unpack(&img, &out, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (report["entries"].as_u64(), report["dirs"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(fs::read(out.join("d/e/f")).unwrap(), b"x");
    for dir in ["d", "d/e"] {
        let mode = fs::metadata(out.join(dir)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "{dir}");
    }
    let mode = fs::metadata(out.join("d/e/f"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
}
