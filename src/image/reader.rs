//! Reading and verifying a whole initramfs file.
//!
//! An initramfs is a sequence of segments with zero padding between them, read the way
//! `unpack_to_rootfs()` in `init/initramfs.c` reads it: a `0` on a 4-byte boundary starts
//! an uncompressed cpio archive; anything else must be a compressed stream, whose
//! decompressed bytes are again cpio archives separated by zero padding. dracut and
//! initramfs-tools images put an uncompressed early-microcode archive first.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::newc::{self, CpioError, RawEntry};
use crate::codec::Codec;
use crate::compress::{self, CompressError};

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
/// The other file types of a cpio mode (`stat(2)`'s `S_IF*`), for naming them.
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;

/// One entry as stored in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored (may start with `./` in archives made by `find . | cpio`).
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub ino: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// Bytes stored in this entry (0 for all but one name of a hardlinked file).
    pub stored_size: u64,
    /// Size of what unpacks: file content (shared by hardlinks) or symlink target length.
    pub size: u64,
    /// SHA-256 (hex) of the unpacked content of regular files.
    pub sha256: Option<String>,
    /// Symlink target.
    pub link_target: Option<String>,
    /// For a hardlinked file: the earlier name the kernel links this one to.
    pub hardlink_to: Option<String>,
    /// Offset of the header in the segment's (decompressed) data.
    pub offset: u64,
    /// Content of a regular file, kept only for the paths [`read_image_keeping`] was asked for.
    pub data: Option<Vec<u8>>,
}

impl Entry {
    /// The path without a leading `./` or `/`; the archive root is `.` ([`super::path::normalize`]).
    pub fn normalized_path(&self) -> &str {
        super::path::normalize(&self.path)
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// A segment: one uncompressed archive or one compressed stream.
#[derive(Debug, Clone)]
pub struct Segment {
    /// 1-based position in the image.
    pub index: usize,
    /// Byte offset in the image file.
    pub offset: u64,
    /// Bytes the segment occupies in the file (padding after it excluded).
    pub length: u64,
    /// `None` for an uncompressed archive.
    pub compression: Option<Codec>,
    /// Bytes of cpio data after decompression.
    pub uncompressed_size: u64,
    /// Number of cpio archives (trailers) in the segment.
    pub archives: usize,
    /// Whether any header used the `070702` checksum format.
    pub crc: bool,
    pub entries: Vec<Entry>,
    /// Things the kernel may trip over although the data is intact.
    pub warnings: Vec<String>,
}

/// A verified image.
#[derive(Debug, Clone)]
pub struct Image {
    pub size: u64,
    pub segments: Vec<Segment>,
}

impl Image {
    /// The content of the regular file `path` as the kernel leaves it unpacked (the last entry
    /// of that name wins), for an image read keeping that path ([`read_image_keeping`]).
    pub fn file(&self, path: &str) -> Result<&[u8], LookupError> {
        let want = super::path::normalize(path);
        let entry = self
            .entries()
            .filter(|e| e.normalized_path() == want)
            .last()
            .ok_or_else(|| LookupError::Missing(want.to_string()))?;
        if !entry.is_file() {
            return Err(LookupError::NotAFile {
                path: want.to_string(),
                kind: kind_name(entry.mode),
                target: entry.link_target.clone(),
            });
        }
        entry
            .data
            .as_deref()
            .ok_or_else(|| LookupError::NotKept(want.to_string()))
    }
    /// All entries, segment by segment.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.segments.iter().flat_map(|s| s.entries.iter())
    }
}

/// Why an image failed verification; each names the segment and byte offset.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("image is empty")]
    Empty,
    #[error("image holds only zero bytes")]
    OnlyPadding,
    #[error("segment {segment} (uncompressed cpio at byte {segment_offset}): {source}, at byte {offset}")]
    Archive {
        segment: usize,
        segment_offset: u64,
        offset: u64,
        source: CpioError,
    },
    #[error(
        "segment {segment} ({format} at byte {segment_offset}): {source}, \
         at byte {offset} of the decompressed data"
    )]
    CompressedArchive {
        segment: usize,
        format: Codec,
        segment_offset: u64,
        offset: u64,
        source: CpioError,
    },
    #[error("segment {segment} at byte {offset}: {source}")]
    Decompress {
        segment: usize,
        offset: u64,
        source: CompressError,
    },
    #[error("not an initramfs: unrecognised data at byte {offset} ({preview})")]
    NotInitramfs { offset: u64, preview: String },
    #[error("garbage after the last segment (segment {after}) at byte {offset}: {preview}")]
    Garbage {
        after: usize,
        offset: u64,
        preview: String,
    },
}

/// Reads and verifies every segment of an initramfs held in memory.
pub fn read_image(data: &[u8]) -> Result<Image, ReadError> {
    read_image_keeping(data, &|_| false)
}

