//! Content hashes memoized by file identity, like git's index: a file whose size, mtime, ctime,
//! inode and device are unchanged is not read again. ctime cannot be set by user space, so a
//! rewritten file is always re-hashed. Entries younger than [`RACY_WINDOW`] are not kept: a file
//! rewritten within the same timestamp tick would otherwise keep a stale hash.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{io_err, PublishError};
use super::fsops::Fs;

use crate::fsx::stamp::now_ns;
pub use crate::fsx::stamp::RACY_WINDOW;
/// Read buffer for hashing and copying.
pub const BUF_SIZE: usize = 256 * 1024;

/// The stat fingerprint that invalidates a memo entry (shared with the build's hash cache).
pub use crate::fsx::stamp::Stamp;

/// Version of the memo file format. Version 2 is a flat array of tuples (parsing a 20,000-entry
/// memo as an object of objects with 128-bit integers took longer than a whole no-op publish) and
/// also remembers xattrs and symlink targets, so an unchanged entry costs one stat.
const MEMO_VERSION: u32 = 2;

/// One memo line: path, size, mtime (ns), ctime (ns), inode, device, then what is known: blake3
/// (hex), xattrs (name → hex value), symlink target (encoded).
type Row = (
    String,
    u64,
    i64,
    i64,
    u64,
    u64,
    Option<String>,
    Option<BTreeMap<String, String>>,
    Option<String>,
);

#[derive(Debug, Serialize, Deserialize)]
struct MemoFile {
    version: u32,
    entries: Vec<Row>,
}

/// What is known about an entry whose stat fingerprint is `stamp`. A change of content, xattrs,
/// owner, mode or symlink (a new inode) changes the ctime or the inode, hence the stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub stamp: Stamp,
    pub blake3: Option<String>,
    pub xattrs: Option<BTreeMap<String, String>>,
    pub target: Option<String>,
}

/// A memo keyed by path (persistent, for sources) or by inode (in memory, for verify, where
/// generations share inodes through hardlinks).
#[derive(Debug, Default)]
pub struct Memo {
    file: Option<PathBuf>,
    by_inode: bool,
    map: HashMap<String, Known>,
    dirty: bool,
    /// Root tree files actually read (not answered from the memo; boot artifacts not counted).
    pub hashed: usize,
}

