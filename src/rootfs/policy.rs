//! What one extraction accepts. Root tarballs and kernel packages go through the same extractor
//! ([`super::tarball`]); the policy says what differs:
//!
//! - [`Policy::Root`], a whole root tree: absolute names are made relative, symlinks on the way
//!   are followed inside the root, owners, setuid/setgid/sticky bits, xattrs, hardlinks, devices
//!   and fifos are kept, and an entry replaces an earlier node of another kind (an empty
//!   directory by a file, a file by a directory).
//! - [`Policy::Strict`], the kernel subtrees of a package (what the package unpacker has always
//!   enforced): absolute names are refused; only regular files, directories and relative
//!   symlinks whose leading `..` run never climbs above the tree are written; a path through a
//!   symlink is refused, so a link cannot redirect a later write; permission bits only
//!   (directories also get owner rwx so the extraction can fill them), owned by the running
//!   user, no xattrs; a directory is never replaced by a file nor a file by a directory.
//!
//! Both refuse `..` and NUL in names, names longer than PATH_MAX, sparse files, ACLs and PAX
//! global headers other than a comment, and check the archive's end (see [`super::tarball`]).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use tar::EntryType;

use super::error::EntryError;
use crate::fsx::inode::{Meta, MODE_BITS};
use crate::fsx::inroot::Links;

/// Permission bits the strict policy keeps (drops setuid, setgid, sticky).
const PERMISSION_BITS: u32 = 0o777;
/// Owner bits the strict policy forces on directories so the extraction can fill them.
const DIR_OWNER_BITS: u32 = 0o700;

/// The rules of one extraction (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A whole root tree.
    Root,
    /// Kernel subtrees of a package.
    Strict,
}

impl Policy {
    /// How symlinks on the way of an entry are treated.
    pub(crate) fn links(self) -> Links {
        match self {
            Self::Root => Links::Follow,
            Self::Strict => Links::Refuse,
        }
    }

    /// Whether an entry may replace a node of the other kind.
    pub(crate) fn replaces_kind(self) -> bool {
        self == Self::Root
    }

    /// Whether owners are taken from the archive (else: the running user).
    pub(crate) fn keeps_owners(self) -> bool {
        self == Self::Root
    }

    /// Checks the raw entry name beyond what both policies refuse.
    pub(crate) fn check_name(self, raw: &[u8]) -> Result<(), EntryError> {
        if self == Self::Strict && raw.first() == Some(&b'/') {
            return Err(EntryError::Refused {
                reason: "absolute path".to_owned(),
            });
        }
        Ok(())
    }

    /// Refuses the node types the root policy writes and the strict one does not (hardlinks,
    /// devices, fifos); types neither writes are refused by the entry reader for both.
    pub(crate) fn check_type(self, etype: EntryType) -> Result<(), EntryError> {
        let root_only = matches!(
            etype,
            EntryType::Link | EntryType::Char | EntryType::Block | EntryType::Fifo
        );
        if self == Self::Strict && root_only {
            return Err(EntryError::Refused {
                reason: format!("unsupported entry type {etype:?}"),
            });
        }
        Ok(())
    }

    /// Checks a symlink target of the entry at `name`.
    pub(crate) fn check_link(self, target: &[u8], name: &[OsString]) -> Result<(), EntryError> {
        match self {
            Self::Root => Ok(()),
            Self::Strict => check_link_target(target, name.len().saturating_sub(1))
                .map_err(|reason| EntryError::Refused { reason }),
        }
    }

    /// The metadata actually applied; `owner` is the running user.
    pub(crate) fn meta(self, mut meta: Meta, dir: bool, owner: (u32, u32)) -> Meta {
        match self {
            Self::Root => meta.mode &= MODE_BITS,
            Self::Strict => {
                meta.mode &= PERMISSION_BITS;
                if dir {
                    meta.mode |= DIR_OWNER_BITS;
                }
                (meta.uid, meta.gid) = owner;
                meta.xattrs.clear();
            }
        }
        meta
    }
}

