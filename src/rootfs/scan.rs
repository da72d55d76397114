//! The security inventory of a root tree: sizes, setuid/setgid files, file capabilities, device
//! nodes, world-writable paths. Paths are shown as the nodes see them (`/usr/bin/su`).
//!
//! - setuid/setgid: non-directories only (a setgid directory just passes its group on);
//! - capabilities: regular files with a `security.capability` xattr. NFS does not carry xattrs,
//!   so such a binary loses its capability on the nodes: the report is how users find out;
//! - world-writable: anything but symlinks with the `o+w` bit, except world-writable sticky
//!   directories (`/tmp`), which are listed apart;
//! - directories on another filesystem are listed and not entered.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;
use serde::{Deserialize, Serialize};

use super::caps;
use super::error::RootfsError;
use crate::fsx::walk::{self, Item, Options, OtherFs, WalkError};

/// The xattr holding file capabilities.
pub const CAPABILITY_XATTR: &str = "security.capability";
/// Mode bits looked at.
const SETUID: u32 = 0o4000;
const SETGID: u32 = 0o2000;
const STICKY: u32 = 0o1000;
const OTHER_WRITE: u32 = 0o002;

/// What a root tree holds, and what in it needs a security review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootReport {
    /// Regular-file paths (each hardlink counted).
    pub files: u64,
    /// Directories, the root included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Device nodes, fifos and sockets.
    pub specials: u64,
    /// Bytes of regular-file data, each inode counted once.
    pub bytes: u64,
    /// Setuid non-directories.
    pub setuid: Vec<PathBuf>,
    /// Setgid non-directories.
    pub setgid: Vec<PathBuf>,
    /// Files with a `security.capability` xattr (lost over NFS).
    pub capabilities: Vec<CapabilityFile>,
    /// Character and block device nodes.
    pub devices: Vec<DeviceNode>,
    /// World-writable paths (not symlinks, not sticky world-writable directories).
    pub world_writable: Vec<PathBuf>,
    /// World-writable directories with the sticky bit (`/tmp`).
    pub sticky_dirs: Vec<PathBuf>,
    /// Directories on another filesystem (mount points), not entered.
    pub other_filesystems: Vec<PathBuf>,
}

/// A file with capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityFile {
    pub path: PathBuf,
    /// `getcap`-style text, e.g. `cap_net_raw=ep`.
    pub caps: String,
}

/// A device node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u32,
    pub minor: u32,
}

/// Character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Char,
    Block,
}

/// How root trees are walked: a directory on another filesystem (a mount point) is visited
/// (listed in the report) but not entered.
pub(crate) const ONE_FILESYSTEM: Options = Options {
    other_fs: OtherFs::Skip,
    follow_root: true,
};

impl From<WalkError> for RootfsError {
    fn from(e: WalkError) -> RootfsError {
        RootfsError::Io {
            op: "scanning",
            path: e.host_path(),
            source: e.into_io(),
        }
    }
}

/// Scans the tree at `root` (not following links, not leaving its filesystem).
pub fn scan(root: &Path) -> Result<RootReport, RootfsError> {
    let mut report = RootReport::default();
    let mut seen_inodes = HashSet::new();
    let walked = walk::walk(
        root,
        ONE_FILESYSTEM,
        &mut |item: &Item<'_>| -> Result<(), RootfsError> {
            let path = image_path(item.path);
            let mode = item.st.st_mode;
            let ft = item.file_type();
            let is_dir = ft == FileType::Directory;
            match ft {
                FileType::Directory => report.dirs += 1,
                FileType::Symlink => report.symlinks += 1,
                FileType::RegularFile => {
                    report.files += 1;
                    if seen_inodes.insert((item.st.st_dev, item.st.st_ino)) {
                        report.bytes += u64::try_from(item.st.st_size).unwrap_or(0);
                    }
                    let cap = item
                        .xattr(CAPABILITY_XATTR.as_bytes())
                        .map_err(RootfsError::io("reading xattrs of", &path))?;
                    if let Some(v) = cap {
                        report.capabilities.push(CapabilityFile {
                            path: path.clone(),
                            caps: caps::describe(&v),
                        });
                    }
                }
                FileType::CharacterDevice | FileType::BlockDevice => {
                    report.specials += 1;
                    report.devices.push(DeviceNode {
                        path: path.clone(),
                        kind: if ft == FileType::CharacterDevice {
                            DeviceKind::Char
                        } else {
                            DeviceKind::Block
                        },
                        major: rustix::fs::major(item.st.st_rdev),
                        minor: rustix::fs::minor(item.st.st_rdev),
                    });
                }
                _ => report.specials += 1,
            }
            if ft == FileType::Symlink {
                return Ok(());
            }
            if !is_dir && mode & SETUID != 0 {
                report.setuid.push(path.clone());
            }
            if !is_dir && mode & SETGID != 0 {
                report.setgid.push(path.clone());
            }
            if mode & OTHER_WRITE != 0 {
                if is_dir && mode & STICKY != 0 {
                    report.sticky_dirs.push(path.clone());
                } else {
                    report.world_writable.push(path.clone());
                }
            }
            if item.other_fs {
                report.other_filesystems.push(path);
            }
            Ok(())
        },
    );
    walked.map_err(|stop| stop.into_err(RootfsError::from))?;
    // Walk order visits a directory's entries before its subtrees; reviewers want path order.
    for list in [
        &mut report.setuid,
        &mut report.setgid,
        &mut report.world_writable,
        &mut report.sticky_dirs,
        &mut report.other_filesystems,
    ] {
        list.sort();
    }
    report.capabilities.sort_by(|a, b| a.path.cmp(&b.path));
    report.devices.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// `/a/b` for the components `a`, `b`.
pub(crate) fn image_path(parts: &[OsString]) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.extend(parts);
    p
}
