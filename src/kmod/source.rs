//! Reading module files (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`) into decompressed bytes, and a small
//! parallel map used to read many modules at once.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::elf::{modinfo_section, FileAt};
use super::error::KmodError;
use crate::codec::Codec;

/// Suffix of a module file once its compression suffix is split off.
const MODULE_SUFFIX: &str = ".ko";

/// Upper bound on reader threads: build machines have 2 cores, and more threads than cores only add
/// contention on the page cache; capped so big hosts do not spawn dozens of threads for 4000 files.
const MAX_READ_THREADS: usize = 8;

/// Splits a module file name into its stem (`nfsv4`) and compression, or `None` for other files.
pub fn split_module_file_name(file_name: &str) -> Option<(&str, Codec)> {
    let (base, codec) = Codec::from_suffix(file_name);
    base.strip_suffix(MODULE_SUFFIX)
        .filter(|stem| !stem.is_empty())
        .map(|stem| (stem, codec))
}

/// Decompresses `raw` read from `path`.
fn decompress(path: &Path, raw: Vec<u8>, codec: Codec) -> Result<Vec<u8>, KmodError> {
    if codec == Codec::None {
        return Ok(raw);
    }
    let failed = |source| KmodError::Decompress {
        path: path.to_owned(),
        source,
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(3));
    codec
        .decoder(raw.as_slice())
        .map_err(|e| failed(std::io::Error::other(e)))?
        .read_to_end(&mut out)
        .map_err(failed)?;
    Ok(out)
}

/// Reads a whole module file and returns its decompressed bytes.
pub fn read_module(path: &Path, compression: Codec) -> Result<Vec<u8>, KmodError> {
    let raw = std::fs::read(path).map_err(|source| KmodError::Io {
        path: path.to_owned(),
        source,
    })?;
    decompress(path, raw, compression)
}

/// Reads only the `.modinfo` section of a module: a few positioned reads for a plain `.ko`, a full
/// decompression for compressed ones (their streams cannot be seeked).
pub fn read_modinfo_only(path: &Path, compression: Codec) -> Result<Vec<u8>, KmodError> {
    let elf_err = |source| KmodError::Elf {
        path: path.to_owned(),
        source,
    };
    if compression == Codec::None {
        let file = File::open(path)
            .and_then(FileAt::new)
            .map_err(|source| KmodError::Io {
                path: path.to_owned(),
                source,
            })?;
        return modinfo_section(&file)
            .map(|s| s.into_owned())
            .map_err(elf_err);
    }
    let data = read_module(path, compression)?;
    modinfo_section(data.as_slice())
        .map(|s| s.into_owned())
        .map_err(elf_err)
}

/// Applies `f` to every item on up to [`MAX_READ_THREADS`] threads; results keep the input order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_READ_THREADS)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut all = worker();
        for handle in handles {
            // A worker only panics if `f` panicked; re-raise that panic here.
            match handle.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn splits_module_names() {
        assert_eq!(
            split_module_file_name("nfsv4.ko"),
            Some(("nfsv4", Codec::None))
        );
        assert_eq!(
            split_module_file_name("virtio_net.ko.zst"),
            Some(("virtio_net", Codec::Zstd))
        );
        assert_eq!(
            split_module_file_name("a-b.ko.xz"),
            Some(("a-b", Codec::Xz))
        );
        assert_eq!(split_module_file_name("x.ko.gz"), Some(("x", Codec::Gzip)));
        assert_eq!(split_module_file_name(".ko"), None);
        assert_eq!(split_module_file_name("modules.order"), None);
        assert_eq!(split_module_file_name("x.ko.bz2"), None);
    }

    #[test]
    fn decompresses_every_format() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let dir = tempfile::tempdir().unwrap();
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(data.as_slice(), 3).unwrap();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        for (name, bytes, c) in [
            ("a.ko", data.clone(), Codec::None),
            ("a.ko.xz", xz, Codec::Xz),
            ("a.ko.zst", zst, Codec::Zstd),
            ("a.ko.gz", gz, Codec::Gzip),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(read_module(&path, c).unwrap(), data, "{name}");
        }
    }

    #[test]
    fn corrupt_compressed_module_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.ko.xz");
        std::fs::write(&path, b"not xz at all").unwrap();
        let err = read_module(&path, Codec::Xz).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot decompress {}: ", path.display())),
            "{err}"
        );
        let err = read_module(&dir.path().join("none.ko"), Codec::None).unwrap_err();
        assert!(err.to_string().contains("none.ko"), "{err}");
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = parallel_map(&items, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel_map(&[] as &[u32], |i| *i).is_empty());
    }
}
