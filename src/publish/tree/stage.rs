//! Staging a root tree into a fresh directory following the [`linkplan`](super::linkplan)
//! actions: directories are created first (walk order), then each directory's files, symlinks and
//! special files are linked or created by a small thread pool, a chunk of a directory at a time,
//! with `*at()` calls relative to the new directory and the previous generation's directory (no
//! path walk per entry); then hardlinks inside the tree; then directory metadata from the deepest
//! up, so their mtimes stick. The previous generation is never modified (a linked inode gets no
//! metadata call), and none of its inodes is linked before it is re-checked
//! ([`relink`](super::relink)); entries are placed by `place.rs` and created anew by `create.rs`.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::CWD;
use rustix::fs::{linkat, openat, AtFlags, Mode, OFlags};

use super::create::{create, Dir, Target};
pub use super::linkplan::{hardlink_groups, plan, Action, Previous, TreeStats};
use super::manifest::{EntryKind, TreeEntry};
use super::meta::{self, apply};
use super::place::place;
use super::relink::{created, link_previous, LinkAt, Linked};
use super::scan::{entry_path, ScannedTree};
use super::scan::{Known, Memo};
use crate::publish::error::{errno, PublishError};
use crate::publish::fsops::oplog::FsOp;
use crate::publish::fsops::Fs;

/// Most threads staging a tree: links and copies contend on the filesystem journal beyond this.
pub const STAGE_THREADS_MAX: usize = 8;
/// Most new inodes (copied files plus directories) made durable one fsync each; beyond this one
/// syncfs is cheaper. Below it, fsyncs win on a busy server: syncfs also writes back every other
/// writer's dirty data (measured 0.7 s after an rsync of the same tree, against ~0.05 s for the
/// ~120 fsyncs of a one-file change).
pub const TARGETED_FSYNC_MAX: usize = 1024;
/// Most entries of one directory one staging thread takes at a time: a single directory often
/// holds most of a tree (`usr/share/man/man1`: 17,927 of 24,078 entries in ci/bench-publish), so
/// whole directories as work items would leave the other threads idle.
const STAGE_CHUNK: usize = 512;
/// Threads issuing those fsyncs: each mostly waits for the disk's cache flush, and concurrent
/// flushes are merged by the block layer.
const FSYNC_THREADS: usize = 8;

/// How the staged tree is made durable before it gets its generation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The stager fsynced every file it copied and every directory of the tree (few new inodes,
    /// none of them a symlink or special file): nothing is left to flush. A syncfs here would
    /// only write back other writers' dirty data.
    Fsynced,
    /// Some new inodes were not fsynced (too many, or symlinks and special files, which cannot
    /// be): the caller must syncfs the tree's filesystem.
    NeedsSyncfs,
}

/// What staging did and what is left to make the tree durable.
#[derive(Debug)]
pub struct Staged {
    pub stats: TreeStats,
    pub durability: Durability,
    /// Damaged entries of the previous generation that were not linked (created anew instead).
    pub warnings: Vec<String>,
    /// What each linked or created inode is, for the memo of published inodes (hardlink groups
    /// left out: linking their other names changes their ctime after the record).
    pub seen: Vec<Known>,
}

/// What one staging thread did.
#[derive(Debug, Default)]
struct Work {
    stats: TreeStats,
    warnings: Vec<String>,
    /// (entry index, record).
    seen: Vec<(usize, Known)>,
}

/// The previous generation as a link source, and the memo vouching for its inodes.
#[derive(Debug, Clone, Copy)]
pub struct LinkFrom<'a> {
    pub prev: Option<&'a Previous<'a>>,
    /// The memo of published inodes (`Memo::load_by_inode`).
    pub seen: &'a Memo,
}

/// Opens a directory for `*at()` calls (never following a symlink).
fn open_dir(path: &Path) -> Result<OwnedFd, PublishError> {
    openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno("open directory", path))
}

