//! Kernel input against the real Debian 12 package and synthetic trees:
//! header version, `extract_deb` versus `dpkg-deb -x`, `open_tree` layouts and
//! their errors, `open_host` with an injected /proc.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use netroot::kernel::{bzimage_version, extract_deb, open_host, open_tree, KernelError};

/// Release of the kernel in the CI package.
const CI_RELEASE: &str = "6.1.0-56-amd64";
/// Modules compared byte for byte between `extract_deb` and `dpkg-deb -x`.
const SAMPLED_MODULES: usize = 20;

/// Path from `var`, or `None` (test skipped) when unset, unless the CI asks
/// for the kernel with `NETROOT_REQUIRE_KERNEL=1`.
fn test_input(var: &str) -> Option<PathBuf> {
    if let Some(value) = std::env::var_os(var) {
        return Some(PathBuf::from(value));
    }
    assert!(
        std::env::var("NETROOT_REQUIRE_KERNEL").as_deref() != Ok("1"),
        "{var} not set but NETROOT_REQUIRE_KERNEL=1"
    );
    eprintln!("skipped: {var} not set");
    None
}

/// The real package extracted once per test binary (it takes seconds).
fn extracted_deb() -> Option<&'static Path> {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let deb = test_input("NETROOT_TEST_KERNEL_DEB")?;
    let (_, dest) = DIR.get_or_init(|| {
        let temp = tempfile::tempdir().unwrap();
        let dest = temp.path().join("kernel");
        let start = Instant::now();
        extract_deb(&deb, &dest).unwrap();
        eprintln!(
            "extract_deb of {} took {:?}",
            deb.display(),
            start.elapsed()
        );
        (temp, dest)
    });
    Some(dest)
}

/// A minimal bzImage header whose version string starts with `release`.
fn fake_bzimage(release: &str) -> Vec<u8> {
    let mut data = vec![0u8; 0x1000];
    data[0x202..0x206].copy_from_slice(b"HdrS");
    data[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    data[0x20e..0x210].copy_from_slice(&0x0400u16.to_le_bytes());
    let text = format!("{release} (builder@example) #1 SMP");
    data[0x600..0x600 + text.len()].copy_from_slice(text.as_bytes());
    data
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn hash(path: &Path) -> blake3::Hash {
    blake3::hash(&fs::read(path).unwrap())
}

/// Relative paths of all files and symlinks below `dir`, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn real_image_version() {
    let Some(dir) = test_input("NETROOT_TEST_KERNEL_DIR") else {
        return;
    };
    let data = fs::read(dir.join("boot/vmlinuz-6.1.0-56-amd64")).unwrap();
    assert_eq!(bzimage_version(&data).unwrap(), CI_RELEASE);
    // The header alone is enough; cutting inside it errors, never panics.
    assert_eq!(bzimage_version(&data[..0x10000]).unwrap(), CI_RELEASE);
    for len in [0, 1, 0x1ff, 0x203, 0x206, 0x20f, 0x210, 0x300] {
        assert!(bzimage_version(&data[..len]).is_err(), "len {len}");
    }
}

#[test]
fn garbage_is_not_a_bzimage() {
    // xorshift: deterministic noise of many lengths, none may panic.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in (0..0x1200).step_by(7) {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        assert!(bzimage_version(&data).is_err(), "len {len}");
        let mut with_magic = data.clone();
        if with_magic.len() > 0x210 {
            with_magic[0x202..0x206].copy_from_slice(b"HdrS");
            // Random pointer and protocol: Ok or Err, but no panic.
            let _ = bzimage_version(&with_magic);
        }
    }
}

#[test]
fn deb_extraction_matches_dpkg() {
    let (Some(dest), Some(reference)) = (extracted_deb(), test_input("NETROOT_TEST_KERNEL_DIR"))
    else {
        return;
    };
    let modules = Path::new("lib/modules").join(CI_RELEASE);
    // Every file of the modules tree, and nothing outside the kernel parts.
    assert_eq!(
        files_below(&dest.join(&modules)),
        files_below(&reference.join(&modules))
    );
    let mut top: Vec<_> = fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["boot", "lib"]);
    let mut boot: Vec<_> = fs::read_dir(dest.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    boot.sort();
    assert_eq!(boot, ["config-6.1.0-56-amd64", "vmlinuz-6.1.0-56-amd64"]);
    for file in ["boot/vmlinuz-6.1.0-56-amd64", "boot/config-6.1.0-56-amd64"] {
        assert_eq!(
            hash(&dest.join(file)),
            hash(&reference.join(file)),
            "{file}"
        );
    }
    for name in [
        "modules.builtin",
        "modules.order",
        "modules.builtin.modinfo",
    ] {
        let file = modules.join(name);
        assert_eq!(
            hash(&dest.join(&file)),
            hash(&reference.join(&file)),
            "{name}"
        );
    }
    let kos: Vec<PathBuf> = files_below(&reference.join(&modules))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ko"))
        .collect();
    assert!(
        kos.len() > 1000,
        "only {} modules in the reference",
        kos.len()
    );
    let step = kos.len() / SAMPLED_MODULES;
    for ko in kos.iter().step_by(step).take(SAMPLED_MODULES) {
        let file = modules.join(ko);
        assert_eq!(
            hash(&dest.join(&file)),
            hash(&reference.join(&file)),
            "{}",
            ko.display()
        );
        let mode = |root: &Path| fs::metadata(root.join(&file)).unwrap().permissions().mode();
        assert_eq!(mode(dest), mode(&reference), "{}", ko.display());
    }
}

