//! Keeping the build cache under [`super::cache_bound::CACHE_MAX_ENV`]: records which cache
//! entries a build used (a stamp per entry in `cache/used/`, since filesystem atime is often
//! `noatime`/`relatime`, and an entry's own mtime is part of what it serves), measures every
//! entry in one walk, and removes the least recently used ones until the cache fits.
//!
//! An entry is what can go as a whole: an extracted kernel (`kernels/HASH/` with its
//! `HASH.sha256` memo), an mmdebstrap tarball (`rootfs/KEY.tar`), a root tree (`roots/KEY/` with
//! `KEY.json`), a shared base (`roots/base-KEY/`), a compressed segment (`segments/HASH`).
//! `hashes.json`, `state/` and `used/` are small and never go. Hidden names (staging trees,
//! temporaries) belong to a running build and are never entries.
//!
//! What an eviction frees is counted per inode: a root tree variant's unchanged files are
//! hardlinks to its base, so removing either while the other stays frees only the inodes whose
//! every link was in the removed entry. An entry that would free nothing now (a base whose
//! variants remain) is kept: removing it gains no space and costs a re-materialization later.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::cache_bound::{select_lru, Candidate};
use super::clean::{remove, BLOCK};
use super::{BuildError, Progress, ROOTFS};
use crate::fsx::atomic::{rename_durable, tmp_path, TMP_PREFIX};
use crate::fsx::stamp::Stamp;
use crate::fsx::walk::{self, Item, Options, OtherFs};
use rustix::fs::FileType;

/// Cache subdirectories whose children are evictable entries.
const ENTRY_DIRS: [&str; 4] = ["kernels", "rootfs", "roots", "segments"];
/// Files that belong to the entry named by their stem (a kernel's sha256 memo, a root's report).
const SIDECARS: [&str; 2] = [".sha256", ".json"];
/// Per-entry use stamps (`used/DIR/STEM`): their mtime is the entry's last use.
const USED_DIR: &str = "used";
/// The temporary kind an entry is renamed to before removal (`.netroot-tmp-evict-...`), so a
/// crash never leaves half an entry under its real name.
const EVICT_KIND: &str = "evict";

/// One entry: its directory in the cache and its stem (the name without a sidecar suffix).
type EntryId = (&'static str, OsString);
/// An inode, by device and number.
type Ino = (u64, u64);

/// What the eviction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Bytes freed (allocated blocks, as `netroot clean --dry-run` counts them).
    pub bytes: u64,
    /// The cache's size after.
    pub total: u64,
}

/// The entry of `path` when it lies in one of the cache's entry directories.
fn entry_of(cache: &Path, path: &Path) -> Option<EntryId> {
    let rel = path.strip_prefix(cache).ok().or_else(|| {
        let abs = std::path::absolute(cache).ok()?;
        path.strip_prefix(abs).ok()
    })?;
    let mut parts = rel.iter();
    let dir = parts.next()?;
    let dir = ENTRY_DIRS.into_iter().find(|d| OsStr::new(d) == dir)?;
    let name = parts.next()?;
    entry_name(dir, name)
}

/// The entry a name in an entry directory belongs to; `None` for a hidden name.
fn entry_name(dir: &'static str, name: &OsStr) -> Option<EntryId> {
    let bytes = name.as_encoded_bytes();
    if bytes.starts_with(b".") {
        return None;
    }
    let stem = SIDECARS
        .iter()
        .find_map(|s| name.to_str()?.strip_suffix(s))
        .map_or_else(|| name.to_os_string(), OsString::from);
    Some((dir, stem))
}

/// The paths of `paths` that lie in a cache entry.
pub fn entries_only(cache: &Path, mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.retain(|p| entry_of(cache, p).is_some());
    paths.sort();
    paths.dedup();
    paths
}

/// Stamps every entry among `used` (paths under `cache`) as used now.
pub fn touch(cache: &Path, used: &[PathBuf]) -> Result<(), BuildError> {
    let ids: HashSet<EntryId> = used.iter().filter_map(|p| entry_of(cache, p)).collect();
    for (dir, stem) in ids {
        let stamp = cache.join(USED_DIR).join(dir).join(&stem);
        crate::fsx::atomic::touch(&stamp)
            .map_err(BuildError::io("cannot stamp cache entry", &stamp))?;
    }
    Ok(())
}

/// One measured entry.
#[derive(Debug, Default)]
struct Entry {
    /// Names in its directory (the main one and its sidecars).
    names: Vec<OsString>,
    /// Links to each inode within the entry.
    links: HashMap<Ino, u64>,
    /// Newest mtime among its names, the last use when it has no stamp.
    newest: i128,
}

/// The whole cache measured in one walk.
#[derive(Debug, Default)]
struct Scan {
    total: u64,
    entries: HashMap<EntryId, Entry>,
    /// Every inode's blocks (bytes) and link count.
    inodes: HashMap<Ino, (u64, u64)>,
}

