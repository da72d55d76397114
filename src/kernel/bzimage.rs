//! Reads the kernel release string out of an x86 bzImage setup header.
//!
//! Layout from Documentation/arch/x86/boot.rst: the real-mode header starts at
//! offset 0x1F1; the magic "HdrS" sits at 0x202, the boot protocol version at
//! 0x206 and the `kernel_version` pointer (protocol 2.00+) at 0x20E. The pointer
//! is relative to the end of the boot sector, so the NUL-terminated string lives
//! at `kernel_version + 0x200`. Its first word is the release, e.g.
//! `6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP ...` gives
//! `6.1.0-56-amd64`.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{io_err, KernelError};

/// Offset of the "HdrS" magic of the setup header.
const MAGIC_OFFSET: usize = 0x202;
/// The setup header magic.
const MAGIC: &[u8; 4] = b"HdrS";
/// Offset of the 16-bit boot protocol version.
const PROTOCOL_OFFSET: usize = 0x206;
/// First boot protocol that has the `kernel_version` field.
const MIN_PROTOCOL: u16 = 0x0200;
/// Offset of the 16-bit `kernel_version` pointer.
const VERSION_PTR_OFFSET: usize = 0x20E;
/// The pointer is relative to the end of the 512-byte boot sector.
const VERSION_PTR_BASE: usize = 0x200;
/// Longest version string accepted; the kernel's own `UTS_VERSION` line is
/// well under this, so a longer run without NUL means a broken header.
const MAX_VERSION_LEN: usize = 512;
/// Bytes of the image that can hold the header and the version string: the
/// pointer is 16 bits, so the string starts before `0x200 + 0xFFFF`.
pub(crate) const HEADER_READ_LEN: usize = VERSION_PTR_BASE + 0xFFFF + MAX_VERSION_LEN;

/// Why a buffer is not a usable bzImage; carried by [`KernelError`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BzImageError {
    /// The data ends before the setup header.
    #[error("file too short for a setup header ({len} bytes)")]
    TooShort {
        /// Length of the data seen.
        len: usize,
    },
    /// No "HdrS" at 0x202.
    #[error("no \"HdrS\" magic at offset 0x202")]
    NoMagic,
    /// Boot protocol too old to carry a version string.
    #[error("boot protocol {major}.{minor:02} has no kernel_version field")]
    OldProtocol {
        /// Protocol major version.
        major: u8,
        /// Protocol minor version.
        minor: u8,
    },
    /// The `kernel_version` pointer is zero.
    #[error("kernel_version pointer is zero")]
    NoVersion,
    /// The version string lies (partly) outside the data or is unterminated.
    #[error("kernel version string at offset {offset:#x} is truncated or unterminated")]
    VersionOutOfRange {
        /// Absolute offset of the string.
        offset: usize,
    },
    /// The version string is empty or not printable ASCII.
    #[error("kernel version string at offset {offset:#x} is not printable text")]
    VersionNotText {
        /// Absolute offset of the string.
        offset: usize,
    },
}

/// Returns the kernel release (first word of the version string) of a bzImage.
///
/// `data` needs to hold at least the header and the version string; the first
/// `0x200 + 0xFFFF + 512` bytes of the file are always enough.
pub fn bzimage_version(data: &[u8]) -> Result<String, KernelError> {
    parse(data).map_err(KernelError::BzImage)
}

