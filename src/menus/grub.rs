//! GRUB 2 `grub.cfg` for network boot, shared by BIOS (`grub-mknetdir` i386-pc `core.0`) and
//! EFI (`core.efi`): `linux`/`initrd` work on both. Paths are `($root)/...`: with a TFTP server
//! in the model the file sets `root=(tftp,SERVER)`; without one it keeps the root GRUB set from
//! its own boot location (the TFTP server it was loaded from).

use super::cmdline::{self, grub_words};
use super::{MenuError, MenuModel};

/// Longest value `($root)` can expand to when GRUB boots from the network: its TFTP device with
/// a dotted-quad server. GRUB's `linux` puts `BOOT_IMAGE=<expanded path> ` before the parameters.
const ROOT_DEVICE_MAX: &str = "(tftp,255.255.255.255)";

/// Single-quotes a GRUB word; a `'` inside is written `'\''` (close, escaped quote, reopen).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Renders `m` as a `grub.cfg`.
pub fn grub_cfg(m: &MenuModel) -> Result<String, MenuError> {
    m.validate()?;
    let mut out = String::from("# netroot boot menu (generated; do not edit)\n");
    out.push_str(&format!("set default={}\n", quote(&m.default)));
    out.push_str(&format!("set timeout={}\n", m.timeout_secs));
    if let Some((unit, baud)) = m.serial {
        out.push_str(&format!("serial --unit={unit} --speed={baud}\n"));
        out.push_str("terminal_input serial console\n");
        out.push_str("terminal_output serial console\n");
    }
    if let Some(server) = m.tftp_server {
        out.push_str(&format!("set root=(tftp,{server})\n"));
    }
    for e in &m.entries {
        let params = e.params()?;
        let words = grub_words(&e.id, &params)?;
        let len = "BOOT_IMAGE=".len()
            + ROOT_DEVICE_MAX.len()
            + 1
            + e.kernel.len()
            + cmdline::kernel_text(&params).len()
            + 1;
        if len > cmdline::CMDLINE_MAX {
            return Err(MenuError::Unsupported {
                entry: e.id.clone(),
                dialect: super::Dialect::Grub,
                what: format!(
                    "a {len}-byte command line with BOOT_IMAGE= (the kernel keeps {})",
                    cmdline::CMDLINE_MAX
                ),
            });
        }
        out.push_str(&format!(
            "\nmenuentry {} --id {} {{\n",
            quote(&e.title),
            quote(&e.id)
        ));
        let mut linux = format!("\tlinux ($root)/{}", e.kernel);
        for w in words {
            linux.push(' ');
            linux.push_str(&w);
        }
        out.push_str(&linux);
        out.push('\n');
        out.push_str(&format!("\tinitrd ($root)/{}\n}}\n", e.initrd));
    }
    Ok(out)
}
