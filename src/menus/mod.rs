//! Boot menus: one [`MenuModel`] rendered as a GRUB `grub.cfg` ([`grub_cfg`]), an iPXE script
//! ([`ipxe_script`], [`ipxe_script_with_nodes`]) and a PXELINUX config ([`pxelinux_cfg`]).
//!
//! An entry's kernel command line is written in kernel syntax (`key=value`, `key="a b"`); each
//! renderer re-spells every parameter so that the kernel receives exactly it after the loader's
//! own parsing, and refuses (naming the entry) what a loader cannot carry: GRUB backslash-escapes
//! `\`, `'` and `"` (the kernel keeps the backslash); iPXE expands `${...}`, treats a word
//! starting with `#` as a comment and `||`, `&&`, `;` as operators, and joins words with single
//! spaces. [`profile_entry`] and [`node_menus`] build entries from profiles' boot configs and the
//! node inventory; per-node menus go to per-MAC files ([`per_mac_name`]) for GRUB and PXELINUX,
//! and into one dispatching script for iPXE; [`render_files`] renders every file.

mod cmdline;
mod entries;
mod error;
mod grub;
mod ipxe;
mod published;
mod pxelinux;

use std::net::Ipv4Addr;

pub use cmdline::CMDLINE_MAX;
pub use entries::{
    node_boot_config, node_entry, node_menus, node_menus_with_layers, per_mac_name, profile_entry,
    render_files, MenuFile, NodeMenu, PerMac, ProfileBoot, GRUB_DIR, IPXE_SCRIPT, PXELINUX_DIR,
};
pub use error::{Dialect, MenuError};
pub use grub::grub_cfg;
pub use ipxe::{ipxe_script, ipxe_script_with_nodes};
pub use published::{profile_cmdline, render_published, Published, PublishedProfile};
pub use pxelinux::pxelinux_cfg;

use crate::image::path as image_path;

/// Longest menu timeout: PXELINUX's `TIMEOUT` counts tenths of a second up to 35996.
pub const MAX_TIMEOUT_SECS: u32 = 3599;
/// Longest entry id (a label in every dialect).
const ID_MAX_LEN: usize = 64;
/// Title used when the model has none.
pub const DEFAULT_TITLE: &str = "netroot boot menu";

/// One bootable choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    /// Label: letters, digits, `-`, `_` (usually the profile name).
    pub id: String,
    pub title: String,
    /// Kernel path relative to the TFTP root (or `http_base`): `netroot/compute/<gen>/vmlinuz`.
    pub kernel: String,
    pub initrd: String,
    /// Kernel command line in kernel syntax.
    pub cmdline: String,
}

impl MenuEntry {
    /// The entry's kernel parameters; a command line no loader can carry is a `BadField`.
    pub(crate) fn params(&self) -> Result<Vec<cmdline::Param>, MenuError> {
        cmdline::parse(&self.cmdline)
            .map_err(|reason| bad_field(&self.id, "cmdline", &self.cmdline, &reason))
    }
}

/// A whole menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuModel {
    pub entries: Vec<MenuEntry>,
    /// Id of the entry booted when the timeout expires.
    pub default: String,
    /// Seconds the menu waits; 0 boots the default at once.
    pub timeout_secs: u32,
    /// iPXE fetches kernel and initrd from here (`http://10.0.0.1:8080/`) instead of TFTP.
    pub http_base: Option<String>,
    /// Serial console for the loaders: (unit, baud); unit 0 is ttyS0/COM1.
    pub serial: Option<(u8, u32)>,
    /// Menu title (iPXE, PXELINUX); [`DEFAULT_TITLE`] when `None`.
    pub title: Option<String>,
    /// TFTP server to fetch from: GRUB `set root=(tftp,SERVER)`, iPXE `tftp://SERVER/`. `None`:
    /// GRUB keeps the root it was loaded from, iPXE uses `${next-server}`.
    pub tftp_server: Option<Ipv4Addr>,
}

