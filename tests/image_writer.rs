//! The deterministic newc writer: layout, determinism, hardlinks, devices, conflicts, and
//! readability by our reader and (when installed) GNU cpio.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::process::Command;

use netroot::image::{read_image, Entry, EntryKind, ImageBuilder};

/// A builder exercising every entry kind, adding entries in the given order.
fn sample(order: &[usize]) -> ImageBuilder {
    type Step = fn(&mut ImageBuilder);
    let steps: [Step; 8] = [
        |b| {
            b.add_file("usr/bin/tool", 0o755, b"#!/bin/sh\necho tool\n".to_vec())
                .unwrap()
        },
        |b| {
            b.add_hardlink("usr/sbin/tool-link", "usr/bin/tool")
                .unwrap()
        },
        |b| b.add_dir("usr/lib", 0o700).unwrap(),
        |b| b.add_symlink("bin", "usr/bin").unwrap(),
        |b| b.add_char_device("dev/console", 0o600, 5, 1).unwrap(),
        |b| {
            b.add_file("etc/hostname", 0o644, b"node1\n".to_vec())
                .unwrap()
        },
        |b| b.add_file("usr/lib/empty", 0o644, Vec::new()).unwrap(),
        |b| b.add_dir("tmp", 0o1777).unwrap(),
    ];
    let mut b = ImageBuilder::new();
    for &i in order {
        steps[i](&mut b);
    }
    b
}

fn cpio_bytes(b: &ImageBuilder, mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let n = b.write_cpio(&mut out, mtime).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

fn find<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} missing"))
}

#[test]
fn insertion_order_does_not_change_bytes() {
    let forward = cpio_bytes(&sample(&[0, 1, 2, 3, 4, 5, 6, 7]), 0);
    // Hardlink (1) must come after its target (0); everything else is shuffled.
    for order in [
        [7, 6, 5, 4, 3, 2, 0, 1],
        [6, 2, 0, 4, 1, 7, 3, 5],
        [3, 0, 7, 1, 5, 6, 4, 2],
    ] {
        assert_eq!(cpio_bytes(&sample(&order), 0), forward, "order {order:?}");
    }
    assert_eq!(
        cpio_bytes(&sample(&[0, 1, 2, 3, 4, 5, 6, 7]), 0),
        forward,
        "second run"
    );
    assert_ne!(
        cpio_bytes(&sample(&[0, 1, 2, 3, 4, 5, 6, 7]), 1),
        forward,
        "mtime is written"
    );
}

#[test]
fn layout_follows_newc_and_the_kernel() {
    let bytes = cpio_bytes(&sample(&[0, 1, 2, 3, 4, 5, 6, 7]), 1_700_000_000);
    assert_eq!(bytes.len() % 512, 0, "padded to 512-byte blocks");
    assert!(bytes.starts_with(b"070701"));
    let image = read_image(&bytes).unwrap();
    assert_eq!(image.segments.len(), 1);
    let entries = &image.segments[0].entries;
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bin",
            "dev",
            "dev/console",
            "etc",
            "etc/hostname",
            "tmp",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "usr/lib",
            "usr/lib/empty",
            "usr/sbin",
            "usr/sbin/tool-link",
        ]
    );
    let inos: Vec<u32> = entries.iter().map(|e| e.ino).collect();
    assert_eq!(
        inos,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 9],
        "sequential, hardlink shares"
    );
    for e in entries {
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 1_700_000_000), "{}", e.path);
        assert_eq!((e.dev_major, e.dev_minor), (0, 0));
    }
    // Directories: 2 + subdirectories.
    assert_eq!(find(entries, "usr").nlink, 5);
    assert_eq!(find(entries, "usr/lib").nlink, 2);
    assert_eq!(find(entries, "usr/lib").mode, 0o040700);
    assert_eq!(find(entries, "usr/bin").mode, 0o040755, "implicit parent");
    assert_eq!(find(entries, "tmp").mode, 0o041777);
    let console = find(entries, "dev/console");
    assert_eq!(
        (console.mode, console.rdev_major, console.rdev_minor),
        (0o020600, 5, 1)
    );
    let bin = find(entries, "bin");
    assert_eq!(
        (bin.mode, bin.link_target.as_deref()),
        (0o120777, Some("usr/bin"))
    );
    assert_eq!(
        find(entries, "etc/hostname").sha256,
        Some(sha256_hex(b"node1\n"))
    );
}

