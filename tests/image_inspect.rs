//! `netroot inspect`: listing, verification errors, diff and JSON output, argument forms.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::path::{Path, PathBuf};

use clap::Parser;
use netroot::cli::inspect::{run, InspectArgs};
use netroot::codec::Codec;
use netroot::compress::{compress, Compression};
use netroot::image::ImageBuilder;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/images/gnu-early-gzip.img"
);

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: InspectArgs,
}

fn parse(argv: &[&str]) -> Result<InspectArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("inspect").chain(argv.iter().copied())).map(|c| c.args)
}

fn inspect(argv: &[&str]) -> anyhow::Result<String> {
    let args = parse(argv)?;
    let mut out = Vec::new();
    run(&args, &mut out)?;
    Ok(String::from_utf8(out)?)
}

#[test]
fn lists_every_segment_and_entry() {
    let text = inspect(&[FIXTURE]).unwrap();
    let expected = "\
# segment 1: offset 0, uncompressed (668 bytes), newc, 4 entries
drwxr-xr-x 0/0         0 kernel
drwxr-xr-x 0/0         0 kernel/x86
drwxr-xr-x 0/0         0 kernel/x86/microcode
-rw-r--r-- 0/0        20 kernel/x86/microcode/GenuineIntel.bin
# segment 2: offset 1024, gzip (434 -> 2560 bytes), newc, 17 entries
drwxr-xr-x 0/0         0 bin
-rwxr-xr-x 0/0        21 bin/hello
lrwxrwxrwx 0/0         5 bin/hi -> hello
-rw-r--r-- 0/0        15 bin/tool
-rw-r--r-- 0/0        15 bin/tool-alias => bin/tool
drwxr-xr-x 0/0         0 dev
crw------- 0/0       5,1 dev/console
drwxr-xr-x 0/0         0 etc
-rw-r--r-- 0/0        30 etc/passwd
drwxr-xr-x 0/0         0 lib
drwxr-xr-x 0/0         0 lib/modules
drwxr-xr-x 0/0         0 lib/modules/6.1.0-test
drwxr-xr-x 0/0         0 lib/modules/6.1.0-test/kernel
drwxr-xr-x 0/0         0 lib/modules/6.1.0-test/kernel/drivers
drwxr-xr-x 0/0         0 lib/modules/6.1.0-test/kernel/drivers/net
-rw-r--r-- 0/0        25 lib/modules/6.1.0-test/kernel/drivers/net/e1000e.ko
-rw-r--r-- 0/0        20 lib/modules/6.1.0-test/kernel/drivers/net/virtio_net.ko
# total: 2 segments, 21 entries (7 files, 12 directories, 1 symlinks, 1 other), 131 bytes of file data, image 1458 bytes
";
    assert_eq!(text, expected);
    let segments = inspect(&["--segments", FIXTURE]).unwrap();
    let kept: Vec<&str> = expected.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(segments.lines().collect::<Vec<_>>(), kept);
}

#[test]
fn json_listing_has_all_fields() {
    let v: serde_json::Value =
        serde_json::from_str(&inspect(&["--json", FIXTURE]).unwrap()).unwrap();
    assert_eq!(v["summary"]["entries"], 21);
    assert_eq!(v["segments"][0]["compression"], serde_json::Value::Null);
    assert_eq!(v["segments"][1]["compression"], "gzip");
    let entries = v["segments"][1]["entries"].as_array().unwrap();
    let alias = entries
        .iter()
        .find(|e| e["path"] == "bin/tool-alias")
        .unwrap();
    assert_eq!(alias["type"], "file");
    assert_eq!(alias["mode"], "0644");
    assert_eq!(alias["nlink"], 2);
    assert_eq!(alias["hardlink_to"], "bin/tool");
    assert_eq!(alias["sha256"].as_str().map(str::len), Some(64));
    let console = entries.iter().find(|e| e["path"] == "dev/console").unwrap();
    assert_eq!(console["rdev"], serde_json::json!([5, 1]));
    assert_eq!(console["type"], "char-device");
    let hi = entries.iter().find(|e| e["path"] == "bin/hi").unwrap();
    assert_eq!(hi["target"], "hello");
    assert_eq!(hi["mtime"], 1_700_000_000);
    let only = serde_json::from_str::<serde_json::Value>(
        &inspect(&["--json", "--segments", FIXTURE]).unwrap(),
    )
    .unwrap();
    assert!(only["segments"][1].get("entries").is_none());
    assert_eq!(only["segments"][1]["entry_count"], 17);
}

