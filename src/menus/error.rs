//! Errors of boot-menu rendering; each names the entry, node or setting involved.

use std::fmt;

/// A boot loader dialect netroot renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    Grub,
    Ipxe,
    Pxelinux,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Grub => "GRUB",
            Dialect::Ipxe => "iPXE",
            Dialect::Pxelinux => "PXELINUX",
        })
    }
}

/// Why a menu cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MenuError {
    #[error("boot menu has no entries")]
    NoEntries,
    #[error("menu entry id {id:?}: {reason}")]
    BadId { id: String, reason: &'static str },
    #[error("default entry {default:?} is not in the menu (entries: {})", .available.join(", "))]
    UnknownDefault {
        default: String,
        available: Vec<String>,
    },
    #[error("menu timeout {secs} s is longer than {max} s (PXELINUX's limit)")]
    Timeout { secs: u32, max: u32 },
    #[error("menu entry {entry:?}: {field} {value:?}: {reason}")]
    BadField {
        entry: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("menu entry {entry:?}: {dialect} cannot carry {what}")]
    Unsupported {
        entry: String,
        dialect: Dialect,
        what: String,
    },
    #[error("{field} {value:?}: {reason}")]
    BadSetting {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("node {node:?}: {reason}")]
    Node { node: String, reason: String },
    #[error("MAC {mac} is listed for node {first:?} and node {second:?}")]
    DuplicateMac {
        mac: String,
        first: String,
        second: String,
    },
}
