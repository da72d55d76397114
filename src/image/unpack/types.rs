//! What an unpack reports ([`UnpackReport`]), why one is refused ([`UnpackError`]), and the
//! check of an entry's name.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsx::inode::InodeError;
use crate::fsx::inroot::ResolveError;
use crate::image::reader::Entry;

/// What an unpack wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnpackReport {
    pub dir: PathBuf,
    /// Archive entries, every segment's.
    pub entries: usize,
    pub files: usize,
    /// Of `files`, the names linked to an earlier one.
    pub hardlinks: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// Character and block devices, fifos and sockets.
    pub special: usize,
    /// Bytes of file content written (a hardlinked file once).
    pub bytes: u64,
}

impl std::fmt::Display for UnpackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "unpacked {} entries into {}: {} files ({} hardlinks, {} bytes), {} directories, {} symlinks, {} special files",
            self.entries,
            self.dir.display(),
            self.files,
            self.hardlinks,
            self.bytes,
            self.dirs,
            self.symlinks,
            self.special
        )
    }
}

/// Why an unpack was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{0} exists and is not an empty directory: refusing to unpack into it")]
    NotEmpty(PathBuf),
    #[error("entry {entry:?}: {reason}: refusing to unpack")]
    Hostile { entry: String, reason: String },
    #[error("entry {entry:?}: {source}")]
    Resolve { entry: String, source: ResolveError },
    #[error("entry {entry:?} is a {kind}: only root can create one")]
    Device { entry: String, kind: &'static str },
    #[error("entry {entry:?}: {source}")]
    Inode { entry: String, source: InodeError },
    #[error("entry {entry:?}: content not read from the image")]
    NoContent { entry: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub(super) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Io { op, path, source }
}

/// The entry's name as the kernel unpacks it, refused when absolute, climbing or holding a NUL.
pub(super) fn checked_name(e: &Entry) -> Result<&str, UnpackError> {
    let hostile = |reason: &str| UnpackError::Hostile {
        entry: e.path.clone(),
        reason: reason.to_string(),
    };
    if e.path.contains('\0') {
        return Err(hostile("the name contains a NUL byte"));
    }
    if e.path.starts_with('/') {
        return Err(hostile("absolute path"));
    }
    let name = crate::image::path::normalize(&e.path);
    if name == "." {
        return Ok(name);
    }
    crate::image::path::validate(name).map_err(|err| match err {
        crate::image::ImageError::InvalidPath { reason, .. } => hostile(reason),
        other => hostile(&other.to_string()),
    })?;
    Ok(name)
}
