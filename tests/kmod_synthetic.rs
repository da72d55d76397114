//! Module closures over synthetic module trees (tiny ELF objects with a crafted `.modinfo`), for the
//! cases a real kernel does not exhibit: cycles, missing dependencies, wrong vermagic, bad files.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[path = "../src/kmod/test_elf.rs"]
mod test_elf;

use std::path::Path;

use netroot::kmod::{resolve, Closure, KmodError, Reason, ResolveOptions};
use tempfile::TempDir;
use test_elf::fake_module;

/// Kernel release the synthetic modules are built for.
const KVER: &str = "6.1.0-56-amd64";
/// Their vermagic entry.
const VERMAGIC: &str = "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions";

/// A modules dir with `modules` (relative path, extra modinfo entries) and a built-in `unix` module
/// with alias `net-pf-1`.
fn tree(modules: &[(&str, &[&str])]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, entries) in modules {
        let mut all: Vec<&str> = entries.to_vec();
        if !entries.iter().any(|e| e.starts_with("vermagic=")) {
            all.push(VERMAGIC);
        }
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, fake_module(&all)).unwrap();
    }
    std::fs::write(
        dir.path().join("modules.builtin"),
        "kernel/net/unix/unix.ko\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("modules.builtin.modinfo"),
        b"unix.file=net/unix/unix\0unix.alias=net-pf-1\0",
    )
    .unwrap();
    dir
}

fn opts() -> ResolveOptions {
    ResolveOptions {
        kernel_version: KVER.into(),
        ..ResolveOptions::default()
    }
}

fn run(dir: &Path, requests: &[&str]) -> Result<Closure, KmodError> {
    let requests: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
    resolve(dir, &requests, &opts())
}

