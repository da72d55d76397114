//! The free-space check a publish (and its dry run) makes before the first write: a new
//! generation's boot files and tree copies must fit the TFTP and NFS filesystems, so a full disk
//! is refused with the figures up front rather than met as `ENOSPC` half way through staging
//! (which the staging undo survives, but a refusal before any write is cheaper and clearer).
//! When both targets share one filesystem their needs add up.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::PublishError;

/// Metadata (directories, records, menus, links) a publish writes besides the data it copies,
/// in filesystem blocks: every new entry takes at least one, and the records and menus of a
/// site are a few dozen. Generous on purpose; the check is a guard, not an allocator.
const OVERHEAD_BLOCKS: u64 = 64;

/// What a publish will write into one target.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    /// `TFTP` or `NFS`, as the error names it.
    pub what: &'static str,
    pub dir: PathBuf,
    /// Bytes of file data copied (not hardlinked).
    pub bytes: u64,
    /// New entries (files, directories, symlinks), each taking at least one block.
    pub entries: u64,
}

/// A filesystem's free space as an unprivileged writer sees it.
struct Free {
    dev: u64,
    block: u64,
    bytes: u64,
    /// The directory actually measured (the nearest existing ancestor).
    at: PathBuf,
}

fn measure(dir: &Path) -> Result<Free, PublishError> {
    let d = super::fsops::nearest_existing(dir).unwrap_or(Path::new("."));
    let bad = |reason: String| PublishError::BadInput {
        path: d.to_path_buf(),
        reason,
    };
    let dev = fs::metadata(d)
        .map_err(|e| bad(format!("cannot stat the target ({e})")))?
        .dev();
    let s = rustix::fs::statvfs(d).map_err(|e| bad(format!("cannot measure free space ({e})")))?;
    let block = s.f_frsize.max(1);
    Ok(Free {
        dev,
        block,
        bytes: s.f_bavail.saturating_mul(block),
        at: d.to_path_buf(),
    })
}

/// Bytes `n` occupies on a filesystem with blocks of `block` bytes.
fn occupied(n: &Need, block: u64) -> u64 {
    let data = n.bytes.div_ceil(block).saturating_mul(block);
    let meta = (n.entries + OVERHEAD_BLOCKS).saturating_mul(block);
    data.saturating_add(meta)
}

/// Refuses the publish when a target filesystem has less room than `needs` take there (needs of
/// targets on the same filesystem are added).
pub(crate) fn check(generation: &str, needs: &[Need]) -> Result<(), PublishError> {
    let measured: Vec<(Free, &Need)> = needs
        .iter()
        .map(|n| Ok((measure(&n.dir)?, n)))
        .collect::<Result<_, PublishError>>()?;
    for (free, _) in &measured {
        let shared: Vec<&(Free, &Need)> =
            measured.iter().filter(|(f, _)| f.dev == free.dev).collect();
        let total: u64 = shared.iter().map(|(f, n)| occupied(n, f.block)).sum();
        if total > free.bytes {
            let names: Vec<&str> = shared.iter().map(|(_, n)| n.what).collect();
            return Err(PublishError::NoSpace {
                what: names.join(" and "),
                path: free.at.clone(),
                generation: generation.to_string(),
                need: total,
                available: free.bytes,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(dir: &Path, bytes: u64) -> Need {
        Need {
            what: "NFS",
            dir: dir.to_path_buf(),
            bytes,
            entries: 1,
        }
    }

    #[test]
    fn a_need_beyond_the_free_space_is_refused_with_the_figures() {
        let d = tempfile::tempdir().unwrap();
        check("g0000000000000001", &[need(d.path(), 4096)]).expect("4 KiB fits");
        let e = check(
            "g0000000000000001",
            &[need(&d.path().join("new/dir"), u64::MAX / 2)],
        )
        .expect_err("too big");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: ", d.path().display())),
            "{text}"
        );
        assert!(
            text.contains("generation g0000000000000001 needs"),
            "{text}"
        );
    }

    #[test]
    fn needs_on_one_filesystem_add_up() {
        let d = tempfile::tempdir().unwrap();
        let free = measure(d.path()).unwrap();
        let half = free.bytes / 2 + free.block * 2;
        check("g1", &[need(d.path(), half)]).expect("half fits");
        let mut tftp = need(d.path(), half);
        tftp.what = "TFTP";
        let e = check("g1", &[tftp, need(d.path(), half)]).expect_err("twice does not");
        assert!(
            e.to_string().contains("the TFTP and NFS filesystem has"),
            "{e}"
        );
    }

    #[test]
    fn blocks_are_rounded_up_per_need() {
        let n = Need {
            what: "TFTP",
            dir: PathBuf::new(),
            bytes: 1,
            entries: 2,
        };
        assert_eq!(occupied(&n, 4096), 4096 * (1 + 2 + OVERHEAD_BLOCKS));
    }
}
