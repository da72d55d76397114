//! `extract_deb` on synthetic packages: every supported compression, the
//! selection and mode rules, and hostile or broken input (each must fail with
//! a clear message and leave nothing at the destination).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use netroot::kernel::extract_deb;

/// Modification time stored in the synthetic entries.
const MTIME: u64 = 1_700_000_000;

/// One tar entry; names and link targets are written raw, unchecked.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, data, link): (&str, &[u8], &str) = match entry {
            Entry::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (name, b"", "")
            }
            Entry::File(name, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (name, data, "")
            }
            Entry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                (name, b"", target)
            }
            Entry::Hardlink(name, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                (name, b"", target)
            }
        };
        header.set_size(data.len() as u64);
        header.set_mtime(MTIME);
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A package with the usual first members and the given data member.
fn deb(member: &str, data: &[u8]) -> Vec<u8> {
    common::ar_archive(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", &xz(&tar(&[]))),
        (member, data),
    ])
}

/// A temp dir with the package written as `pkg.deb`; dest is `out/kernel`.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(package: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pkg.deb"), package).unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        Case { dir }
    }
    fn deb(&self) -> PathBuf {
        self.dir.path().join("pkg.deb")
    }
    fn dest(&self) -> PathBuf {
        self.dir.path().join("out/kernel")
    }
    /// Runs the extraction, expecting an error; checks that nothing was left.
    fn fail(&self) -> String {
        let err = extract_deb(&self.deb(), &self.dest())
            .unwrap_err()
            .to_string();
        let left: Vec<_> = fs::read_dir(self.dir.path().join("out")).unwrap().collect();
        assert!(left.is_empty(), "left behind after {err}: {left:?}");
        assert!(!self.dir.path().join("evil").exists());
        err
    }
    /// The message prefix naming the package.
    fn prefix(&self) -> String {
        self.deb().display().to_string()
    }
}

fn good_entries() -> Vec<Entry<'static>> {
    vec![
        Entry::Dir("./"),
        Entry::Dir("./boot/"),
        Entry::File("./boot/vmlinuz-6.1.0-9-amd64", b"image", 0o644),
        Entry::File("./boot/config-6.1.0-9-amd64", b"CONFIG_X=y\n", 0o644),
        Entry::File("./boot/System.map-6.1.0-9-amd64", b"map", 0o644),
        Entry::File("./usr/share/doc/linux-image/copyright", b"gpl", 0o644),
        Entry::File("./lib/modules/6.1.0-9-amd64/kernel/a.ko", b"first", 0o644),
        Entry::File("./lib/modules/6.1.0-9-amd64/kernel/b.ko", b"setuid", 0o4755),
        Entry::Symlink("./lib/modules/6.1.0-9-amd64/alias.ko", "kernel/a.ko"),
        Entry::Symlink("./lib/modules/6.1.0-9-amd64/fw", "../../firmware"),
        Entry::File("./usr/lib/firmware/rtl_nic/rtl8168.fw", b"fw", 0o644),
        Entry::File("./lib/modules/6.1.0-9-amd64/kernel/a.ko", b"second", 0o600),
    ]
}

