//! PXELINUX configs (`pxelinux.cfg/default`, `pxelinux.cfg/01-<mac>`, found next to
//! `pxelinux.0`). Kernel and initrd paths start with `::`, which PXELINUX passes to the TFTP
//! server without its path prefix (the directory `pxelinux.0` was loaded from), so they are
//! relative to the TFTP root as in the other dialects (tests/menus_qemu.rs boots one from a
//! subdirectory). `MENU` lines take effect when the admin adds `UI menu.c32`; plain PXELINUX shows a
//! `boot:` prompt where the entry ids can be typed.

use super::cmdline::{self, kernel_text};
use super::{Dialect, MenuError, MenuModel};

/// Highest `SERIAL` port number naming a COM port (0-3 are COM1-COM4; larger numbers are I/O
/// port addresses).
const MAX_SERIAL_UNIT: u8 = 3;
/// PXELINUX's `TIMEOUT` counts tenths of a second.
const TENTHS_PER_SEC: u32 = 10;

/// Renders `m` as a PXELINUX config file.
pub fn pxelinux_cfg(m: &MenuModel) -> Result<String, MenuError> {
    m.validate()?;
    let mut out = String::from("# netroot boot menu (generated; do not edit)\n");
    if let Some((unit, baud)) = m.serial {
        if unit > MAX_SERIAL_UNIT {
            return Err(MenuError::BadSetting {
                field: "serial unit",
                value: unit.to_string(),
                reason: format!("PXELINUX names COM ports 0-{MAX_SERIAL_UNIT}"),
            });
        }
        // SERIAL must come before any other directive.
        out.push_str(&format!("SERIAL {unit} {baud}\n"));
    }
    out.push_str(&format!("DEFAULT {}\n", m.default));
    if m.timeout_secs == 0 {
        out.push_str("PROMPT 0\n");
    } else {
        out.push_str(&format!(
            "PROMPT 1\nTIMEOUT {}\n",
            m.timeout_secs * TENTHS_PER_SEC
        ));
    }
    out.push_str(&format!("MENU TITLE {}\n", m.title()));
    for e in &m.entries {
        let params = e.params()?;
        let append = kernel_text(&params);
        // PXELINUX puts `BOOT_IMAGE=::<kernel> ` in front and ` initrd=::<initrd>` after.
        let len = format!("BOOT_IMAGE=::{} {append} initrd=::{}", e.kernel, e.initrd).len();
        if len > cmdline::CMDLINE_MAX {
            return Err(MenuError::Unsupported {
                entry: e.id.clone(),
                dialect: Dialect::Pxelinux,
                what: format!(
                    "a {len}-byte command line with BOOT_IMAGE= and initrd= (the kernel keeps {})",
                    cmdline::CMDLINE_MAX
                ),
            });
        }
        if append == "-" {
            return Err(MenuError::Unsupported {
                entry: e.id.clone(),
                dialect: Dialect::Pxelinux,
                what: "the command line \"-\" (APPEND - means no parameters)".into(),
            });
        }
        out.push_str(&format!(
            "\nLABEL {}\n  MENU LABEL {}\n  KERNEL ::{}\n  INITRD ::{}\n",
            e.id, e.title, e.kernel, e.initrd
        ));
        if !append.is_empty() {
            out.push_str(&format!("  APPEND {append}\n"));
        }
    }
    Ok(out)
}
