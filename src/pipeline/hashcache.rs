//! Content hashes of input files, memoized by file metadata (like git's index): a file whose size,
//! mtime, ctime, inode and device are unchanged is not read again; a touched file is re-hashed, and if
//! its content is the same nothing downstream changes. A file changed within the racy window is
//! hashed but not remembered (`fsx::stamp`, the rule publish's memo follows too).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::fsx::stamp::Stamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    blake3: String,
}

/// A persistent path → (stamp, blake3) memo for file contents and directory listings.
/// Keys are strings (a HashMap: `PathBuf` ordering compares component-wise and dominated the
/// no-op build's profile).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HashCache {
    entries: HashMap<String, Entry>,
    #[serde(default)]
    listings: HashMap<String, Entry>,
    #[serde(default)]
    modinfo: HashMap<String, Entry>,
    #[serde(skip)]
    dirty: bool,
}

/// Hashes a byte slice (hex blake3).
pub fn hash_bytes(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Hashes a file by streaming it through blake3 (hex digest).
pub fn hash_file_uncached(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(fs::File::open(path)?)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Looks `path` up in `map` by its current stamp, else computes, stores and returns the hash;
/// `None` when the path does not exist.
fn memoized(
    map: &mut HashMap<String, Entry>,
    dirty: &mut bool,
    path: &Path,
    compute: impl FnOnce(&Path) -> io::Result<Option<String>>,
) -> io::Result<Option<String>> {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let stamp = Stamp::of(&md);
    let key = key_of(path)?;
    if let Some(e) = map.get(key) {
        if e.stamp == stamp {
            return Ok(Some(e.blake3.clone()));
        }
    }
    let Some(blake3) = compute(path)? else {
        return Ok(None);
    };
    // Changed within the racy window: a second write in the same tick would keep this stamp.
    if stamp.is_racy() {
        return Ok(Some(blake3));
    }
    map.insert(
        key.to_string(),
        Entry {
            stamp,
            blake3: blake3.clone(),
        },
    );
    *dirty = true;
    Ok(Some(blake3))
}

impl HashCache {
    /// Loads the memo from `path`; a missing or unreadable memo is an empty one (it is only a cache).
    pub fn load(path: &Path) -> HashCache {
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the memo if anything changed.
    pub fn save(&mut self, path: &Path) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let data = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::fsx::atomic::write_atomic(path, &data)?;
        self.dirty = false;
        Ok(())
    }

    /// Content hash of `path`, or `None` when it does not exist.
    pub fn hash(&mut self, path: &Path) -> io::Result<Option<String>> {
        memoized(&mut self.entries, &mut self.dirty, path, |p| {
            hash_file_uncached(p).map(Some)
        })
    }

    /// Listing hash of a directory (see [`hash_listing`]), memoized by the directory's own stamp:
    /// adding, removing or renaming an entry changes the directory's mtime and ctime.
    pub fn listing(&mut self, dir: &Path) -> io::Result<Option<String>> {
        memoized(&mut self.listings, &mut self.dirty, dir, hash_listing)
    }

    /// blake3 of a module's `.modinfo` section, memoized by the file's stamp.
    pub fn modinfo(&mut self, path: &Path) -> io::Result<Option<String>> {
        memoized(&mut self.modinfo, &mut self.dirty, path, |p| {
            crate::kmod::modinfo_hash(p)
                .map(Some)
                .map_err(io::Error::other)
        })
    }

    /// Records a `.modinfo` hash computed elsewhere (the module resolver) for the file as it is now.
    pub fn remember_modinfo(&mut self, path: &Path, h: &str) -> io::Result<()> {
        let stamp = Stamp::of(&fs::metadata(path)?);
        if stamp.is_racy() {
            return Ok(());
        }
        self.modinfo.insert(
            key_of(path)?.to_string(),
            Entry {
                stamp,
                blake3: h.to_string(),
            },
        );
        self.dirty = true;
        Ok(())
    }
}

/// Paths are recorded as UTF-8 strings (the build records and manifests are JSON).
fn key_of(path: &Path) -> io::Result<&str> {
    path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path is not UTF-8: {}", path.display()),
        )
    })
}