fn bad_field(entry: &str, field: &'static str, value: &str, reason: &str) -> MenuError {
    MenuError::BadField {
        entry: entry.to_string(),
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks a path relative to the boot server's root: clean, and only characters every loader
/// takes literally.
fn check_path(entry: &str, field: &'static str, path: &str) -> Result<(), MenuError> {
    image_path::validate(path).map_err(|_| {
        bad_field(
            entry,
            field,
            path,
            "expected a clean relative path (no leading /, no . or .. components)",
        )
    })?;
    let ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(bad_field(
            entry,
            field,
            path,
            "only letters, digits and . _ - + / are allowed",
        ))
    }
}

/// Checks a human-readable title: not empty, no control characters.
fn check_title(entry: &str, title: &str) -> Result<(), MenuError> {
    if title.trim().is_empty() {
        return Err(bad_field(entry, "title", title, "must not be empty"));
    }
    if title.chars().any(char::is_control) {
        return Err(bad_field(
            entry,
            "title",
            title,
            "contains a control character",
        ));
    }
    Ok(())
}

impl MenuModel {
    /// Checks what every dialect needs: entries with unique valid ids, an existing default, a
    /// timeout PXELINUX can express, clean paths, titles and command lines, a sane HTTP base.
    pub fn validate(&self) -> Result<(), MenuError> {
        if self.entries.is_empty() {
            return Err(MenuError::NoEntries);
        }
        for (i, e) in self.entries.iter().enumerate() {
            let id_ok = !e.id.is_empty()
                && e.id.len() <= ID_MAX_LEN
                && e.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(MenuError::BadId {
                    id: e.id.clone(),
                    reason: "use 1-64 letters, digits, '-' or '_'",
                });
            }
            if self.entries.iter().take(i).any(|o| o.id == e.id) {
                return Err(MenuError::BadId {
                    id: e.id.clone(),
                    reason: "used by two entries",
                });
            }
            check_title(&e.id, &e.title)?;
            check_path(&e.id, "kernel", &e.kernel)?;
            check_path(&e.id, "initrd", &e.initrd)?;
            e.params()?;
        }
        if !self.entries.iter().any(|e| e.id == self.default) {
            return Err(MenuError::UnknownDefault {
                default: self.default.clone(),
                available: self.entries.iter().map(|e| e.id.clone()).collect(),
            });
        }
        if self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(MenuError::Timeout {
                secs: self.timeout_secs,
                max: MAX_TIMEOUT_SECS,
            });
        }
        if let Some(title) = &self.title {
            check_title("", title).map_err(|_| MenuError::BadSetting {
                field: "menu title",
                value: title.clone(),
                reason: "must be non-empty without control characters".into(),
            })?;
        }
        if let Some((_, baud)) = self.serial.filter(|(_, baud)| *baud == 0) {
            return Err(MenuError::BadSetting {
                field: "serial speed",
                value: baud.to_string(),
                reason: "must be a baud rate like 115200".into(),
            });
        }
        if let Some(base) = &self.http_base {
            check_http_base(base)?;
        }
        Ok(())
    }

    /// The title shown by iPXE and PXELINUX.
    pub fn title(&self) -> &str {
        self.title.as_deref().unwrap_or(DEFAULT_TITLE)
    }
}

/// `http://` or `https://`, then characters iPXE keeps inside one word.
pub fn check_http_base(base: &str) -> Result<(), MenuError> {
    let bad = |reason: &str| MenuError::BadSetting {
        field: "http_base",
        value: base.to_string(),
        reason: reason.to_string(),
    };
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("has no host"));
    }
    if base
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '#')
    {
        return Err(bad(
            "must not contain spaces, quotes, # or control characters",
        ));
    }
    Ok(())
}

/// Joins a base URL and a relative path with exactly one `/`.
fn join_url(base: &str, path: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}
