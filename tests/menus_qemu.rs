//! Boots the generated menus in QEMU (SeaBIOS, user networking with its TFTP server) with the
//! real test kernel and checks the kernel's own "Kernel command line:" against the entry: iPXE
//! dispatching on the NIC's MAC to a node menu, GRUB's main menu choosing a non-first default,
//! PXELINUX loading a per-MAC file from a subdirectory with `::` paths.
//!
//! Needs NETROOT_TEST_KERNEL_DIR (skipped without it unless NETROOT_REQUIRE_KERNEL=1) and
//! qemu-system-x86_64 with the iPXE ROMs; GRUB needs grub-mknetdir (grub-pc-bin). A missing
//! tool skips the test with a message, or fails it under NETROOT_REQUIRE_VM=1 (ci/setup installs
//! them). PXELINUX needs the pxelinux and syslinux-common packages, which ci/setup does not
//! install yet: that test only skips.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod menus_common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use menus_common::{boot, compute_profile, profile_boot};
use netroot::menus::{node_menus, profile_entry, render_files, MenuModel};
use netroot::nodes::Inventory;

/// A TCG boot reaches the kernel's command-line message in 10-25 s; allow for a loaded machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// What the kernel prints early with its command line.
const CMDLINE_MARK: &str = "Kernel command line: ";
/// The MAC of the inventory's node.
const NODE_MAC: &str = "52:54:00:00:10:01";
/// A MAC no node has.
const OTHER_MAC: &str = "52:54:00:00:99:99";
/// Where Debian installs PXELINUX and its core module.
const PXELINUX_BIN: &str = "/usr/lib/PXELINUX/pxelinux.0";
const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// GRUB's BIOS modules, for grub-mknetdir.
const GRUB_I386_PC: &str = "/usr/lib/grub/i386-pc";

/// The test kernel's vmlinuz, or `None` (with a message) when the tests should skip.
fn test_kernel() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("NETROOT_TEST_KERNEL_DIR") else {
        if std::env::var("NETROOT_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("NETROOT_REQUIRE_KERNEL=1 but NETROOT_TEST_KERNEL_DIR is not set");
        }
        println!("skipped: NETROOT_TEST_KERNEL_DIR not set");
        return None;
    };
    let boot = Path::new(&dir).join("boot");
    let found = std::fs::read_dir(&boot)
        .unwrap_or_else(|e| panic!("{}: {e}", boot.display()))
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz"))
        });
    Some(found.unwrap_or_else(|| panic!("no vmlinuz in {}", boot.display())))
}

/// Set to 1 (by ci/test) to fail instead of skipping when QEMU or GRUB is missing.
const REQUIRE_VM_VAR: &str = "NETROOT_REQUIRE_VM";

/// Skips (`true`, with a message) or, under NETROOT_REQUIRE_VM=1, fails for a missing tool.
fn skip_missing(what: &str) -> bool {
    if std::env::var(REQUIRE_VM_VAR).as_deref() == Ok("1") {
        panic!("{REQUIRE_VM_VAR}=1 but {what} is missing");
    }
    println!("skipped: {what} is missing");
    true
}

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A TFTP root with every menu file, the kernel and a one-file initramfs; with the main menu
/// and the node menus it was rendered from.
fn tftp_root(kernel: &Path) -> (tempfile::TempDir, MenuModel, Vec<netroot::menus::NodeMenu>) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("netroot/compute/7");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(kernel, dir.join("vmlinuz")).unwrap();
    let mut img = netroot::image::ImageBuilder::new();
    img.add_file("hello", 0o644, b"hello\n".to_vec()).unwrap();
    let mut cpio = Vec::new();
    img.write_cpio(&mut cpio, 0).unwrap();
    std::fs::write(dir.join("initramfs.img"), cpio).unwrap();

    let compute = boot("compute", "/export/compute");
    let gpu = boot("gpu", "/export/gpu");
    let profiles = [
        compute_profile(&compute),
        profile_boot(
            "gpu",
            "GPU nodes (it's new)",
            &gpu,
            "netroot/compute/7/vmlinuz",
            "netroot/compute/7/initramfs.img",
        ),
    ];
    // panic=-1 with -no-reboot ends QEMU if the kernel gets that far; quoting needs carrying.
    let extra = "panic=-1 rd.note=\"two words\" x=$y";
    let serial = Some((0, 115_200));
    let m = MenuModel {
        entries: profiles
            .iter()
            .map(|p| profile_entry(p, serial, extra))
            .collect(),
        default: "gpu".into(),
        timeout_secs: 1,
        http_base: None,
        serial,
        title: None,
        tftp_server: None,
    };
    let inv = Inventory::parse(
        Path::new("nodes.toml"),
        &format!(
            "[[node]]\nname = \"c001\"\nmac = \"{NODE_MAC}\"\nprofile = \"compute\"\naddress = \"10.0.1.1/16\"\n"
        ),
    )
    .unwrap();
    let nodes = node_menus(&m, &profiles, &inv.nodes, extra).unwrap();
    for f in render_files(&m, &nodes).unwrap() {
        let p = t.path().join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f.contents).unwrap();
    }
    (t, m, nodes)
}

