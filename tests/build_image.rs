//! What a built image contains: the static init, the boot config (module load order, profile
//! settings), decompressed modules, /dev/console; and the manifest that explains it.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;
use netroot_boot::bootconfig::{BondMode, BootConfig};

#[test]
fn compute_image_contents_and_manifest() {
    // The project stays bound (`_p`): it holds `out`.
    let Some((_, _p, out, _)) = built("compute") else {
        return;
    };
    let img = fs::read(out.join("compute/initramfs.img")).unwrap();
    let parsed = netroot::image::read_image(&img).unwrap();
    assert_eq!(parsed.segments.len(), 2);
    let files: BTreeMap<String, _> = parsed
        .segments
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| (e.path.clone(), e))
        .collect();

    let init = files.get("init").expect("/init");
    assert_eq!(init.mode & 0o777, 0o755);
    let console = files.get("dev/console").expect("/dev/console");
    assert_eq!(console.mode & 0o170000, 0o020000);
    for d in ["proc", "sys", "dev", "run"] {
        assert!(files.contains_key(d), "{d}");
    }

    // The boot config round-trips and lists modules in dependency order with their files present.
    let conf_entry = files.get("etc/netroot/boot.conf").unwrap();
    let conf_text = String::from_utf8(read_entry(&img, &conf_entry.path)).unwrap();
    let boot = BootConfig::parse(&conf_text).unwrap();
    assert_eq!(boot.profile, "compute");
    assert_eq!(boot.kernel_version, "6.1.0-56-amd64");
    assert_eq!(boot.bond.mode, BondMode::Ieee8023ad);
    let order: Vec<&str> = boot.modules.iter().map(|m| m.name.as_str()).collect();
    let pos = |n: &str| {
        order
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} not loaded: {order:?}"))
    };
    for (dep, user) in [
        ("sunrpc", "nfs"),
        ("nfs", "nfsv4"),
        ("tls", "bonding"),
        ("failover", "net_failover"),
        ("net_failover", "virtio_net"),
        ("mlxfw", "mlx5_core"),
    ] {
        assert!(
            pos(dep) < pos(user),
            "{dep} must load before {user}: {order:?}"
        );
    }
    for m in &boot.modules {
        let e = files
            .get(&m.path)
            .unwrap_or_else(|| panic!("{} missing", m.path));
        assert!(e.size > 0);
    }
    assert_eq!(
        boot.modules
            .iter()
            .find(|m| m.name == "bonding")
            .unwrap()
            .params,
        "max_bonds=0"
    );
    let e1000e = read_entry(
        &img,
        &boot
            .modules
            .iter()
            .find(|m| m.name == "e1000e")
            .unwrap()
            .path,
    );
    assert_eq!(&e1000e[..4], b"\x7fELF", "modules are stored decompressed");

    // The manifest: every module with why, firmware warnings, files with sha256.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("compute/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["kernel"]["version"], "6.1.0-56-amd64");
    assert_eq!(m["compression"], "zstd:3");
    let mods = m["modules"].as_array().unwrap();
    assert_eq!(mods.len(), boot.modules.len());
    let why = |n: &str| mods.iter().find(|x| x["name"] == n).unwrap()["reasons"].clone();
    assert_eq!(why("nfsv4"), serde_json::json!(["requested as \"nfsv4\""]));
    assert!(why("sunrpc")
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("dependency of nfs")));
    assert_eq!(m["builtin"][0]["name"], "af_packet");
    assert!(m["firmware"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["needed_by"][0] == "bnx2x" && f["found"] == false));
    assert!(m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("for module bnx2x not found")));
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"init") && listed.contains(&"etc/netroot/boot.conf"));
    assert_eq!(
        m["initramfs"]["sha256"],
        netroot::manifest::sha256_hex(&img)
    );
    // Digests in the manifest are those of the bytes in the image.
    let e1000e_info = mods.iter().find(|x| x["name"] == "e1000e").unwrap();
    assert_eq!(
        e1000e_info["sha256"],
        netroot::manifest::sha256_hex(&e1000e)
    );
    assert_eq!(e1000e_info["size"], e1000e.len());
    let init_data = read_entry(&img, "init");
    assert_eq!(
        m["init"]["sha256"],
        netroot::manifest::sha256_hex(&init_data)
    );
    assert_eq!(
        m["boot_config"]["sha256"],
        netroot::manifest::sha256_hex(conf_text.as_bytes())
    );
}

#[test]
fn strict_firmware_fails_the_build_naming_the_file() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    edit_profile(p.path(), "base", "strict = false", "strict = true");
    let o = build(p.path(), "compute", &[], &p.path().join("out"), &kernel);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bnx2x"), "{}", stderr(&o));
    assert!(!p.path().join("out/compute").exists());
}

/// The data of one entry, by path, from an image.
fn read_entry(img: &[u8], path: &str) -> Vec<u8> {
    netroot::image::read_image_keeping(img, &|p| p == path)
        .unwrap()
        .segments
        .iter()
        .flat_map(|s| s.entries.iter())
        .find(|e| e.path == path)
        .and_then(|e| e.data.clone())
        .unwrap_or_else(|| panic!("no data for {path}"))
}

