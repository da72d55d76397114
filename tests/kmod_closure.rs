//! Module closures against the real Debian 12 kernel in `NETROOT_TEST_KERNEL_DIR` (the extracted
//! package root). Expected sets were derived by hand with `modinfo -F depends/softdep` on the files.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netroot::kmod::{resolve, Closure, KmodError, Reason, ResolveOptions};

/// Kernel release of the test package.
const KVER: &str = "6.1.0-56-amd64";

/// `lib/modules/KVER` of the test kernel, or `None` (test skipped) when the variable is unset.
fn modules_dir() -> Option<PathBuf> {
    match std::env::var_os("NETROOT_TEST_KERNEL_DIR") {
        Some(dir) => Some(Path::new(&dir).join("lib/modules").join(KVER)),
        None if std::env::var("NETROOT_REQUIRE_KERNEL").as_deref() == Ok("1") => {
            panic!("NETROOT_TEST_KERNEL_DIR not set but NETROOT_REQUIRE_KERNEL=1")
        }
        None => {
            println!("skipped: NETROOT_TEST_KERNEL_DIR not set");
            None
        }
    }
}

fn opts() -> ResolveOptions {
    ResolveOptions {
        kernel_version: KVER.into(),
        firmware_dirs: Vec::new(),
        firmware_strict: false,
    }
}

fn run(dir: &Path, requests: &[&str]) -> Result<Closure, KmodError> {
    let requests: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
    resolve(dir, &requests, &opts())
}

fn names(closure: &Closure) -> Vec<&str> {
    closure.modules.iter().map(|m| m.name.as_str()).collect()
}

fn set(closure: &Closure) -> BTreeSet<&str> {
    names(closure).into_iter().collect()
}

fn pos(closure: &Closure, name: &str) -> usize {
    names(closure)
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("{name} not in closure {:?}", names(closure)))
}

/// Asserts `first` loads before `then`.
fn before(closure: &Closure, first: &str, then: &str) {
    assert!(
        pos(closure, first) < pos(closure, then),
        "{first} must load before {then}: {:?}",
        names(closure)
    );
}

/// The closure is exactly `modules`, and each `(first, then)` of `order` loads in that order.
#[track_caller]
fn closure_is(closure: &Closure, modules: &[&str], order: &[(&str, &str)]) {
    assert_eq!(set(closure), modules.iter().copied().collect());
    for (first, then) in order {
        before(closure, first, then);
    }
}

fn reasons(closure: &Closure, name: &str) -> Vec<Reason> {
    closure.modules[pos(closure, name)].reasons.clone()
}

#[test]
fn nfsv4_closure_and_load_order() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &["nfsv4"]).unwrap();
    // nfsv4: sunrpc,nfs,dns_resolver; nfs: sunrpc,fscache,lockd; fscache: netfs; lockd: sunrpc,grace.
    let expected = [
        "dns_resolver",
        "fscache",
        "grace",
        "lockd",
        "netfs",
        "nfs",
        "nfsv4",
        "sunrpc",
    ];
    assert_eq!(set(&c), expected.into_iter().collect());
    for (dep, module) in [
        ("sunrpc", "nfsv4"),
        ("nfs", "nfsv4"),
        ("dns_resolver", "nfsv4"),
        ("sunrpc", "nfs"),
        ("fscache", "nfs"),
        ("lockd", "nfs"),
        ("netfs", "fscache"),
        ("sunrpc", "lockd"),
        ("grace", "lockd"),
    ] {
        before(&c, dep, module);
    }
    // Ties broken by name: the exact order is fixed.
    assert_eq!(
        names(&c),
        [
            "dns_resolver",
            "grace",
            "netfs",
            "fscache",
            "sunrpc",
            "lockd",
            "nfs",
            "nfsv4"
        ]
    );
    let nfsv4 = &c.modules[pos(&c, "nfsv4")];
    assert_eq!(nfsv4.rel_path, "kernel/fs/nfs/nfsv4.ko");
    assert_eq!(nfsv4.source, dir.join("kernel/fs/nfs/nfsv4.ko"));
    assert_eq!(nfsv4.data, std::fs::read(&nfsv4.source).unwrap());
    assert!(nfsv4.vermagic.starts_with("6.1.0-56-amd64 SMP"));
    assert_eq!(nfsv4.reasons, [Reason::Requested("nfsv4".into())]);
    assert_eq!(
        reasons(&c, "sunrpc"),
        [
            Reason::DependencyOf("lockd".into()),
            Reason::DependencyOf("nfs".into()),
            Reason::DependencyOf("nfsv4".into())
        ]
    );
    assert!(c.builtin.is_empty());
    assert!(c.firmware.is_empty());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Inputs: the walked directories, the builtin lists and the module files read, nothing else.
    assert!(c.inputs.contains(&dir));
    assert!(c.inputs.contains(&dir.join("kernel/fs/nfs")));
    assert!(c.inputs.contains(&dir.join("modules.builtin")));
    assert!(c.inputs.contains(&dir.join("modules.builtin.modinfo")));
    assert!(c.inputs.contains(&dir.join("kernel/net/sunrpc/sunrpc.ko")));
    assert!(
        !c.inputs.contains(&dir.join("kernel/fs/nfs/nfsv3.ko")),
        "no alias index for names"
    );
}