/// Walks the cache once (no links followed; a mount below it is an error naming it).
fn scan(cache: &Path) -> io::Result<Scan> {
    let mut s = Scan::default();
    let opts = Options {
        other_fs: OtherFs::Refuse,
        follow_root: false,
    };
    walk::walk(cache, opts, &mut |item: &Item<'_>| {
        let st = &item.st;
        let ino = (st.st_dev, st.st_ino);
        let bytes = u64::try_from(st.st_blocks).unwrap_or(0) * BLOCK;
        // A directory's link count counts its subdirectories' `..`: it has one name.
        let names = if item.file_type() == FileType::Directory {
            1
        } else {
            st.st_nlink
        };
        if s.inodes.insert(ino, (bytes, names)).is_none() {
            s.total += bytes;
        }
        let [dir, name, ..] = item.path else {
            return Ok(());
        };
        let Some(dir) = ENTRY_DIRS.into_iter().find(|d| OsStr::new(d) == dir) else {
            return Ok(());
        };
        let Some(id) = entry_name(dir, name) else {
            return Ok(());
        };
        let e = s.entries.entry(id).or_default();
        *e.links.entry(ino).or_default() += 1;
        if item.path.len() == 2 {
            e.names.push(name.clone());
            e.newest = e.newest.max(Stamp::of_stat(st).mtime_ns);
        }
        Ok::<(), io::Error>(())
    })
    .map_err(|stop| stop.into_err(io::Error::from))?;
    Ok(s)
}

/// The last use of an entry: its stamp's mtime, else its own newest mtime (an entry from before
/// stamps, or one a build made but did not finish stamping).
fn last_used(cache: &Path, (dir, stem): &EntryId, e: &Entry) -> i128 {
    fs::symlink_metadata(cache.join(USED_DIR).join(dir).join(stem))
        .map(|md| Stamp::of(&md).mtime_ns)
        .unwrap_or(e.newest)
}

/// The entries `OUT/*/rootfs` links point at: another profile's served root stays.
fn linked_roots(cache: &Path, out: &Path) -> HashSet<EntryId> {
    let Ok(rd) = fs::read_dir(out) else {
        return HashSet::new();
    };
    rd.flatten()
        .filter_map(|e| fs::read_link(e.path().join(ROOTFS)).ok())
        .filter_map(|target| entry_of(cache, &target))
        .collect()
}

/// Evicts least recently used entries until the cache is at most `max` bytes, never one of
/// `used` (what this build used) nor a root an output links to. When what stays is still over
/// the bound, says so once through `progress`.
pub fn bound(
    cache: &Path,
    out: &Path,
    used: &[PathBuf],
    max: u64,
    progress: &dyn Progress,
) -> Result<Evicted, BuildError> {
    sweep_leftovers(cache)?;
    let s = scan(cache).map_err(BuildError::io("cannot measure the cache", cache))?;
    let mut protected: HashSet<EntryId> = used.iter().filter_map(|p| entry_of(cache, p)).collect();
    protected.extend(linked_roots(cache, out));
    let mut ids: Vec<&EntryId> = s.entries.keys().collect();
    ids.sort();
    let candidates: Vec<Candidate> = ids
        .iter()
        .map(|id| Candidate {
            last_used: last_used(cache, id, &s.entries[*id]),
            protected: protected.contains(*id),
        })
        .collect();
    // Links left per inode as the choice removes entries, to count what each frees.
    let mut left: HashMap<Ino, u64> = s.inodes.iter().map(|(k, v)| (*k, v.1)).collect();
    let (chosen, total) = select_lru(&candidates, s.total, max, |i| {
        let e = &s.entries[ids[i]];
        let freed: u64 = e
            .links
            .iter()
            .filter(|(ino, n)| left.get(ino).is_some_and(|l| l <= n))
            .map(|(ino, _)| s.inodes[ino].0)
            .sum();
        if freed == 0 {
            return None;
        }
        for (ino, n) in &e.links {
            if let Some(l) = left.get_mut(ino) {
                *l = l.saturating_sub(*n);
            }
        }
        Some(freed)
    });
    for i in &chosen {
        remove_entry(cache, ids[*i], &s.entries[ids[*i]])?;
    }
    if total > max {
        progress.warn(&format!(
            "the cache {} holds {} MiB, over {}={} MiB: what this build uses is not evicted",
            cache.display(),
            total / MIB,
            super::cache_bound::CACHE_MAX_ENV,
            max / MIB
        ));
    }
    Ok(Evicted {
        bytes: s.total - total,
        total,
    })
}

/// Bytes in a MiB, for sizes a person reads.
const MIB: u64 = 1024 * 1024;

/// Removes one entry: each name renamed to a temporary first (the main name first, so a reader
/// never finds a tree without its report), then deleted, then its use stamp.
fn remove_entry(cache: &Path, id: &EntryId, e: &Entry) -> Result<(), BuildError> {
    let (dir, stem) = id;
    let dir_path = cache.join(dir);
    let mut names = e.names.clone();
    names.sort_by_key(|n| n != stem);
    let mut freed_bytes = Vec::new();
    for name in names {
        let path = dir_path.join(&name);
        let tmp = tmp_path(&dir_path, EVICT_KIND);
        rename_durable(&path, &tmp).map_err(BuildError::io("cannot evict", &path))?;
        freed_bytes.push((path, tmp));
    }
    for (path, tmp) in freed_bytes {
        remove(&tmp).map_err(BuildError::io("cannot remove evicted entry", &tmp))?;
        tracing::info!(entry = %path.display(), "evicted from the cache");
    }
    let stamp = cache.join(USED_DIR).join(dir).join(stem);
    match fs::remove_file(&stamp) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(BuildError::io("cannot remove use stamp", &stamp)(err))
        }
        _ => Ok(()),
    }
}

/// Removes what an interrupted eviction left renamed (its temporaries) in the entry directories.
fn sweep_leftovers(cache: &Path) -> Result<(), BuildError> {
    let prefix = format!("{TMP_PREFIX}{EVICT_KIND}-");
    for dir in ENTRY_DIRS {
        let Ok(rd) = fs::read_dir(cache.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name()
                .as_encoded_bytes()
                .starts_with(prefix.as_bytes())
            {
                let p = e.path();
                remove(&p).map_err(BuildError::io("cannot remove evicted entry", &p))?;
            }
        }
    }
    Ok(())
}
