//! Content hashes memoized by file identity, like git's index: a file whose size, mtime, ctime,
//! inode and device are unchanged is not read again. ctime cannot be set by user space, so a
//! rewritten file is always re-hashed. Entries younger than [`RACY_WINDOW`] are not kept: a file
//! rewritten within the same timestamp tick would otherwise keep a stale hash.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::{io_err, PublishError};
use super::fsops::Fs;

/// Files changed this recently are hashed but not memoized (timestamps are only as fine as the
/// kernel tick; two writes in one tick leave ctime unchanged).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
/// Read buffer for hashing and copying.
pub const BUF_SIZE: usize = 256 * 1024;

/// What identifies a file's content version.
/// The stat fingerprint that invalidates a memo entry (shared with the build's hash cache).
pub use crate::build::hashcache::Stamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    blake3: String,
}

/// A memo keyed by path (persistent, for sources) or by inode (in memory, for verify, where
/// generations share inodes through hardlinks).
#[derive(Debug, Default)]
pub struct Memo {
    file: Option<PathBuf>,
    by_inode: bool,
    map: HashMap<String, Entry>,
    dirty: bool,
    /// Files actually read (not answered from the memo).
    pub hashed: usize,
}

impl Memo {
    /// A memo persisted at `file`; a missing or unreadable file is an empty memo (it is a cache).
    pub fn load(file: Option<&Path>) -> Memo {
        let map = file
            .and_then(|f| fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Memo {
            file: file.map(Path::to_path_buf),
            map,
            ..Memo::default()
        }
    }

    /// An in-memory memo keyed by (device, inode).
    pub fn by_inode() -> Memo {
        Memo {
            by_inode: true,
            ..Memo::default()
        }
    }

    /// blake3 (hex) of the regular file `path` whose lstat is `md`; fails if the file changes
    /// type or size while being read.
    pub fn hash(&mut self, path: &Path, md: &fs::Metadata) -> Result<String, PublishError> {
        let stamp = Stamp::of(md);
        let key = if self.by_inode {
            format!("{}:{}", stamp.dev, stamp.ino)
        } else {
            path.to_string_lossy().into_owned()
        };
        if let Some(e) = self.map.get(&key) {
            if e.stamp == stamp {
                return Ok(e.blake3.clone());
            }
        }
        let (blake3, size) = hash_file(path)?;
        self.hashed += 1;
        if size != stamp.size {
            return Err(PublishError::SourceChanged {
                path: path.to_path_buf(),
                detail: format!("size {} at scan, {size} bytes read", stamp.size),
            });
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        if stamp.ctime_ns + (RACY_WINDOW.as_nanos() as i128) < now_ns {
            self.map.insert(
                key,
                Entry {
                    stamp,
                    blake3: blake3.clone(),
                },
            );
            self.dirty = true;
        }
        Ok(blake3)
    }

    /// Writes the memo back if it changed and is persistent.
    pub fn save(&mut self, fs_: &Fs) -> Result<(), PublishError> {
        let Some(file) = self.file.clone().filter(|_| self.dirty) else {
            return Ok(());
        };
        let data = serde_json::to_vec(&self.map).map_err(|e| PublishError::BadState {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        fs_.create_dir_all(super::fsops::parent_of(&file))?;
        fs_.write_atomic(&file, &data)?;
        self.dirty = false;
        Ok(())
    }
}

/// Opens a file for reading without following a symlink in the last component.
pub fn open_nofollow(path: &Path) -> Result<fs::File, PublishError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(io_err("open", path))
}

/// blake3 (hex) and length of a file's content.
pub fn hash_file(path: &Path) -> Result<(String, u64), PublishError> {
    let mut f = open_nofollow(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err("read", path))?;
        if k == 0 {
            break;
        }
        h.update(buf.get(..k).unwrap_or_default());
        n += k as u64;
    }
    Ok((h.finalize().to_hex().to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ctime cannot be set, so a test file becomes memoizable only by waiting out the window.
    fn age() {
        std::thread::sleep(RACY_WINDOW + Duration::from_millis(100));
    }

    #[test]
    fn memo_skips_reads_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"hello").unwrap();
        age();
        let memo_file = d.path().join("memo.json");
        let mut m = Memo::load(Some(&memo_file));
        let h1 = m.hash(&p, &fs::symlink_metadata(&p).unwrap()).unwrap();
        assert_eq!(h1, blake3::hash(b"hello").to_hex().to_string());
        m.save(&Fs::new(None)).unwrap();
        let mut m = Memo::load(Some(&memo_file));
        m.hash(&p, &fs::symlink_metadata(&p).unwrap()).unwrap();
        assert_eq!(m.hashed, 0, "answered from the memo");
        fs::write(&p, b"world").unwrap();
        let h2 = m.hash(&p, &fs::symlink_metadata(&p).unwrap()).unwrap();
        assert_eq!(m.hashed, 1);
        assert_eq!(h2, blake3::hash(b"world").to_hex().to_string());
    }

    #[test]
    fn fresh_files_are_not_memoized_and_symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"x").unwrap();
        let mut m = Memo::by_inode();
        m.hash(&p, &fs::symlink_metadata(&p).unwrap()).unwrap();
        m.hash(&p, &fs::symlink_metadata(&p).unwrap()).unwrap();
        assert_eq!(m.hashed, 2);
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        let e = hash_file(&d.path().join("l")).unwrap_err().to_string();
        assert!(e.starts_with("open "), "{e}");
    }
}
