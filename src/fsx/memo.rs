//! The one content-hash memo, like git's index: what is known about a file (its blake3, and
//! whatever else its user derives from it) is kept under the file's [`Stamp`] and trusted only
//! while the stamp is unchanged, so a file whose size, mtime, ctime, inode and device are the
//! same is not read again. A touched file is re-hashed, and if its content is the same nothing
//! downstream changes.
//!
//! The racy-window rule: an entry changed (ctime) within [`RACY_WINDOW`] of when it is learned
//! is not remembered, and after a load an entry whose mtime is within [`RACY_WINDOW`] of when
//! the memo was saved is not trusted: a second write in the same timestamp tick would keep the
//! stamp and, without the rule, the first write's hash.
//!
//! Used by the build (its hash cache of inputs and outputs, `OUT/.cache/hashes.json`) and by
//! publish (its source memo and the memo of published inodes, keyed by inode). A memo is a
//! cache: a missing, unreadable, corrupt or older-format file loads as an empty memo. It is
//! saved atomically ([`crate::fsx::atomic`]), or handed over as bytes ([`Memo::to_bytes`]) to a
//! writer that records its writes (publish's `Fs`).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::stamp::{now_ns, Stamp, RACY_WINDOW};

/// Read buffer for hashing (and copying while hashing).
pub const BUF_SIZE: usize = 256 * 1024;
/// Version of the memo file. 3 is the first shared by the build and publish (the build's hash
/// cache had no version, publish's memo was 1 and 2); any other loads as an empty memo.
const FORMAT_VERSION: u32 = 3;

/// blake3 (hex) of a byte slice.
pub fn hash_bytes(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// blake3 (hex) and length of what is left to read from `r`.
pub fn hash_reader(r: &mut impl Read) -> io::Result<(String, u64)> {
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if k == 0 {
            break;
        }
        h.update(buf.get(..k).unwrap_or_default());
        n += k as u64;
    }
    Ok((h.finalize().to_hex().to_string(), n))
}

/// Opens a file for reading without following a symlink in the last component.
pub fn open_nofollow(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// blake3 (hex) and length of the file `path` (a symlink is not followed), not memoized.
pub fn hash_file(path: &Path) -> Result<(String, u64), HashError> {
    let mut f = open_nofollow(path).map_err(HashError::Open)?;
    hash_reader(&mut f).map_err(HashError::Read)
}

/// Why a file could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot open: {0}")]
    Open(#[source] io::Error),
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    /// Fewer or more bytes were read than the stamp's size: the file changed while it was read
    /// (`blake3` is of what was read; it is not remembered).
    #[error("changed while read: {expected} bytes at stat, {read} bytes read")]
    Changed {
        expected: u64,
        read: u64,
        blake3: String,
    },
}

/// What a memo's user derives from a file besides its blake3 (`()` for nothing).
pub trait Facts: Clone + Default + PartialEq + Serialize + DeserializeOwned {}
impl<T: Clone + Default + PartialEq + Serialize + DeserializeOwned> Facts for T {}

/// What is known about a file whose stat stamp is `stamp`. A change of content, xattrs, owner,
/// mode or symlink (a new inode) changes the ctime or the inode, hence the stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<X> {
    pub stamp: Stamp,
    /// Content hash (hex), when known.
    pub blake3: Option<String>,
    /// The user's other facts.
    pub more: X,
}

impl<X: Default> Entry<X> {
    /// Nothing known yet about the file stamped `stamp`.
    pub fn new(stamp: Stamp) -> Entry<X> {
        Entry {
            stamp,
            blake3: None,
            more: X::default(),
        }
    }
}

/// One line of the memo file: key, size, mtime (ns), ctime (ns), inode, device, blake3, facts. A
/// flat array of tuples: parsing a 20,000-entry memo as an object of objects with 128-bit
/// integers took longer than a whole no-op publish.
type Row<X> = (String, u64, i64, i64, u64, u64, Option<String>, X);
/// [`Row`] borrowed from the memo, for writing.
type RowRef<'a, X> = (&'a str, u64, i64, i64, u64, u64, &'a Option<String>, &'a X);

