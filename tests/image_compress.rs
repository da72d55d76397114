//! Compression: kernel-compatible settings, determinism, detection and stream decoding.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::io::Write;
use std::process::{Command, Stdio};

use netroot::codec::Codec;
use netroot::compress::{
    compress, decompress_stream, kernel_compat_warnings, xz_check_id, zstd_window_size,
    Compression, ZSTD_MAX_WINDOW_LOG,
};

/// Compressible but not trivial data: a text-like pattern with a counter.
fn sample_data(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        let _ = writeln!(
            out,
            "line {i} value {} path /usr/lib/module{}.ko",
            i * 2654435761 % 1000003,
            i % 97
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn c(kind: Codec, level: Option<i32>) -> Compression {
    Compression { kind, level }
}

#[test]
fn kinds_parse_and_display() {
    for kind in Codec::WRITABLE {
        assert_eq!(kind.to_string().parse::<Codec>().unwrap(), kind);
    }
    let err = "lz5".parse::<Codec>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown compression \"lz5\" (expected one of: zstd, gzip, xz, none)"
    );
    assert_eq!(Compression::default().to_string(), "zstd:3");
    assert_eq!(c(Codec::Gzip, Some(1)).to_string(), "gzip:1");
    assert_eq!(c(Codec::None, None).to_string(), "none");
}

#[test]
fn levels_are_checked() {
    assert_eq!(
        c(Codec::Gzip, Some(10))
            .check_level()
            .unwrap_err()
            .to_string(),
        "gzip level 10 is out of range 0..=9"
    );
    assert_eq!(
        c(Codec::None, Some(1))
            .check_level()
            .unwrap_err()
            .to_string(),
        "compression none takes no level (got 1)"
    );
    let err = compress(b"x", &c(Codec::Zstd, Some(99)))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("zstd level 99 is out of range -"), "{err}");
    assert_eq!(c(Codec::Xz, None).effective_level().unwrap(), Some(6));
    c(Codec::Zstd, Some(22)).check_level().unwrap();
}

#[test]
fn every_kind_round_trips_and_reports_its_length() {
    let data = sample_data(300_000);
    for kind in Codec::WRITABLE {
        let packed = compress(&data, &c(kind, None)).unwrap();
        assert_eq!(
            packed,
            compress(&data, &c(kind, None)).unwrap(),
            "{kind} is deterministic"
        );
        let Some(format) = Codec::from_magic(&packed) else {
            assert_eq!(kind, Codec::None);
            assert_eq!(packed, data);
            continue;
        };
        assert_eq!(format.name(), kind.name());
        assert!(packed.len() < data.len() / 4, "{kind} compresses");
        // Trailing bytes (padding, a next segment) are left alone.
        let mut followed = packed.clone();
        followed.extend_from_slice(&[0, 0, 0, 0]);
        followed.extend_from_slice(b"070701");
        let out = decompress_stream(&followed, format).unwrap();
        assert_eq!(out.data, data, "{kind}");
        assert_eq!(out.consumed, packed.len(), "{kind}");
    }
}

#[test]
fn gzip_header_carries_no_time_or_name() {
    let packed = compress(b"hello", &c(Codec::Gzip, None)).unwrap();
    assert_eq!(
        &packed[..4],
        &[0x1f, 0x8b, 8, 0],
        "deflate, no FNAME/FEXTRA flags"
    );
    assert_eq!(&packed[4..8], &[0, 0, 0, 0], "mtime 0");
    assert_eq!(packed[9], 255, "fixed OS byte");
}

#[test]
fn zstd_frames_fit_the_kernel_window_and_carry_a_checksum() {
    // 9 MiB of cheap-to-compress data: big enough that ultra levels would pick a window
    // above 8 MiB, as plain zstd does.
    let data: Vec<u8> = (0..9u32 << 20)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect();
    let uncapped = zstd::bulk::compress(&data, 22).unwrap();
    assert!(zstd_window_size(&uncapped).unwrap() > 1 << ZSTD_MAX_WINDOW_LOG);
    for level in [3, 19, 20, 22] {
        let packed = compress(&data, &c(Codec::Zstd, Some(level))).unwrap();
        let window = zstd_window_size(&packed).unwrap();
        assert!(
            window <= 1 << ZSTD_MAX_WINDOW_LOG,
            "level {level}: window {window}"
        );
        assert_ne!(packed[4] & 0x04, 0, "content checksum flag");
        assert!(kernel_compat_warnings(&packed, Codec::Zstd).is_empty());
    }
}