#[test]
fn every_compression_extracts_the_kernel_parts() {
    let plain = tar(&good_entries());
    let zst = zstd::encode_all(plain.as_slice(), 3).unwrap();
    let members: [(&str, Vec<u8>); 4] = [
        ("data.tar", plain.clone()),
        ("data.tar.xz", xz(&plain)),
        ("data.tar.zst", zst),
        ("data.tar.gz", gz(&plain)),
    ];
    for (member, data) in members {
        let case = Case::new(&deb(member, &data));
        let dest = case.dest();
        extract_deb(&case.deb(), &dest).unwrap();
        let read = |p: &str| fs::read(dest.join(p)).unwrap();
        let mode = |p: &str| {
            fs::symlink_metadata(dest.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(read("boot/vmlinuz-6.1.0-9-amd64"), b"image", "{member}");
        assert_eq!(read("boot/config-6.1.0-9-amd64"), b"CONFIG_X=y\n");
        assert!(!dest.join("boot/System.map-6.1.0-9-amd64").exists());
        assert!(!dest.join("usr/share").exists());
        // The later duplicate wins, with its own mode.
        assert_eq!(read("lib/modules/6.1.0-9-amd64/kernel/a.ko"), b"second");
        assert_eq!(mode("lib/modules/6.1.0-9-amd64/kernel/a.ko"), 0o600);
        // setuid is dropped.
        assert_eq!(mode("lib/modules/6.1.0-9-amd64/kernel/b.ko"), 0o755);
        let meta = fs::metadata(dest.join("lib/modules/6.1.0-9-amd64/kernel/b.ko")).unwrap();
        assert_eq!(meta.mtime(), MTIME as i64);
        assert_eq!(
            fs::read_link(dest.join("lib/modules/6.1.0-9-amd64/alias.ko")).unwrap(),
            Path::new("kernel/a.ko")
        );
        assert_eq!(read("lib/modules/6.1.0-9-amd64/alias.ko"), b"second");
        assert_eq!(
            fs::read_link(dest.join("lib/modules/6.1.0-9-amd64/fw")).unwrap(),
            Path::new("../../firmware")
        );
        assert_eq!(read("usr/lib/firmware/rtl_nic/rtl8168.fw"), b"fw");
        assert_eq!(mode(""), 0o755);
        // Only the destination is left in its parent: no temporary directory.
        let names: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["kernel"]);
    }
}

#[test]
fn not_an_ar_archive() {
    for content in [&b"hello, world\n"[..], b"", b"!<arch>"] {
        let case = Case::new(content);
        assert_eq!(
            case.fail(),
            format!(
                "{} is not a Debian package (not an ar archive)",
                case.prefix()
            )
        );
    }
}

#[test]
fn no_data_member() {
    let case = Case::new(&common::ar_archive(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", b"x"),
    ]));
    assert_eq!(
        case.fail(),
        format!(
            "{} has no data.tar member (members: debian-binary, control.tar.xz)",
            case.prefix()
        )
    );
}

#[test]
fn unsupported_compression() {
    let case = Case::new(&deb("data.tar.bz2", b"BZh91AY&SY"));
    assert_eq!(
        case.fail(),
        format!(
            "{}: unsupported compression data.tar.bz2 (supported: data.tar, .xz, .zst, .gz)",
            case.prefix()
        )
    );
}

#[test]
fn truncated_and_corrupt_streams() {
    let plain = tar(&good_entries());
    let packed = xz(&plain);
    let prefix = |case: &Case| format!("{}: corrupt or truncated data.tar.xz: ", case.prefix());
    // The member itself cut short (a consistent ar around a broken stream).
    let case = Case::new(&deb("data.tar.xz", &packed[..packed.len() / 2]));
    let err = case.fail();
    assert!(err.starts_with(&prefix(&case)), "{err}");
    // Stream intact up to its last bytes: the missing footer is still noticed.
    let case = Case::new(&deb("data.tar.xz", &packed[..packed.len() - 4]));
    let err = case.fail();
    assert!(err.starts_with(&prefix(&case)), "{err}");
    // A flipped byte in the compressed data.
    let mut flipped = packed.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let case = Case::new(&deb("data.tar.xz", &flipped));
    let err = case.fail();
    assert!(err.starts_with(&prefix(&case)), "{err}");
    // The package file cut short inside an uncompressed data.tar.
    let whole = deb("data.tar", &plain);
    let case = Case::new(&whole[..whole.len() - 700]);
    let err = case.fail();
    assert!(
        err.starts_with(&format!(
            "{}: corrupt or truncated data.tar: ",
            case.prefix()
        )),
        "{err}"
    );
    // ...and cut after the last entry, inside the end-of-archive blocks.
    let case = Case::new(&whole[..whole.len() - 100]);
    assert_eq!(
        case.fail(),
        format!(
            "{}: corrupt or truncated data.tar: member is {} bytes but the file ends after {}",
            case.prefix(),
            plain.len(),
            plain.len() - 100
        )
    );
}

