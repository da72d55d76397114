//! iPXE scripts: a `menu`/`choose` section per model, entries that `kernel`/`initrd`/`boot`
//! over HTTP (`http_base`) or TFTP, and for per-node menus one script that dispatches on the
//! booting NIC's MAC (`${netX/mac}`: the most recently opened NIC, i.e. the one iPXE booted
//! from, which need not be `net0`).
//!
//! Labels are `SECTION.menu` and `SECTION.entry.ID` with SECTION `netroot` or `node.NAME`: node
//! names and entry ids cannot contain `.`, so no two labels collide.

use super::cmdline::{self, ipxe_text_check, ipxe_words};
use super::entries::NodeMenu;
use super::{join_url, Dialect, MenuError, MenuModel};

/// Name iPXE gives the initrd image; the kernel's EFI stub finds it through `initrd=NAME`
/// (ignored when booting through the BIOS boot protocol).
const INITRD_NAME: &str = "initrd";
/// Seconds a failed boot waits (so its message can be read) before returning to the firmware,
/// which then tries its next boot device or retries PXE.
const FAIL_PAUSE_SECS: u32 = 10;
/// Milliseconds per second, for `choose --timeout`.
const MS_PER_SEC: u32 = 1000;
/// Setting that receives the chosen label.
const CHOICE: &str = "netroot-choice";

/// Renders `m` as an iPXE script.
pub fn ipxe_script(m: &MenuModel) -> Result<String, MenuError> {
    ipxe_script_with_nodes(m, &[])
}

/// Renders `m` plus a menu per node, chosen by the booting NIC's MAC; unknown MACs get `m`.
pub fn ipxe_script_with_nodes(m: &MenuModel, nodes: &[NodeMenu]) -> Result<String, MenuError> {
    m.validate()?;
    super::entries::check_node_menus(nodes)?;
    let mut out = String::from("#!ipxe\n# netroot boot menu (generated; do not edit)\n\n");
    if !nodes.is_empty() {
        for n in nodes {
            out.push_str(&format!(
                "iseq ${{netX/mac}} {} && goto node.{}.menu ||\n",
                netroot_boot::bootconfig::format_mac(&n.mac),
                n.name
            ));
        }
        out.push_str("goto netroot.menu\n\n");
    }
    section(&mut out, "netroot", m)?;
    for n in nodes {
        section(&mut out, &format!("node.{}", n.name), &n.menu)?;
    }
    out.push_str(":netroot.shell\necho netroot: menu cancelled, type exit to return to the firmware\nshell\nexit 1\n\n");
    out.push_str(&format!(
        ":netroot.failed\necho netroot: boot failed, returning to the firmware in {FAIL_PAUSE_SECS} s\nsleep {FAIL_PAUSE_SECS}\nexit 1\n"
    ));
    Ok(out)
}

/// Checks a menu or item title: iPXE joins its words with single spaces.
fn title_words(entry: &str, title: &str) -> Result<String, MenuError> {
    let words: Vec<&str> = title.split_whitespace().collect();
    let text = words.join(" ");
    ipxe_text_check(&text).map_err(|why| MenuError::Unsupported {
        entry: entry.to_string(),
        dialect: Dialect::Ipxe,
        what: format!("the title {title:?}: {why}"),
    })?;
    Ok(text)
}

fn section(out: &mut String, name: &str, m: &MenuModel) -> Result<(), MenuError> {
    m.validate()?;
    out.push_str(&format!(":{name}.menu\n"));
    let default_label = format!("{name}.entry.{}", m.default);
    if m.timeout_secs == 0 {
        out.push_str(&format!("goto {default_label}\n\n"));
    } else {
        out.push_str(&format!("menu {}\n", title_words("", m.title())?));
        for e in &m.entries {
            out.push_str(&format!(
                "item {name}.entry.{} {}\n",
                e.id,
                title_words(&e.id, &e.title)?
            ));
        }
        out.push_str(&format!(
            "choose --default {default_label} --timeout {} {CHOICE} || goto netroot.shell\ngoto ${{{CHOICE}}}\n\n",
            u64::from(m.timeout_secs) * u64::from(MS_PER_SEC)
        ));
    }
    let base = match (&m.http_base, m.tftp_server) {
        (Some(http), _) => http.clone(),
        (None, Some(server)) => format!("tftp://{server}/"),
        (None, None) => "tftp://${next-server}/".to_string(),
    };
    for e in &m.entries {
        let params = e.params()?;
        let words = ipxe_words(&e.id, &params)?;
        let mut args = format!("initrd={INITRD_NAME}");
        for w in &words {
            args.push(' ');
            args.push_str(w);
        }
        if args.len() > cmdline::CMDLINE_MAX {
            return Err(MenuError::Unsupported {
                entry: e.id.clone(),
                dialect: Dialect::Ipxe,
                what: format!(
                    "a {}-byte command line with initrd={INITRD_NAME} (the kernel keeps {})",
                    args.len(),
                    cmdline::CMDLINE_MAX
                ),
            });
        }
        out.push_str(&format!(
            ":{name}.entry.{id}\nimgfree\nkernel {kernel} {args}\ninitrd --name {INITRD_NAME} {initrd}\nboot || goto netroot.failed\n\n",
            id = e.id,
            kernel = join_url(&base, &e.kernel),
            initrd = join_url(&base, &e.initrd),
        ));
    }
    Ok(())
}
