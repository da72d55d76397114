//! The in-memory tree of an image: what was added, checked for conflicts.
//!
//! Insertion order never matters: parents are created implicitly (0755) until added
//! explicitly, and adding the same thing twice is a no-op, so the written archive depends
//! only on the set of entries.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{path, ImageError};

/// File type bits of `st_mode`.
pub(crate) const S_IFDIR: u32 = 0o040000;
pub(crate) const S_IFREG: u32 = 0o100000;
pub(crate) const S_IFLNK: u32 = 0o120000;
pub(crate) const S_IFCHR: u32 = 0o020000;
/// Permission bits including setuid, setgid and sticky.
pub(crate) const PERM_MASK: u32 = 0o7777;
/// Mode of directories created implicitly as parents.
pub const IMPLICIT_DIR_MODE: u32 = 0o755;
/// Mode of symlinks, as Linux reports them.
const SYMLINK_MODE: u32 = 0o777;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir {
        mode: u32,
        explicit: bool,
    },
    File {
        mode: u32,
        data: Arc<[u8]>,
        sha256: [u8; 32],
    },
    Symlink {
        target: String,
    },
    CharDevice {
        mode: u32,
        major: u32,
        minor: u32,
    },
    /// A further name for the regular file at `primary`.
    Hardlink {
        primary: String,
    },
}

impl Node {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "directory",
            Node::File { .. } => "file",
            Node::Symlink { .. } => "symlink",
            Node::CharDevice { .. } => "character device",
            Node::Hardlink { .. } => "hardlink",
        }
    }

    /// Short description used in conflict messages.
    fn describe(&self) -> String {
        match self {
            Node::Dir { mode, .. } => format!("directory mode {mode:o}"),
            Node::File { mode, data, sha256 } => format!(
                "file mode {mode:o}, {} bytes, sha256 {}",
                data.len(),
                &hex::encode(sha256)[..12]
            ),
            Node::Symlink { target } => format!("symlink to {target}"),
            Node::CharDevice { mode, major, minor } => {
                format!("character device {major}:{minor} mode {mode:o}")
            }
            Node::Hardlink { primary } => format!("hardlink to {primary}"),
        }
    }
}

/// What kind of entry an [`EntryInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File,
    Symlink,
    /// Another name of a regular file; `target` names the path it was linked to.
    Hardlink,
    CharDevice {
        major: u32,
        minor: u32,
    },
}

impl EntryKind {
    /// Stable lowercase name, used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Directory => "directory",
            EntryKind::File => "file",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
            EntryKind::CharDevice { .. } => "char-device",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A summary of one entry, for manifests and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Bytes of file data (symlinks: target length; others 0).
    pub size: u64,
    /// SHA-256 of the data, hex, for files and hardlinks.
    pub sha256: Option<String>,
    /// Symlink target, or the path a hardlink was linked to.
    pub target: Option<String>,
}

/// Collects entries for a deterministic newc archive (see [`ImageBuilder::write_cpio`]).
#[derive(Debug, Default, Clone)]
pub struct ImageBuilder {
    pub(crate) nodes: BTreeMap<String, Node>,
}

/// Checks a caller's mode: permission bits, optionally with the matching type bits.
fn permission_bits(path: &str, mode: u32, type_bits: u32) -> Result<u32, ImageError> {
    let extra = mode & !PERM_MASK;
    if extra == 0 || extra == type_bits {
        Ok(mode & PERM_MASK)
    } else {
        Err(ImageError::InvalidMode {
            path: path.to_owned(),
            mode,
        })
    }
}