#[test]
fn bonding_overlay_virtio_net() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &["bonding"]).unwrap();
    assert_eq!(names(&c), ["tls", "bonding"]);
    let c = run(&dir, &["overlay"]).unwrap();
    assert_eq!(names(&c), ["overlay"]);
    // Requested with a dash: names are normalized.
    let c = run(&dir, &["virtio-net"]).unwrap();
    closure_is(
        &c,
        &[
            "failover",
            "net_failover",
            "virtio",
            "virtio_net",
            "virtio_ring",
        ],
        &[
            ("virtio_ring", "virtio"),
            ("failover", "net_failover"),
            ("net_failover", "virtio_net"),
            ("virtio", "virtio_net"),
        ],
    );
    assert_eq!(
        reasons(&c, "virtio_net"),
        [Reason::Requested("virtio-net".into())]
    );
}

#[test]
fn softdeps_by_name_and_by_alias() {
    let Some(dir) = modules_dir() else { return };
    // r8169 has softdep=pre: realtek (the PHY driver without which the NIC has no link).
    let c = run(&dir, &["r8169"]).unwrap();
    closure_is(
        &c,
        &["libphy", "mdio_devres", "r8169", "realtek"],
        &[("realtek", "r8169")],
    );
    assert_eq!(reasons(&c, "realtek"), [Reason::SoftdepPre("r8169".into())]);

    // ext4 and jbd2 have softdep=pre: crypto-crc32c, an alias of two modules.
    let c = run(&dir, &["ext4"]).unwrap();
    closure_is(
        &c,
        &[
            "crc16",
            "crc32c_generic",
            "crc32c_intel",
            "ext4",
            "jbd2",
            "mbcache",
        ],
        &[
            ("crc32c_generic", "jbd2"),
            ("crc32c_intel", "jbd2"),
            ("jbd2", "ext4"),
        ],
    );
    assert_eq!(
        reasons(&c, "crc32c_intel"),
        [
            Reason::SoftdepPre("ext4".into()),
            Reason::SoftdepPre("jbd2".into())
        ]
    );
    assert_eq!(
        c.modules[pos(&c, "crc32c_intel")].rel_path,
        "kernel/arch/x86/crypto/crc32c-intel.ko"
    );
}

#[test]
fn cifs_bare_softdeps_are_ignored_with_a_warning() {
    let Some(dir) = modules_dir() else { return };
    // cifs declares "softdep=gcm" etc. without pre:/post:, which modprobe ignores.
    let c = run(&dir, &["cifs"]).unwrap();
    assert!(!set(&c).contains("gcm"));
    assert!(c.warnings.contains(
        &"module cifs: softdep \"gcm\" has no \"pre:\" or \"post:\" and is ignored, as modprobe does".to_owned()
    ));
}

#[test]
fn alias_requests() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &["fs-nfs4"]).unwrap();
    assert_eq!(reasons(&c, "nfs"), [Reason::Requested("fs-nfs4".into())]);
    assert!(!set(&c).contains("nfsv4"));
    // Module aliases are read for every module: every module's .modinfo is an input (with the
    // section's hash), but only modules in the closure are whole-content inputs.
    let nfsv3 = dir.join("kernel/fs/nfs/nfsv3.ko");
    assert!(!c.inputs.contains(&nfsv3));
    let (_, h) = c
        .modinfo_inputs
        .iter()
        .find(|(p, _)| p == &nfsv3)
        .expect("nfsv3 modinfo input");
    assert_eq!(h, &netroot::kmod::modinfo_hash(&nfsv3).unwrap());

    // An Intel 82574L NIC, as udev would ask for it.
    let c = run(
        &dir,
        &["pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"],
    )
    .unwrap();
    assert_eq!(names(&c), ["e1000e"]);

    // An alias of a built-in module only.
    let c = run(&dir, &["net-pf-10"]).unwrap();
    assert!(c.modules.is_empty());
    assert_eq!(
        c.builtin,
        [(
            "net-pf-10".to_owned(),
            "alias of built-in module ipv6".to_owned()
        )]
    );
}