#[derive(Deserialize)]
struct FileIn<X> {
    version: u32,
    /// When the memo was written (ns since the epoch).
    saved_ns: i64,
    entries: Vec<Row<X>>,
}

#[derive(Serialize)]
struct FileOut<'a, X> {
    version: u32,
    saved_ns: i64,
    entries: Vec<RowRef<'a, X>>,
}

/// A memo keyed by path, or by (device, inode) where names share inodes through hardlinks
/// (publish's generations).
#[derive(Debug, Default)]
pub struct Memo<X> {
    by_inode: bool,
    map: HashMap<String, Entry<X>>,
    dirty: bool,
    /// Files read (not answered from the memo).
    pub hashed: usize,
}

impl<X: Facts> Memo<X> {
    /// An empty memo keyed by path.
    pub fn new() -> Memo<X> {
        Memo::default()
    }

    /// An empty memo keyed by (device, inode).
    pub fn by_inode() -> Memo<X> {
        Memo {
            by_inode: true,
            ..Memo::default()
        }
    }

    /// An empty memo keyed by (device, inode) that is written when saved even if it learns
    /// nothing: it replaces what was saved before.
    pub fn fresh_by_inode() -> Memo<X> {
        Memo {
            dirty: true,
            ..Memo::by_inode()
        }
    }

    /// The memo saved at `file`, keyed by path; empty when the file is missing, unreadable,
    /// corrupt or of another format (it is a cache).
    pub fn load(file: &Path) -> Memo<X> {
        Memo {
            map: read_entries(file),
            ..Memo::default()
        }
    }

    /// [`Memo::load`] of a memo keyed by (device, inode).
    pub fn load_by_inode(file: &Path) -> Memo<X> {
        Memo {
            map: read_entries(file),
            ..Memo::by_inode()
        }
    }

    fn key(&self, path: &Path, stamp: &Stamp) -> String {
        if self.by_inode {
            format!("{}:{}", stamp.dev, stamp.ino)
        } else {
            path.to_string_lossy().into_owned()
        }
    }

    /// What is known about `path` if its stamp still is `stamp`.
    pub fn known(&self, path: &Path, stamp: &Stamp) -> Option<&Entry<X>> {
        let e = if self.by_inode {
            self.map.get(&self.key(path, stamp))
        } else {
            self.map.get(path.to_string_lossy().as_ref())
        };
        e.filter(|e| e.stamp == *stamp)
    }

    /// Remembers `e` for `path` unless it changed (ctime) within [`RACY_WINDOW`] of now.
    pub fn remember(&mut self, path: &Path, e: Entry<X>) {
        if !e.stamp.is_racy() {
            self.insert(path, e);
        }
    }

    /// Remembers `e` for an inode whose ctime changes for other reasons (publish links and
    /// creates it) but whose mtime is set: kept unless the mtime is within [`RACY_WINDOW`] of
    /// now, as a later write changes the mtime unless it falls in the same tick.
    pub fn remember_settled(&mut self, path: &Path, e: Entry<X>) {
        if e.stamp.mtime_ns + (RACY_WINDOW.as_nanos() as i128) < now_ns() {
            self.insert(path, e);
        }
    }

    fn insert(&mut self, path: &Path, e: Entry<X>) {
        let key = self.key(path, &e.stamp);
        if self.map.get(&key) != Some(&e) {
            self.map.insert(key, e);
            self.dirty = true;
        }
    }

    /// The fact `slot` of `path` (stamped `stamp`) if known, else `compute`d and remembered;
    /// `None` from `compute` (nothing there) is not remembered.
    pub fn memoized<E>(
        &mut self,
        path: &Path,
        stamp: &Stamp,
        slot: fn(&mut Entry<X>) -> &mut Option<String>,
        compute: impl FnOnce() -> Result<Option<String>, E>,
    ) -> Result<Option<String>, E> {
        let mut e = self
            .known(path, stamp)
            .cloned()
            .unwrap_or_else(|| Entry::new(*stamp));
        if let Some(v) = slot(&mut e).clone() {
            return Ok(Some(v));
        }
        let Some(v) = compute()? else {
            return Ok(None);
        };
        *slot(&mut e) = Some(v.clone());
        self.remember(path, e);
        Ok(Some(v))
    }