/// Reads the header of the image at `path` and returns its release.
pub(crate) fn image_version(path: &Path) -> Result<String, KernelError> {
    let mut data = Vec::with_capacity(HEADER_READ_LEN);
    File::open(path)
        .map_err(io_err("opening", path))?
        .take(HEADER_READ_LEN as u64)
        .read_to_end(&mut data)
        .map_err(io_err("reading", path))?;
    parse(&data).map_err(|reason| KernelError::NotBzImage {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse(data: &[u8]) -> Result<String, BzImageError> {
    let too_short = BzImageError::TooShort { len: data.len() };
    let magic = data
        .get(MAGIC_OFFSET..MAGIC_OFFSET + MAGIC.len())
        .ok_or(too_short.clone())?;
    if magic != MAGIC {
        return Err(BzImageError::NoMagic);
    }
    let protocol = read_u16(data, PROTOCOL_OFFSET).ok_or(too_short.clone())?;
    if protocol < MIN_PROTOCOL {
        let [minor, major] = protocol.to_le_bytes();
        return Err(BzImageError::OldProtocol { major, minor });
    }
    let pointer = read_u16(data, VERSION_PTR_OFFSET).ok_or(too_short)?;
    if pointer == 0 {
        return Err(BzImageError::NoVersion);
    }
    let offset = usize::from(pointer) + VERSION_PTR_BASE;
    let rest = data
        .get(offset..)
        .ok_or(BzImageError::VersionOutOfRange { offset })?;
    let window = rest.get(..MAX_VERSION_LEN).unwrap_or(rest);
    let end = window
        .iter()
        .position(|&b| b == 0)
        .ok_or(BzImageError::VersionOutOfRange { offset })?;
    let text = window.get(..end).unwrap_or_default();
    if !text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(BzImageError::VersionNotText { offset });
    }
    // Printable ASCII was checked above, so the conversion cannot fail.
    let text = std::str::from_utf8(text).map_err(|_| BzImageError::VersionNotText { offset })?;
    text.split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or(BzImageError::VersionNotText { offset })
}

fn read_u16(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset + 2)?;
    Some(u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal header with `version` stored at `0x200 + pointer`.
    fn image(pointer: u16, version: &[u8]) -> Vec<u8> {
        let mut data = vec![0u8; 0x200 + usize::from(pointer) + version.len() + 1];
        data[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(MAGIC);
        data[PROTOCOL_OFFSET..PROTOCOL_OFFSET + 2].copy_from_slice(&0x020fu16.to_le_bytes());
        data[VERSION_PTR_OFFSET..VERSION_PTR_OFFSET + 2].copy_from_slice(&pointer.to_le_bytes());
        let at = 0x200 + usize::from(pointer);
        data[at..at + version.len()].copy_from_slice(version);
        data
    }

    #[test]
    fn reads_first_word() {
        let data = image(
            0x3c0,
            b"6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        );
        assert_eq!(parse(&data), Ok("6.1.0-56-amd64".to_owned()));
    }

    #[test]
    fn rejects_short_and_garbage() {
        assert_eq!(parse(&[]), Err(BzImageError::TooShort { len: 0 }));
        assert_eq!(
            parse(&[0xff; 0x203]),
            Err(BzImageError::TooShort { len: 0x203 })
        );
        assert_eq!(parse(&[0xab; 0x1000]), Err(BzImageError::NoMagic));
        let msg = bzimage_version(b"#!/bin/sh\n").unwrap_err().to_string();
        assert_eq!(
            msg,
            "not a bzImage: file too short for a setup header (10 bytes)"
        );
    }

    #[test]
    fn rejects_old_protocol_and_zero_pointer() {
        let mut data = image(0x100, b"5.10.0");
        data[PROTOCOL_OFFSET..PROTOCOL_OFFSET + 2].copy_from_slice(&0x0104u16.to_le_bytes());
        assert_eq!(
            parse(&data),
            Err(BzImageError::OldProtocol { major: 1, minor: 4 })
        );
        assert_eq!(
            BzImageError::OldProtocol { major: 1, minor: 4 }.to_string(),
            "boot protocol 1.04 has no kernel_version field"
        );
        let mut data = image(0x100, b"5.10.0");
        data[VERSION_PTR_OFFSET..VERSION_PTR_OFFSET + 2].fill(0);
        assert_eq!(parse(&data), Err(BzImageError::NoVersion));
    }

    #[test]
    fn rejects_out_of_range_unterminated_and_binary() {
        let mut data = image(0x100, b"5.10.0");
        data[VERSION_PTR_OFFSET..VERSION_PTR_OFFSET + 2].copy_from_slice(&0xfff0u16.to_le_bytes());
        assert_eq!(
            parse(&data),
            Err(BzImageError::VersionOutOfRange { offset: 0x101f0 })
        );
        let mut data = image(0x100, b"5.10.0");
        data.pop();
        assert_eq!(
            parse(&data),
            Err(BzImageError::VersionOutOfRange { offset: 0x300 })
        );
        let long = vec![b'a'; MAX_VERSION_LEN + 1];
        assert_eq!(
            parse(&image(0x100, &long)),
            Err(BzImageError::VersionOutOfRange { offset: 0x300 })
        );
        assert_eq!(
            parse(&image(0x100, b"6.1\xff")),
            Err(BzImageError::VersionNotText { offset: 0x300 })
        );
        assert_eq!(
            parse(&image(0x100, b"   ")),
            Err(BzImageError::VersionNotText { offset: 0x300 })
        );
        assert_eq!(
            parse(&image(0x100, b"")),
            Err(BzImageError::VersionNotText { offset: 0x300 })
        );
    }
}