/// Creates the tree at `dest` (which must not exist) following `actions` from [`plan`]; returns
/// the counts of what was actually done (a link whose source is missing, damaged
/// ([`link_previous`]) or at the link limit becomes a copy or a new inode), the damaged entries,
/// and whether a syncfs is still needed.
pub fn stage(
    fs_: &Fs,
    scanned: &ScannedTree,
    actions: &[Action],
    from: LinkFrom,
    dest: &Path,
) -> Result<Staged, PublishError> {
    let entries = &scanned.manifest.entries;
    let placed = place(scanned, actions)?;
    // Symlinks and special files cannot be fsynced: creating any means syncfs.
    let new_inodes = actions
        .iter()
        .filter(|a| matches!(a, Action::Copy | Action::Mkdir))
        .count();
    let targeted = new_inodes <= TARGETED_FSYNC_MAX
        && !actions
            .iter()
            .any(|a| matches!(a, Action::Symlink | Action::Special));
    let unsyncable = AtomicBool::new(false);
    let mut work = Work::default();
    let mut dirs = Vec::with_capacity(placed.dirs.len());
    for (raw, &i) in placed.dirs.iter().zip(&placed.dir_entries) {
        let path = dest.join(raw);
        meta::mkdir(fs_, &path)?;
        if let Some(e) = entries.get(i) {
            dirs.push((path, e));
            work.stats.dirs += 1;
        }
    }

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, STAGE_THREADS_MAX);
    // Work items: (directory, up to STAGE_CHUNK of its children).
    let items: Vec<(&OsString, &[(usize, OsString)])> = placed
        .dirs
        .iter()
        .zip(&placed.children)
        .flat_map(|(raw, children)| children.chunks(STAGE_CHUNK).map(move |c| (raw, c)))
        .collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let worker = || -> Result<Work, PublishError> {
        let mut w = Work::default();
        while !stop.load(Ordering::Relaxed) {
            let Some(&(raw, children)) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let at = Target {
                dest,
                fsync: targeted,
                unsyncable: &unsyncable,
            };
            let r = stage_dir(fs_, scanned, actions, from, &at, raw, children, &mut w);
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
                return r.map(|_| w);
            }
        }
        Ok(w)
    };
    let results: Vec<Result<Work, PublishError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PublishError::BadState {
                        path: dest.to_path_buf(),
                        reason: "internal: a staging thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    for r in results {
        let r = r?;
        work.stats.add(&r.stats);
        work.warnings.extend(r.warnings);
        work.seen.extend(r.seen);
    }
    let mut st = work.stats;
    let mut firsts = std::collections::HashSet::new();

    let mfile = Path::new("<scanned tree>");
    for (e, a) in entries.iter().zip(actions) {
        let (
            Action::Hardlink,
            EntryKind::File {
                hardlink_of: Some(first),
                ..
            },
        ) = (a, &e.kind)
        else {
            continue;
        };
        let path = entry_path(dest, mfile, &e.path)?;
        firsts.insert(first.as_str());
        let first = entry_path(dest, mfile, first)?;
        fs_.step();
        linkat(CWD, &first, CWD, &path, AtFlags::empty()).map_err(errno("hardlink", &path))?;
        fs_.record(|| FsOp::Link {
            from: first.clone(),
            to: path.clone(),
        });
        st.hardlinks += 1;
    }
    for (path, e) in dirs.iter().rev() {
        apply(fs_, path, e)?;
    }
    let durability = if targeted && !unsyncable.load(Ordering::Relaxed) {
        fsync_dirs(fs_, &dirs)?;
        Durability::Fsynced
    } else {
        Durability::NeedsSyncfs
    };
    work.warnings.sort();
    let seen = work
        .seen
        .into_iter()
        .filter(|(i, _)| {
            entries
                .get(*i)
                .is_some_and(|e| !firsts.contains(e.path.as_str()))
        })
        .map(|(_, k)| k)
        .collect();
    Ok(Staged {
        stats: st,
        durability,
        warnings: work.warnings,
        seen,
    })
}

/// Fsyncs every directory of the new tree (entries and metadata), a few at a time.
fn fsync_dirs(fs_: &Fs, dirs: &[(PathBuf, &TreeEntry)]) -> Result<(), PublishError> {
    let next = AtomicUsize::new(0);
    let worker = || -> Result<(), PublishError> {
        while let Some((path, _)) = dirs.get(next.fetch_add(1, Ordering::Relaxed)) {
            let fd = open_dir(path)?;
            fs_.step();
            fs_.fsync_dir_fd(&fd, path)?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..FSYNC_THREADS).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PublishError::BadState {
                        path: PathBuf::from("<staged tree>"),
                        reason: "internal: an fsync thread panicked".into(),
                    })
                })
            })
            .collect::<Result<Vec<()>, _>>()
    })?;
    Ok(())
}

/// Stages `children`, non-directory entries of the directory `raw` (relative to `dest`).
#[allow(clippy::too_many_arguments)]
fn stage_dir(
    fs_: &Fs,
    scanned: &ScannedTree,
    actions: &[Action],
    from: LinkFrom,
    to: &Target,
    raw: &OsStr,
    children: &[(usize, OsString)],
    w: &mut Work,
) -> Result<(), PublishError> {
    let new_path = to.dest.join(raw);
    let new_dir = open_dir(&new_path)?;
    let wants_link = children
        .iter()
        .any(|(i, _)| actions.get(*i) == Some(&Action::Link));
    // A previous directory that is gone or replaced: its entries are created anew.
    let prev_dir = match from.prev.filter(|_| wants_link).map(|p| p.dir.join(raw)) {
        Some(p) => match open_dir(&p) {
            Ok(fd) => Some((fd, p)),
            Err(err) => {
                w.warnings.push(format!(
                    "{}: not a readable directory ({err}); its entries are created anew",
                    p.display()
                ));
                None
            }
        },
        None => None,
    };
    let at = Dir {
        fd: &new_dir,
        path: &new_path,
    };
    for (i, name) in children {
        let (Some(e), Some(src), Some(action)) = (
            scanned.manifest.entries.get(*i),
            scanned.sources.get(*i),
            actions.get(*i),
        ) else {
            continue;
        };
        if *action == Action::Link {
            if let Some((pfd, ppath)) = &prev_dir {
                let link_at = LinkAt {
                    prev_fd: pfd,
                    prev_path: ppath,
                    new_fd: &new_dir,
                    new_path: &new_path,
                };
                let rehashed = &mut w.stats.rehashed;
                match link_previous(fs_, e, &link_at, name, from.seen, rehashed)? {
                    Linked::Yes(k) => {
                        w.stats.linked_one(e);
                        w.seen.push((*i, k));
                        continue;
                    }
                    Linked::No => {}
                    Linked::Damaged(why) => w.warnings.push(format!(
                        "{}: {why}; not hardlinked into the new generation (copied from the \
                         source instead)",
                        ppath.join(name).display()
                    )),
                }
            }
        }
        create(fs_, e, src, &at, name, to)?;
        w.stats.created(e);
        w.seen
            .push((*i, created(&new_dir, name, &new_path.join(name), e)?));
    }
    Ok(())
}
