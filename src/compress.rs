//! Compression of initramfs archives, and detection/decompression for the reader.
//!
//! Writing is byte-deterministic and limited to what the kernel's initramfs unpacker
//! (`init/initramfs.c` calling the `lib/decompress_*.c` streaming decoders) accepts:
//!
//! - gzip: header mtime 0, no file name, fixed OS byte (like `gzip -n`).
//! - zstd: one frame, single-threaded, content checksum and content size on. The kernel
//!   decodes initramfs zstd in streaming mode and allocates the frame's whole window
//!   (`lib/decompress_unzstd.c`); the kernel build notes that levels up to 19 keep the
//!   window at 8 MiB while `--ultra` levels would need 128 MiB, so ultra levels are run
//!   with the window capped at [`ZSTD_MAX_WINDOW_LOG`].
//! - xz: LZMA2 only (no BCJ filter, which the kernel may lack), CRC32 check (the kernel's
//!   XZ Embedded decoder supports only "none" and CRC32, `Documentation/staging/xz.rst`),
//!   1 MiB dictionary like the kernel's own `xzmisc` command for non-kernel payloads.
//!
//! Reading detects the formats the kernel detects (`lib/decompress.c`) by magic and
//! decodes one stream, reporting how many input bytes it used, because an initramfs may
//! hold several concatenated segments.

use std::fmt;
use std::io::{self, Read, Write};

use crate::codec::Codec;

/// Largest zstd window (log2) we write: 8 MiB, what the kernel's streaming initramfs
/// decoder is designed around; `zstd -19` and below never exceed it.
pub const ZSTD_MAX_WINDOW_LOG: u32 = 23;
/// Highest zstd level that stays within [`ZSTD_MAX_WINDOW_LOG`] by its own parameters.
const ZSTD_MAX_PLAIN_LEVEL: i32 = 19;
/// LZMA2 dictionary for xz: 1 MiB, as the kernel's `xzmisc` uses, since the streaming
/// decoder allocates the whole dictionary during early boot.
pub const XZ_DICT_SIZE: u32 = 1 << 20;
/// gzip header OS byte: 255 ("unknown"), fixed so output does not depend on the host.
const GZIP_OS_UNKNOWN: u8 = 255;

/// A compression kind and an optional level (`None` = the kind's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Compression {
    /// The algorithm.
    pub kind: Codec,
    /// Level; `None` uses [`Codec::default_level`].
    pub level: Option<i32>,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            kind: Codec::Zstd,
            level: None,
        }
    }
}