#[test]
fn extra_binaries_come_with_their_libraries_and_interpreter() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let prof = p.path().join("profiles/tools.toml");
    fs::write(
        &prof,
        "inherits = [\"qemu-base\"]\n[extra]\nbinaries = [\"/bin/ls\"]\n",
    )
    .unwrap();
    build_json(p.path(), "tools", &kernel, &p.path().join("out"));
    let img = fs::read(p.path().join("out/tools/initramfs.img")).unwrap();
    let parsed = netroot::image::read_image(&img).unwrap();
    let paths: Vec<&str> = parsed
        .segments
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| e.path.as_str())
        .collect();
    for want in [
        "bin/ls",
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libselinux.so.1",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    // A binary that does not exist is a build error naming it.
    fs::write(
        &prof,
        "inherits = [\"qemu-base\"]\n[extra]\nbinaries = [\"/usr/bin/nonexistent-tool\"]\n",
    )
    .unwrap();
    let o = build(p.path(), "tools", &[], &p.path().join("out"), &kernel);
    assert_eq!(o.status.code(), Some(1));
    assert_has(&stderr(&o), "/usr/bin/nonexistent-tool");
}

#[test]
fn every_compression_kind_builds_a_readable_image() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let mut sizes = Vec::new();
    for (kind, level) in [("gzip", "6"), ("xz", "1"), ("none", ""), ("zstd", "1")] {
        let level = if level.is_empty() {
            String::new()
        } else {
            format!("level = {level}\n")
        };
        fs::write(
            p.path().join(format!("profiles/c{kind}.toml")),
            format!("inherits = [\"qemu-base\"]\n[initramfs]\ncompression = \"{kind}\"\n{level}"),
        )
        .unwrap();
        let r = build_json(
            p.path(),
            &format!("c{kind}"),
            &kernel,
            &p.path().join("out"),
        );
        let img = fs::read(p.path().join(format!("out/c{kind}/initramfs.img"))).unwrap();
        let parsed = netroot::image::read_image(&img).unwrap();
        let names: Vec<String> = parsed
            .segments
            .iter()
            .map(|s| {
                s.compression
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none".into())
            })
            .collect();
        assert_eq!(names.len(), 2, "{kind}");
        assert!(
            names
                .iter()
                .all(|n| n.contains(kind) || (kind == "none" && n == "none")),
            "{kind}: {names:?}"
        );
        sizes.push((kind, r["initramfs_bytes"].as_u64().unwrap()));
    }
    let size = |k: &str| sizes.iter().find(|s| s.0 == k).unwrap().1;
    assert!(size("none") > 2 * size("zstd"), "{sizes:?}");
}

#[test]
fn netroot_cache_moves_the_cache() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let cache = p.path().join("elsewhere");
    let o = run(netroot(p.path(), &["build", "qemu-base", "--out"])
        .arg(p.path().join("out"))
        .arg("--kernel")
        .arg(&kernel)
        .env("NETROOT_CACHE", &cache));
    assert!(o.status.success());
    assert!(cache.join("state/qemu-base.json").is_file());
    assert!(!p.path().join("out/.cache").exists());
}

#[test]
fn initramfs_overlays_render_templates_and_are_inputs() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let ov = p.path().join("overlays/site/etc");
    fs::create_dir_all(&ov).unwrap();
    fs::write(
        ov.join("motd.j2"),
        "cluster {{ cluster }} profile {{ profile }}\n",
    )
    .unwrap();
    fs::write(ov.join("plain"), "as is {{ not rendered }}\n").unwrap();
    fs::write(
        p.path().join("profiles/ov.toml"),
        "inherits = [\"qemu-base\"]\n[overlays]\ninitramfs = [\"site\"]\n[vars]\ncluster = \"hpc1\"\n",
    )
    .unwrap();
    let out = p.path().join("out");
    build_json(p.path(), "ov", &kernel, &out);
    let img = fs::read(out.join("ov/initramfs.img")).unwrap();
    assert_eq!(read_entry(&img, "etc/motd"), b"cluster hpc1 profile ov\n");
    assert_eq!(read_entry(&img, "etc/plain"), b"as is {{ not rendered }}\n");
    // Editing an overlay file rebuilds the init segment only.
    fs::write(ov.join("plain"), "changed\n").unwrap();
    let r = build_json(p.path(), "ov", &kernel, &out);
    assert_eq!(r["up_to_date"], false);
    let segs = r["segments"].as_array().unwrap();
    assert_eq!(segs[0]["cached"], true);
    assert_eq!(segs[1]["cached"], false);
    // An undefined template variable is an error naming the file.
    fs::write(ov.join("bad.j2"), "{{ nope }}\n").unwrap();
    let o = build(p.path(), "ov", &[], &out, &kernel);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.j2"), "{}", stderr(&o));
}

#[test]
fn a_profile_vlan_is_in_the_boot_config_with_8021q_and_its_closure() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    edit_profile(
        p.path(),
        "compute",
        "[bond]\n",
        "[vlan]\nid = 5\n\n[bond]\n",
    );
    let o = build(p.path(), "compute", &[], &p.path().join("out"), &kernel);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = fs::read(p.path().join("out/compute/initramfs.img")).unwrap();
    let conf = String::from_utf8(read_entry(&img, "etc/netroot/boot.conf")).unwrap();
    let boot = BootConfig::parse(&conf).unwrap();
    assert_eq!(boot.vlan_ifname().as_deref(), Some("bond0.5"));
    let names: Vec<&str> = boot.modules.iter().map(|m| m.name.as_str()).collect();
    let at = |n: &str| {
        names
            .iter()
            .position(|m| *m == n)
            .unwrap_or_else(|| panic!("{n}: {names:?}"))
    };
    assert!(at("llc") < at("stp") && at("stp") < at("garp") && at("garp") < at("8021q"));
    assert!(at("mrp") < at("8021q"));
    let m = boot.modules.iter().find(|m| m.name == "8021q").unwrap();
    assert_eq!(read_entry(&img, &m.path)[..4], *b"\x7fELF");
}
