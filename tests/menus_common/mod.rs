//! Shared fixtures and checkers of the boot-menu tests: a boot config, golden files, GRUB's
//! `grub-script-check`, and models of how each loader turns a config line into the kernel's
//! command line.

#![allow(dead_code)]

use std::path::PathBuf;

use std::net::Ipv4Addr;

use netroot::menus::ProfileBoot;
use netroot_boot::bootconfig::{split_cmdline, BootConfig, IpConfig, StaticIp};

/// Set to 1 to rewrite the golden files from the current output.
const UPDATE_ENV: &str = "NETROOT_UPDATE_GOLDEN";

/// A boot config like the compute profile's: 802.3ad bond over two ports by MAC, DHCP, NFS.
pub fn boot(profile: &str, export: &str) -> BootConfig {
    let mut b = BootConfig::example();
    b.profile = profile.into();
    b.nfs.export = export.into();
    b.modules.clear();
    b.bond.ports.truncate(2);
    b
}

/// The gpu profile's boot config: `boot("gpu", "/export/gpu")` with a static 10.0.9.9/16
/// (gateway 10.0.0.1, DNS 10.0.0.53).
pub fn gpu_static_boot() -> BootConfig {
    let mut b = boot("gpu", "/export/gpu");
    b.ip = IpConfig::Static(StaticIp {
        address: Ipv4Addr::new(10, 0, 9, 9),
        prefix_len: 16,
        gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
        dns: vec![Ipv4Addr::new(10, 0, 0, 53)],
        hostname: None,
    });
    b
}

/// A profile's menu input: id, title, boot config, kernel and initramfs paths.
pub fn profile_boot<'a>(
    id: &'a str,
    title: &'a str,
    boot: &'a BootConfig,
    kernel: &'a str,
    initrd: &'a str,
) -> ProfileBoot<'a> {
    ProfileBoot {
        id,
        title,
        boot,
        kernel,
        initrd,
    }
}

/// The compute profile ("Compute nodes"), generation 7.
pub fn compute_profile(boot: &BootConfig) -> ProfileBoot<'_> {
    profile_boot(
        "compute",
        "Compute nodes",
        boot,
        "netroot/compute/7/vmlinuz",
        "netroot/compute/7/initramfs.img",
    )
}

/// The gpu profile with `title`, generation 3.
pub fn gpu_profile<'a>(title: &'a str, boot: &'a BootConfig) -> ProfileBoot<'a> {
    profile_boot(
        "gpu",
        title,
        boot,
        "netroot/gpu/3/vmlinuz",
        "netroot/gpu/3/initramfs.img",
    )
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/menus")
        .join(name)
}

/// Compares `actual` with the golden file `name` (rewrites it when NETROOT_UPDATE_GOLDEN=1).
pub fn golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} unreadable ({e}); run with {UPDATE_ENV}=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        want,
        "{} differs; run with {UPDATE_ENV}=1 to update it after review",
        path.display()
    );
}

/// Runs `grub-script-check` on a config; `None` when GRUB's tools are not installed.
pub fn grub_script_check(cfg: &str) -> Option<Result<(), String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grub.cfg");
    std::fs::write(&path, cfg).unwrap();
    let out = match std::process::Command::new("grub-script-check")
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("grub-script-check: {e}"),
    };
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// Checks a GRUB config with grub-script-check, or says why it was skipped.
pub fn assert_grub_syntax(cfg: &str) {
    match grub_script_check(cfg) {
        None => println!("skipped: grub-script-check not installed (apt-get install grub-common)"),
        Some(Ok(())) => {}
        Some(Err(e)) => panic!("grub-script-check rejects the config: {e}\n{cfg}"),
    }
}

/// GRUB's word splitting of one command line: blanks separate words, `'...'` is literal, a
/// backslash outside quotes escapes the next character. Enough for what netroot writes.
pub fn grub_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => {
                let next = chars.next().expect("backslash at end of line");
                cur.get_or_insert_with(String::new).push(next);
            }
            '"' => panic!("netroot does not write double quotes in GRUB words: {line}"),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    words
}

/// What GRUB's `linux` gives the kernel for these arguments (grub-core/lib/cmdline.c): a word
/// with a space in double quotes, `\`, `'`, `"` backslash-escaped; `BOOT_IMAGE=` first.
pub fn grub_loader_cmdline(kernel: &str, args: &[String]) -> String {
    let mut out = format!("BOOT_IMAGE={kernel}");
    for a in args {
        let mut w = String::new();
        for c in a.chars() {
            if matches!(c, '\\' | '\'' | '"') {
                w.push('\\');
            }
            w.push(c);
        }
        out.push(' ');
        if a.contains(' ') {
            out.push_str(&format!("\"{w}\""));
        } else {
            out.push_str(&w);
        }
    }
    out
}

/// What iPXE's `kernel URL ARGS...` gives the kernel: the words after the URL, joined by
/// single spaces (core/exec.c `concat_args`).
pub fn ipxe_kernel_cmdline(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"kernel"), "{line}");
    words[2..].join(" ")
}

/// The parameters the kernel (and netroot's init) reads from a command line.
pub fn kernel_params(cmdline: &str) -> Vec<(String, Option<String>)> {
    split_cmdline(cmdline)
}

/// The commands a netroot iPXE script may use.
const IPXE_COMMANDS: [&str; 13] = [
    "menu", "item", "choose", "goto", "iseq", "imgfree", "kernel", "initrd", "boot", "echo",
    "shell", "exit", "sleep",
];

/// iPXE sanity: `#!ipxe` first, every line a comment, label or known command, every label
/// defined once, every `goto` and `item` target defined.
pub fn assert_ipxe_sane(script: &str) {
    let mut lines = script.lines();
    assert_eq!(lines.next(), Some("#!ipxe"));
    let mut labels = std::collections::BTreeSet::new();
    let mut targets = Vec::new();
    for line in script.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if first.starts_with('#') {
            continue;
        }
        if let Some(label) = first.strip_prefix(':') {
            assert_eq!(words.len(), 1, "label line with extra words: {line}");
            assert!(
                labels.insert(label.to_string()),
                "label {label} defined twice"
            );
            continue;
        }
        assert!(
            IPXE_COMMANDS.contains(first),
            "unknown iPXE command in {line:?}"
        );
        // Commands chained with || / && are known commands too.
        for (i, w) in words.iter().enumerate() {
            if matches!(*w, "||" | "&&") {
                if let Some(next) = words.get(i + 1) {
                    assert!(
                        IPXE_COMMANDS.contains(next),
                        "unknown command after {w}: {line}"
                    );
                }
            }
            if *w == "goto" {
                let target = words.get(i + 1).expect("goto without a label");
                if !target.starts_with("${") {
                    targets.push(target.to_string());
                }
            }
        }
        if *first == "item" {
            targets.push(words[1].to_string());
        }
        if *first == "choose" {
            let d = words.iter().position(|w| *w == "--default").unwrap();
            targets.push(words[d + 1].to_string());
        }
    }
    for t in targets {
        assert!(labels.contains(&t), "target {t} has no label");
    }
}
