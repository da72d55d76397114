//! The read-only root tree that nodes mount over NFS: materialized from a directory, a tarball
//! or an mmdebstrap recipe, then scanned for what needs a security review.
//!
//! [`materialize`] builds into a temporary directory next to `dest` and renames it into place at
//! the end (after a `syncfs`), so `dest` either does not exist or is complete. Tarballs are
//! treated as hostile: nothing is written outside the root, absolute
//! symlinks are kept but resolved inside the root when a later entry goes through them
//! (`var/run -> /run` then `var/run/foo` lands at `run/foo`), metadata is applied without
//! following links and in the order chown → chmod → xattrs.
//!
//! [`scan`] inventories any tree ([`RootReport`]); [`check_allowed`] holds it against an
//! [`AllowList`].

mod allow;
mod caps;
pub(crate) mod cursor;
mod dircopy;
mod entry;
mod error;
mod mmdebstrap;
mod node;
mod policy;
mod resolve;
mod scan;
pub(crate) mod tarball;
mod tree;

use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

pub use crate::fsx::inroot::ResolveError;
pub use allow::{check_allowed, AllowList, Category, Offender};
pub use error::{EntryError, RootfsError};
pub use mmdebstrap::Refresh;
pub use mmdebstrap::{
    cache_key, command_args, source_date_epoch, validate as validate_recipe, Recipe, CACHE_SUBDIR,
    DEFAULT_SOURCE_DATE_EPOCH, MMDEBSTRAP,
};
pub use policy::Policy;
pub use scan::{scan, CapabilityFile, DeviceKind, DeviceNode, RootReport, CAPABILITY_XATTR};

use tree::Tree;

/// Where a root tree comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RootSource {
    /// A directory, copied with all metadata.
    Dir(PathBuf),
    /// A `.tar`, `.tar.gz`/`.tgz`, `.tar.zst` or `.tar.xz` (told by magic, not by name).
    Tarball(PathBuf),
    /// A Debian tree built by mmdebstrap (cached as a tarball).
    Mmdebstrap(Recipe),
}

/// External programs used by [`materialize_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// The mmdebstrap executable (a name looked up in `PATH`, or a path).
    pub mmdebstrap: PathBuf,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            mmdebstrap: PathBuf::from(MMDEBSTRAP),
        }
    }
}

/// Builds the root tree of `src` at `dest` (which must not exist) and returns its inventory;
/// `cache` holds mmdebstrap tarballs (`cache/rootfs/<key>.tar`). On error nothing is at `dest`.
pub fn materialize(src: &RootSource, cache: &Path, dest: &Path) -> Result<RootReport, RootfsError> {
    materialize_with(src, cache, dest, &Tools::default())
}

/// [`materialize`] with explicit tools.
pub fn materialize_with(
    src: &RootSource,
    cache: &Path,
    dest: &Path,
    tools: &Tools,
) -> Result<RootReport, RootfsError> {
    materialize_metered(src, cache, dest, tools, &crate::meter::ignore)
}

/// [`materialize_with`], telling `on` how much of a tarball (a recipe's included) it has
/// extracted: the build's byte progress.
pub fn materialize_metered(
    src: &RootSource,
    cache: &Path,
    dest: &Path,
    tools: &Tools,
    on: crate::meter::OnBytes<'_>,
) -> Result<RootReport, RootfsError> {
    let staging = Staging::new(dest)?;
    let root = staging.dir.path();
    let tree = Tree::open(root, Policy::Root).map_err(RootfsError::io("opening", root))?;
    match src {
        RootSource::Dir(dir) => {
            dircopy::copy_finished(dir, root, tree, dircopy::Files::Copied, on)?;
        }
        RootSource::Tarball(archive) => extract(archive, tree, on)?,
        RootSource::Mmdebstrap(recipe) => {
            let archive = mmdebstrap::cached_tarball(
                recipe,
                cache,
                &tools.mmdebstrap,
                mmdebstrap::Refresh::IfMissing,
            )?;
            extract(&archive, tree, on)?;
        }
    }
    let report = scan(root)?;
    staging.publish()?;
    Ok(report)
}

/// The cached mmdebstrap tarball of `recipe` (mmdebstrap from `PATH`), made when missing or,
/// with [`Refresh::Always`], made again.
pub fn mmdebstrap_tarball(
    recipe: &Recipe,
    cache: &Path,
    refresh: Refresh,
) -> Result<PathBuf, RootfsError> {
    mmdebstrap::cached_tarball(recipe, cache, &Tools::default().mmdebstrap, refresh)
}

