//! Strict parsing of one newc/crc cpio archive held in memory.
//!
//! The `cpio` crate writes our headers, but its reader reports neither offsets nor which
//! field is bad, strips trailing NULs from names and requires UTF-8; an integrity checker
//! needs all of that, so archives are parsed here against the layout the kernel uses:
//! 110-byte header, NUL-terminated name, header+name and data each padded to 4 bytes.

/// Length of a newc header.
pub const HEADER_LEN: usize = 110;
/// The newc magic (no checksum).
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// The newc magic with a data checksum.
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// The old portable ASCII format, which the kernel rejects.
const MAGIC_ODC: &[u8; 6] = b"070707";
/// Name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";
/// Longest name (with NUL) the kernel unpacks (`PATH_MAX`).
const NAME_MAX: u32 = 4096;
/// Header fields after the magic, in order.
const FIELDS: [&str; 13] = [
    "c_ino",
    "c_mode",
    "c_uid",
    "c_gid",
    "c_nlink",
    "c_mtime",
    "c_filesize",
    "c_devmajor",
    "c_devminor",
    "c_rdevmajor",
    "c_rdevminor",
    "c_namesize",
    "c_check",
];
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

/// What is wrong inside an archive; the caller adds the segment and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    #[error("bad cpio magic {found} (expected 070701 or 070702)")]
    BadMagic { found: String },
    #[error("old portable cpio format 070707 (the kernel needs newc: cpio -H newc)")]
    OdcFormat,
    #[error("bad hex {value:?} in header field {field}")]
    BadHex { field: &'static str, value: String },
    #[error("truncated {what}: needs {needed} bytes, only {available} left")]
    Truncated {
        what: String,
        needed: u64,
        available: u64,
    },
    #[error("entry name size is 0")]
    EmptyName,
    #[error("entry name of {len} bytes is longer than PATH_MAX")]
    NameTooLong { len: u32 },
    #[error("entry name {name:?} is not NUL-terminated")]
    NameNotTerminated { name: String },
    #[error("checksum mismatch for {path}: header says {expected:08x}, data sums to {actual:08x}")]
    Checksum {
        path: String,
        expected: u32,
        actual: u32,
    },
    #[error("junk after the archive trailer: {preview}")]
    Junk { preview: String },
    #[error("archive does not start on a 4-byte boundary")]
    Misaligned,
    #[error("decompressed data holds no cpio archive")]
    NoArchive,
    #[error("archive ends without a TRAILER!!! entry (truncated)")]
    MissingTrailer,
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `070702`: the `c_check` field holds the data's byte sum.
    pub crc: bool,
    /// The 13 fields after the magic, in [`FIELDS`] order.
    fields: [u32; 13],
}

impl Header {
    pub fn ino(&self) -> u32 {
        self.fields[0]
    }
    pub fn mode(&self) -> u32 {
        self.fields[1]
    }
    pub fn uid(&self) -> u32 {
        self.fields[2]
    }
    pub fn gid(&self) -> u32 {
        self.fields[3]
    }
    pub fn nlink(&self) -> u32 {
        self.fields[4]
    }
    pub fn mtime(&self) -> u32 {
        self.fields[5]
    }
    pub fn file_size(&self) -> u32 {
        self.fields[6]
    }
    pub fn dev(&self) -> (u32, u32) {
        (self.fields[7], self.fields[8])
    }
    pub fn rdev(&self) -> (u32, u32) {
        (self.fields[9], self.fields[10])
    }
    pub fn name_size(&self) -> u32 {
        self.fields[11]
    }
    pub fn check(&self) -> u32 {
        self.fields[12]
    }
}

/// A short printable rendering of bytes for messages.
pub fn preview(bytes: &[u8]) -> String {
    const PREVIEW_LEN: usize = 8;
    let shown: Vec<String> = bytes
        .iter()
        .take(PREVIEW_LEN)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "bytes {}{}",
        shown.join(" "),
        if bytes.len() > PREVIEW_LEN {
            " …"
        } else {
            ""
        }
    )
}

