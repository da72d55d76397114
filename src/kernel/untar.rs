//! Streams a package's data tar into a fresh directory, hostile-input safe.
//!
//! Rules, checked for every entry before anything is written:
//! - names must be relative and free of `..`; otherwise the whole package is
//!   refused (a well-formed package never has them);
//! - only kernel parts are written: `boot/vmlinuz-*`, `boot/config-*` and
//!   everything below `lib/modules`, `usr/lib/modules`, `lib/firmware`,
//!   `usr/lib/firmware`; other entries are skipped;
//! - written entries are regular files, directories, or relative symlinks
//!   whose target stays inside the tree (leading `..` only, never more than
//!   the link's depth); hard links and device nodes are refused;
//! - parents are never followed through symlinks: a path whose parent is a
//!   symlink is refused, so a link cannot redirect a later write;
//! - file modes keep the permission bits only (no setuid/setgid/sticky); a
//!   later entry for the same file replaces the earlier one, as in tar.
//!
//! Parents missing from the archive are created 0755.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{io_err, KernelError};

/// Copy buffer for file contents (modules are up to a few MiB).
const COPY_BUF: usize = 256 * 1024;
/// Mode for parent directories the archive does not list.
const IMPLICIT_DIR_MODE: u32 = 0o755;
/// Permission bits kept from the archive (drops setuid, setgid, sticky).
const PERMISSION_BITS: u32 = 0o777;
/// Owner bits forced on directories so the extraction can fill them.
const DIR_OWNER_BITS: u32 = 0o700;
/// Subtrees written in full.
const TREES: [&[&str]; 4] = [
    &["lib", "modules"],
    &["usr", "lib", "modules"],
    &["lib", "firmware"],
    &["usr", "lib", "firmware"],
];
/// Directory of the image and config.
const BOOT_DIR: &str = "boot";
/// Name prefixes of the files taken from `boot/`.
const BOOT_FILES: [&str; 2] = ["vmlinuz-", "config-"];

/// The archive being read, for error messages.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    /// The package file.
    pub deb: &'a Path,
    /// The ar member holding the tar.
    pub member: &'a str,
}

impl Source<'_> {
    pub(crate) fn corrupt(&self, source: io::Error) -> KernelError {
        KernelError::Corrupt {
            path: self.deb.to_path_buf(),
            member: self.member.to_owned(),
            source,
        }
    }

    fn refuse(&self, entry: &str, reason: impl Into<String>) -> KernelError {
        KernelError::UnsafeEntry {
            path: self.deb.to_path_buf(),
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Unpacks the selected entries of the tar stream `reader` into the empty
/// directory `root`; returns the reader, positioned after the end-of-archive
/// marker, so the caller can check the rest of the stream.
pub(crate) fn extract<R: Read>(
    reader: R,
    root: &Path,
    source: &Source<'_>,
) -> Result<R, KernelError> {
    let mut archive = tar::Archive::new(reader);
    let mut writer = Writer {
        root,
        source,
        dirs: HashSet::new(),
        buf: vec![0u8; COPY_BUF],
    };
    for entry in archive.entries().map_err(|e| source.corrupt(e))? {
        let mut entry = entry.map_err(|e| source.corrupt(e))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let parts = relative_parts(&raw).map_err(|r| source.refuse(&name, r))?;
        if parts.is_empty() || !selected(&parts) {
            continue;
        }
        writer.write_entry(&mut entry, &name, &parts)?;
    }
    Ok(archive.into_inner())
}

/// Splits an entry name into normal components; refuses absolute names and
/// `..`. `./` prefixes and repeated slashes are dropped.
fn relative_parts(name: &[u8]) -> Result<Vec<&OsStr>, &'static str> {
    let mut parts = Vec::new();
    for component in Path::new(OsStr::from_bytes(name)).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
            Component::ParentDir => return Err("path contains \"..\""),
        }
    }
    Ok(parts)
}

/// True for the kernel parts of the package (and the subtree roots themselves).
fn selected(parts: &[&OsStr]) -> bool {
    if let [dir, file] = parts {
        if *dir == BOOT_DIR {
            let file = file.as_bytes();
            return BOOT_FILES.iter().any(|p| file.starts_with(p.as_bytes()));
        }
    }
    TREES.iter().any(|tree| {
        parts.len() >= tree.len() && tree.iter().zip(parts).all(|(want, got)| *got == *want)
    })
}

/// Checks a symlink target: relative, and its leading `..` run never climbs
/// above the root from the link's directory (`depth` components deep). `..`
/// after a normal component is refused, so no other link can redirect it.
fn check_link_target(target: &[u8], depth: usize) -> Result<(), String> {
    if target.is_empty() {
        return Err("empty symlink target".to_owned());
    }
    let mut ups = 0usize;
    let mut descended = false;
    for component in Path::new(OsStr::from_bytes(target)).components() {
        match component {
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute symlink target".to_owned())
            }
            Component::ParentDir if descended => {
                return Err("symlink target has \"..\" after a directory name".to_owned())
            }
            Component::ParentDir => ups += 1,
            Component::Normal(_) => descended = true,
            Component::CurDir => {}
        }
    }
    if ups > depth {
        return Err("symlink target points outside the tree".to_owned());
    }
    Ok(())
}

/// Writes entries below `root`, tracking directories it created or checked.
struct Writer<'a> {
    root: &'a Path,
    source: &'a Source<'a>,
    /// Relative directories known to be real directories.
    dirs: HashSet<PathBuf>,
    buf: Vec<u8>,
}