impl Memo {
    /// A memo persisted at `file`; a missing, unreadable or older-format file is an empty memo (it
    /// is a cache).
    pub fn load(file: Option<&Path>) -> Memo {
        let map = file
            .and_then(|f| fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<MemoFile>(&b).ok())
            .filter(|m| m.version == MEMO_VERSION)
            .map(|m| {
                m.entries
                    .into_iter()
                    .map(
                        |(path, size, mtime, ctime, ino, dev, blake3, xattrs, target)| {
                            let stamp = Stamp {
                                size,
                                mtime_ns: i128::from(mtime),
                                ctime_ns: i128::from(ctime),
                                ino,
                                dev,
                            };
                            let k = Known {
                                stamp,
                                blake3,
                                xattrs,
                                target,
                            };
                            (path, k)
                        },
                    )
                    .collect()
            })
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

    /// The memo of published inodes persisted at `file` (`relink::published_memo_path`), keyed by
    /// (device, inode): generations share inodes through hardlinks, and a hardlink changes the
    /// ctime of every name of the inode at once.
    pub fn load_by_inode(file: Option<&Path>) -> Memo {
        Memo {
            by_inode: true,
            ..Memo::load(file)
        }
    }

    /// An empty memo of published inodes that [`Memo::save`] writes to `file` (replacing what
    /// was there: it describes the newest generation only, so it does not grow with the history).
    pub fn fresh_by_inode(file: Option<&Path>) -> Memo {
        Memo {
            file: file.map(Path::to_path_buf),
            by_inode: true,
            dirty: true,
            ..Memo::default()
        }
    }

    fn key(&self, path: &Path, stamp: &Stamp) -> String {
        if self.by_inode {
            format!("{}:{}", stamp.dev, stamp.ino)
        } else {
            path.to_string_lossy().into_owned()
        }
    }

    /// What is known about `path` if its fingerprint still is `stamp`.
    pub fn known(&self, path: &Path, stamp: &Stamp) -> Option<&Known> {
        let k = if self.by_inode {
            self.map.get(&self.key(path, stamp))
        } else {
            self.map.get(path.to_string_lossy().as_ref())
        };
        k.filter(|k| k.stamp == *stamp)
    }

    /// Remembers `k` for `path` unless it changed within [`RACY_WINDOW`] (then a rewrite in the
    /// same timestamp tick could go unnoticed).
    pub fn remember(&mut self, path: &Path, k: Known) {
        if k.stamp.is_racy() {
            return;
        }
        let key = self.key(path, &k.stamp);
        if self.map.get(&key) != Some(&k) {
            self.map.insert(key, k);
            self.dirty = true;
        }
    }

    /// Remembers what a published inode was checked to be, right after publish linked or created
    /// it. Unlike [`Memo::remember`] its ctime is fresh (linking changes it); what matters is the
    /// mtime, the manifest's: a later write changes the mtime (hence the stamp) unless it falls
    /// within [`RACY_WINDOW`] of it, so entries with a recent mtime are not kept.
    pub fn remember_published(&mut self, k: Known) {
        if k.stamp.mtime_ns + (RACY_WINDOW.as_nanos() as i128) >= now_ns() {
            return;
        }
        let key = self.key(Path::new(""), &k.stamp);
        self.map.insert(key, k);
        self.dirty = true;
    }

    /// blake3 (hex) of the regular root tree file `path` whose lstat is `md`; fails if the file
    /// changes size while being read.
    pub fn hash(&mut self, path: &Path, md: &fs::Metadata) -> Result<String, PublishError> {
        self.hash_stamped(path, &Stamp::of(md))
    }

    /// [`Memo::hash`] for a boot artifact: not counted in [`Memo::hashed`].
    pub fn hash_artifact(
        &mut self,
        path: &Path,
        md: &fs::Metadata,
    ) -> Result<String, PublishError> {
        let before = self.hashed;
        let h = self.hash(path, md);
        self.hashed = before;
        h
    }

    /// [`Memo::hash`] of a file whose fingerprint is `stamp`.
    pub fn hash_stamped(&mut self, path: &Path, stamp: &Stamp) -> Result<String, PublishError> {
        let known = self.known(path, stamp).cloned();
        if let Some(h) = known.as_ref().and_then(|k| k.blake3.clone()) {
            return Ok(h);
        }
        let (blake3, size) = hash_file(path)?;
        self.hashed += 1;
        if size != stamp.size {
            return Err(PublishError::SourceChanged {
                path: path.to_path_buf(),
                detail: format!("size {} at scan, {size} bytes read", stamp.size),
            });
        }
        let mut k = known.unwrap_or(Known {
            stamp: *stamp,
            blake3: None,
            xattrs: None,
            target: None,
        });
        k.blake3 = Some(blake3.clone());
        self.remember(path, k);
        Ok(blake3)
    }

    /// Writes the memo back if it changed and is persistent. Entries whose times do not fit the
    /// file format (beyond year 2262) are dropped: they are re-read next time.
    pub fn save(&mut self, fs_: &Fs) -> Result<(), PublishError> {
        let Some(file) = self.file.clone().filter(|_| self.dirty) else {
            return Ok(());
        };
        let mut entries: Vec<Row> = self
            .map
            .iter()
            .filter_map(|(path, k)| {
                let s = &k.stamp;
                Some((
                    path.clone(),
                    s.size,
                    i64::try_from(s.mtime_ns).ok()?,
                    i64::try_from(s.ctime_ns).ok()?,
                    s.ino,
                    s.dev,
                    k.blake3.clone(),
                    k.xattrs.clone(),
                    k.target.clone(),
                ))
            })
            .collect();
        entries.sort();
        let data = serde_json::to_vec(&MemoFile {
            version: MEMO_VERSION,
            entries,
        })
        .map_err(|e| PublishError::BadState {
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

/// The stat fingerprint of an lstat (rustix form).
pub fn stamp_of(st: &rustix::fs::Stat) -> Stamp {
    let ns = |s: i64, n: u64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Stamp {
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: ns(st.st_mtime, st.st_mtime_nsec),
        ctime_ns: ns(st.st_ctime, st.st_ctime_nsec),
        ino: st.st_ino,
        dev: st.st_dev,
    }
}

/// blake3 (hex) and length of a file's content.
pub fn hash_file(path: &Path) -> Result<(String, u64), PublishError> {
    hash_open(&mut open_nofollow(path)?, path)
}

/// blake3 (hex) and length of what is left to read from the open file `f` (at `path`).
pub fn hash_open(f: &mut fs::File, path: &Path) -> Result<(String, u64), PublishError> {
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
        std::thread::sleep(RACY_WINDOW + std::time::Duration::from_millis(100));
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
    fn xattrs_and_targets_round_trip_and_other_formats_are_an_empty_memo() {
        let d = tempfile::tempdir().unwrap();
        let memo_file = d.path().join("memo.json");
        let p = d.path().join("l");
        std::os::unix::fs::symlink("target", &p).unwrap();
        let stamp = Stamp::of(&fs::symlink_metadata(&p).unwrap());
        let k = Known {
            stamp,
            blake3: None,
            xattrs: Some(BTreeMap::from([("user.a".to_string(), "00ff".to_string())])),
            target: Some("target".into()),
        };
        let mut m = Memo::load(Some(&memo_file));
        m.remember(&p, k.clone());
        assert!(
            m.known(&p, &stamp).is_none(),
            "changed within the racy window"
        );
        age();
        m.remember(&p, k.clone());
        m.save(&Fs::new(None)).unwrap();
        let m = Memo::load(Some(&memo_file));
        assert_eq!(m.known(&p, &stamp), Some(&k));
        let other = Stamp { size: 9, ..stamp };
        assert_eq!(m.known(&p, &other), None, "a different stamp is not known");
        for old in [
            &b"{\"/x\":{}}"[..],
            br#"{"version":1,"entries":[]}"#,
            b"garbage",
        ] {
            fs::write(&memo_file, old).unwrap();
            assert!(Memo::load(Some(&memo_file)).known(&p, &stamp).is_none());
        }
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