#[test]
fn hardlink_data_is_on_the_last_name() {
    let bytes = cpio_bytes(&sample(&[0, 1]), 0);
    let image = read_image(&bytes).unwrap();
    let entries = &image.segments[0].entries;
    let first = find(entries, "usr/bin/tool");
    let last = find(entries, "usr/sbin/tool-link");
    assert_eq!((first.nlink, last.nlink), (2, 2));
    assert_eq!(first.ino, last.ino);
    assert_eq!((first.stored_size, last.stored_size), (0, 20));
    // Both names resolve to the shared content; the kernel links the later name.
    assert_eq!(first.sha256, last.sha256);
    assert_eq!(first.size, 20);
    assert_eq!(last.hardlink_to.as_deref(), Some("usr/bin/tool"));
    assert_eq!(first.hardlink_to, None);
}

#[test]
fn entries_describe_the_tree() {
    let b = sample(&[0, 1, 2, 3, 4, 5, 6, 7]);
    let infos: Vec<_> = b.entries().collect();
    let link = infos
        .iter()
        .find(|e| e.path == "usr/sbin/tool-link")
        .unwrap();
    assert_eq!(link.kind, EntryKind::Hardlink);
    assert_eq!(link.target.as_deref(), Some("usr/bin/tool"));
    assert_eq!((link.mode, link.size), (0o755, 20));
    assert_eq!(link.sha256, Some(sha256_hex(b"#!/bin/sh\necho tool\n")));
    let dev = infos.iter().find(|e| e.path == "dev/console").unwrap();
    assert_eq!(dev.kind, EntryKind::CharDevice { major: 5, minor: 1 });
    assert_eq!(dev.kind.to_string(), "char-device");
    let sym = infos.iter().find(|e| e.path == "bin").unwrap();
    assert_eq!(
        (sym.kind, sym.target.as_deref(), sym.size),
        (EntryKind::Symlink, Some("usr/bin"), 7)
    );
    assert_eq!(infos.first().unwrap().path, "bin");
}

#[test]
fn adding_twice_is_idempotent_or_a_named_conflict() {
    let mut b = ImageBuilder::new();
    b.add_file("etc/a", 0o644, b"x".to_vec()).unwrap();
    b.add_file("etc/a", 0o644, b"x".to_vec()).unwrap();
    let err = b
        .add_file("etc/a", 0o644, b"y".to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("etc/a was already added as file mode 644, 1 bytes, sha256 "),
        "{err}"
    );
    let err = b
        .add_file("etc/a", 0o600, b"x".to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot add it again as file mode 600"),
        "{err}"
    );
    let err = b.add_dir("etc/a", 0o755).unwrap_err().to_string();
    assert!(
        err.contains("cannot add it again as directory mode 755"),
        "{err}"
    );
    b.add_dir("etc", 0o755).unwrap();
    b.add_dir("etc", 0o755).unwrap();
    let err = b.add_dir("etc", 0o700).unwrap_err().to_string();
    assert_eq!(
        err,
        "etc was already added as directory mode 755; cannot add it again as directory mode 700"
    );
    b.add_symlink("s", "t").unwrap();
    b.add_symlink("s", "t").unwrap();
    let err = b.add_symlink("s", "u").unwrap_err().to_string();
    assert_eq!(
        err,
        "s was already added as symlink to t; cannot add it again as symlink to u"
    );
    b.add_hardlink("h", "etc/a").unwrap();
    b.add_hardlink("h", "etc/a").unwrap();
    b.add_hardlink("h2", "h").unwrap();
    b.add_hardlink("etc/a", "h").unwrap();
    let err = b
        .add_char_device("d", 0o600, 1, 3)
        .and_then(|_| b.add_char_device("d", 0o600, 1, 5));
    assert_eq!(
        err.unwrap_err().to_string(),
        "d was already added as character device 1:3 mode 600; cannot add it again as character device 1:5 mode 600"
    );
}

