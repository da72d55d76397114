//! Unpacks the kernel parts of a Debian kernel package, in-process.
//!
//! A `.deb` is an `ar` archive whose `data.tar[.xz|.zst|.gz]` member holds the
//! files. Only the image, its config, modules and firmware are written, by the
//! root tarball extractor under its strict policy ([`crate::rootfs::Policy`]). The output appears atomically: the
//! files go to a temporary directory next to `dest`, which is synced and then
//! renamed to `dest`; on any error nothing is left at `dest`.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{io_err, KernelError};
use crate::codec::Codec;
use crate::compress::Counting;
use crate::rootfs::{extract_kernel_parts, tarball::TarError};

/// Magic at the start of every `ar` archive.
const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
/// Name prefix of the payload member.
const DATA_MEMBER: &str = "data.tar";
/// Read buffer for the package file: large reads keep syscalls off the
/// profile, which the xz decoder dominates.
const PACKAGE_BUF: usize = 1 << 20;
/// Buffer between the decompressor and the tar parser, which reads in
/// 512-byte headers and would otherwise call into the decoder per header.
const DECODED_BUF: usize = 1 << 20;
/// Mode of the published directory (the temporary one is created 0700).
const DEST_MODE: u32 = 0o755;
/// Prefix of the temporary directory, hidden so that scans of the parent skip it.
const TEMP_PREFIX: &str = ".netroot-extract-";

/// The compression of the member `name`: `None` for other members, `Some(Err(()))` for a
/// `data.tar` with a suffix we do not decode.
fn data_member_codec(name: &str) -> Option<Result<Codec, ()>> {
    let (stem, codec) = Codec::from_suffix(name);
    match stem.strip_prefix(DATA_MEMBER)? {
        "" => Some(Ok(codec)),
        _ => Some(Err(())),
    }
}

/// Extracts `boot/vmlinuz-*`, `boot/config-*`, `[usr/]lib/modules/**` and
/// `[usr/]lib/firmware/**` of the Debian package `deb` into the new
/// directory `dest`, which must not exist yet.
pub fn extract_deb(deb: &Path, dest: &Path) -> Result<(), KernelError> {
    extract_deb_metered(deb, dest, &crate::meter::ignore)
}

/// [`extract_deb`], telling `on` how much of the package file it has read.
pub fn extract_deb_metered(
    deb: &Path,
    dest: &Path,
    on: crate::meter::OnBytes<'_>,
) -> Result<(), KernelError> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(KernelError::DestExists {
            path: dest.to_path_buf(),
        });
    }
    let parent = crate::fsx::atomic::parent_of(dest);
    // Private (0700) while it fills; DEST_MODE once complete.
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(parent)
        .map_err(io_err("creating a temporary directory in", parent))?;
    extract_into(deb, temp.path(), on)?;
    crate::fsx::atomic::set_mode(temp.path(), DEST_MODE)
        .map_err(io_err("setting permissions of", temp.path()))?;
    // Data first, then the rename, then the directory entry: a crash leaves
    // either no `dest` or a complete one.
    let dir = File::open(temp.path()).map_err(io_err("opening", temp.path()))?;
    rustix::fs::syncfs(&dir).map_err(|e| io_err("syncing", temp.path())(io::Error::from(e)))?;
    crate::fsx::atomic::rename_durable(temp.path(), dest)
        .map_err(io_err("renaming into place", dest))?;
    // The directory now lives at `dest`; keep `TempDir` from deleting anything.
    let _moved = temp.keep();
    Ok(())
}

/// Finds the data member of `deb` and unpacks it into `root`.
fn extract_into(deb: &Path, root: &Path, on: crate::meter::OnBytes<'_>) -> Result<(), KernelError> {
    let mut file = File::open(deb).map_err(io_err("opening", deb))?;
    let mut magic = Vec::with_capacity(AR_MAGIC.len());
    (&mut file)
        .take(AR_MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(io_err("reading", deb))?;
    if magic != AR_MAGIC {
        return Err(KernelError::NotAr {
            path: deb.to_path_buf(),
        });
    }
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seeking in", deb))?;
    let total = file.metadata().map_err(io_err("reading", deb))?.len();
    let metered = crate::meter::Metered::new(file, total, on);
    let mut archive = ar::Archive::new(BufReader::with_capacity(PACKAGE_BUF, metered));
    let mut members = Vec::new();
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(|source| KernelError::Corrupt {
            path: deb.to_path_buf(),
            member: "ar member header".to_owned(),
            source,
        })?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        match data_member_codec(&name) {
            None => members.push(name),
            Some(Err(())) => {
                return Err(KernelError::UnsupportedCompression {
                    path: deb.to_path_buf(),
                    member: name,
                })
            }
            Some(Ok(codec)) => {
                let size = entry.header().size();
                let source = Source { deb, member: &name };
                unpack_member(entry, size, codec, root, &source)?;
                // The members after the data tar are not read: the package is done here.
                on(total, total);
                return Ok(());
            }
        }
    }
    Err(KernelError::NoDataTar {
        path: deb.to_path_buf(),
        members,
    })
}

/// Decompresses and unpacks one member, then checks that the member and the
/// compressed stream were read to their ends (this is what catches a
/// truncated package and runs the xz/zstd/gzip integrity checks).
fn unpack_member(
    member: impl Read,
    size: u64,
    codec: Codec,
    root: &Path,
    source: &Source<'_>,
) -> Result<(), KernelError> {
    let mut counted = Counting {
        inner: member,
        count: 0,
    };
    {
        let decoded = codec
            .decoder(BufReader::new(&mut counted))
            .map_err(|e| source.corrupt(io::Error::other(e)))?;
        let buffered = BufReader::with_capacity(DECODED_BUF, decoded);
        extract_kernel_parts(buffered, root).map_err(|e| source.refused(e))?;
    }
    io::copy(&mut counted, &mut io::sink()).map_err(|e| source.corrupt(e))?;
    if counted.count != size {
        let msg = format!(
            "member is {size} bytes but the file ends after {}",
            counted.count
        );
        return Err(source.corrupt(io::Error::new(io::ErrorKind::UnexpectedEof, msg)));
    }
    Ok(())
}

/// The archive being read, for error messages.
#[derive(Debug)]
struct Source<'a> {
    /// The package file.
    deb: &'a Path,
    /// The ar member holding the tar.
    member: &'a str,
}

impl Source<'_> {
    fn corrupt(&self, source: io::Error) -> KernelError {
        KernelError::Corrupt {
            path: self.deb.to_path_buf(),
            member: self.member.to_owned(),
            source,
        }
    }

    fn refused(&self, e: TarError) -> KernelError {
        match e {
            TarError::Entry { entry, reason } => KernelError::UnsafeEntry {
                path: self.deb.to_path_buf(),
                entry,
                reason,
            },
            TarError::Archive { reason } => KernelError::Archive {
                path: self.deb.to_path_buf(),
                member: self.member.to_owned(),
                reason,
            },
            TarError::Interrupted(i) => KernelError::Interrupted(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(data_member_codec("data.tar"), Some(Ok(Codec::None)));
        assert_eq!(data_member_codec("data.tar.xz"), Some(Ok(Codec::Xz)));
        assert_eq!(data_member_codec("data.tar.zst"), Some(Ok(Codec::Zstd)));
        assert_eq!(data_member_codec("data.tar.gz"), Some(Ok(Codec::Gzip)));
        assert_eq!(data_member_codec("data.tar.bz2"), Some(Err(())));
        assert_eq!(data_member_codec("control.tar.xz"), None);
        assert_eq!(data_member_codec("debian-binary"), None);
    }
}