/// [`read_image`], also keeping the content of regular files whose path `keep` accepts.
pub fn read_image_keeping(data: &[u8], keep: &dyn Fn(&str) -> bool) -> Result<Image, ReadError> {
    if data.is_empty() {
        return Err(ReadError::Empty);
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut pos = 0usize;
    loop {
        pos += data
            .get(pos..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == 0)
            .count();
        let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) else {
            break;
        };
        let index = segments.len() + 1;
        let offset = pos as u64;
        let segment = if rest.first() == Some(&b'0') {
            let archive =
                newc::parse_archive(data, pos).map_err(|(at, source)| ReadError::Archive {
                    segment: index,
                    segment_offset: offset,
                    offset: at as u64,
                    source,
                })?;
            let length = (archive.end - pos) as u64;
            pos = archive.end;
            let crc = archive.entries.iter().any(|e| e.header.crc);
            Segment {
                index,
                offset,
                length,
                compression: None,
                uncompressed_size: length,
                archives: 1,
                crc,
                entries: resolve(&archive.entries, keep),
                warnings: Vec::new(),
            }
        } else if let Some(format) = Codec::from_magic(rest) {
            let decoded = compress::decompress_stream(rest, format).map_err(|source| {
                ReadError::Decompress {
                    segment: index,
                    offset,
                    source,
                }
            })?;
            let (archives, entries, crc) =
                parse_stream(&decoded.data, keep).map_err(|(at, source)| {
                    ReadError::CompressedArchive {
                        segment: index,
                        format,
                        segment_offset: offset,
                        offset: at as u64,
                        source,
                    }
                })?;
            pos += decoded.consumed;
            Segment {
                index,
                offset,
                length: decoded.consumed as u64,
                compression: Some(format),
                uncompressed_size: decoded.data.len() as u64,
                archives,
                crc,
                entries,
                warnings: compress::kernel_compat_warnings(rest, format),
            }
        } else {
            let preview = newc::preview(rest);
            return Err(match segments.last() {
                None => ReadError::NotInitramfs { offset, preview },
                Some(last) => ReadError::Garbage {
                    after: last.index,
                    offset,
                    preview,
                },
            });
        };
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ReadError::OnlyPadding);
    }
    Ok(Image {
        size: data.len() as u64,
        segments,
    })
}

/// Parses the archives in decompressed data: (archive count, entries, any crc header).
fn parse_stream(
    buf: &[u8],
    keep: &dyn Fn(&str) -> bool,
) -> Result<(usize, Vec<Entry>, bool), (usize, CpioError)> {
    let mut pos = 0;
    let mut archives = 0;
    let mut entries = Vec::new();
    let mut crc = false;
    loop {
        pos += buf
            .get(pos..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == 0)
            .count();
        let Some(rest) = buf.get(pos..).filter(|r| !r.is_empty()) else {
            break;
        };
        if archives > 0 && rest.first() != Some(&b'0') {
            return Err((
                pos,
                CpioError::Junk {
                    preview: newc::preview(rest),
                },
            ));
        }
        let archive = newc::parse_archive(buf, pos)?;
        crc |= archive.entries.iter().any(|e| e.header.crc);
        entries.extend(resolve(&archive.entries, keep));
        archives += 1;
        pos = archive.end;
    }
    if archives == 0 {
        return Err((0, CpioError::NoArchive));
    }
    Ok((archives, entries, crc))
}

/// Turns raw entries of one archive into [`Entry`]s, resolving hardlinks as the kernel
/// does: within one archive, regular files with nlink >= 2 and the same (dev, ino) are
/// one inode; the first name is created, later names are linked to it, and the content
/// is the last non-empty body written through any of them.
fn resolve(raw: &[RawEntry<'_>], keep: &dyn Fn(&str) -> bool) -> Vec<Entry> {
    type Key = (u32, u32, u32);
    let key = |e: &RawEntry<'_>| {
        let (major, minor) = e.header.dev();
        (e.header.mode() & S_IFMT == S_IFREG && e.header.nlink() >= 2).then_some((
            major,
            minor,
            e.header.ino(),
        ))
    };
    let mut first_name: HashMap<Key, &str> = HashMap::new();
    let mut content: HashMap<Key, &[u8]> = HashMap::new();
    for e in raw {
        if let Some(k) = key(e) {
            first_name.entry(k).or_insert(e.name.as_str());
            let slot = content.entry(k).or_insert(e.data);
            if !e.data.is_empty() {
                *slot = e.data;
            }
        }
    }
    raw.iter()
        .map(|e| {
            let h = &e.header;
            let group = key(e);
            let is_file = h.mode() & S_IFMT == S_IFREG;
            let body: &[u8] = group
                .and_then(|k| content.get(&k).copied())
                .unwrap_or(e.data);
            let hardlink_to = group
                .and_then(|k| first_name.get(&k))
                .filter(|first| **first != e.name)
                .map(|first| (*first).to_owned());
            let link_target = (h.mode() & S_IFMT == S_IFLNK)
                .then(|| String::from_utf8_lossy(e.data).into_owned());
            let (dev_major, dev_minor) = h.dev();
            let (rdev_major, rdev_minor) = h.rdev();
            Entry {
                path: e.name.clone(),
                mode: h.mode(),
                uid: h.uid(),
                gid: h.gid(),
                nlink: h.nlink(),
                mtime: h.mtime(),
                ino: h.ino(),
                dev_major,
                dev_minor,
                rdev_major,
                rdev_minor,
                stored_size: e.data.len() as u64,
                size: if is_file { body.len() } else { e.data.len() } as u64,
                sha256: is_file.then(|| hex::encode(Sha256::digest(body))),
                link_target,
                hardlink_to,
                offset: e.offset as u64,
                data: (is_file && keep(&e.name)).then(|| body.to_vec()),
            }
        })
        .collect()
}

/// Why [`Image::file`] has no content to give.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{0}: no such path in the image")]
    Missing(String),
    #[error("{path} is a {kind}{}, not a regular file", .target.as_ref().map(|t| format!(" -> {t}")).unwrap_or_default())]
    NotAFile {
        path: String,
        kind: &'static str,
        target: Option<String>,
    },
    #[error("{0}: content not kept when the image was read")]
    NotKept(String),
}

/// The file type of a cpio mode, in words.
fn kind_name(mode: u32) -> &'static str {
    match mode & S_IFMT {
        S_IFREG => "regular file",
        S_IFLNK => "symlink",
        S_IFDIR => "directory",
        S_IFCHR => "character device",
        S_IFBLK => "block device",
        S_IFIFO => "fifo",
        S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}