/// Parses a header; errors carry the offset of the bad byte relative to `bytes`.
pub fn parse_header(bytes: &[u8; HEADER_LEN]) -> Result<Header, (usize, CpioError)> {
    let magic = &bytes[..6];
    let crc = if magic == MAGIC_NEWC {
        false
    } else if magic == MAGIC_CRC {
        true
    } else if magic == MAGIC_ODC {
        return Err((0, CpioError::OdcFormat));
    } else {
        let found = match std::str::from_utf8(magic) {
            Ok(text) if text.chars().all(|c| c.is_ascii_graphic()) => format!("{text:?}"),
            _ => preview(magic),
        };
        return Err((0, CpioError::BadMagic { found }));
    };
    let mut fields = [0u32; 13];
    for (i, (slot, field)) in fields.iter_mut().zip(FIELDS).enumerate() {
        let at = 6 + 8 * i;
        let raw = &bytes[at..at + 8];
        // from_str_radix would accept a leading '+', which is not a hex digit.
        let parsed = if raw.iter().all(u8::is_ascii_hexdigit) {
            std::str::from_utf8(raw)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
        } else {
            None
        };
        *slot = parsed.ok_or_else(|| {
            let value = String::from_utf8_lossy(raw).into_owned();
            (at, CpioError::BadHex { field, value })
        })?;
    }
    Ok(Header { crc, fields })
}

/// One entry of an archive, borrowing its name and data.
#[derive(Debug, Clone)]
pub struct RawEntry<'a> {
    /// Offset of the header in the parsed buffer.
    pub offset: usize,
    pub header: Header,
    pub name: String,
    pub data: &'a [u8],
}

/// A parsed archive: its entries (trailer excluded) and where it ends, padding included.
#[derive(Debug)]
pub struct Archive<'a> {
    pub entries: Vec<RawEntry<'a>>,
    pub end: usize,
}

fn align4(start: usize, pos: usize) -> usize {
    start + (pos - start).next_multiple_of(4)
}

fn slice(
    buf: &[u8],
    from: usize,
    len: usize,
    what: impl FnOnce() -> String,
) -> Result<&[u8], (usize, CpioError)> {
    let available = buf.len().saturating_sub(from);
    buf.get(from..from.saturating_add(len)).ok_or_else(|| {
        let err = CpioError::Truncated {
            what: what(),
            needed: len as u64,
            available: available as u64,
        };
        (from, err)
    })
}

/// Parses the archive starting at `start` up to and including its trailer; errors carry
/// the absolute offset in `buf` of what is wrong.
pub fn parse_archive(buf: &[u8], start: usize) -> Result<Archive<'_>, (usize, CpioError)> {
    if start & 3 != 0 {
        return Err((start, CpioError::Misaligned));
    }
    let mut entries = Vec::new();
    let mut pos = start;
    loop {
        if pos == buf.len() {
            return Err((pos, CpioError::MissingTrailer));
        }
        let header_bytes: &[u8; HEADER_LEN] = buf
            .get(pos..)
            .and_then(|rest| rest.first_chunk())
            .ok_or_else(|| {
                let available = buf.len().saturating_sub(pos) as u64;
                let what = "entry header".to_owned();
                (
                    pos,
                    CpioError::Truncated {
                        what,
                        needed: HEADER_LEN as u64,
                        available,
                    },
                )
            })?;
        let header = parse_header(header_bytes).map_err(|(at, e)| (pos + at, e))?;
        let name_size = header.name_size();
        if name_size == 0 {
            return Err((pos, CpioError::EmptyName));
        }
        if name_size > NAME_MAX {
            return Err((pos, CpioError::NameTooLong { len: name_size }));
        }
        let name_at = pos + HEADER_LEN;
        let name_raw = slice(buf, name_at, name_size as usize, || "entry name".into())?;
        let name_bytes = match name_raw.split_last() {
            Some((0, rest)) => rest,
            _ => {
                let name = String::from_utf8_lossy(name_raw).into_owned();
                return Err((name_at, CpioError::NameNotTerminated { name }));
            }
        };
        // dracut-cpio may pad names with extra NULs; the name ends at the first one.
        let name_bytes = name_bytes.split(|&b| b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let data_at = align4(start, name_at + name_size as usize);
        let size = header.file_size() as usize;
        let data = slice(buf, data_at, size, || format!("data of {name}"))?;
        let end = align4(start, data_at + size);
        slice(buf, data_at + size, end - data_at - size, || {
            format!("padding after {name}")
        })?;
        if header.crc && header.mode() & S_IFMT == S_IFREG {
            let actual = data
                .iter()
                .fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
            if actual != header.check() {
                let err = CpioError::Checksum {
                    path: name,
                    expected: header.check(),
                    actual,
                };
                return Err((pos, err));
            }
        }
        if name == TRAILER {
            return Ok(Archive { entries, end });
        }
        entries.push(RawEntry {
            offset: pos,
            header,
            name,
            data,
        });
        pos = end;
    }
}
