//! Boot menus refuse what they cannot render, with messages naming the entry, node or setting.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod menus_common;

use std::path::Path;

use menus_common::boot;
use netroot::menus::{
    grub_cfg, ipxe_script, ipxe_script_with_nodes, node_menus, pxelinux_cfg, MenuEntry, MenuModel,
    NodeMenu, ProfileBoot,
};
use netroot::nodes::Inventory;

fn entry(id: &str, cmdline: &str) -> MenuEntry {
    MenuEntry {
        id: id.into(),
        title: format!("Profile {id}"),
        kernel: format!("netroot/{id}/1/vmlinuz"),
        initrd: format!("netroot/{id}/1/initramfs.img"),
        cmdline: cmdline.into(),
    }
}

fn model(entries: Vec<MenuEntry>) -> MenuModel {
    MenuModel {
        default: entries.first().map(|e| e.id.clone()).unwrap_or_default(),
        entries,
        timeout_secs: 5,
        http_base: None,
        serial: None,
        title: None,
        tftp_server: None,
    }
}

/// The error every dialect gives for `m` (they share the model checks).
fn common_err(m: &MenuModel) -> String {
    let g = grub_cfg(m).unwrap_err().to_string();
    assert_eq!(ipxe_script(m).unwrap_err().to_string(), g);
    assert_eq!(pxelinux_cfg(m).unwrap_err().to_string(), g);
    g
}

#[test]
fn model_errors_are_shared_by_all_dialects() {
    assert_eq!(common_err(&model(vec![])), "boot menu has no entries");
    assert_eq!(
        common_err(&model(vec![entry("a b", "")])),
        "menu entry id \"a b\": use 1-64 letters, digits, '-' or '_'"
    );
    assert_eq!(
        common_err(&model(vec![entry("a", ""), entry("a", "")])),
        "menu entry id \"a\": used by two entries"
    );
    let mut m = model(vec![entry("a", ""), entry("b", "")]);
    m.default = "c".into();
    assert_eq!(
        common_err(&m),
        "default entry \"c\" is not in the menu (entries: a, b)"
    );
    let mut m = model(vec![entry("a", "")]);
    m.timeout_secs = 3600;
    assert_eq!(
        common_err(&m),
        "menu timeout 3600 s is longer than 3599 s (PXELINUX's limit)"
    );
    let mut e = entry("a", "");
    e.kernel = "/netroot/a/vmlinuz".into();
    assert_eq!(
        common_err(&model(vec![e])),
        "menu entry \"a\": kernel \"/netroot/a/vmlinuz\": expected a clean relative path \
         (no leading /, no . or .. components)"
    );
    let mut e = entry("a", "");
    e.initrd = "netroot/a b/initrd".into();
    assert_eq!(
        common_err(&model(vec![e])),
        "menu entry \"a\": initrd \"netroot/a b/initrd\": only letters, digits and . _ - + / are allowed"
    );
    let mut e = entry("a", "");
    e.title = "two\nlines".into();
    assert_eq!(
        common_err(&model(vec![e])),
        "menu entry \"a\": title \"two\\nlines\": contains a control character"
    );
    assert_eq!(
        common_err(&model(vec![entry("a", "root=\"x")])),
        "menu entry \"a\": cmdline \"root=\\\"x\": unterminated double quote"
    );
    let mut m = model(vec![entry("a", "")]);
    m.http_base = Some("ftp://server/".into());
    assert_eq!(
        common_err(&m),
        "http_base \"ftp://server/\": must start with http:// or https://"
    );
    m.http_base = Some("http://server/a b/".into());
    assert_eq!(
        common_err(&m),
        "http_base \"http://server/a b/\": must not contain spaces, quotes, # or control characters"
    );
    let mut m = model(vec![entry("a", "")]);
    m.serial = Some((0, 0));
    assert_eq!(
        common_err(&m),
        "serial speed \"0\": must be a baud rate like 115200"
    );
}