#[test]
fn glob_requests() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &["kernel/fs/nfs/*.ko"]).unwrap();
    for m in ["nfs", "nfsv2", "nfsv3", "nfsv4"] {
        assert!(
            reasons(&c, m).contains(&Reason::Requested("kernel/fs/nfs/*.ko".into())),
            "{m}"
        );
    }
    // `*` does not cross directories: the pNFS layouts are not matched.
    assert!(!set(&c).contains("nfs_layout_nfsv41_files"));
    let c = run(&dir, &["kernel/fs/nfs/**"]).unwrap();
    assert!(set(&c).contains("nfs_layout_nfsv41_files"));

    let c = run(&dir, &["kernel/drivers/net/ethernet/**"]).unwrap();
    assert!(c.modules.len() > 100, "{}", c.modules.len());
    assert!(set(&c).contains("e1000e") && set(&c).contains("libphy"));

    let err = run(&dir, &["kernel/fs/nope/*"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "module glob \"kernel/fs/nope/*\" matches no module under {}",
            dir.display()
        )
    );
}

#[test]
fn builtin_and_unknown_requests() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &["unix", "overlay"]).unwrap();
    assert_eq!(names(&c), ["overlay"]);
    assert_eq!(
        c.builtin,
        [(
            "unix".to_owned(),
            "built into the kernel (modules.builtin: kernel/net/unix/unix.ko)".to_owned()
        )]
    );
    let err = run(&dir, &["nfsv5"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown module \"nfsv5\" (closest: nfsv2, nfsv3, nfsv4)"
    );
}

#[test]
fn vermagic_mismatch_names_module_and_vermagic() {
    let Some(dir) = modules_dir() else { return };
    let requests = vec!["overlay".to_owned()];
    let options = ResolveOptions {
        kernel_version: "6.1.0-99-amd64".into(),
        ..opts()
    };
    let err = resolve(&dir, &requests, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module overlay has vermagic \"6.1.0-56-amd64 SMP preempt mod_unload modversions\", which is not for kernel 6.1.0-99-amd64"
    );
}

#[test]
fn firmware_of_a_real_module() {
    let Some(dir) = modules_dir() else { return };
    let fw = tempfile::tempdir().unwrap();
    std::fs::create_dir(fw.path().join("tigon")).unwrap();
    std::fs::write(fw.path().join("tigon/tg3.bin"), b"fw").unwrap();
    std::fs::write(fw.path().join("tigon/tg3_tso.bin.xz"), b"fw").unwrap();
    let mut options = ResolveOptions {
        firmware_dirs: vec![fw.path().to_owned()],
        ..opts()
    };
    let requests = vec!["tg3".to_owned()];
    let c = resolve(&dir, &requests, &options).unwrap();
    assert_eq!(names(&c), ["libphy", "tg3"]);
    let tg3 = &c.modules[1];
    assert_eq!(
        tg3.firmware,
        [
            "tigon/tg3_tso5.bin",
            "tigon/tg3_tso.bin",
            "tigon/tg357766.bin",
            "tigon/tg3.bin"
        ]
    );
    let found: Vec<(&str, Option<&Path>)> = c
        .firmware
        .iter()
        .map(|f| (f.name.as_str(), f.source.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "tigon/tg3.bin",
                Some(fw.path().join("tigon/tg3.bin").as_path())
            ),
            ("tigon/tg357766.bin", None),
            (
                "tigon/tg3_tso.bin",
                Some(fw.path().join("tigon/tg3_tso.bin.xz").as_path())
            ),
            ("tigon/tg3_tso5.bin", None),
        ]
    );
    assert!(c.firmware.iter().all(|f| f.needed_by == ["tg3"]));
    assert!(c.warnings.contains(&format!(
        "firmware \"tigon/tg3_tso5.bin\" for module tg3 not found in [{}]",
        fw.path().display()
    )));
    assert!(c.inputs.contains(&fw.path().join("tigon/tg3.bin")));
    assert!(
        c.inputs.contains(&fw.path().join("tigon")),
        "missing firmware: its directory is an input"
    );

    options.firmware_strict = true;
    let err = resolve(&dir, &requests, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "firmware \"tigon/tg357766.bin\" for module tg3 not found in [{}]",
            fw.path().display()
        )
    );
}

/// Copies `rel` from the real modules dir into `to`, compressed with `how` (`xz`, `zst`, `gz`, ``).
fn copy_compressed(from: &Path, to: &Path, rel: &str, how: &str) {
    use std::io::Write;
    let data = std::fs::read(from.join(rel)).unwrap();
    let out: Vec<u8> = match how {
        "xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(data.as_slice(), 1).unwrap(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        }
        _ => data,
    };
    let dest = if how.is_empty() {
        to.join(rel)
    } else {
        to.join(format!("{rel}.{how}"))
    };
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(dest, out).unwrap();
}

