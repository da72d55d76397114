//! Copies a directory tree into a staging root, preserving everything a root tree needs: owner,
//! mode (setuid/setgid/sticky), xattrs (`security.capability` included), hardlinks, symlinks as
//! they are, device nodes, fifos, sockets, mtimes with nanoseconds.
//!
//! The source is walked without following links and without leaving its filesystem (a chroot
//! with `/proc` mounted must not drag `/proc` along); mount points become empty directories.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, FileType, OFlags};

use super::error::{EntryError, RootfsError};
use super::node::Kind;
use super::scan::ONE_FILESYSTEM;
use super::tree::Tree;
use crate::fsx::inode::{Meta, Time, MODE_BITS};
use crate::fsx::inroot;
use crate::fsx::walk::{self, Item};
use crate::meter::OnBytes;

/// How regular files get into the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Files {
    /// Their bytes are copied.
    Copied,
    /// Each becomes another link to the source's inode (same filesystem): directories, symlinks
    /// and special files are still made anew, so the copy's directories are its own.
    Linked,
}

/// [`copy`], then the tree's deferred directory metadata: a whole copy.
pub(crate) fn copy_finished(
    src: &Path,
    staging: &Path,
    mut tree: Tree,
    files: Files,
    on: OnBytes<'_>,
) -> Result<(), RootfsError> {
    copy(src, staging, &mut tree, files, on)?;
    tree.finish().map_err(|(path, reason)| RootfsError::Copy {
        source_dir: src.to_path_buf(),
        path,
        reason,
    })
}

/// Copies the tree at `src` into `tree` (rooted at `staging`; not finished).
pub(crate) fn copy(
    src: &Path,
    staging: &Path,
    tree: &mut Tree,
    files: Files,
    on: OnBytes<'_>,
) -> Result<(), RootfsError> {
    // Bytes of file data copied, reported every meter::STEP with an unknown total (0): the
    // tree is not measured before the copy.
    let (mut copied, mut next) = (0u64, 0u64);
    let staging_st = rfs::stat(staging).map_err(|e| RootfsError::Io {
        op: "stat",
        path: staging.to_path_buf(),
        source: e.into(),
    })?;
    let mut links: HashMap<(u64, u64), Vec<OsString>> = HashMap::new();
    let fail = |path: &[OsString], reason: EntryError| RootfsError::Copy {
        source_dir: src.to_path_buf(),
        path: inroot::display(path),
        reason,
    };
    let result = walk::walk(src, ONE_FILESYSTEM, &mut |item: &Item<'_>| {
        let st = &item.st;
        if item.file_type() == FileType::Directory
            && st.st_dev == staging_st.st_dev
            && st.st_ino == staging_st.st_ino
        {
            return Err(RootfsError::DestinationInsideSource {
                source_dir: src.to_path_buf(),
                dest: staging.to_path_buf(),
            });
        }
        let meta = Meta {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & MODE_BITS,
            mtime: Some(Time {
                sec: st.st_mtime,
                nsec: u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            }),
            xattrs: item
                .xattrs()
                .map_err(|e| fail(item.path, EntryError::std("reading xattrs")(e)))?,
        };
        let put = |tree: &mut Tree, kind: Kind<'_>| {
            tree.put(item.path, kind, meta.clone())
                .map_err(|reason| fail(item.path, reason))
        };
        match item.file_type() {
            FileType::Directory => put(tree, Kind::Dir),
            FileType::RegularFile if files == Files::Linked => {
                // Joined from the raw components: a name need not be UTF-8.
                let from: std::path::PathBuf = std::iter::once(src.as_os_str())
                    .chain(item.path.iter().map(OsString::as_os_str))
                    .collect();
                put(tree, Kind::LinkFrom(&from))
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = links.get(&key) {
                        let target = join(first);
                        return put(tree, Kind::Hardlink(&target));
                    }
                    links.insert(key, item.path.to_vec());
                }
                let fd = item
                    .open(OFlags::RDONLY)
                    .map_err(|e| fail(item.path, EntryError::std("opening")(e)))?;
                let now =
                    rfs::fstat(&fd).map_err(|e| fail(item.path, EntryError::io("stat")(e)))?;
                if now.st_ino != st.st_ino || now.st_dev != st.st_dev {
                    return Err(fail(
                        item.path,
                        EntryError::Io {
                            op: "opening",
                            source: std::io::Error::other("the file was replaced during the copy"),
                        },
                    ));
                }
                let size = u64::try_from(now.st_size).unwrap_or(0);
                let mut file = File::from(fd);
                put(
                    tree,
                    Kind::File {
                        data: &mut file,
                        size,
                    },
                )?;
                copied += size;
                if copied >= next {
                    on(copied, 0);
                    next = copied + crate::meter::STEP;
                }
                Ok(())
            }
            FileType::Symlink => {
                let target = item
                    .read_link()
                    .map_err(|e| fail(item.path, EntryError::std("readlink")(e)))?;
                put(tree, Kind::Symlink(&target))
            }
            FileType::CharacterDevice => put(
                tree,
                Kind::Char {
                    major: rfs::major(st.st_rdev),
                    minor: rfs::minor(st.st_rdev),
                },
            ),
            FileType::BlockDevice => put(
                tree,
                Kind::Block {
                    major: rfs::major(st.st_rdev),
                    minor: rfs::minor(st.st_rdev),
                },
            ),
            FileType::Fifo => put(tree, Kind::Fifo),
            FileType::Socket => put(tree, Kind::Socket),
            FileType::Unknown => Err(fail(
                item.path,
                EntryError::Unsupported {
                    kind: format!("file mode {:#o}", st.st_mode),
                },
            )),
        }
    });
    result.map_err(|stop| {
        stop.into_err(|e| RootfsError::Copy {
            source_dir: src.to_path_buf(),
            path: inroot::display(&e.path),
            reason: EntryError::Io {
                op: "reading the source",
                source: e.into_io(),
            },
        })
    })
}

/// The image path of `parts` as raw bytes (`a/b`), for hardlink targets.
fn join(parts: &[OsString]) -> Vec<u8> {
    let v: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    v.join(&b'/')
}