/// Makes `dest` (which must not exist) a variant of the finished tree `base` on the same
/// filesystem: its own directories, symlinks and special files with the base's metadata, and
/// every regular file another link to the base's inode. Whoever writes into the variant must
/// replace a file (new inode, as overlays do), never write through it. On error nothing is at
/// `dest`.
pub fn link_variant(base: &Path, dest: &Path) -> Result<RootReport, RootfsError> {
    let staging = Staging::new(dest)?;
    let root = staging.dir.path();
    let tree = Tree::open(root, Policy::Root).map_err(RootfsError::io("opening", root))?;
    // Linking copies no bytes: nothing to report.
    dircopy::copy_finished(
        base,
        root,
        tree,
        dircopy::Files::Linked,
        &crate::meter::ignore,
    )?;
    let report = scan(root)?;
    staging.publish()?;
    Ok(report)
}

fn extract(
    archive: &Path,
    mut tree: Tree,
    on: crate::meter::OnBytes<'_>,
) -> Result<(), RootfsError> {
    tarball::extract(archive, &mut tree, Policy::Root, on)?;
    tree.finish().map_err(|(entry, reason)| RootfsError::Entry {
        archive: archive.to_path_buf(),
        entry,
        reason,
    })
}

/// Extracts the tarball `archive` (compression told by magic) at `dest` (which must not exist)
/// under `policy`, every entry selected; on error nothing is at `dest`. [`materialize`] is this
/// with [`Policy::Root`] plus the inventory; kernel packages use [`Policy::Strict`] on their
/// kernel parts.
pub fn extract_tarball(archive: &Path, dest: &Path, policy: Policy) -> Result<(), RootfsError> {
    let staging = Staging::new(dest)?;
    let root = staging.dir.path();
    let mut tree = Tree::open(root, policy).map_err(RootfsError::io("opening", root))?;
    tarball::extract(archive, &mut tree, policy, &crate::meter::ignore)?;
    tree.finish()
        .map_err(|(entry, reason)| RootfsError::Entry {
            archive: archive.to_path_buf(),
            entry,
            reason,
        })?;
    staging.publish()
}

/// Extracts the kernel parts of the tar stream `reader` into the empty directory `root` under
/// [`Policy::Strict`]; the caller checks the rest of the stream it came from.
pub(crate) fn extract_kernel_parts(
    reader: impl std::io::Read,
    root: &Path,
) -> Result<(), tarball::TarError> {
    let mut tree = Tree::open(root, Policy::Strict).map_err(|e| tarball::TarError::Entry {
        entry: String::new(),
        reason: EntryError::std("opening the destination")(e),
    })?;
    tarball::extract_stream(reader, &mut tree, Policy::Strict, &policy::kernel_part)?;
    tree.finish()
        .map_err(|(entry, reason)| tarball::TarError::Entry { entry, reason })
}

/// The temporary directory a tree is built in, next to its destination.
struct Staging {
    dir: tempfile::TempDir,
    dest: PathBuf,
    parent: PathBuf,
}

impl Staging {
    fn new(dest: &Path) -> Result<Staging, RootfsError> {
        let invalid = || RootfsError::InvalidDestination {
            dest: dest.to_path_buf(),
        };
        let name = dest.file_name().ok_or_else(invalid)?;
        let parent = match dest.parent() {
            Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
            Some(p) => p.to_path_buf(),
            None => return Err(invalid()),
        };
        if dest.symlink_metadata().is_ok() {
            return Err(RootfsError::DestinationExists {
                dest: dest.to_path_buf(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{}.partial-", name.to_string_lossy()))
            .tempdir_in(&parent)
            .map_err(RootfsError::io("creating a staging directory in", &parent))?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
            parent,
        })
    }

    /// Flushes the tree, renames it to `dest` (never over an existing one), flushes the parent.
    fn publish(self) -> Result<(), RootfsError> {
        let path = self.dir.path().to_path_buf();
        let fd = rfs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootfsError::io("opening", &path)(e.into()))?;
        rfs::syncfs(&fd).map_err(|e| RootfsError::io("syncing", &path)(e.into()))?;
        match rfs::renameat_with(
            rfs::CWD,
            &path,
            rfs::CWD,
            &self.dest,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(Errno::EXIST) | Err(Errno::NOTEMPTY) => {
                return Err(RootfsError::DestinationExists { dest: self.dest })
            }
            Err(e) => return Err(RootfsError::io("renaming into", &self.dest)(e.into())),
        }
        // Renamed away: nothing left for the TempDir to delete.
        let _ = self.dir.keep();
        let parent = rfs::open(
            &self.parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootfsError::io("opening", &self.parent)(e.into()))?;
        rfs::fsync(&parent).map_err(|e| RootfsError::io("syncing", &self.parent)(e.into()))
    }
}