#[test]
fn corruption_fails_with_the_location() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(FIXTURE).unwrap();
    data.truncate(data.len() - 10);
    let path = dir.path().join("cut.img");
    std::fs::write(&path, &data).unwrap();
    let err = format!("{:#}", inspect(&[path.to_str().unwrap()]).unwrap_err());
    assert!(
        err.starts_with(&format!(
            "{} is not a valid initramfs: segment 2 at byte 1024: gzip stream is truncated",
            path.display()
        )),
        "{err}"
    );
    let missing = dir.path().join("missing.img");
    let err = format!("{:#}", inspect(&[missing.to_str().unwrap()]).unwrap_err());
    assert!(
        err.starts_with(&format!("cannot read {}: ", missing.display())),
        "{err}"
    );
}

/// Writes an image (uncompressed early segment + zstd main) built by `fill`.
fn image(dir: &Path, name: &str, fill: impl FnOnce(&mut ImageBuilder)) -> PathBuf {
    let mut early = ImageBuilder::new();
    early
        .add_file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            b"u".to_vec(),
        )
        .unwrap();
    let mut main = ImageBuilder::new();
    fill(&mut main);
    let mut bytes = Vec::new();
    early.write_cpio(&mut bytes, 0).unwrap();
    let mut cpio = Vec::new();
    main.write_cpio(&mut cpio, 0).unwrap();
    let c = Compression {
        kind: Codec::Zstd,
        level: Some(3),
    };
    bytes.extend_from_slice(&compress(&cpio, &c).unwrap());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const KMOD: &str = "lib/modules/6.1.0/kernel/drivers";

/// The files of a.img and b.img side by side: (path, mode, content).
const FILES: [[(&str, u32, &[u8]); 2]; 4] = [
    [("init", 0o755, b"v1"), ("init", 0o755, b"v2")],
    [("etc/keep", 0o644, b"same"), ("etc/keep", 0o644, b"same")],
    [("etc/gone", 0o644, b"x"), ("etc/new", 0o644, b"y")],
    [("etc/mode", 0o644, b"m"), ("etc/mode", 0o600, b"m")],
];
/// The target of the symlink `bin` in a.img and b.img.
const BIN: [&str; 2] = ["usr/bin", "usr/sbin"];
/// The modules of a.img and b.img side by side: (path below KMOD, content), mode 0644.
const MODULES: [[(&str, &[u8]); 2]; 3] = [
    [("net/e1000e.ko", b"e1"), ("net/e1000e.ko.zst", b"e1")],
    [("net/old-nic.ko", b"o"), ("net/virtio_net.ko", b"v")],
    [("fs/nfs.ko", b"n"), ("fs/nfs.ko", b"n2")],
];

fn pair(dir: &Path) -> (PathBuf, PathBuf) {
    // Side `i` of the tables, added in the same order: files, the symlink, modules.
    let side = |i: usize, name: &str| {
        image(dir, name, |b| {
            for f in &FILES {
                let (path, mode, data) = f[i];
                b.add_file(path, mode, data.to_vec()).unwrap();
            }
            b.add_symlink("bin", BIN[i]).unwrap();
            for m in &MODULES {
                let (path, data) = m[i];
                b.add_file(&format!("{KMOD}/{path}"), 0o644, data.to_vec())
                    .unwrap();
            }
        })
    };
    (side(0, "a.img"), side(1, "b.img"))
}