impl fmt::Display for Compression {
    /// `zstd:3`, `gzip:9`, `xz:6` (the effective level) or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level.or(self.kind.default_level()) {
            Some(level) => write!(f, "{}:{level}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl Compression {
    /// Checks the level against the kind's range.
    pub fn check_level(&self) -> Result<(), CompressError> {
        self.effective_level().map(|_| ())
    }

    /// The level that will be used, validated against the kind's range.
    pub fn effective_level(&self) -> Result<Option<i32>, CompressError> {
        match (self.kind.level_range(), self.level) {
            (None, None) => Ok(None),
            (None, Some(level)) => Err(CompressError::LevelNotAccepted {
                kind: self.kind,
                level,
            }),
            (Some(_), None) => Ok(self.kind.default_level()),
            (Some((min, max)), Some(level)) if (min..=max).contains(&level) => Ok(Some(level)),
            (Some((min, max)), Some(level)) => Err(CompressError::LevelOutOfRange {
                kind: self.kind,
                level,
                min,
                max,
            }),
        }
    }
}

/// Errors from compressing, detecting or decompressing.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// Unknown compression name.
    #[error("unknown compression {given:?} (expected one of: zstd, gzip, xz, none)")]
    UnknownKind { given: String },
    /// Level outside the kind's range.
    #[error("{kind} level {level} is out of range {min}..={max}")]
    LevelOutOfRange {
        kind: Codec,
        level: i32,
        min: i32,
        max: i32,
    },
    /// A level given for a kind without levels.
    #[error("compression {kind} takes no level (got {level})")]
    LevelNotAccepted { kind: Codec, level: i32 },
    /// A format we recognise but never write.
    #[error("compression {kind} cannot be written (expected one of: zstd, gzip, xz, none)")]
    NotWritable { kind: Codec },
    /// The decoder could not start.
    #[error("starting the {codec} decoder failed: {source}")]
    Start { codec: Codec, source: io::Error },
    /// The encoder failed.
    #[error("{kind} compression failed: {source}")]
    Encode { kind: Codec, source: io::Error },
    /// A format the kernel knows but this reader cannot decode.
    #[error("unsupported compression {format} (this reader decodes gzip, zstd, xz and lzma)")]
    Unsupported { format: &'static str },
    /// The stream ends before its end marker.
    #[error("{format} stream is truncated: {source}")]
    Truncated {
        format: &'static str,
        source: io::Error,
    },
    /// The stream is damaged.
    #[error("{format} stream is corrupt: {source}")]
    Corrupt {
        format: &'static str,
        source: io::Error,
    },
}

/// Compresses `data` deterministically (see the module docs for the exact settings).
pub fn compress(data: &[u8], c: &Compression) -> Result<Vec<u8>, CompressError> {
    let level = c.effective_level()?;
    let encode_err = |source| CompressError::Encode {
        kind: c.kind,
        source,
    };
    match (c.kind, level) {
        (Codec::None, _) => Ok(data.to_vec()),
        (Codec::Gzip, Some(level)) => gzip(data, level).map_err(encode_err),
        (Codec::Zstd, Some(level)) => zstd_frame(data, level).map_err(encode_err),
        (Codec::Xz, Some(level)) => xz(data, level).map_err(encode_err),
        (kind, _) => Err(CompressError::NotWritable { kind }),
    }
}

fn gzip(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let level = u32::try_from(level).map_err(io::Error::other)?;
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), flate2::Compression::new(level));
    enc.write_all(data)?;
    enc.finish()
}

fn zstd_frame(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut enc = zstd::bulk::Compressor::new(level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    if level > ZSTD_MAX_PLAIN_LEVEL {
        enc.window_log(ZSTD_MAX_WINDOW_LOG)?;
    }
    enc.compress(data)
}

fn xz(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let preset = u32::try_from(level).map_err(io::Error::other)?;
    let mut opts = xz2::stream::LzmaOptions::new_preset(preset)?;
    opts.dict_size(XZ_DICT_SIZE);
    let mut filters = xz2::stream::Filters::new();
    filters.lzma2(&opts);
    let stream = xz2::stream::Stream::new_stream_encoder(&filters, xz2::stream::Check::Crc32)?;
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data)?;
    enc.finish()
}

/// One decoded stream.
#[derive(Debug)]
pub struct Decompressed {
    /// The decompressed bytes.
    pub data: Vec<u8>,
    /// How many input bytes the stream occupied.
    pub consumed: usize,
}

/// Decodes the single stream of `format` at the start of `data`; trailing bytes are left.
pub fn decompress_stream(data: &[u8], format: Codec) -> Result<Decompressed, CompressError> {
    let name = format.name();
    let classify = |source: io::Error| {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            CompressError::Truncated {
                format: name,
                source,
            }
        } else {
            CompressError::Corrupt {
                format: name,
                source,
            }
        }
    };
    let mut out = Vec::new();
    let consumed = match format {
        Codec::Gzip => {
            let mut dec = flate2::bufread::GzDecoder::new(data);
            dec.read_to_end(&mut out).map_err(classify)?;
            data.len() - dec.into_inner().len()
        }
        Codec::Zstd => {
            let mut dec = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(classify)?
                .single_frame();
            dec.read_to_end(&mut out).map_err(classify)?;
            data.len() - dec.finish().len()
        }
        Codec::Xz | Codec::Lzma => {
            let stream = if format == Codec::Xz {
                xz2::stream::Stream::new_stream_decoder(u64::MAX, 0)
            } else {
                xz2::stream::Stream::new_lzma_decoder(u64::MAX)
            }
            .map_err(|e| classify(e.into()))?;
            xz_stream(data, stream, &mut out).map_err(classify)?
        }
        Codec::None => {
            out.extend_from_slice(data);
            data.len()
        }
        Codec::Bzip2 | Codec::Lzo | Codec::Lz4Legacy | Codec::Lz4Frame => {
            return Err(CompressError::Unsupported { format: name });
        }
    };
    Ok(Decompressed {
        data: out,
        consumed,
    })
}