#[test]
fn each_dialect_refuses_what_it_cannot_carry() {
    let m = model(vec![entry("a", "x=it's")]);
    assert_eq!(
        grub_cfg(&m).unwrap_err().to_string(),
        "menu entry \"a\": GRUB cannot carry the parameter \"x=it's\": it passes '\\'' to the \
         kernel with a backslash"
    );
    // iPXE and PXELINUX pass it through unchanged.
    ipxe_script(&m).unwrap();
    pxelinux_cfg(&m).unwrap();

    let m = model(vec![entry("a", "x=${y}")]);
    assert_eq!(
        ipxe_script(&m).unwrap_err().to_string(),
        "menu entry \"a\": iPXE cannot carry the parameter \"x=${y}\": iPXE expands ${...} in \
         every word"
    );
    grub_cfg(&m).unwrap();
    pxelinux_cfg(&m).unwrap();

    let mut e = entry("a", "");
    e.title = "Build #1 ${x}".into();
    assert_eq!(
        ipxe_script(&model(vec![e])).unwrap_err().to_string(),
        "menu entry \"a\": iPXE cannot carry the title \"Build #1 ${x}\": iPXE expands ${...} in \
         every word"
    );

    let mut m = model(vec![entry("a", "")]);
    m.serial = Some((4, 115_200));
    assert_eq!(
        pxelinux_cfg(&m).unwrap_err().to_string(),
        "serial unit \"4\": PXELINUX names COM ports 0-3"
    );
    grub_cfg(&m).unwrap();

    assert_eq!(
        pxelinux_cfg(&model(vec![entry("a", "-")]))
            .unwrap_err()
            .to_string(),
        "menu entry \"a\": PXELINUX cannot carry the command line \"-\" (APPEND - means no \
         parameters)"
    );
}

#[test]
fn loader_prefixes_count_against_the_kernel_limit() {
    // 2047 bytes is the kernel's limit; GRUB adds BOOT_IMAGE=..., iPXE initrd=initrd,
    // PXELINUX both BOOT_IMAGE= and initrd=.
    let long = format!("x={}", "y".repeat(2040));
    let m = model(vec![entry("a", &long)]);
    assert_eq!(
        pxelinux_cfg(&m).unwrap_err().to_string(),
        "menu entry \"a\": PXELINUX cannot carry a 2110-byte command line with BOOT_IMAGE= and \
         initrd= (the kernel keeps 2047)"
    );
    // A line that fits PXELINUX's additions.
    let fits = format!("x={}", "y".repeat(1970));
    pxelinux_cfg(&model(vec![entry("a", &fits)])).unwrap();
    assert_eq!(
        grub_cfg(&m).unwrap_err().to_string(),
        "menu entry \"a\": GRUB cannot carry a 2096-byte command line with BOOT_IMAGE= (the \
         kernel keeps 2047)"
    );
    assert_eq!(
        ipxe_script(&m).unwrap_err().to_string(),
        "menu entry \"a\": iPXE cannot carry a 2056-byte command line with initrd=initrd (the \
         kernel keeps 2047)"
    );
}

#[test]
fn node_menu_errors_name_the_node() {
    let b = boot("compute", "/export");
    let profiles = [ProfileBoot {
        id: "compute",
        title: "Compute",
        boot: &b,
        kernel: "netroot/compute/1/vmlinuz",
        initrd: "netroot/compute/1/initramfs.img",
    }];
    let base = model(vec![entry("compute", "")]);
    let inv = Inventory::parse(
        Path::new("nodes.toml"),
        "[[node]]\nname = \"g1\"\nmac = \"52:54:00:00:00:99\"\nprofile = \"gpu\"\n",
    )
    .unwrap();
    assert_eq!(
        node_menus(&base, &profiles, &inv.nodes, "")
            .unwrap_err()
            .to_string(),
        "node \"g1\": profile \"gpu\" has no boot files in this menu"
    );
    let node = |name: &str, mac: u8| NodeMenu {
        name: name.into(),
        mac: [0x52, 0x54, 0, 0, 0, mac],
        menu: base.clone(),
    };
    assert_eq!(
        ipxe_script_with_nodes(&base, &[node("a", 1), node("b", 1)])
            .unwrap_err()
            .to_string(),
        "MAC 52:54:00:00:00:01 is listed for node \"a\" and node \"b\""
    );
    assert_eq!(
        ipxe_script_with_nodes(&base, &[node("a", 1), node("a", 2)])
            .unwrap_err()
            .to_string(),
        "node \"a\": node menus need distinct names of letters, digits and '-'"
    );
    assert_eq!(
        ipxe_script_with_nodes(&base, &[node("a.b", 1)])
            .unwrap_err()
            .to_string(),
        "node \"a.b\": node menus need distinct names of letters, digits and '-'"
    );
}
