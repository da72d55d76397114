//! Hostile-input-safe extraction of a root tarball (`.tar`, gzip, zstd or xz, told by magic).
//!
//! Entries are walked one by one (never `tar::Archive::unpack`) and written through [`Tree`],
//! which keeps every write inside the image root. Kept: numeric owner (names ignored), mode with
//! setuid/setgid/sticky, `SCHILY.xattr.*` PAX xattrs, hardlinks, symlinks as is, devices, fifos,
//! mtimes with PAX nanoseconds. Refused with the entry named: GNU and PAX sparse files, POSIX
//! ACL records (`SCHILY.acl.*`, dropping them would silently change access rights), PAX global
//! headers other than a comment, unknown entry types. The archive must end with the
//! end-of-archive marker followed by zeros only, and the compressed stream is read to its end so
//! its checksum is verified; anything else is reported as truncated or trailing data.

use crate::meter::{Metered, OnBytes};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::entry::{self, Select};
use super::error::{EntryError, RootfsError};
use super::policy::Policy;
use super::tree::Tree;
use crate::codec::Codec;
use crate::compress::Counting;

/// Read buffer; also how much of the head is available to sniff the format.
const READ_BUF: usize = 256 * 1024;
/// Tar block size.
const BLOCK: u64 = 512;
/// Zeros tolerated after the end-of-archive marker: tar pads to its record size (10 KiB by
/// default, some writers use up to 1 MiB blocks); more is not padding but a payload.
const TRAILER_LIMIT: u64 = 1024 * 1024;

/// `ustar` magic at offset 257 of a tar header (POSIX and GNU headers).
const USTAR_AT: usize = 257;

/// The compression told by the first bytes: a known magic, or [`Codec::None`] for a bare tar;
/// `None` when neither (or a format we recognise but do not decode for root tarballs).
pub(crate) fn sniff(head: &[u8]) -> Option<Codec> {
    match Codec::from_magic(head) {
        Some(c @ (Codec::Gzip | Codec::Zstd | Codec::Xz)) => Some(c),
        Some(_) => None,
        None => (head.get(USTAR_AT..USTAR_AT + 5) == Some(b"ustar")).then_some(Codec::None),
    }
}

fn archive_error(archive: &Path, reason: impl Into<String>) -> RootfsError {
    RootfsError::Archive {
        archive: archive.to_path_buf(),
        reason: reason.into(),
    }
}

fn open<'a>(archive: &Path, on: OnBytes<'a>) -> Result<Box<dyn Read + 'a>, RootfsError> {
    let file = File::open(archive).map_err(RootfsError::io("opening", archive))?;
    let total = file
        .metadata()
        .map_err(RootfsError::io("reading", archive))?
        .len();
    let mut reader = BufReader::with_capacity(READ_BUF, Metered::new(file, total, on));
    let head = reader
        .fill_buf()
        .map_err(RootfsError::io("reading", archive))?;
    let format = sniff(head).ok_or_else(|| {
        archive_error(
            archive,
            "unrecognized archive format (expected tar, tar.gz, tar.zst or tar.xz)",
        )
    })?;
    format
        .decoder(reader)
        .map_err(|e| archive_error(archive, e.to_string()))
}

/// Extracts `archive` into `tree` (not finished: the caller runs [`Tree::finish`]), telling
/// `on` how much of the archive file it has read.
pub(crate) fn extract(
    archive: &Path,
    tree: &mut Tree,
    policy: Policy,
    on: OnBytes<'_>,
) -> Result<(), RootfsError> {
    extract_stream(open(archive, on)?, tree, policy, &|_| true).map_err(|e| match e {
        TarError::Entry { entry, reason } => RootfsError::Entry {
            archive: archive.to_path_buf(),
            entry,
            reason,
        },
        TarError::Archive { reason } => archive_error(archive, reason),
        TarError::Interrupted(i) => RootfsError::Interrupted(i),
    })
}

/// Why a tar stream was refused.
#[derive(Debug)]
pub(crate) enum TarError {
    /// One entry (named as stored) could not be written.
    Entry { entry: String, reason: EntryError },
    /// The stream as a whole: headers, end marker, trailing data, decompression.
    Archive { reason: String },
    /// An interrupt was asked for between two entries.
    Interrupted(crate::interrupt::Interrupted),
}

/// Extracts the `select`ed entries of the (decompressed) tar stream `reader` into `tree` under
/// `policy`, then checks the end-of-archive marker and reads the stream to its end.
pub(crate) fn extract_stream(
    reader: impl Read,
    tree: &mut Tree,
    policy: Policy,
    select: Select<'_>,
) -> Result<(), TarError> {
    let archive_error = |reason: String| TarError::Archive { reason };
    let reader = Counting {
        inner: reader,
        count: 0,
    };
    let mut ar = tar::Archive::new(reader);
    let mut end = 0u64;
    let mut last = String::new();
    let entries = ar.entries().map_err(|e| archive_error(e.to_string()))?;
    for entry in entries {
        crate::interrupt::check().map_err(TarError::Interrupted)?;
        let mut entry = entry.map_err(|e| {
            let at = if last.is_empty() {
                "at the first entry".to_owned()
            } else {
                format!("after entry {last:?}")
            };
            archive_error(format!("{at}: {e}"))
        })?;
        last = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        end = entry
            .raw_file_position()
            .saturating_add(entry.size().div_ceil(BLOCK).saturating_mul(BLOCK));
        entry::put(&mut entry, tree, policy, select).map_err(|reason| TarError::Entry {
            entry: last.clone(),
            reason,
        })?;
    }
    let mut rest = ar.into_inner();
    // The tar reader stops at the first zero block or at EOF; only the former is a complete
    // archive.
    if rest.count < end + BLOCK {
        return Err(archive_error(
            "no end-of-archive marker (truncated archive?)".to_owned(),
        ));
    }
    check_trailer(&mut rest.inner).map_err(archive_error)
}

/// Reads the rest of the stream (verifying the compression checksum): zeros only, bounded.
fn check_trailer(rest: &mut dyn Read) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "reading after the end-of-archive marker failed: {e}"
                ))
            }
        };
        if buf.get(..n).is_some_and(|b| b.iter().any(|x| *x != 0)) {
            return Err("data after the end-of-archive marker".to_owned());
        }
        total += n as u64;
        if total > TRAILER_LIMIT {
            return Err(format!(
                "more than {TRAILER_LIMIT} bytes of padding after the end-of-archive marker"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats_by_magic() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Codec::Zstd));
        assert_eq!(sniff(b"\xfd7zXZ\x00rest"), Some(Codec::Xz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(Codec::None));
        assert_eq!(sniff(b"BZh91AY&SY"), None);
        assert_eq!(sniff(&[0u8; 100]), None);
    }

    #[test]
    fn trailer_must_be_bounded_zeros() {
        assert_eq!(check_trailer(&mut &[0u8; 10240][..]), Ok(()));
        assert_eq!(
            check_trailer(&mut &b"\0\0junk"[..]).unwrap_err(),
            "data after the end-of-archive marker"
        );
        let big = vec![0u8; 2 * 1024 * 1024];
        assert_eq!(
            check_trailer(&mut &big[..]).unwrap_err(),
            "more than 1048576 bytes of padding after the end-of-archive marker"
        );
    }
}