/// Runs an xz/lzma decoder over one stream, stopping at its end marker. (xz2's readers
/// treat bytes after the stream as corruption, but an initramfs continues after it.)
fn xz_stream(data: &[u8], mut stream: xz2::stream::Stream, out: &mut Vec<u8>) -> io::Result<usize> {
    /// Output grows by this much per step.
    const CHUNK: usize = 1 << 16;
    loop {
        let pos = usize::try_from(stream.total_in()).map_err(io::Error::other)?;
        let input = data.get(pos..).unwrap_or_default();
        let action = if input.is_empty() {
            xz2::stream::Action::Finish
        } else {
            xz2::stream::Action::Run
        };
        let before = (stream.total_in(), stream.total_out());
        out.reserve(CHUNK);
        let status = stream.process_vec(input, out, action)?;
        if status == xz2::stream::Status::StreamEnd {
            return usize::try_from(stream.total_in()).map_err(io::Error::other);
        }
        if (stream.total_in(), stream.total_out()) == before {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "input ends before the end of the stream",
            ));
        }
    }
}

/// The window a zstd frame declares (RFC 8878 section 3.1.1.1), which the kernel's
/// streaming decoder must allocate; `None` if the header is incomplete.
pub fn zstd_window_size(frame: &[u8]) -> Option<u64> {
    let descriptor = *frame.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let wd = *frame.get(5)?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    // Single-segment frames: the window is the content size.
    let dict_len = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let start = 5 + dict_len;
    let fcs_len = [1usize, 2, 4, 8][usize::from(descriptor >> 6)];
    let bytes = frame.get(start..start + fcs_len)?;
    let value = bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some(if fcs_len == 2 { value + 256 } else { value })
}

/// The integrity check an xz stream declares: 0 none, 1 CRC32, 4 CRC64, 10 SHA-256.
pub fn xz_check_id(stream: &[u8]) -> Option<u8> {
    stream.get(7).map(|flags| flags & 0x0f)
}

/// Ways a stream that decodes fine here may still fail or strain the kernel's decoder.
pub fn kernel_compat_warnings(stream: &[u8], format: Codec) -> Vec<String> {
    let mut warnings = Vec::new();
    match format {
        Codec::Zstd => {
            if let Some(window) = zstd_window_size(stream) {
                if window > 1 << ZSTD_MAX_WINDOW_LOG {
                    warnings.push(format!(
                        "zstd window of {} MiB: the kernel must allocate it while unpacking \
                         (8 MiB or less recommended)",
                        window >> 20
                    ));
                }
            }
        }
        Codec::Xz => match xz_check_id(stream) {
            Some(0 | 1) | None => {}
            Some(id) => warnings.push(format!(
                "xz check type {id}: the kernel's xz decoder accepts only none or crc32"
            )),
        },
        Codec::Lz4Frame => {
            warnings.push("lz4 frame format: the kernel reads only legacy lz4 (lz4 -l)".into())
        }
        _ => {}
    }
    warnings
}

/// A reader that counts the bytes read through it: the archive readers (kernel packages, root
/// tarballs) use it to say where in the file a stream ended or broke.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
