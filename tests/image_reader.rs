//! The image reader: segments as the kernel sees them, images made by other tools, and
//! every kind of corruption reported with its segment and byte offset.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::process::Command;

use netroot::codec::Codec;
use netroot::compress::{compress, Compression};
use netroot::image::{read_image, Image, ImageBuilder, ReadError};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/images/gnu-early-gzip.img"
);

fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    for (path, data) in files {
        b.add_file(path, 0o644, data.to_vec()).unwrap();
    }
    let mut out = Vec::new();
    b.write_cpio(&mut out, 0).unwrap();
    out
}

/// Our uncompressed archive without the 512-byte padding, which some tests need exact.
fn tight_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = archive(files);
    while out.last() == Some(&0) {
        out.pop();
    }
    // Restore the 4-byte alignment padding after the trailer name.
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

fn packed(kind: Codec, data: &[u8]) -> Vec<u8> {
    compress(
        data,
        &Compression {
            kind,
            level: Some(3),
        },
    )
    .unwrap()
}

fn err(data: &[u8]) -> String {
    read_image(data).unwrap_err().to_string()
}

fn paths(image: &Image, segment: usize) -> Vec<&str> {
    image.segments[segment]
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect()
}

#[test]
fn dracut_style_early_cpio_then_compressed_main() {
    let early = archive(&[("kernel/x86/microcode/GenuineIntel.bin", b"ucode")]);
    for kind in [Codec::Gzip, Codec::Zstd, Codec::Xz] {
        let main = packed(
            kind,
            &archive(&[("init", b"#!/bin/sh\n"), ("etc/hostname", b"n1\n")]),
        );
        let mut image = early.clone();
        image.extend_from_slice(&main);
        image.extend_from_slice(&[0; 7]); // trailing zero padding is allowed
        let img = read_image(&image).unwrap();
        assert_eq!(img.segments.len(), 2, "{kind}");
        let (s1, s2) = (&img.segments[0], &img.segments[1]);
        assert_eq!((s1.offset, s1.compression), (0, None));
        assert_eq!(
            s1.length, 656,
            "up to the trailer; the block padding is skipped as zeros"
        );
        assert_eq!(
            paths(&img, 0),
            [
                "kernel",
                "kernel/x86",
                "kernel/x86/microcode",
                "kernel/x86/microcode/GenuineIntel.bin"
            ]
        );
        assert_eq!((s2.offset, s2.length), (1024, main.len() as u64));
        assert_eq!(s2.compression.map(|c| c.name()), Some(kind.name()));
        assert_eq!(s2.uncompressed_size, 512);
        assert_eq!(paths(&img, 1), ["etc", "etc/hostname", "init"]);
        assert_eq!(img.entries().count(), 7);
    }
}

#[test]
fn several_archives_and_streams() {
    // Two archives inside one compressed stream, then a second zstd stream: three
    // archives in two segments, as concatenating `cpio | zstd` outputs gives.
    let mut inner = archive(&[("a", b"1")]);
    inner.extend_from_slice(&archive(&[("b", b"2")]));
    let mut image = packed(Codec::Zstd, &inner);
    let second_at = image.len();
    image.extend_from_slice(&packed(Codec::Zstd, &archive(&[("c", b"3")])));
    let img = read_image(&image).unwrap();
    assert_eq!(img.segments.len(), 2);
    assert_eq!(img.segments[0].archives, 2);
    assert_eq!(paths(&img, 0), ["a", "b"]);
    assert_eq!(img.segments[1].offset, second_at as u64);
    assert_eq!(paths(&img, 1), ["c"]);
}