#[test]
fn open_tree_on_dpkg_and_extracted_layouts() {
    let trees: Vec<PathBuf> = [
        test_input("NETROOT_TEST_KERNEL_DIR"),
        extracted_deb().map(Path::to_path_buf),
    ]
    .into_iter()
    .flatten()
    .collect();
    for root in trees {
        let k = open_tree(&root).unwrap();
        assert_eq!(k.version, CI_RELEASE);
        assert_eq!(k.image, root.join("boot/vmlinuz-6.1.0-56-amd64"));
        assert_eq!(k.modules_dir, root.join("lib/modules/6.1.0-56-amd64"));
        assert_eq!(k.firmware_dir, None);
        assert_eq!(
            k.inputs,
            vec![
                root.join("boot/vmlinuz-6.1.0-56-amd64"),
                root.join("boot/config-6.1.0-56-amd64"),
                k.modules_dir.join("modules.builtin"),
                k.modules_dir.join("modules.builtin.modinfo"),
                k.modules_dir.join("modules.order"),
            ]
        );
    }
}

#[test]
fn open_tree_top_level_image_and_usr_lib_modules() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(&root.join("vmlinuz"), &fake_bzimage("6.12.9-amd64"));
    fs::create_dir_all(root.join("usr/lib/modules/6.12.9-amd64")).unwrap();
    fs::create_dir_all(root.join("usr/lib/firmware")).unwrap();
    // merged /usr: lib -> usr/lib must not produce a second (duplicate) candidate
    symlink("usr/lib", root.join("lib")).unwrap();
    let k = open_tree(root).unwrap();
    assert_eq!(k.version, "6.12.9-amd64");
    assert_eq!(k.image, root.join("vmlinuz"));
    assert_eq!(k.modules_dir, root.join("usr/lib/modules/6.12.9-amd64"));
    assert_eq!(k.firmware_dir, Some(root.join("usr/lib/firmware")));
    assert_eq!(k.inputs, vec![root.join("vmlinuz")]);
}

#[test]
fn open_tree_picks_the_pair_that_matches() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(&root.join("boot/vmlinuz-6.1.0-1"), &fake_bzimage("6.1.0-1"));
    write(&root.join("boot/vmlinuz-6.1.0-2"), &fake_bzimage("6.1.0-2"));
    // A copy under the unversioned name is the same kernel.
    write(&root.join("vmlinuz"), &fake_bzimage("6.1.0-2"));
    symlink("boot/vmlinuz-6.1.0-1", root.join("vmlinuz.old")).unwrap();
    write(&root.join("lib/modules/6.1.0-2/modules.order"), b"");
    fs::create_dir_all(root.join("lib/modules/5.10.0-9")).unwrap();
    write(&root.join("lib/firmware/a.fw"), b"x");
    let k = open_tree(root).unwrap();
    assert_eq!(k.version, "6.1.0-2");
    assert_eq!(k.image, root.join("boot/vmlinuz-6.1.0-2"));
    assert_eq!(k.modules_dir, root.join("lib/modules/6.1.0-2"));
    assert_eq!(k.firmware_dir, Some(root.join("lib/firmware")));
    assert_eq!(
        k.inputs,
        vec![
            root.join("boot/vmlinuz-6.1.0-2"),
            root.join("lib/modules/6.1.0-2/modules.order")
        ]
    );
}

#[test]
fn open_tree_errors_name_the_candidates() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let shown = root.display();
    assert_eq!(
        open_tree(root).unwrap_err().to_string(),
        format!("no regular file named vmlinuz* in {shown} or {shown}/boot (symlinks are ignored)")
    );
    write(&root.join("boot/vmlinuz-6.1.0-1"), &fake_bzimage("6.1.0-1"));
    assert_eq!(
        open_tree(root).unwrap_err().to_string(),
        format!("no lib/modules/<release> or usr/lib/modules/<release> directory in {shown}")
    );
    fs::create_dir_all(root.join("lib/modules/6.1.0-7")).unwrap();
    assert_eq!(
        open_tree(root).unwrap_err().to_string(),
        format!(
            "no kernel image in {shown} has a matching modules directory: images \
             {shown}/boot/vmlinuz-6.1.0-1 (6.1.0-1); module directories {shown}/lib/modules/6.1.0-7"
        )
    );
    write(&root.join("boot/vmlinuz-6.1.0-7"), &fake_bzimage("6.1.0-7"));
    fs::create_dir_all(root.join("lib/modules/6.1.0-1")).unwrap();
    assert_eq!(
        open_tree(root).unwrap_err().to_string(),
        format!(
            "ambiguous kernel in {shown}: {shown}/boot/vmlinuz-6.1.0-1 (6.1.0-1), \
             {shown}/boot/vmlinuz-6.1.0-7 (6.1.0-7) all match; keep one kernel in the tree"
        )
    );
    // Two differently named copies of one release, neither versioned: ambiguous.
    let t2 = tempfile::tempdir().unwrap();
    let r2 = t2.path();
    write(&r2.join("vmlinuz"), &fake_bzimage("6.1.0-7"));
    write(&r2.join("boot/vmlinuz"), &fake_bzimage("6.1.0-7"));
    fs::create_dir_all(r2.join("lib/modules/6.1.0-7")).unwrap();
    let msg = open_tree(r2).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("ambiguous kernel in {}", r2.display())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{}/boot/vmlinuz (6.1.0-7)", r2.display())),
        "{msg}"
    );
}