#[test]
fn diff_reports_files_and_modules() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let text = inspect(&["--diff", a, b]).unwrap();
    let sha = |d: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(d))[..16].to_owned()
    };
    let expected = format!(
        "\
# diff {a} -> {b}
removed -rw-r--r-- 0/0         1 etc/gone
removed -rw-r--r-- 0/0         2 {KMOD}/net/e1000e.ko
removed -rw-r--r-- 0/0         1 {KMOD}/net/old-nic.ko
added   -rw-r--r-- 0/0         1 etc/new
added   -rw-r--r-- 0/0         2 {KMOD}/net/e1000e.ko.zst
added   -rw-r--r-- 0/0         1 {KMOD}/net/virtio_net.ko
changed bin
    target: usr/bin -> usr/sbin
changed etc/mode
    mode: -rw-r--r-- -> -rw-------
changed init
    content: 2 bytes, sha256 {} -> 2 bytes, sha256 {}
changed {KMOD}/fs/nfs.ko
    content: 1 bytes, sha256 {} -> 2 bytes, sha256 {}
# modules
removed module old_nic ({KMOD}/net/old-nic.ko)
added   module virtio_net ({KMOD}/net/virtio_net.ko)
changed module e1000e ({KMOD}/net/e1000e.ko -> {KMOD}/net/e1000e.ko.zst)
changed module nfs ({KMOD}/fs/nfs.ko)
# 3 added, 3 removed, 4 changed; modules: 1 added, 1 removed, 2 changed
",
        sha(b"v1"),
        sha(b"v2"),
        sha(b"n"),
        sha(b"n2"),
    );
    assert_eq!(text, expected);
    // The flag may also follow the first image.
    assert_eq!(inspect(&[a, "--diff", b]).unwrap(), expected);

    let v: serde_json::Value =
        serde_json::from_str(&inspect(&["--diff", "--json", a, b]).unwrap()).unwrap();
    assert_eq!(v["identical"], false);
    assert_eq!(v["added"].as_array().unwrap().len(), 3);
    assert_eq!(v["changed"][1]["path"], "etc/mode");
    assert_eq!(
        v["changed"][1]["changes"][0],
        serde_json::json!({"field": "mode", "old": "-rw-r--r--", "new": "-rw-------"})
    );
    assert_eq!(
        v["modules"]["added"][0],
        serde_json::json!({"name": "virtio_net", "path": format!("{KMOD}/net/virtio_net.ko")})
    );
    assert_eq!(v["modules"]["removed"][0]["name"], "old_nic");

    let same = inspect(&["--diff", a, a]).unwrap();
    assert_eq!(same, format!("# diff {a} -> {a}\n# modules\n# 0 added, 0 removed, 0 changed; modules: 0 added, 0 removed, 0 changed\n"));
    let v: serde_json::Value =
        serde_json::from_str(&inspect(&["--diff", "--json", a, a]).unwrap()).unwrap();
    assert_eq!(v["identical"], true);
}

#[test]
fn argument_forms() {
    let args = parse(&["--diff", "a", "b"]).unwrap();
    assert_eq!(
        (
            args.image.to_str(),
            args.other.as_deref().and_then(Path::to_str)
        ),
        (Some("a"), Some("b"))
    );
    assert!(args.diff);
    assert!(
        parse(&["--diff", "a"]).is_err(),
        "--diff needs a second image"
    );
    assert!(parse(&["a", "b"]).is_err(), "a second image needs --diff");
    assert!(parse(&["--segments", "--diff", "a", "b"]).is_err());
}

#[test]
fn kernel_compatibility_warnings_are_shown() {
    use std::io::Write;
    let mut cpio = Vec::new();
    let mut b = ImageBuilder::new();
    b.add_file("init", 0o755, b"x".to_vec()).unwrap();
    b.write_cpio(&mut cpio, 0).unwrap();
    // xz with a CRC64 check, which the kernel's XZ Embedded decoder rejects.
    let stream = xz2::stream::Stream::new_easy_encoder(1, xz2::stream::Check::Crc64).unwrap();
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(&cpio).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crc64.img");
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let text = inspect(&["--segments", path.to_str().unwrap()]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("# segment 1: offset 0, xz ("),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "# warning: xz check type 4: the kernel's xz decoder accepts only none or crc32"
    );
}

#[test]
fn cat_prints_the_file_the_kernel_unpacks_and_names_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "cat.img", |b| {
        b.add_file("etc/motd", 0o644, b"hello\nnode\n".to_vec())
            .unwrap();
        b.add_symlink("etc/link", "motd").unwrap();
        b.add_hardlink("etc/motd.hard", "etc/motd").unwrap();
        b.add_dir("etc/dir", 0o755).unwrap();
        // A later segment's entry of the same name wins, as when the kernel unpacks.
        b.add_file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            b"main".to_vec(),
        )
        .unwrap();
    });
    let img = img.to_str().unwrap();
    assert_eq!(
        inspect(&[img, "--cat", "etc/motd"]).unwrap(),
        "hello\nnode\n"
    );
    assert_eq!(
        inspect(&[img, "--cat", "/etc/motd"]).unwrap(),
        "hello\nnode\n"
    );
    assert_eq!(
        inspect(&[img, "--cat", "kernel/x86/microcode/GenuineIntel.bin"]).unwrap(),
        "main"
    );
    let err = |path: &str| format!("{:#}", inspect(&[img, "--cat", path]).unwrap_err());
    assert!(
        err("etc/none").contains("etc/none: no such path in the image"),
        "{}",
        err("etc/none")
    );
    assert!(err("etc/link").contains("etc/link is a symlink -> motd, not a regular file"));
    assert!(err("etc/dir").contains("etc/dir is a directory, not a regular file"));
    assert!(parse(&[img, "--cat", "x", "--json"]).is_err());
}