    /// blake3 (hex) of the regular file `path` stamped `stamp`: from the memo, or read from the
    /// file `open` opens (then remembered, unless the length read is not the stamp's size).
    pub fn hash_opened(
        &mut self,
        path: &Path,
        stamp: &Stamp,
        open: impl FnOnce() -> io::Result<fs::File>,
    ) -> Result<String, HashError> {
        if let Some(h) = self.known(path, stamp).and_then(|e| e.blake3.clone()) {
            return Ok(h);
        }
        let mut f = open().map_err(HashError::Open)?;
        let (blake3, read) = hash_reader(&mut f).map_err(HashError::Read)?;
        self.hashed += 1;
        if read != stamp.size {
            return Err(HashError::Changed {
                expected: stamp.size,
                read,
                blake3,
            });
        }
        let mut e = self
            .known(path, stamp)
            .cloned()
            .unwrap_or_else(|| Entry::new(*stamp));
        e.blake3 = Some(blake3.clone());
        self.remember(path, e);
        Ok(blake3)
    }

    /// [`Memo::hash_opened`] of `path` opened without following a symlink.
    pub fn hash_nofollow(&mut self, path: &Path, stamp: &Stamp) -> Result<String, HashError> {
        self.hash_opened(path, stamp, || open_nofollow(path))
    }

    /// Content hash of `path` (symlinks followed), or `None` when it does not exist. A file
    /// that changes while read gets the hash of what was read, not remembered.
    pub fn hash(&mut self, path: &Path) -> io::Result<Option<String>> {
        let md = match fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.hash_opened(path, &Stamp::of(&md), || fs::File::open(path)) {
            Ok(h) | Err(HashError::Changed { blake3: h, .. }) => Ok(Some(h)),
            Err(HashError::Open(e) | HashError::Read(e)) => Err(e),
        }
    }

    /// Whether the memo learned something since it was loaded or saved.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The memo file's bytes, stamped with the time of the call. Entries whose times do not fit
    /// the format (beyond year 2262) are left out: they are read again next time.
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        self.to_bytes_at(i64::try_from(now_ns()).unwrap_or(i64::MAX))
    }

    fn to_bytes_at(&self, saved_ns: i64) -> io::Result<Vec<u8>> {
        let mut entries: Vec<RowRef<'_, X>> = self
            .map
            .iter()
            .filter_map(|(key, e)| {
                let s = &e.stamp;
                Some((
                    key.as_str(),
                    s.size,
                    i64::try_from(s.mtime_ns).ok()?,
                    i64::try_from(s.ctime_ns).ok()?,
                    s.ino,
                    s.dev,
                    &e.blake3,
                    &e.more,
                ))
            })
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serde_json::to_vec(&FileOut {
            version: FORMAT_VERSION,
            saved_ns,
            entries,
        })
        .map_err(io::Error::other)
    }

    /// Records that what [`Memo::to_bytes`] gave was written.
    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    /// Writes the memo to `file` atomically if it learned anything.
    pub fn save(&mut self, file: &Path) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        write_atomic(file, &self.to_bytes()?)?;
        self.mark_saved();
        Ok(())
    }
}

/// The trusted entries of the memo file `file`: none when it cannot be read or parsed or is of
/// another version, and not those whose mtime is within [`RACY_WINDOW`] of its saving.
fn read_entries<X: Facts>(file: &Path) -> HashMap<String, Entry<X>> {
    let Some(m) = fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice::<FileIn<X>>(&b).ok())
        .filter(|m| m.version == FORMAT_VERSION)
    else {
        return HashMap::new();
    };
    let settled_before = i128::from(m.saved_ns) - RACY_WINDOW.as_nanos() as i128;
    m.entries
        .into_iter()
        .filter(|row| i128::from(row.2) < settled_before)
        .map(|(key, size, mtime, ctime, ino, dev, blake3, more)| {
            let stamp = Stamp {
                size,
                mtime_ns: i128::from(mtime),
                ctime_ns: i128::from(ctime),
                ino,
                dev,
            };
            (
                key,
                Entry {
                    stamp,
                    blake3,
                    more,
                },
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "memo_tests.rs"]
mod tests;