#[test]
fn non_bzimage_names_the_path() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        &root.join("boot/vmlinuz-6.1.0-1"),
        b"#!/bin/sh\necho not a kernel\n",
    );
    fs::create_dir_all(root.join("lib/modules/6.1.0-1")).unwrap();
    let err = open_tree(root).unwrap_err();
    assert!(matches!(err, KernelError::NotBzImage { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}/boot/vmlinuz-6.1.0-1 is not a bzImage: file too short for a setup header (28 bytes)",
            root.display()
        )
    );
    let mut big = vec![0u8; 0x4000];
    big[0..4].copy_from_slice(b"\x7fELF");
    write(&root.join("boot/vmlinuz-6.1.0-1"), &big);
    assert_eq!(
        open_tree(root).unwrap_err().to_string(),
        format!(
            "{}/boot/vmlinuz-6.1.0-1 is not a bzImage: no \"HdrS\" magic at offset 0x202",
            root.display()
        )
    );
}

#[test]
fn open_host_with_injected_proc() {
    let t = tempfile::tempdir().unwrap();
    let proc_root = t.path().join("proc");
    let root = t.path().join("root");
    let shown = root.display();
    write(&proc_root.join("sys/kernel/osrelease"), b"6.1.0-9-amd64\n");
    let err = open_host(&proc_root, &root).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("opening {shown}/boot/vmlinuz-6.1.0-9-amd64: ")),
        "{err}"
    );
    write(
        &root.join("boot/vmlinuz-6.1.0-9-amd64"),
        &fake_bzimage("6.1.0-8-amd64"),
    );
    assert_eq!(
        open_host(&proc_root, &root).unwrap_err().to_string(),
        format!("{shown}/boot/vmlinuz-6.1.0-9-amd64 is kernel 6.1.0-8-amd64, but the running kernel is 6.1.0-9-amd64")
    );
    write(
        &root.join("boot/vmlinuz-6.1.0-9-amd64"),
        &fake_bzimage("6.1.0-9-amd64"),
    );
    assert_eq!(
        open_host(&proc_root, &root).unwrap_err().to_string(),
        format!(
            "no modules directory for kernel 6.1.0-9-amd64: searched {shown}/lib/modules/6.1.0-9-amd64, \
             {shown}/usr/lib/modules/6.1.0-9-amd64"
        )
    );
    write(&root.join("boot/config-6.1.0-9-amd64"), b"CONFIG_X=y\n");
    write(
        &root.join("usr/lib/modules/6.1.0-9-amd64/modules.builtin"),
        b"",
    );
    // On the host, symlinks are followed (merged /usr).
    symlink("usr/lib", root.join("lib")).unwrap();
    let k = open_host(&proc_root, &root).unwrap();
    assert_eq!(k.version, "6.1.0-9-amd64");
    assert_eq!(k.modules_dir, root.join("lib/modules/6.1.0-9-amd64"));
    assert_eq!(k.firmware_dir, None);
    assert_eq!(
        k.inputs,
        vec![
            root.join("boot/vmlinuz-6.1.0-9-amd64"),
            root.join("boot/config-6.1.0-9-amd64"),
            root.join("lib/modules/6.1.0-9-amd64/modules.builtin"),
        ]
    );
    write(&proc_root.join("sys/kernel/osrelease"), b"../../etc\n");
    assert_eq!(
        open_host(&proc_root, &root).unwrap_err().to_string(),
        format!(
            "{}/sys/kernel/osrelease does not hold a kernel release: \"../../etc\"",
            proc_root.display()
        )
    );
}

#[test]
fn extracted_image_reads_like_the_file() {
    let Some(dest) = extracted_deb() else {
        return;
    };
    let mut head = Vec::new();
    fs::File::open(dest.join("boot/vmlinuz-6.1.0-56-amd64"))
        .unwrap()
        .take(0x20000)
        .read_to_end(&mut head)
        .unwrap();
    assert_eq!(bzimage_version(&head).unwrap(), CI_RELEASE);
}
