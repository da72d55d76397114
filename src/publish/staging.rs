//! What a publish writes before activation, and how a failure there is undone: every staged
//! temporary, every new generation part moved to its final (still unreferenced) name and every
//! directory the publish created is recorded in a [`Staged`] list and removed again when the
//! publish fails before activation, so the targets are left as they were. Also the writability
//! check run before the first write (publish and dry run alike) and the boot loader images,
//! installed into a staging directory and moved into the TFTP root during activation.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{io_err, PublishError};
use super::fsops::{parent_of, tmp_path, Fs};
use super::layout::Layout;
use super::Loaders;

/// What a publish created before activation, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    paths: Vec<PathBuf>,
    /// Directories whose `.netroot-tmp-*` entries are this publish's (it holds the lock, and
    /// earlier leftovers were removed before staging).
    tmp_dirs: Vec<PathBuf>,
}

impl Staged {
    /// Records `path` (a file, symlink or tree) as created by this publish.
    pub fn push(&mut self, path: PathBuf) {
        self.paths.push(path);
    }

    /// Records a directory in which this publish creates temporaries.
    pub fn clean_temporaries_in(&mut self, dir: PathBuf) {
        self.tmp_dirs.push(dir);
    }

    /// Creates `dir` and its missing ancestors, recording those it created.
    pub fn create_dir_all(&mut self, fs_: &Fs, dir: &Path) -> Result<(), PublishError> {
        let mut missing = Vec::new();
        let mut d = dir;
        while fs::symlink_metadata(d).is_err() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) if !p.as_os_str().is_empty() => d = p,
                _ => break,
            }
        }
        fs_.create_dir_all(dir)?;
        self.paths.extend(missing.into_iter().rev());
        Ok(())
    }

    /// Removes everything recorded, newest first (a failed publish). The error returned is the
    /// first removal that failed, for the caller to report beside the original failure.
    pub fn undo(self, fs_: &Fs) -> Result<(), PublishError> {
        let mut first = None;
        for d in &self.tmp_dirs {
            if let Err(e) = fs_.clean_tmp(d) {
                first.get_or_insert(e);
            }
        }
        for p in self.paths.iter().rev() {
            let r = match fs::symlink_metadata(p) {
                Err(_) => Ok(()),
                Ok(md) if md.is_dir() && is_empty_dir(p) => fs::remove_dir(p)
                    .map_err(io_err("remove", p))
                    .and_then(|()| fs_.fsync_dir(parent_of(p))),
                Ok(_) => fs_.remove(p).map(drop),
            };
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn is_empty_dir(p: &Path) -> bool {
    fs::read_dir(p).is_ok_and(|mut rd| rd.next().is_none())
}

/// Fails unless both targets (or, where one does not exist yet, its nearest existing ancestor)
/// are writable by this process: a read-only target is refused before anything is written.
pub fn check_targets_writable(t: &super::Targets) -> Result<(), PublishError> {
    check_writable("TFTP", &t.tftp)?;
    check_writable("NFS", &t.nfs)
}

fn check_writable(what: &str, dir: &Path) -> Result<(), PublishError> {
    let Some(d) = super::fsops::nearest_existing(dir) else {
        return Ok(());
    };
    rustix::fs::access(d, rustix::fs::Access::WRITE_OK).map_err(|e| PublishError::BadInput {
        path: d.to_path_buf(),
        reason: format!("the {what} target is not writable ({e})"),
    })
}

/// Loader images staged for activation: the staging directory, laid out like the TFTP root.
#[derive(Debug)]
pub(crate) struct StagedLoaders {
    dir: PathBuf,
}

/// Whether the loaders must be installed (their marker file is missing).
pub(crate) fn loaders_missing(layout: &Layout, l: &Loaders) -> bool {
    fs::symlink_metadata(layout.tftp.join(&l.marker)).is_err()
}

/// Runs the installer into a fresh staging directory under `TFTP/netroot` and makes it durable.
pub(crate) fn stage_loaders(
    fs_: &Fs,
    layout: &Layout,
    l: &Loaders,
    staged: &mut Staged,
) -> Result<StagedLoaders, PublishError> {
    let dir = tmp_path(&layout.tftp_base(), "loaders");
    fs_.create_dir_all(&dir)?;
    staged.push(dir.clone());
    (l.install)(&dir).map_err(|e| PublishError::BadInput {
        path: layout.tftp.clone(),
        reason: format!("installing the boot loader images failed: {e}"),
    })?;
    record_external(fs_, &dir)?;
    if fs::symlink_metadata(dir.join(&l.marker)).is_err() {
        return Err(PublishError::BadInput {
            path: dir.join(&l.marker),
            reason: "the boot loader installer did not create it".into(),
        });
    }
    fs_.syncfs(&dir)?;
    Ok(StagedLoaders { dir })
}

/// Tells the operation log (crash and power-loss tests) what an external program wrote below
/// `dir`: each directory, file (content and mode) and symlink, parents first. Nothing of it is
/// durable until the caller's syncfs.
fn record_external(fs_: &Fs, dir: &Path) -> Result<(), PublishError> {
    use super::fsops::oplog::{FsOp, MetaChange};
    use std::os::unix::fs::PermissionsExt;
    if !fs_.recording() {
        return Ok(());
    }
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io_err("list", dir))?
        .map(|e| e.map(|e| e.path()).map_err(io_err("list", dir)))
        .collect::<Result<_, _>>()?;
    names.sort();
    for p in names {
        let md = fs::symlink_metadata(&p).map_err(io_err("stat", &p))?;
        let mode = md.permissions().mode() & 0o7777;
        if md.is_dir() {
            fs_.record(|| FsOp::Mkdir { path: p.clone() });
            fs_.record(|| super::fsops::meta(&p, MetaChange::Mode(mode)));
            record_external(fs_, &p)?;
        } else if md.file_type().is_symlink() {
            let target = fs::read_link(&p).map_err(io_err("read symlink", &p))?;
            fs_.record(|| FsOp::Symlink {
                target,
                path: p.clone(),
            });
        } else {
            let data = fs::read(&p).map_err(io_err("read", &p))?;
            fs_.record(|| FsOp::Create { path: p.clone() });
            fs_.record(|| super::fsops::write_op(&p, &data));
            fs_.record(|| super::fsops::meta(&p, MetaChange::Mode(mode)));
        }
    }
    Ok(())
}

impl StagedLoaders {
    /// Moves every staged entry the TFTP root lacks into it (one rename per missing subtree;
    /// existing files are never replaced), then removes the staging directory.
    pub fn activate(self, fs_: &Fs, tftp: &Path) -> Result<(), PublishError> {
        merge_missing(fs_, &self.dir, tftp, Path::new(""))?;
        fs_.remove(&self.dir)?;
        Ok(())
    }
}

fn merge_missing(fs_: &Fs, from: &Path, to: &Path, rel: &Path) -> Result<(), PublishError> {
    let src = from.join(rel);
    let mut names: Vec<_> = fs::read_dir(&src)
        .map_err(io_err("list", &src))?
        .map(|e| e.map(|e| e.file_name()).map_err(io_err("list", &src)))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let (s, d) = (from.join(&r), to.join(&r));
        match fs::symlink_metadata(&d) {
            Err(_) => {
                fs_.create_dir_all(parent_of(&d))?;
                fs_.rename_noreplace(&s, &d)?;
                fs_.fsync_dir(parent_of(&d))?;
            }
            Ok(md) if md.is_dir() && s.is_dir() => merge_missing(fs_, from, to, &r)?,
            Ok(_) => {}
        }
    }
    Ok(())
}