#[test]
fn gnu_cpio_fixture_reads_like_the_kernel_would() {
    let img = read_image(&std::fs::read(FIXTURE).unwrap()).unwrap();
    assert_eq!(img.segments.len(), 2);
    assert_eq!(img.segments[0].compression, None);
    assert_eq!(img.segments[1].compression, Some(Codec::Gzip));
    let ucode = img.segments[0].entries.last().unwrap();
    assert_eq!(ucode.path, "kernel/x86/microcode/GenuineIntel.bin");
    assert_eq!(ucode.size, 20);
    let get = |p: &str| {
        img.entries()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p}"))
    };
    let (tool, alias) = (get("bin/tool"), get("bin/tool-alias"));
    assert_eq!((tool.nlink, alias.nlink, tool.ino), (2, 2, alias.ino));
    // GNU cpio stores the data on the last name, like our writer.
    assert_eq!((tool.stored_size, alias.stored_size), (0, 15));
    assert_eq!(tool.sha256, alias.sha256);
    assert_eq!(
        tool.sha256.as_deref(),
        Some(sha256_hex(b"shared content\n").as_str())
    );
    assert_eq!(alias.hardlink_to.as_deref(), Some("bin/tool"));
    let console = get("dev/console");
    assert_eq!(
        (console.mode, console.rdev_major, console.rdev_minor),
        (0o020600, 5, 1)
    );
    assert_eq!(get("bin/hi").link_target.as_deref(), Some("hello"));
    assert_eq!(get("bin/hello").mode, 0o100755);
    assert!(img
        .entries()
        .all(|e| e.mtime == 1_700_000_000 && e.uid == 0 && e.gid == 0));
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn empty_and_unrecognised_images() {
    assert_eq!(err(b""), "image is empty");
    assert_eq!(err(&[0; 64]), "image holds only zero bytes");
    assert_eq!(
        err(b"hello"),
        "not an initramfs: unrecognised data at byte 0 (bytes 68 65 6c 6c 6f)"
    );
    let mut misaligned = vec![0, 0];
    misaligned.extend_from_slice(&archive(&[("a", b"1")]));
    assert_eq!(
        err(&misaligned),
        "segment 1 (uncompressed cpio at byte 2): archive does not start on a 4-byte boundary, at byte 2"
    );
}

#[test]
fn header_corruption_is_located() {
    let good = archive(&[("etc/a", b"hello")]);
    // Entries: "etc" at 0 (110 + "etc\0" = 114, padded to 116), "etc/a" header at 116,
    // its name at 226..232 and its data at 232.
    let mut bad = good.clone();
    bad[..6].copy_from_slice(b"070799");
    assert_eq!(
        err(&bad),
        "segment 1 (uncompressed cpio at byte 0): bad cpio magic \"070799\" (expected 070701 or 070702), at byte 0"
    );
    bad[..6].copy_from_slice(b"070707");
    assert_eq!(
        err(&bad),
        "segment 1 (uncompressed cpio at byte 0): old portable cpio format 070707 \
         (the kernel needs newc: cpio -H newc), at byte 0"
    );
    let mut bad = good.clone();
    let filesize = 116 + 6 + 6 * 8;
    bad[filesize..filesize + 8].copy_from_slice(b"0000zz05");
    assert_eq!(
        err(&bad),
        format!(
            "segment 1 (uncompressed cpio at byte 0): bad hex \"0000zz05\" in header field \
             c_filesize, at byte {filesize}"
        )
    );
    assert_eq!(
        err(&good[..50]),
        "segment 1 (uncompressed cpio at byte 0): truncated entry header: needs 110 bytes, \
         only 50 left, at byte 0"
    );
    assert_eq!(
        err(&good[..230]),
        "segment 1 (uncompressed cpio at byte 0): truncated entry name: needs 6 bytes, \
         only 4 left, at byte 226"
    );
    assert_eq!(
        err(&good[..234]),
        "segment 1 (uncompressed cpio at byte 0): truncated data of etc/a: needs 5 bytes, \
         only 2 left, at byte 232"
    );
    let mut bad = good.clone();
    bad[231] = b'x'; // the NUL ending "etc/a"
    assert_eq!(
        err(&bad),
        "segment 1 (uncompressed cpio at byte 0): entry name \"etc/ax\" is not NUL-terminated, at byte 226"
    );
    let tight = tight_archive(&[("a", b"1")]);
    let no_trailer = &tight[..116];
    assert_eq!(
        err(no_trailer),
        "segment 1 (uncompressed cpio at byte 0): archive ends without a TRAILER!!! entry \
         (truncated), at byte 116"
    );
}