#[test]
fn compressed_modules_are_decompressed() {
    let Some(dir) = modules_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (rel, how) in [
        ("kernel/fs/nfs/nfsv4.ko", "xz"),
        ("kernel/fs/nfs/nfs.ko", "zst"),
        ("kernel/net/sunrpc/sunrpc.ko", "gz"),
        ("kernel/fs/lockd/lockd.ko", "xz"),
        ("kernel/fs/nfs_common/grace.ko", ""),
        ("kernel/fs/fscache/fscache.ko", "zst"),
        ("kernel/fs/netfs/netfs.ko", "gz"),
        ("kernel/net/dns_resolver/dns_resolver.ko", "xz"),
    ] {
        copy_compressed(&dir, tmp.path(), rel, how);
    }
    std::fs::copy(
        dir.join("modules.builtin"),
        tmp.path().join("modules.builtin"),
    )
    .unwrap();
    let c = run(tmp.path(), &["nfsv4"]).unwrap();
    let plain = run(&dir, &["nfsv4"]).unwrap();
    assert_eq!(names(&c), names(&plain));
    for (m, p) in c.modules.iter().zip(&plain.modules) {
        assert_eq!(m.rel_path, p.rel_path);
        assert!(m.data == p.data, "{} decompressed differently", m.name);
    }
    assert_eq!(
        c.modules[pos(&c, "nfsv4")].source,
        tmp.path().join("kernel/fs/nfs/nfsv4.ko.xz")
    );
    // The missing builtin modinfo is reported, not fatal.
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0]
        .ends_with("modules.builtin.modinfo not found; assuming no built-in modules from it"));
}

#[test]
fn alias_index_reads_compressed_modules() {
    let Some(dir) = modules_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    copy_compressed(&dir, tmp.path(), "kernel/fs/nfs/nfs.ko", "xz");
    copy_compressed(&dir, tmp.path(), "kernel/net/sunrpc/sunrpc.ko", "zst");
    copy_compressed(&dir, tmp.path(), "kernel/fs/lockd/lockd.ko", "gz");
    for rel in [
        "kernel/fs/nfs_common/grace.ko",
        "kernel/fs/fscache/fscache.ko",
        "kernel/fs/netfs/netfs.ko",
    ] {
        copy_compressed(&dir, tmp.path(), rel, "");
    }
    let c = run(tmp.path(), &["fs-nfs"]).unwrap();
    assert_eq!(
        names(&c),
        ["grace", "netfs", "fscache", "sunrpc", "lockd", "nfs"]
    );
}

#[test]
fn deterministic_across_runs() {
    let Some(dir) = modules_dir() else { return };
    let requests = [
        "kernel/drivers/net/ethernet/intel/**",
        "nfsv4",
        "fs-nfs4",
        "unix",
        "ext4",
    ];
    let a = run(&dir, &requests).unwrap();
    let b = run(&dir, &requests).unwrap();
    assert!(a == b, "two runs differ");
}

#[test]
fn every_shipped_module_resolves() {
    let Some(dir) = modules_dir() else { return };
    // The whole tree: no missing dependency, no cycle, every vermagic right.
    let c = run(&dir, &["kernel/**"]).unwrap();
    assert_eq!(c.modules.len(), 4023);
    let order: Vec<&str> = names(&c);
    let position: std::collections::HashMap<&str, usize> =
        order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    for m in &c.modules {
        for r in &m.reasons {
            if let Reason::DependencyOf(parent) | Reason::SoftdepPre(parent) = r {
                assert!(
                    position[m.name.as_str()] < position[parent.as_str()],
                    "{} / {parent}",
                    m.name
                );
            }
        }
    }
}

/// What a profile with `[vlan]` adds (the resolver appends `8021q`): 802.1Q and its GARP/MRP
/// registration protocols over STP and LLC (`modinfo -F depends`: 8021q mrp,garp; garp stp,llc;
/// stp llc).
#[test]
fn vlan_8021q_closure_and_load_order() {
    let Some(dir) = modules_dir() else { return };
    let c = run(&dir, &[netroot_boot::bootconfig::VLAN_MODULE]).unwrap();
    closure_is(
        &c,
        &["8021q", "garp", "mrp", "stp", "llc"],
        &[
            ("llc", "stp"),
            ("stp", "garp"),
            ("garp", "8021q"),
            ("mrp", "8021q"),
        ],
    );
}