#[test]
fn hostile_names_are_refused() {
    let cases: [(Vec<Entry<'_>>, &str, &str); 6] = [
        (
            vec![Entry::File("../evil", b"x", 0o644)],
            "../evil",
            "path contains \"..\"",
        ),
        (
            vec![Entry::File("./lib/modules/6.1/../../../evil", b"x", 0o644)],
            "./lib/modules/6.1/../../../evil",
            "path contains \"..\"",
        ),
        (
            vec![Entry::File("/etc/evil", b"x", 0o644)],
            "/etc/evil",
            "absolute path",
        ),
        (
            vec![
                Entry::Symlink("./lib/modules/6.1/link", "../.."),
                Entry::File("./lib/modules/6.1/link/x.ko", b"x", 0o644),
            ],
            "./lib/modules/6.1/link/x.ko",
            "lib/modules/6.1/link is a symlink; refusing to write through it",
        ),
        (
            vec![Entry::Symlink(
                "./lib/modules/6.1/build",
                "/usr/src/linux-headers-6.1",
            )],
            "./lib/modules/6.1/build",
            "absolute symlink target",
        ),
        (
            vec![Entry::Symlink("./lib/modules/6.1/up", "../../../../evil")],
            "./lib/modules/6.1/up",
            "symlink target points outside the tree",
        ),
    ];
    for (entries, entry, reason) in cases {
        let case = Case::new(&deb("data.tar.xz", &xz(&tar(&entries))));
        assert_eq!(
            case.fail(),
            format!("{}: refusing entry {entry:?}: {reason}", case.prefix())
        );
    }
}

#[test]
fn unsupported_entries_are_refused() {
    let entries = [
        Entry::File("./lib/modules/6.1/a.ko", b"x", 0o644),
        Entry::Hardlink("./lib/modules/6.1/b.ko", "./lib/modules/6.1/a.ko"),
    ];
    let case = Case::new(&deb("data.tar", &tar(&entries)));
    assert_eq!(
        case.fail(),
        format!(
            "{}: refusing entry \"./lib/modules/6.1/b.ko\": unsupported entry type Link",
            case.prefix()
        )
    );
    let entries = [
        Entry::File("./lib/modules/6.1", b"x", 0o644),
        Entry::Dir("./lib/modules/6.1/kernel/"),
    ];
    let case = Case::new(&deb("data.tar", &tar(&entries)));
    assert_eq!(
        case.fail(),
        format!(
            "{}: refusing entry \"./lib/modules/6.1/kernel/\": /lib/modules/6.1: not a directory",
            case.prefix()
        )
    );
}

#[test]
fn existing_destination_is_left_alone() {
    let case = Case::new(&deb("data.tar", &tar(&good_entries())));
    fs::create_dir(case.dest()).unwrap();
    fs::write(case.dest().join("keep"), b"mine").unwrap();
    let err = extract_deb(&case.deb(), &case.dest())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("destination {} already exists", case.dest().display())
    );
    assert_eq!(fs::read(case.dest().join("keep")).unwrap(), b"mine");
    let missing_parent = case.dir.path().join("no/such/dir/kernel");
    let err = extract_deb(&case.deb(), &missing_parent)
        .unwrap_err()
        .to_string();
    let parent = case.dir.path().join("no/such/dir");
    assert!(
        err.starts_with(&format!(
            "creating a temporary directory in {}: ",
            parent.display()
        )),
        "{err}"
    );
    let err = extract_deb(
        &case.dir.path().join("absent.deb"),
        &case.dir.path().join("k2"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!(
            "opening {}/absent.deb: ",
            case.dir.path().display()
        )),
        "{err}"
    );
    assert!(!case.dir.path().join("k2").exists());
}