/// Boots QEMU from `bootfile` with `mac` and returns the kernel's command line.
fn boot_cmdline(tftp: &Path, bootfile: &str, mac: &str) -> String {
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "512",
            "-nographic",
            "-no-reboot",
            "-boot",
            "n",
        ])
        .arg("-netdev")
        .arg(format!(
            "user,id=u0,tftp={},bootfile={bootfile}",
            tftp.display()
        ))
        .arg("-device")
        .arg(format!("virtio-net-pci,netdev=u0,mac={mac}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
            if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut log = String::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(i) = line.find(CMDLINE_MARK) {
                    break Some(line[i + CMDLINE_MARK.len()..].trim_end().to_string());
                }
                log.push_str(&line);
            }
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| panic!("no kernel command line within {BOOT_TIMEOUT:?}:\n{log}"))
}

#[test]
fn ipxe_dispatches_a_node_to_its_menu() {
    let Some(kernel) = test_kernel() else { return };
    if !have("qemu-system-x86_64") && skip_missing("qemu-system-x86_64") {
        return;
    }
    let (t, _, nodes) = tftp_root(&kernel);
    let got = boot_cmdline(t.path(), "netroot.ipxe", NODE_MAC);
    let want = format!("initrd=initrd {}", nodes[0].menu.entries[0].cmdline);
    assert_eq!(got, want);
}

#[test]
fn grub_boots_the_default_entry_of_the_main_menu() {
    let Some(kernel) = test_kernel() else { return };
    let grub_ok =
        have("qemu-system-x86_64") && have("grub-mknetdir") && Path::new(GRUB_I386_PC).is_dir();
    if !grub_ok
        && skip_missing(&format!(
            "qemu-system-x86_64, grub-mknetdir or {GRUB_I386_PC}"
        ))
    {
        return;
    }
    let (t, m, _) = tftp_root(&kernel);
    common::output_ok(
        Command::new("grub-mknetdir")
            .arg(format!("--net-directory={}", t.path().display()))
            .args(["--subdir=boot/grub", "-d", GRUB_I386_PC]),
    );
    let got = boot_cmdline(t.path(), "boot/grub/i386-pc/core.0", OTHER_MAC);
    let gpu = m.entries.iter().find(|e| e.id == "gpu").unwrap();
    // GRUB quotes a parameter with spaces as a whole ("key=a b"), which the kernel reads alike.
    let want = format!(
        "BOOT_IMAGE=(tftp,10.0.2.2)/netroot/compute/7/vmlinuz {}",
        gpu.cmdline
            .replace("rd.note=\"two words\"", "\"rd.note=two words\"")
    );
    assert_eq!(got, want);
}

#[test]
fn pxelinux_loads_a_per_mac_file_from_a_subdirectory() {
    let Some(kernel) = test_kernel() else { return };
    if !have("qemu-system-x86_64")
        || !Path::new(PXELINUX_BIN).is_file()
        || !Path::new(LDLINUX_C32).is_file()
    {
        println!("skipped: needs qemu-system-x86_64 and pxelinux (apt-get install pxelinux syslinux-common)");
        return;
    }
    let (t, _, nodes) = tftp_root(&kernel);
    // pxelinux.0 in pxe/: its configs live next to it, `::` paths still reach the TFTP root.
    let pxe = t.path().join("pxe");
    std::fs::create_dir_all(&pxe).unwrap();
    std::fs::copy(PXELINUX_BIN, pxe.join("pxelinux.0")).unwrap();
    std::fs::copy(LDLINUX_C32, pxe.join("ldlinux.c32")).unwrap();
    std::fs::rename(t.path().join("pxelinux.cfg"), pxe.join("pxelinux.cfg")).unwrap();
    let got = boot_cmdline(t.path(), "pxe/pxelinux.0", NODE_MAC);
    let want = format!(
        "BOOT_IMAGE=::netroot/compute/7/vmlinuz {} initrd=::netroot/compute/7/initramfs.img",
        nodes[0].menu.entries[0].cmdline
    );
    assert_eq!(got, want);
}