#[test]
fn zstd_window_parsing_and_warning() {
    // Window descriptor exponent 17, mantissa 0: 2^27 = 128 MiB (zstd --ultra -22).
    let big = [0x28, 0xb5, 0x2f, 0xfd, 0x04, 17 << 3];
    assert_eq!(zstd_window_size(&big), Some(128 << 20));
    assert_eq!(
        kernel_compat_warnings(&big, Codec::Zstd),
        ["zstd window of 128 MiB: the kernel must allocate it while unpacking (8 MiB or less recommended)"]
    );
    // Exponent 13, mantissa 4: 8 MiB + 4 MiB.
    assert_eq!(
        zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, (13 << 3) | 4]),
        Some(12 << 20)
    );
    // Single segment with a 2-byte content size: the window is the content size (+256).
    assert_eq!(
        zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x01]),
        Some(256 + 256)
    );
    assert_eq!(zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd]), None);
}

#[test]
fn xz_uses_crc32_and_other_checks_are_flagged() {
    let packed = compress(b"data", &c(Codec::Xz, None)).unwrap();
    assert_eq!(xz_check_id(&packed), Some(1));
    assert!(kernel_compat_warnings(&packed, Codec::Xz).is_empty());
    let mut enc = xz2::write::XzEncoder::new_stream(
        Vec::new(),
        xz2::stream::Stream::new_easy_encoder(6, xz2::stream::Check::Crc64).unwrap(),
    );
    enc.write_all(b"data").unwrap();
    let crc64 = enc.finish().unwrap();
    assert_eq!(
        kernel_compat_warnings(&crc64, Codec::Xz),
        ["xz check type 4: the kernel's xz decoder accepts only none or crc32"]
    );
}

#[test]
fn legacy_lzma_is_decoded() {
    let opts = xz2::stream::LzmaOptions::new_preset(6).unwrap();
    let stream = xz2::stream::Stream::new_lzma_encoder(&opts).unwrap();
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(b"legacy lzma payload").unwrap();
    let packed = enc.finish().unwrap();
    assert_eq!(Codec::from_magic(&packed), Some(Codec::Lzma));
    let out = decompress_stream(&packed, Codec::Lzma).unwrap();
    assert_eq!(out.data, b"legacy lzma payload");
    assert_eq!(out.consumed, packed.len());
}

/// Decoding `data` as `codec` fails with an error starting with `prefix`.
#[track_caller]
fn fails_with(data: &[u8], codec: Codec, prefix: &str) {
    let err = decompress_stream(data, codec).unwrap_err();
    assert!(err.to_string().starts_with(prefix), "{err}");
}

#[test]
fn damaged_and_unsupported_streams_are_named() {
    let packed = compress(&sample_data(50_000), &c(Codec::Gzip, None)).unwrap();
    fails_with(
        &packed[..packed.len() / 2],
        Codec::Gzip,
        "gzip stream is truncated: ",
    );
    let mut corrupt = packed.clone();
    corrupt[40] ^= 0xff;
    corrupt[41] ^= 0xff;
    fails_with(&corrupt, Codec::Gzip, "gzip stream is corrupt: ");

    let packed = compress(&sample_data(50_000), &c(Codec::Zstd, Some(3))).unwrap();
    fails_with(
        &packed[..packed.len() - 10],
        Codec::Zstd,
        "zstd stream is truncated: ",
    );
    let mut corrupt = packed.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff; // the content checksum
    fails_with(&corrupt, Codec::Zstd, "zstd stream is corrupt: ");

    let packed = compress(&sample_data(50_000), &c(Codec::Xz, Some(1))).unwrap();
    fails_with(&packed[..packed.len() - 30], Codec::Xz, "xz stream is");

    for (magic, name) in [
        (&[0x02u8, 0x21, 0x4c, 0x18][..], "lz4"),
        (b"BZh91AY&SY", "bzip2"),
        (&[0x89, b'L', b'Z', b'O', 0, 0x0d][..], "lzo"),
    ] {
        let format = Codec::from_magic(magic).unwrap();
        let err = decompress_stream(magic, format).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("unsupported compression {name} (this reader decodes gzip, zstd, xz and lzma)")
        );
    }
    assert_eq!(Codec::from_magic(b"070701"), None);
}

/// The reference tools, when installed, accept what we write.
#[test]
fn reference_tools_accept_our_streams() {
    let data = sample_data(100_000);
    for (kind, tool, args) in [
        (Codec::Gzip, "gzip", &["-dc"][..]),
        (Codec::Zstd, "zstd", &["-dc"][..]),
        (Codec::Xz, "xz", &["-dc"][..]),
    ] {
        let packed = compress(&data, &c(kind, None)).unwrap();
        let child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("skipped {tool}: not installed");
            continue;
        };
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&packed));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, data, "{tool}");
    }
}
