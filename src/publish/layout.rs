//! Where everything lives on the targets, and the names that are allowed there.
//!
//! ```text
//! TFTP/netroot/.lock                      one publisher at a time (flock)
//! TFTP/netroot/PROFILE/GEN/               vmlinuz, initramfs.img, manifest.json, generation.json
//! TFTP/netroot/PROFILE/current -> GEN
//! TFTP/netroot/PROFILE/history.json       ordered generations and the active one
//! NFS/PROFILE/GEN/                        the read-only root tree
//! NFS/PROFILE/GEN.tree.json               its manifest
//! NFS/PROFILE/current -> GEN
//! TFTP/<menu files>                       consumer entry points (grub.cfg, netroot.ipxe, ...)
//! ```
//! Anything named `.netroot-tmp-*` is a temporary (staging, replaced or deleted) and is removed by
//! the next publish or gc.

use std::path::{Component, Path, PathBuf};

use super::error::PublishError;
use super::Targets;

/// Directory under the TFTP root that holds every profile's generations.
pub const TFTP_SUBDIR: &str = "netroot";
/// Name of the per-consumer pointer to the active generation.
pub const CURRENT: &str = "current";
/// Prefix of every temporary name the engine creates; cleanup removes exactly these.
pub use crate::fsx::atomic::{is_tmp_name, TMP_PREFIX};
/// The per-profile history file (in the TFTP profile directory).
pub const HISTORY: &str = "history.json";
/// The generation record inside each TFTP generation directory.
pub const GENERATION_RECORD: &str = "generation.json";
/// Artifact file names inside a TFTP generation directory.
pub const VMLINUZ: &str = "vmlinuz";
pub const INITRAMFS: &str = "initramfs.img";
pub const MANIFEST: &str = "manifest.json";
/// Suffix of a root tree's manifest next to the tree (`GEN.tree.json`).
pub const TREE_MANIFEST_SUFFIX: &str = ".tree.json";
/// Lock file under `TFTP/netroot`: menu files at the TFTP root are shared by all profiles.
pub const LOCK: &str = ".lock";
/// Longest profile name: it becomes a path component and part of export pseudo paths.
const MAX_PROFILE_LEN: usize = 64;
/// Hex digits of a generation id after the `g`.
pub const GEN_HEX_LEN: usize = 16;

/// Paths of one profile on a pair of targets.
#[derive(Debug, Clone)]
pub struct Layout {
    pub tftp: PathBuf,
    pub nfs: PathBuf,
    pub profile: String,
}

impl Layout {
    /// Checks the profile name and builds the layout.
    pub fn new(profile: &str, t: &Targets) -> Result<Layout, PublishError> {
        validate_profile(profile)?;
        Ok(Layout {
            tftp: t.tftp.clone(),
            nfs: t.nfs.clone(),
            profile: profile.to_string(),
        })
    }
    pub fn tftp_base(&self) -> PathBuf {
        self.tftp.join(TFTP_SUBDIR)
    }
    pub fn lock_path(&self) -> PathBuf {
        self.tftp_base().join(LOCK)
    }
    pub fn tftp_profile(&self) -> PathBuf {
        self.tftp_base().join(&self.profile)
    }
    pub fn tftp_gen(&self, generation: &str) -> PathBuf {
        self.tftp_profile().join(generation)
    }
    pub fn history(&self) -> PathBuf {
        self.tftp_profile().join(HISTORY)
    }
    pub fn nfs_profile(&self) -> PathBuf {
        self.nfs.join(&self.profile)
    }
    pub fn nfs_gen(&self, generation: &str) -> PathBuf {
        self.nfs_profile().join(generation)
    }
    pub fn tree_manifest(&self, generation: &str) -> PathBuf {
        self.nfs_profile()
            .join(format!("{generation}{TREE_MANIFEST_SUFFIX}"))
    }
    /// A menu file's path under the TFTP root (already validated).
    pub fn menu(&self, rel: &str) -> PathBuf {
        self.tftp.join(rel)
    }
    /// `netroot/PROFILE/GEN`, the TFTP-relative directory of a generation.
    pub fn tftp_rel(&self, generation: &str) -> String {
        format!("{TFTP_SUBDIR}/{}/{generation}", self.profile)
    }
}

/// A profile name: 1-64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
pub fn validate_profile(name: &str) -> Result<(), PublishError> {
    let bad = |reason| {
        Err(PublishError::InvalidProfile {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_PROFILE_LEN {
        return bad("longer than 64 characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("must not start with '.' or '-'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// True when `id` has the shape of a generation id.
pub fn is_generation_id(id: &str) -> bool {
    id.len() == GEN_HEX_LEN + 1
        && id.starts_with('g')
        && id
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a generation id.
pub fn validate_generation(id: &str) -> Result<(), PublishError> {
    if is_generation_id(id) {
        Ok(())
    } else {
        Err(PublishError::InvalidGeneration { id: id.to_string() })
    }
}

/// A menu file path: relative, plain components, outside `netroot/`, no temporary names.
pub fn validate_menu_path(rel: &str) -> Result<(), PublishError> {
    let bad = |reason| {
        Err(PublishError::InvalidMenuPath {
            path: rel.to_string(),
            reason,
        })
    };
    if rel.is_empty() {
        return bad("empty");
    }
    if rel.ends_with('/') {
        return bad("ends with '/'");
    }
    let p = Path::new(rel);
    let mut first = true;
    for c in p.components() {
        match c {
            Component::Normal(n) => {
                if first && n == TFTP_SUBDIR {
                    return bad("netroot/ is reserved for generations");
                }
                if n.as_encoded_bytes().starts_with(TMP_PREFIX.as_bytes()) {
                    return bad("names starting with .netroot-tmp- are reserved");
                }
                first = false;
            }
            Component::CurDir => return bad("contains '.'"),
            Component::ParentDir => return bad("contains '..'"),
            Component::RootDir | Component::Prefix(_) => return bad("must be relative"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        validate_profile("compute-2.x_y").unwrap();
        for (name, msg) in [
            ("", "empty"),
            (".hidden", "must not start"),
            ("-x", "must not start"),
            ("a/b", "only letters"),
            ("a b", "only letters"),
        ] {
            let e = validate_profile(name).unwrap_err().to_string();
            assert!(e.contains(msg), "{name}: {e}");
        }
        let long = "a".repeat(65);
        assert!(validate_profile(&long)
            .unwrap_err()
            .to_string()
            .contains("longer than 64"));
    }

    #[test]
    fn generation_ids() {
        assert!(is_generation_id("g0123456789abcdef"));
        assert!(!is_generation_id("g0123456789ABCDEF"));
        assert!(!is_generation_id("h0123456789abcdef"));
        assert!(!is_generation_id("g0123"));
        assert_eq!(
            validate_generation("gx").unwrap_err().to_string(),
            "invalid generation id \"gx\": expected 'g' followed by 16 lowercase hex digits"
        );
    }

    #[test]
    fn menu_paths() {
        validate_menu_path("boot/grub/grub.cfg").unwrap();
        validate_menu_path("pxelinux.cfg/01-52-54-00-00-00-01").unwrap();
        validate_menu_path("netroot.ipxe").unwrap();
        for (p, msg) in [
            ("", "empty"),
            ("/etc/x", "must be relative"),
            ("a/../b", "contains '..'"),
            ("netroot/x", "reserved for generations"),
            ("a/.netroot-tmp-1", "reserved"),
            ("a/", "ends with '/'"),
        ] {
            let e = validate_menu_path(p).unwrap_err().to_string();
            assert!(e.contains(msg), "{p}: {e}");
        }
    }
}