impl ImageBuilder {
    /// An empty image.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory; parents are added with mode 0755 unless added explicitly.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), ImageError> {
        let mode = permission_bits(path, mode, S_IFDIR)?;
        self.insert(
            path,
            Node::Dir {
                mode,
                explicit: true,
            },
        )
    }

    /// Adds a regular file with the given permission bits and contents.
    pub fn add_file(
        &mut self,
        path: &str,
        mode: u32,
        data: impl Into<Arc<[u8]>>,
    ) -> Result<(), ImageError> {
        let mode = permission_bits(path, mode, S_IFREG)?;
        let data: Arc<[u8]> = data.into();
        if u32::try_from(data.len()).is_err() {
            return Err(ImageError::FileTooLarge {
                path: path.to_owned(),
                size: data.len(),
                max: u32::MAX,
            });
        }
        let sha256 = Sha256::digest(&data).into();
        self.insert(path, Node::File { mode, data, sha256 })
    }

    /// Adds a symbolic link to `target` (stored verbatim; may dangle or be absolute).
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), ImageError> {
        let reason = if target.is_empty() {
            Some("empty target")
        } else if target.contains('\0') {
            Some("contains a NUL byte")
        } else if target.len() > path::PATH_MAX {
            Some("longer than the kernel's PATH_MAX")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ImageError::InvalidSymlinkTarget {
                path: path.to_owned(),
                target: target.to_owned(),
                reason,
            });
        }
        self.insert(
            path,
            Node::Symlink {
                target: target.to_owned(),
            },
        )
    }

    /// Adds `path` as another name of the regular file `existing` (already added).
    pub fn add_hardlink(&mut self, path: &str, existing: &str) -> Result<(), ImageError> {
        path::validate(existing)?;
        let primary = match self.nodes.get(existing) {
            None => None,
            Some(Node::File { .. }) => Some(existing.to_owned()),
            Some(Node::Hardlink { primary }) => Some(primary.clone()),
            Some(other) => {
                return Err(ImageError::HardlinkTargetNotFile {
                    path: path.to_owned(),
                    target: existing.to_owned(),
                    kind: other.kind_name(),
                })
            }
        };
        let Some(primary) = primary else {
            return Err(ImageError::HardlinkTargetMissing {
                path: path.to_owned(),
                target: existing.to_owned(),
            });
        };
        if primary == path {
            // Linking a file to itself changes nothing.
            return Ok(());
        }
        self.insert(path, Node::Hardlink { primary })
    }

    /// Adds a character device node.
    pub fn add_char_device(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), ImageError> {
        let mode = permission_bits(path, mode, S_IFCHR)?;
        self.insert(path, Node::CharDevice { mode, major, minor })
    }

    /// All entries, in archive order.
    pub fn entries(&self) -> impl Iterator<Item = EntryInfo> + '_ {
        self.ordered()
            .into_iter()
            .map(|(path, node)| self.info(path, node))
    }

    /// Paths and nodes in archive order: component-wise, directories before contents.
    pub(crate) fn ordered(&self) -> Vec<(&str, &Node)> {
        let mut all: Vec<(&str, &Node)> = self.nodes.iter().map(|(p, n)| (p.as_str(), n)).collect();
        all.sort_by(|a, b| path::sort_key(a.0).cmp(&path::sort_key(b.0)));
        all
    }

    fn info(&self, path: &str, node: &Node) -> EntryInfo {
        let mut info = EntryInfo {
            path: path.to_owned(),
            kind: EntryKind::Directory,
            mode: 0,
            size: 0,
            sha256: None,
            target: None,
        };
        match node {
            Node::Dir { mode, .. } => info.mode = *mode,
            Node::File { mode, data, sha256 } => {
                info.kind = EntryKind::File;
                info.mode = *mode;
                info.size = data.len() as u64;
                info.sha256 = Some(hex::encode(sha256));
            }
            Node::Symlink { target } => {
                info.kind = EntryKind::Symlink;
                info.mode = SYMLINK_MODE;
                info.size = target.len() as u64;
                info.target = Some(target.clone());
            }
            Node::CharDevice { mode, major, minor } => {
                info.kind = EntryKind::CharDevice {
                    major: *major,
                    minor: *minor,
                };
                info.mode = *mode;
            }
            Node::Hardlink { primary } => {
                info.kind = EntryKind::Hardlink;
                info.target = Some(primary.clone());
                if let Some(Node::File { mode, data, sha256 }) = self.nodes.get(primary) {
                    info.mode = *mode;
                    info.size = data.len() as u64;
                    info.sha256 = Some(hex::encode(sha256));
                }
            }
        }
        info
    }

    /// The full mode (type and permission bits) written for a node.
    pub(crate) fn full_mode(&self, node: &Node) -> u32 {
        match node {
            Node::Dir { mode, .. } => S_IFDIR | mode,
            Node::File { mode, .. } => S_IFREG | mode,
            Node::Symlink { .. } => S_IFLNK | SYMLINK_MODE,
            Node::CharDevice { mode, .. } => S_IFCHR | mode,
            Node::Hardlink { primary } => match self.nodes.get(primary) {
                Some(Node::File { mode, .. }) => S_IFREG | mode,
                _ => S_IFREG,
            },
        }
    }

    /// Inserts after validating the path, creating parents and checking conflicts.
    fn insert(&mut self, path: &str, node: Node) -> Result<(), ImageError> {
        path::validate(path)?;
        for ancestor in path::ancestors(path) {
            match self.nodes.get(ancestor) {
                None | Some(Node::Dir { .. }) => {}
                Some(other) => {
                    return Err(ImageError::ParentNotDirectory {
                        path: path.to_owned(),
                        parent: ancestor.to_owned(),
                        kind: other.kind_name(),
                    })
                }
            }
        }
        if !matches!(node, Node::Dir { .. }) {
            let prefix = format!("{path}/");
            if let Some((child, _)) = self.nodes.range(prefix.clone()..).next() {
                if child.starts_with(&prefix) {
                    return Err(ImageError::DirectoryHasChildren {
                        path: path.to_owned(),
                        new: node.kind_name(),
                        child: child.clone(),
                    });
                }
            }
        }
        match self.nodes.get(path) {
            None => {}
            Some(existing) if *existing == node => return Ok(()),
            // An explicit directory replaces the implicit parent created earlier.
            Some(Node::Dir {
                explicit: false, ..
            }) if matches!(node, Node::Dir { .. }) => {}
            Some(existing) => {
                return Err(ImageError::Conflict {
                    path: path.to_owned(),
                    existing: existing.describe(),
                    new: node.describe(),
                })
            }
        }
        for ancestor in path::ancestors(path) {
            self.nodes.entry(ancestor.to_owned()).or_insert(Node::Dir {
                mode: IMPLICIT_DIR_MODE,
                explicit: false,
            });
        }
        self.nodes.insert(path.to_owned(), node);
        Ok(())
    }
}