fn names(c: &Closure) -> Vec<&str> {
    c.modules.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn dependency_cycle_is_named() {
    let t = tree(&[
        ("kernel/a.ko", &["depends=b"]),
        ("kernel/b.ko", &["depends=c"]),
        ("kernel/c.ko", &["depends=a"]),
    ]);
    let err = run(t.path(), &["a"]).unwrap_err();
    assert_eq!(err.to_string(), "module dependency cycle: a -> b -> c -> a");
}

#[test]
fn missing_dependency_names_both() {
    let t = tree(&[
        ("kernel/a.ko", &["depends=b,ghost-mod"]),
        ("kernel/b.ko", &[]),
    ]);
    let err = run(t.path(), &["a"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module a depends on ghost_mod, which is neither a module file nor built in"
    );
}

#[test]
fn builtin_dependency_and_softdeps() {
    let t = tree(&[
        (
            "kernel/a.ko",
            &[
                "depends=unix,b",
                "softdep=pre: c net-pf-1 nothere post: d-d",
            ],
        ),
        ("kernel/b.ko", &[]),
        ("kernel/c.ko", &["alias=crypto-c"]),
        ("kernel/d_d.ko", &["depends=b"]),
        ("kernel/unrelated.ko", &[]),
    ]);
    let c = run(t.path(), &["a"]).unwrap();
    assert_eq!(names(&c), ["b", "c", "a", "d_d"]);
    assert_eq!(c.modules[3].reasons, [Reason::SoftdepPost("a".into())]);
    assert_eq!(
        c.modules[0].reasons,
        [
            Reason::DependencyOf("a".into()),
            Reason::DependencyOf("d_d".into())
        ]
    );
    assert_eq!(
        c.builtin,
        [
            (
                "net-pf-1".to_owned(),
                "softdep pre of a, alias of built-in module unix".to_owned()
            ),
            (
                "unix".to_owned(),
                "dependency of a, built into the kernel (modules.builtin: kernel/net/unix/unix.ko)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        c.warnings,
        ["softdep pre \"nothere\" of module a matches no module or built-in; skipped"]
    );
}

#[test]
fn softdep_by_alias_pulls_every_match() {
    let t = tree(&[
        ("kernel/fs/x.ko", &["softdep=pre: crypto-crc"]),
        ("kernel/crc_generic.ko", &["alias=crypto-crc"]),
        (
            "kernel/arch/crc-intel.ko",
            &["alias=crypto-crc", "alias=crc"],
        ),
    ]);
    let c = run(t.path(), &["x"]).unwrap();
    assert_eq!(names(&c), ["crc_generic", "crc_intel", "x"]);
    assert_eq!(c.modules[1].rel_path, "kernel/arch/crc-intel.ko");
}

#[test]
fn requests_by_name_alias_glob_and_builtin() {
    let t = tree(&[
        (
            "kernel/net/foo-bar.ko",
            &["alias=pci:v00001234d*sv*sd*bc02sc*i*"],
        ),
        ("kernel/net/baz.ko", &["alias=net-pf-99"]),
        ("kernel/fs/qux.ko", &[]),
    ]);
    let c = run(
        t.path(),
        &[
            "foo_bar",
            "pci:v00001234d00005678sv0sd0bc02sc00i00",
            "net-pf-99",
            "kernel/fs/*.ko",
            "unix",
        ],
    )
    .unwrap();
    assert_eq!(names(&c), ["baz", "foo_bar", "qux"]);
    assert_eq!(
        c.modules[1].reasons,
        [
            Reason::Requested("foo_bar".into()),
            Reason::Requested("pci:v00001234d00005678sv0sd0bc02sc00i00".into())
        ]
    );
    assert_eq!(
        c.modules[2].reasons,
        [Reason::Requested("kernel/fs/*.ko".into())]
    );
    assert_eq!(c.builtin.len(), 1);

    let err = run(t.path(), &["foo-baz"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown module \"foo-baz\" (closest: foo_bar, baz, qux)"
    );
    let err = run(t.path(), &["kernel/[z"]).unwrap_err();
    assert!(matches!(err, KmodError::BadGlob { .. }), "{err}");
}

#[test]
fn vermagic_mismatch_and_missing_vermagic() {
    let t = tree(&[
        (
            "kernel/old.ko",
            &["vermagic=5.10.0-28-amd64 SMP mod_unload modversions"],
        ),
        ("kernel/none.ko", &["vermagic="]),
        ("kernel/prefix.ko", &["vermagic=6.1.0-56-amd64-rt SMP"]),
    ]);
    let err = run(t.path(), &["old"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module old has vermagic \"5.10.0-28-amd64 SMP mod_unload modversions\", which is not for kernel 6.1.0-56-amd64"
    );
    let err = run(t.path(), &["none"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module none has vermagic \"\", which is not for kernel 6.1.0-56-amd64"
    );
    assert!(matches!(
        run(t.path(), &["prefix"]).unwrap_err(),
        KmodError::VermagicMismatch { .. }
    ));
}

#[test]
fn broken_module_files_name_the_path() {
    let t = tree(&[("kernel/good.ko", &["depends=bad"])]);
    let bad = t.path().join("kernel/bad.ko");
    std::fs::write(&bad, b"\x7fELF but not really").unwrap();
    let err = run(t.path(), &["good"]).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{}: ", bad.display())),
        "{err}"
    );

    // (module, its ELF sections, the error after its path)
    type Sections<'a> = &'a [(&'a str, &'a [u8])];
    let sections: [(&str, Sections, &str); 2] = [
        ("plain", &[(".text", b"\xc3")], "no .modinfo section"),
        (
            "garbage",
            &[(".modinfo", b"vermagic=x\0vermagic=y\0")],
            "modinfo has 2 vermagic entries",
        ),
    ];
    for (name, sections, why) in sections {
        let module = t.path().join(format!("kernel/{name}.ko"));
        std::fs::write(&module, test_elf::elf_with_sections(sections)).unwrap();
        let err = run(t.path(), &[name]).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: {why}", module.display()));
    }

    let nope = t.path().join("nope");
    let err = run(&nope, &["good"]).unwrap_err();
    let want = format!("modules directory {} is not a directory", nope.display());
    assert_eq!(err.to_string(), want);
}

#[test]
fn name_mismatch_and_shadowed_duplicates_warn() {
    let t = tree(&[
        ("kernel/x.ko", &["name=other"]),
        ("kernel/dup.ko", &[]),
        ("updates/dup.ko", &["alias=from-updates"]),
    ]);
    let c = run(t.path(), &["x", "dup"]).unwrap();
    assert_eq!(names(&c), ["dup", "x"]);
    assert_eq!(c.modules[0].rel_path, "updates/dup.ko");
    assert_eq!(
        c.warnings,
        [
            format!(
                "module dup found twice: using {}, ignoring {}",
                t.path().join("updates/dup.ko").display(),
                t.path().join("kernel/dup.ko").display()
            ),
            format!(
                "module file {} declares name=other; using the file name x",
                t.path().join("kernel/x.ko").display()
            ),
        ]
    );
}

#[test]
fn firmware_found_missing_glob_and_strict() {
    let t = tree(&[
        (
            "kernel/nic.ko",
            &["firmware=vendor/nic.bin", "firmware=vendor/gone.bin"],
        ),
        (
            "kernel/wifi.ko",
            &["firmware=vendor/nic.bin", "firmware=brcm/fw*-pcie.bin"],
        ),
    ]);
    let fw = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fw.path().join("vendor")).unwrap();
    std::fs::create_dir_all(fw.path().join("brcm")).unwrap();
    std::fs::write(fw.path().join("vendor/nic.bin"), b"1").unwrap();
    std::fs::write(fw.path().join("brcm/fw1-pcie.bin.zst"), b"2").unwrap();
    std::fs::write(fw.path().join("brcm/fw2-pcie.bin"), b"3").unwrap();
    let mut options = ResolveOptions {
        firmware_dirs: vec![fw.path().to_owned()],
        ..opts()
    };
    let requests = vec!["nic".to_owned(), "wifi".to_owned()];
    let c = resolve(t.path(), &requests, &options).unwrap();
    let got: Vec<(&str, bool, Vec<String>)> = c
        .firmware
        .iter()
        .map(|f| (f.name.as_str(), f.source.is_some(), f.needed_by.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("brcm/fw1-pcie.bin", true, vec!["wifi".to_owned()]),
            ("brcm/fw2-pcie.bin", true, vec!["wifi".to_owned()]),
            ("vendor/gone.bin", false, vec!["nic".to_owned()]),
            (
                "vendor/nic.bin",
                true,
                vec!["nic".to_owned(), "wifi".to_owned()]
            ),
        ]
    );
    assert_eq!(
        c.firmware[0].source,
        Some(fw.path().join("brcm/fw1-pcie.bin.zst"))
    );
    assert_eq!(
        c.warnings,
        [format!(
            "firmware \"vendor/gone.bin\" for module nic not found in [{}]",
            fw.path().display()
        )]
    );
    options.firmware_strict = true;
    let err = resolve(t.path(), &requests, &options).unwrap_err();
    assert!(
        matches!(err, KmodError::FirmwareMissing { ref firmware, .. } if firmware == "vendor/gone.bin")
    );
}

#[test]
fn same_inputs_same_closure() {
    let t = tree(&[
        ("kernel/a.ko", &["depends=b,c", "alias=aa"]),
        ("kernel/b.ko", &["depends=c"]),
        ("kernel/c.ko", &[]),
        ("kernel/d.ko", &["softdep=pre: aa"]),
    ]);
    let first = run(t.path(), &["d", "kernel/*.ko"]).unwrap();
    let second = run(t.path(), &["d", "kernel/*.ko"]).unwrap();
    assert_eq!(first, second);
    assert_eq!(names(&first), ["c", "b", "a", "d"]);
    assert!(
        first.inputs.windows(2).all(|w| w[0] < w[1]),
        "inputs sorted and unique"
    );
}