/// Checks a symlink target: relative, and its leading `..` run never climbs above the root from
/// the link's directory (`depth` components deep). `..` after a normal component is refused, so
/// no other link can redirect it.
fn check_link_target(target: &[u8], depth: usize) -> Result<(), String> {
    if target.is_empty() {
        return Err("empty symlink target".to_owned());
    }
    if target.first() == Some(&b'/') {
        return Err("absolute symlink target".to_owned());
    }
    let mut ups = 0usize;
    let mut descended = false;
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if descended => {
                return Err("symlink target has \"..\" after a directory name".to_owned())
            }
            b".." => ups += 1,
            _ => descended = true,
        }
    }
    if ups > depth {
        return Err("symlink target points outside the tree".to_owned());
    }
    Ok(())
}

/// Kernel parts of a package: `boot/vmlinuz-*`, `boot/config-*` and everything below
/// [`KERNEL_TREES`] (the subtree roots included).
pub(crate) fn kernel_part(parts: &[OsString]) -> bool {
    if let [dir, file] = parts {
        if dir == BOOT_DIR {
            let file = file.as_bytes();
            return BOOT_FILES.iter().any(|p| file.starts_with(p.as_bytes()));
        }
    }
    KERNEL_TREES.iter().any(|tree| {
        parts.len() >= tree.len() && tree.iter().zip(parts).all(|(want, got)| got == *want)
    })
}

/// Subtrees of a kernel package written in full.
const KERNEL_TREES: [&[&str]; 4] = [
    &["lib", "modules"],
    &["usr", "lib", "modules"],
    &["lib", "firmware"],
    &["usr", "lib", "firmware"],
];
/// Directory of the image and config.
const BOOT_DIR: &str = "boot";
/// Name prefixes of the files taken from `boot/`.
const BOOT_FILES: [&str; 2] = ["vmlinuz-", "config-"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::resolve::entry_components;

    fn parts(name: &str) -> Vec<OsString> {
        entry_components(name.as_bytes()).unwrap()
    }

    #[test]
    fn kernel_selection() {
        assert!(kernel_part(&parts("boot/vmlinuz-6.1.0-56-amd64")));
        assert!(kernel_part(&parts("boot/config-6.1.0-56-amd64")));
        assert!(!kernel_part(&parts("boot/System.map-6.1.0-56-amd64")));
        assert!(!kernel_part(&parts("boot/grub/vmlinuz-x")));
        assert!(kernel_part(&parts("lib/modules")));
        assert!(kernel_part(&parts("lib/modules/6.1/kernel/a.ko")));
        assert!(kernel_part(&parts("usr/lib/modules/6.1/modules.order")));
        assert!(kernel_part(&parts("usr/lib/firmware/rtl_nic/x.fw")));
        assert!(!kernel_part(&parts("lib")));
        assert!(!kernel_part(&parts("./")));
        assert!(!kernel_part(&parts(
            "usr/share/doc/linux-image/changelog.gz"
        )));
        assert!(!kernel_part(&parts("lib/modulesx/a")));
    }

    #[test]
    fn link_targets() {
        assert_eq!(check_link_target(b"a.ko", 0), Ok(()));
        assert_eq!(check_link_target(b"../../x/y", 2), Ok(()));
        let err = |t: &[u8], d| check_link_target(t, d).unwrap_err();
        assert_eq!(
            err(b"../../../x", 2),
            "symlink target points outside the tree"
        );
        assert_eq!(err(b"/usr/src/linux-headers", 3), "absolute symlink target");
        assert_eq!(
            err(b"sub/../..", 3),
            "symlink target has \"..\" after a directory name"
        );
        assert_eq!(err(b"", 3), "empty symlink target");
    }

    #[test]
    fn strict_names_and_types() {
        let e = Policy::Strict.check_name(b"/etc/evil").unwrap_err();
        assert_eq!(e.to_string(), "absolute path");
        assert!(Policy::Root.check_name(b"/etc/x").is_ok());
        let e = Policy::Strict.check_type(EntryType::Link).unwrap_err();
        assert_eq!(e.to_string(), "unsupported entry type Link");
        assert!(Policy::Root.check_type(EntryType::Link).is_ok());
    }
}
