//! The root tree manifest (`NFS/PROFILE/GEN.tree.json`): every entry's type, mode, owner, mtime,
//! xattrs, and for regular files size and blake3, for symlinks the target, for devices the rdev,
//! for hardlinks the path of the first link. Entries are in walk order (depth-first, names sorted
//! bytewise, parents before children), so the serialization and its digest are deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the tree manifest schema.
pub const TREE_MANIFEST_VERSION: u32 = 1;
/// Path of the tree's root directory in the manifest.
pub const ROOT_PATH: &str = ".";

/// A whole root tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeManifest {
    pub version: u32,
    pub entries: Vec<TreeEntry>,
}

/// One filesystem object of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// Relative path, encoded by `relpath::encode`; `.` for the root.
    pub path: String,
    #[serde(flatten)]
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (0o7777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Extended attributes: name → hex value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
}

/// The type-specific part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EntryKind {
    Dir,
    File {
        size: u64,
        blake3: String,
        /// Path of the first entry of this hardlink group (this entry is another name for it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hardlink_of: Option<String>,
    },
    Symlink {
        /// Target, encoded like paths.
        target: String,
    },
    Char {
        rdev: u64,
    },
    Block {
        rdev: u64,
    },
    Fifo,
    Socket,
}

impl EntryKind {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::Dir => "directory",
            EntryKind::File { .. } => "regular file",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Char { .. } => "character device",
            EntryKind::Block { .. } => "block device",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
        }
    }
}

impl TreeManifest {
    /// Canonical bytes (what is written to disk and hashed).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs, strings, integers and a BTreeMap cannot fail.
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses manifest bytes.
    pub fn from_bytes(b: &[u8]) -> Result<TreeManifest, String> {
        let m: TreeManifest = serde_json::from_slice(b).map_err(|e| e.to_string())?;
        if m.version != TREE_MANIFEST_VERSION {
            return Err(format!(
                "tree manifest version {} is not supported (expected {TREE_MANIFEST_VERSION})",
                m.version
            ));
        }
        Ok(m)
    }

    /// The tree's identity: blake3 (hex) of the canonical bytes.
    pub fn digest(&self) -> String {
        TreeManifest::digest_of(&self.to_bytes())
    }

    /// [`TreeManifest::digest`] of already serialized bytes ([`TreeManifest::to_bytes`]).
    pub fn digest_of(bytes: &[u8]) -> String {
        blake3::hash(bytes).to_hex().to_string()
    }

    /// Number of regular files and their total size (hardlinks counted once).
    pub fn file_stats(&self) -> (usize, u64) {
        self.entries
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::File {
                    size,
                    hardlink_of: None,
                    ..
                } => Some(*size),
                _ => None,
            })
            .fold((0, 0), |(n, b), s| (n + 1, b + s))
    }
}

impl TreeEntry {
    /// True when a hardlink to `other`'s inode would give exactly this entry (same content, mode,
    /// owner, mtime and xattrs; the path may differ). Regular files compare size and hash,
    /// symlinks their target, device nodes their rdev; directories are never linked.
    pub fn same_inode_data(&self, other: &TreeEntry) -> bool {
        let content = match (&self.kind, &other.kind) {
            (EntryKind::Symlink { target: a }, EntryKind::Symlink { target: b }) => a == b,
            (EntryKind::Char { rdev: a }, EntryKind::Char { rdev: b })
            | (EntryKind::Block { rdev: a }, EntryKind::Block { rdev: b }) => a == b,
            (EntryKind::Fifo, EntryKind::Fifo) | (EntryKind::Socket, EntryKind::Socket) => true,
            (
                EntryKind::File {
                    size: a,
                    blake3: ha,
                    ..
                },
                EntryKind::File {
                    size: b,
                    blake3: hb,
                    ..
                },
            ) => a == b && ha == hb,
            _ => false,
        };
        content
            && self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
            && self.mtime == other.mtime
            && self.mtime_nsec == other.mtime_nsec
            && self.xattrs == other.xattrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, hash: &str) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File {
                size: 3,
                blake3: hash.into(),
                hardlink_of: None,
            },
            mode: 0o4755,
            uid: 0,
            gid: 0,
            mtime: 1,
            mtime_nsec: 2,
            xattrs: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip_and_digest_depends_on_content() {
        let m = TreeManifest {
            version: TREE_MANIFEST_VERSION,
            entries: vec![file("a", "aa"), file("b", "bb")],
        };
        let back = TreeManifest::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        let mut m2 = m.clone();
        m2.entries[1].mode = 0o755;
        assert_ne!(m.digest(), m2.digest());
        assert!(String::from_utf8(m.to_bytes())
            .unwrap()
            .contains(r#""type":"file""#));
        assert_eq!(m.file_stats(), (2, 6));
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let e = TreeManifest::from_bytes(br#"{"version":9,"entries":[]}"#).unwrap_err();
        assert_eq!(e, "tree manifest version 9 is not supported (expected 1)");
        assert!(TreeManifest::from_bytes(b"{").is_err());
    }

    #[test]
    fn same_inode_data_compares_metadata() {
        let a = file("a", "aa");
        let mut b = file("b", "aa");
        assert!(a.same_inode_data(&b));
        b.uid = 1;
        assert!(!a.same_inode_data(&b));
        let c = file("c", "cc");
        assert!(!a.same_inode_data(&c));
    }

    #[test]
    fn same_inode_data_covers_symlinks_and_devices_but_not_dirs() {
        let with = |kind: EntryKind| TreeEntry {
            kind,
            ..file("x", "aa")
        };
        let l1 = with(EntryKind::Symlink { target: "a".into() });
        assert!(l1.same_inode_data(&l1.clone()));
        assert!(!l1.same_inode_data(&with(EntryKind::Symlink { target: "b".into() })));
        let c1 = with(EntryKind::Char { rdev: 1 });
        assert!(c1.same_inode_data(&c1.clone()));
        assert!(!c1.same_inode_data(&with(EntryKind::Char { rdev: 2 })));
        assert!(!c1.same_inode_data(&with(EntryKind::Block { rdev: 1 })));
        assert!(with(EntryKind::Fifo).same_inode_data(&with(EntryKind::Fifo)));
        assert!(!with(EntryKind::Fifo).same_inode_data(&with(EntryKind::Socket)));
        assert!(!with(EntryKind::Dir).same_inode_data(&with(EntryKind::Dir)));
    }
}