impl Writer<'_> {
    fn write_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        parts: &[&OsStr],
    ) -> Result<(), KernelError> {
        let rel: PathBuf = parts.iter().collect();
        let mode = entry.header().mode().map_err(|e| self.source.corrupt(e))?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                self.make_parents(name, parts)?;
                let path = self.root.join(&rel);
                self.make_dir(name, &rel)?;
                let mode = (mode & PERMISSION_BITS) | DIR_OWNER_BITS;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .map_err(io_err("setting permissions of", path))
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.make_parents(name, parts)?;
                let path = self.clear_slot(name, &rel)?;
                let mtime = entry.header().mtime().map_err(|e| self.source.corrupt(e))?;
                self.write_file(entry, name, &path, mode & PERMISSION_BITS, mtime)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.source.refuse(name, "symlink without a target"))?;
                check_link_target(&target, parts.len().saturating_sub(1))
                    .map_err(|r| self.source.refuse(name, r))?;
                self.make_parents(name, parts)?;
                let path = self.clear_slot(name, &rel)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .map_err(io_err("creating symlink", path))
            }
            other => Err(self
                .source
                .refuse(name, format!("unsupported entry type {other:?}"))),
        }
    }

    /// Makes sure every parent of `parts` is a real directory below the root.
    fn make_parents(&mut self, name: &str, parts: &[&OsStr]) -> Result<(), KernelError> {
        let mut rel = PathBuf::new();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            rel.push(part);
            self.make_dir(name, &rel)?;
        }
        Ok(())
    }

    /// Creates the directory `rel` unless it already is a real directory.
    fn make_dir(&mut self, name: &str, rel: &Path) -> Result<(), KernelError> {
        if self.dirs.contains(rel) {
            return Ok(());
        }
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                let reason = format!(
                    "{} is a symlink; refusing to write through it",
                    rel.display()
                );
                return Err(self.source.refuse(name, reason));
            }
            Ok(_) => {
                let reason = format!("{} is not a directory", rel.display());
                return Err(self.source.refuse(name, reason));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(IMPLICIT_DIR_MODE)
                    .create(&path)
                    .map_err(io_err("creating directory", &path))?;
            }
            Err(e) => return Err(io_err("inspecting", path)(e)),
        }
        self.dirs.insert(rel.to_path_buf());
        Ok(())
    }

    /// Removes an earlier file or symlink at `rel` (tar's "last entry wins");
    /// refuses to replace a directory. Returns the absolute path.
    fn clear_slot(&self, name: &str, rel: &Path) -> Result<PathBuf, KernelError> {
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let reason = format!("{} is already a directory", rel.display());
                Err(self.source.refuse(name, reason))
            }
            Ok(_) => {
                fs::remove_file(&path).map_err(io_err("replacing", &path))?;
                Ok(path)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
            Err(e) => Err(io_err("inspecting", path)(e)),
        }
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        path: &Path,
        mode: u32,
        mtime: u64,
    ) -> Result<(), KernelError> {
        let expected = entry.size();
        // create_new: O_EXCL never follows a symlink at the final component.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(io_err("creating", path))?;
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.source.corrupt(e)),
            };
            let chunk = self.buf.get(..n).unwrap_or_default();
            file.write_all(chunk).map_err(io_err("writing", path))?;
            written += n as u64;
        }
        if written != expected {
            let msg = format!("entry {name:?} ends after {written} of {expected} bytes");
            return Err(self
                .source
                .corrupt(io::Error::new(io::ErrorKind::UnexpectedEof, msg)));
        }
        // The umask applied at creation; set the archive's bits exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err("setting permissions of", path))?;
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
        file.set_modified(modified)
            .map_err(io_err("setting the modification time of", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> Vec<&OsStr> {
        relative_parts(name.as_bytes()).unwrap()
    }

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(parts("./lib//modules/"), vec!["lib", "modules"]);
        assert!(parts("./").is_empty());
        assert_eq!(relative_parts(b"/etc/passwd"), Err("absolute path"));
        assert_eq!(
            relative_parts(b"./lib/../../evil"),
            Err("path contains \"..\"")
        );
    }

    #[test]
    fn selection() {
        assert!(selected(&parts("boot/vmlinuz-6.1.0-56-amd64")));
        assert!(selected(&parts("boot/config-6.1.0-56-amd64")));
        assert!(!selected(&parts("boot/System.map-6.1.0-56-amd64")));
        assert!(!selected(&parts("boot/grub/vmlinuz-x")));
        assert!(selected(&parts("lib/modules")));
        assert!(selected(&parts("lib/modules/6.1/kernel/a.ko")));
        assert!(selected(&parts("usr/lib/modules/6.1/modules.order")));
        assert!(selected(&parts("usr/lib/firmware/rtl_nic/x.fw")));
        assert!(!selected(&parts("lib")));
        assert!(!selected(&parts("usr/share/doc/linux-image/changelog.gz")));
        assert!(!selected(&parts("lib/modulesx/a")));
    }

    #[test]
    fn link_targets() {
        assert_eq!(check_link_target(b"a.ko", 0), Ok(()));
        assert_eq!(check_link_target(b"../../x/y", 2), Ok(()));
        assert_eq!(
            check_link_target(b"../../../x", 2),
            Err("symlink target points outside the tree".to_owned())
        );
        assert_eq!(
            check_link_target(b"/usr/src/linux-headers", 3),
            Err("absolute symlink target".to_owned())
        );
        assert_eq!(
            check_link_target(b"sub/../..", 3),
            Err("symlink target has \"..\" after a directory name".to_owned())
        );
        assert_eq!(
            check_link_target(b"", 3),
            Err("empty symlink target".to_owned())
        );
    }
}
