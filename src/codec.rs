//! The one compression type of the crate: [`Codec`] names a stream format and knows how to tell
//! it (by magic, as the kernel's `lib/decompress.c` does, or by file suffix), how to decode it as
//! a stream and which levels its encoder takes. Initramfs images, root tarballs, kernel packages
//! and module files all go through it; the deterministic encoder settings live in
//! [`crate::compress`].

use std::fmt;
use std::io::{BufRead, Read};
use std::str::FromStr;

use crate::compress::CompressError;

/// A stream format: uncompressed, one we write, or one the kernel reads that we only recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Codec {
    /// Not compressed.
    None,
    /// Zstandard: fast to decompress, good ratio; the default for images.
    Zstd,
    /// gzip: universally supported by kernels and bootloaders.
    Gzip,
    /// xz (LZMA2): smallest output, slowest to decompress.
    Xz,
    /// Legacy `.lzma` (LZMA1 "alone" format), decoded but never written.
    Lzma,
    /// bzip2, recognised only.
    Bzip2,
    /// lzop, recognised only.
    Lzo,
    /// The legacy lz4 format (`lz4 -l`), the only one the kernel reads; recognised only.
    Lz4Legacy,
    /// The lz4 frame format, which the kernel does not read; recognised only.
    Lz4Frame,
}

/// Magic numbers, longest useful prefix of each format (the kernel's `compressed_formats`).
const MAGICS: [(&[u8], Codec); 8] = [
    (&[0x1f, 0x8b], Codec::Gzip),
    (&[0x28, 0xb5, 0x2f, 0xfd], Codec::Zstd),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Codec::Xz),
    (&[0x5d, 0x00, 0x00], Codec::Lzma),
    (b"BZh", Codec::Bzip2),
    (&[0x89, b'L', b'Z', b'O'], Codec::Lzo),
    (&[0x02, 0x21, 0x4c, 0x18], Codec::Lz4Legacy),
    (&[0x04, 0x22, 0x4d, 0x18], Codec::Lz4Frame),
];

/// File suffixes we accept: those kmod writes for modules (`.ko.xz`, `.ko.zst`, `.ko.gz`) and
/// dpkg-deb for package members (`data.tar.xz`, ...). Other suffixes (`.bz2`, `.lzma`) are left
/// on the name, so callers refuse them as they did before this type existed.
const SUFFIXES: [(&str, Codec); 3] = [
    (".xz", Codec::Xz),
    (".zst", Codec::Zstd),
    (".gz", Codec::Gzip),
];

impl Codec {
    /// The formats we write, in the order shown to users.
    pub const WRITABLE: [Codec; 4] = [Self::Zstd, Self::Gzip, Self::Xz, Self::None];

    /// Short name, as on the command line, in profiles and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
            Self::Xz => "xz",
            Self::Lzma => "lzma",
            Self::Bzip2 => "bzip2",
            Self::Lzo => "lzo",
            Self::Lz4Legacy => "lz4",
            Self::Lz4Frame => "lz4-frame",
        }
    }

    /// The compressed format at the start of `data`; `None` when no known magic is there
    /// (which may be uncompressed data: the caller decides).
    pub fn from_magic(data: &[u8]) -> Option<Codec> {
        MAGICS
            .iter()
            .find(|(magic, _)| data.starts_with(magic))
            .map(|&(_, codec)| codec)
    }

    /// Splits a known compression suffix off `name`: `("a.ko", Xz)` for `a.ko.xz`, `(name,
    /// None)` when it has none of `SUFFIXES`.
    pub fn from_suffix(name: &str) -> (&str, Codec) {
        SUFFIXES
            .iter()
            .find_map(|(suffix, codec)| name.strip_suffix(suffix).map(|stem| (stem, *codec)))
            .unwrap_or((name, Codec::None))
    }

    /// A streaming decoder over `input`; gzip members, xz streams and zstd frames that follow
    /// each other are decoded as one stream (as `gzip -d`, `xz -d` and `zstd -d` do).
    pub fn decoder<'a, R: BufRead + 'a>(
        self,
        input: R,
    ) -> Result<Box<dyn Read + 'a>, CompressError> {
        Ok(match self {
            Self::None => Box::new(input),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(
                |source| CompressError::Start {
                    codec: self,
                    source,
                },
            )?),
            Self::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
            Self::Lzma => {
                let stream = xz2::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| {
                    CompressError::Start {
                        codec: self,
                        source: e.into(),
                    }
                })?;
                Box::new(xz2::bufread::XzDecoder::new_stream(input, stream))
            }
            Self::Bzip2 | Self::Lzo | Self::Lz4Legacy | Self::Lz4Frame => {
                return Err(CompressError::Unsupported {
                    format: self.name(),
                })
            }
        })
    }

    /// Default encoder level, and why:
    /// - zstd 3: zstd's own default. On the compute image (16 MB of modules) level 3 takes
    ///   ~0.1 s and gives 4.2 MB; level 19 takes ~7 s for 3.3 MB. A cold build must stay far
    ///   below dracut's time, and the 0.9 MB saved is ~0.1 s of TFTP. Set `level = 19` in a
    ///   profile for the smallest image; decompression speed does not depend on the level.
    /// - gzip 9: the kernel build's `gzip -n -9`.
    /// - xz 6: xz's own default preset, which the kernel's `xzmisc` also uses.
    pub fn default_level(self) -> Option<i32> {
        match self {
            Self::Zstd => Some(3),
            Self::Gzip => Some(9),
            Self::Xz => Some(6),
            _ => None,
        }
    }

    /// Accepted encoder levels, inclusive (`None` for formats without levels or not written).
    pub fn level_range(self) -> Option<(i32, i32)> {
        match self {
            Self::Zstd => Some((
                zstd::zstd_safe::min_c_level(),
                zstd::zstd_safe::max_c_level(),
            )),
            Self::Gzip | Self::Xz => Some((0, 9)),
            _ => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = CompressError;

    /// Parses the name of a format we write (profiles and the command line name only those).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::WRITABLE
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| CompressError::UnknownKind {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_suffix() {
        assert_eq!(Codec::from_magic(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(Codec::from_magic(b"\xfd7zXZ\x00rest"), Some(Codec::Xz));
        assert_eq!(Codec::from_magic(b"BZh91AY&SY"), Some(Codec::Bzip2));
        assert_eq!(Codec::from_magic(&[0u8; 8]), None);
        assert_eq!(Codec::from_suffix("a.ko.zst"), ("a.ko", Codec::Zstd));
        assert_eq!(Codec::from_suffix("data.tar"), ("data.tar", Codec::None));
        assert_eq!(Codec::from_suffix("x.bz2"), ("x.bz2", Codec::None));
    }

    #[test]
    fn names_round_trip_for_writable_formats() {
        for c in Codec::WRITABLE {
            assert_eq!(c.to_string().parse::<Codec>().unwrap(), c);
        }
        assert!("lzma".parse::<Codec>().is_err());
    }

    #[test]
    fn recognised_only_formats_refuse_to_decode() {
        let err = Codec::Bzip2.decoder(&b"BZh9"[..]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "unsupported compression bzip2 (this reader decodes gzip, zstd, xz and lzma)"
        );
    }
}