/// Hash of a directory listing (sorted entry names), for inputs that depend on which files exist.
pub fn hash_listing(dir: &Path) -> io::Result<Option<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for e in rd {
        names.push(e?.file_name());
    }
    names.sort();
    let mut h = blake3::Hasher::new();
    for n in names {
        h.update(n.as_encoded_bytes());
        h.update(b"\0");
    }
    Ok(Some(h.finalize().to_hex().to_string()))
}

/// Digest of a whole directory tree: every entry's relative path, type, mode, owner, and content
/// hash (files, memoized) or link target (symlinks) or device number. Symlinks are never followed.
/// Used for a directory root-tree source, where metadata matters as much as content.
pub fn tree_digest(root: &Path, hc: &mut HashCache) -> io::Result<Option<String>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if fs::symlink_metadata(root).is_err() {
        return Ok(None);
    }
    let mut h = blake3::Hasher::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let md = fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let ft = md.file_type();
            let what = if ft.is_dir() {
                stack.push(path.clone());
                "d".to_string()
            } else if ft.is_symlink() {
                format!("l{}", fs::read_link(&path)?.display())
            } else if ft.is_file() {
                format!("f{}", hc.hash(&path)?.unwrap_or_default())
            } else if ft.is_block_device() || ft.is_char_device() {
                format!("n{}", md.rdev())
            } else {
                "s".to_string()
            };
            h.update(rel.as_os_str().as_encoded_bytes());
            h.update(format!("\0{what}\0{:o}\0{}\0{}\n", md.mode(), md.uid(), md.gid()).as_bytes());
        }
    }
    Ok(Some(h.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_rehashes_but_keeps_hash_and_change_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        fs::write(&f, b"one").unwrap();
        let mut c = HashCache::default();
        let h1 = c.hash(&f).unwrap().unwrap();
        assert_eq!(h1, hash_bytes(b"one"));
        // Same content rewritten (new mtime): same hash.
        std::thread::sleep(std::time::Duration::from_millis(5));
        fs::write(&f, b"one").unwrap();
        assert_eq!(c.hash(&f).unwrap().unwrap(), h1);
        fs::write(&f, b"two").unwrap();
        assert_eq!(c.hash(&f).unwrap().unwrap(), hash_bytes(b"two"));
        assert_eq!(c.hash(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn a_file_changed_within_the_racy_window_is_hashed_but_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        fs::write(&f, b"x").unwrap();
        let mut c = HashCache::default();
        assert_eq!(c.hash(&f).unwrap().unwrap(), hash_bytes(b"x"));
        assert!(c.entries.is_empty() && !c.dirty, "{:?}", c.entries);
    }

    #[test]
    fn memo_round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        fs::write(&f, b"x").unwrap();
        // Out of the racy window, so the hash is remembered.
        std::thread::sleep(crate::fsx::stamp::RACY_WINDOW + std::time::Duration::from_millis(50));
        let memo = dir.path().join("memo.json");
        let mut c = HashCache::default();
        c.hash(&f).unwrap();
        c.save(&memo).unwrap();
        let mut c2 = HashCache::load(&memo);
        assert!(!c2.dirty);
        assert_eq!(c2.hash(&f).unwrap().unwrap(), hash_bytes(b"x"));
        assert!(!c2.dirty, "a stamp hit must not re-hash");
    }

    #[test]
    fn listing_changes_when_a_file_appears() {
        let dir = tempfile::tempdir().unwrap();
        let a = hash_listing(dir.path()).unwrap();
        fs::write(dir.path().join("n"), b"").unwrap();
        assert_ne!(a, hash_listing(dir.path()).unwrap());
        assert_eq!(hash_listing(&dir.path().join("nope")).unwrap(), None);
    }
}