#[test]
fn invalid_requests_are_rejected_with_the_path() {
    let mut b = ImageBuilder::new();
    b.add_file("etc/a", 0o644, b"x".to_vec()).unwrap();
    let cases = [
        (
            b.add_file("/etc/b", 0o644, Vec::new()),
            "invalid image path \"/etc/b\": must be relative (no leading /)",
        ),
        (
            b.add_dir("a/../b", 0o755),
            "invalid image path \"a/../b\": has a .. component",
        ),
        (
            b.add_file("etc/a/b", 0o644, Vec::new()),
            "cannot add etc/a/b: its parent etc/a is a file, not a directory",
        ),
        (
            b.add_file("etc", 0o644, Vec::new()),
            "cannot add etc as a file: etc is the parent directory of etc/a",
        ),
        (
            b.add_hardlink("l", "nope"),
            "hardlink l: target nope is not in the image",
        ),
        (
            b.add_hardlink("l", "etc"),
            "hardlink l: target etc is a directory; only regular files can be hardlinked",
        ),
        (
            b.add_file("x", 0o40644, Vec::new()),
            "x: mode 0o40644 is not a permission mode (expected bits within 0o7777)",
        ),
        (
            b.add_symlink("s", ""),
            "symlink s: invalid target \"\": empty target",
        ),
        (
            b.add_symlink("s", "a\0b"),
            "symlink s: invalid target \"a\\0b\": contains a NUL byte",
        ),
    ];
    for (result, expected) in cases {
        assert_eq!(result.unwrap_err().to_string(), expected);
    }
    // Type bits matching the kind are accepted (as from st_mode).
    b.add_file("y", 0o100755, Vec::new()).unwrap();
    b.add_dir("z", 0o040700).unwrap();
    let err = b
        .write_cpio(&mut Vec::new(), 1 << 32)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "mtime 4294967296 does not fit the 32-bit newc mtime field"
    );
}

#[test]
fn empty_builder_writes_only_a_trailer() {
    let bytes = cpio_bytes(&ImageBuilder::new(), 0);
    assert_eq!(bytes.len(), 512);
    let image = read_image(&bytes).unwrap();
    assert!(image.segments[0].entries.is_empty());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// GNU cpio, when installed, lists and extracts our output identically.
#[test]
fn gnu_cpio_reads_our_output() {
    if Command::new("cpio").arg("--version").output().is_err() {
        eprintln!("skipped: GNU cpio not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.cpio");
    std::fs::write(
        &archive,
        cpio_bytes(&sample(&[0, 1, 2, 3, 5, 6, 7]), 1_700_000_000),
    )
    .unwrap();
    let list = common::output_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -t --quiet < {}", archive.display())),
    );
    let listed = String::from_utf8(list.stdout).unwrap();
    let ours: Vec<String> = sample(&[0, 1, 2, 3, 5, 6, 7])
        .entries()
        .map(|e| e.path)
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), ours);

    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    common::output_ok(Command::new("sh").arg("-c").arg(format!(
        "cd {} && cpio -idmv --quiet < {}",
        root.display(),
        archive.display()
    )));
    let tool = root.join("usr/bin/tool");
    assert_eq!(std::fs::read(&tool).unwrap(), b"#!/bin/sh\necho tool\n");
    assert_eq!(
        std::fs::read(root.join("usr/sbin/tool-link")).unwrap(),
        b"#!/bin/sh\necho tool\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("bin")).unwrap().to_str(),
        Some("usr/bin")
    );
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&tool).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.nlink(), md.mtime()),
        (0o755, 2, 1_700_000_000)
    );
    assert_eq!(
        md.ino(),
        std::fs::metadata(root.join("usr/sbin/tool-link"))
            .unwrap()
            .ino()
    );
}