#[test]
fn crc_checksums_are_verified() {
    let write = |checksum: u32| {
        let mut out = Vec::new();
        let mut w = cpio::NewcBuilder::new("f")
            .mode(0o100644)
            .write_crc(&mut out, 3, checksum);
        std::io::Write::write_all(&mut w, b"abc").unwrap();
        w.finish().unwrap();
        cpio::newc::trailer(&mut out).unwrap();
        out
    };
    let sum = u32::from(b'a') + u32::from(b'b') + u32::from(b'c');
    let img = read_image(&write(sum)).unwrap();
    assert!(img.segments[0].crc);
    assert_eq!(
        err(&write(sum + 1)),
        "segment 1 (uncompressed cpio at byte 0): checksum mismatch for f: header says 00000127, \
         data sums to 00000126, at byte 0"
    );
}

#[test]
fn compressed_segment_damage_is_located() {
    let early = archive(&[("early", b"e")]);
    let main_cpio = archive(&[("etc/x", &[7u8; 3000])]);
    let main = packed(Codec::Gzip, &main_cpio);
    let mut image = early.clone();
    image.extend_from_slice(&main[..main.len() - 20]);
    let e = err(&image);
    assert!(
        e.starts_with("segment 2 at byte 512: gzip stream is truncated: "),
        "{e}"
    );
    assert_eq!(early.len(), 512);

    let mut image = early.clone();
    image.extend_from_slice(&main);
    let end = image.len();
    image.extend_from_slice(b"GARBAGE!!");
    assert_eq!(
        err(&image),
        format!("garbage after the last segment (segment 2) at byte {end}: bytes 47 41 52 42 41 47 45 21 …")
    );

    // The decompressed data ends inside an entry: the kernel's "junk in compressed archive".
    let mut image = early.clone();
    image.extend_from_slice(&packed(Codec::Zstd, &main_cpio[..2000]));
    assert_eq!(
        err(&image),
        "segment 2 (zstd at byte 512): truncated data of etc/x: needs 3000 bytes, only 1768 left, \
         at byte 232 of the decompressed data"
    );
    let mut junk = main_cpio.clone();
    junk.extend_from_slice(b"junk");
    let mut image = early.clone();
    image.extend_from_slice(&packed(Codec::Xz, &junk));
    assert_eq!(
        err(&image),
        format!(
            "segment 2 (xz at byte 512): junk after the archive trailer: bytes 6a 75 6e 6b, \
             at byte {} of the decompressed data",
            main_cpio.len()
        )
    );
    let mut image = early;
    image.extend_from_slice(&packed(Codec::Gzip, &[0; 16]));
    assert_eq!(
        err(&image),
        "segment 2 (gzip at byte 512): decompressed data holds no cpio archive, at byte 0 of the \
         decompressed data"
    );
}

#[test]
fn errors_keep_their_structure() {
    match read_image(b"0707").unwrap_err() {
        ReadError::Archive {
            segment: 1,
            offset: 0,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

/// A real dracut image, when dracut is installed and we are root (it needs both).
#[test]
fn real_dracut_image_verifies() {
    // `dracut --version` exits 1 even when it works, so only check that it runs.
    let usable = Command::new("dracut").arg("--version").output().is_ok();
    if !usable {
        eprintln!("skipped: dracut not installed");
        return;
    }
    if !common::root_or_skip("dracut builds images only as root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dracut.img");
    let status = Command::new("dracut")
        .args([
            "--quiet",
            "--force",
            "--no-hostonly",
            "--no-kernel",
            "--reproducible",
        ])
        .args(["--modules", "base", "--compress", "zstd"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let img = read_image(&std::fs::read(&out).unwrap()).unwrap();
    let last = img.segments.last().unwrap();
    assert_eq!(last.compression, Some(Codec::Zstd));
    assert!(
        img.entries().any(|e| e.normalized_path() == "init"),
        "dracut images have /init"
    );
}
