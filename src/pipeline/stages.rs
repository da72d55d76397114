//! The build stages between the kernel and the root tree: the module closure, the extra
//! binaries, the image segments, and their compression. Each returns its output and what it read
//! ([`Staged`]); the driver (`run.rs`) records the inputs.

use std::fs;
use std::path::Path;

use netroot_boot::bootconfig::BootConfig;

use super::assemble;
use super::stage::{Input, Staged};
use super::{BuildError, SegmentReport};
use crate::compress::{compress, Compression};
use crate::elfdeps::{self, ElfFile};
use crate::fsx::atomic::write_atomic;
use crate::fsx::memo::hash_bytes;
use crate::image::ImageBuilder;
use crate::init_binary::INIT_BINARY;
use crate::kernel::Kernel;
use crate::kmod;
use crate::manifest::SegmentInfo;
use crate::profile::Profile;

/// The image's segments, in unpack order: modules (large, changes with the kernel) and init.
pub type Segments = [(&'static str, ImageBuilder); 2];

/// The kernel's module closure for the profile's requests. Files under `cache` (an extracted
/// kernel package) are covered by the package's own input.
pub fn modules(
    kernel: &Kernel,
    profile: &Profile,
    cache: &Path,
) -> Result<Staged<kmod::Closure>, BuildError> {
    let closure = kmod::resolve(
        &kernel.modules_dir,
        &profile.modules,
        &kmod::ResolveOptions {
            kernel_version: kernel.version.clone(),
            firmware_dirs: profile.firmware.dirs.clone(),
            firmware_strict: profile.firmware.strict,
        },
    )?;
    let outside = |p: &Path| !p.starts_with(cache);
    let mut inputs: Vec<Input> = closure
        .inputs
        .iter()
        .filter(|p| outside(p))
        .map(|p| Input::Path(p.clone()))
        .collect();
    inputs.extend(
        closure
            .modinfo_inputs
            .iter()
            .filter(|(p, _)| outside(p))
            .map(|(p, h)| Input::Modinfo(p.clone(), h.clone())),
    );
    for fw in &closure.firmware {
        match &fw.source {
            Some(src) => inputs.push(Input::Path(src.clone())),
            // A firmware file that appears later must trigger a rebuild.
            None => inputs.extend(
                profile
                    .firmware
                    .dirs
                    .iter()
                    .map(|d| Input::Absent(d.join(&fw.name))),
            ),
        }
    }
    Ok(Staged::fresh(closure, inputs))
}

/// The profile's extra binaries with their shared libraries, from the host.
pub fn binaries(profile: &Profile) -> Result<Staged<Vec<ElfFile>>, BuildError> {
    let found = elfdeps::resolve(&profile.extra_binaries, Path::new("/"))?;
    let inputs = found
        .iter()
        .map(|b| Input::Path(b.source.clone()))
        .collect();
    Ok(Staged::fresh(found, inputs))
}

/// The image content: the boot config (checked with the module lines and the release), the
/// init segment (init, config, binaries, initramfs overlays) and the modules segment.
pub fn assemble(
    project: &Path,
    profile: &Profile,
    kernel: &Kernel,
    closure: &kmod::Closure,
    binaries: &[ElfFile],
) -> Result<Staged<(BootConfig, Segments)>, BuildError> {
    let boot = BootConfig::new(
        profile.boot.clone(),
        kernel.version.clone(),
        assemble::module_loads(&kernel.version, closure, &profile.module_params),
    );
    // Profile loading already checked the profile's part (`BootSpec::validate`); what can
    // still fail here is the module lines and the release.
    boot.validate()?;
    assemble::check_init_static(INIT_BINARY)?;
    let inputs = super::overlays::overlay_inputs(project, &profile.overlays.initramfs)?;
    let mut init_seg = assemble::init_segment(&boot, binaries)?;
    if !profile.overlays.initramfs.is_empty() {
        super::overlays::plan_overlays(project, profile, &profile.overlays.initramfs)?
            .add_to_image(&mut init_seg)?;
    }
    let segments = [
        (
            "modules",
            assemble::modules_segment(&kernel.version, closure)?,
        ),
        ("init", init_seg),
    ];
    Ok(Staged::fresh((boot, segments), inputs))
}

/// The compressed image: the segments concatenated in order, and what each became.
#[derive(Debug)]
pub struct Compressed {
    pub image: Vec<u8>,
    pub segments: Vec<SegmentReport>,
    /// The cache files the compressed segments are kept in.
    pub files: Vec<std::path::PathBuf>,
}

/// Compresses each segment (in parallel, one thread each; cached by content and compression)
/// and concatenates them in order.
pub fn compress_all(
    segments: &Segments,
    c: &Compression,
    mtime: u64,
    seg_dir: &Path,
) -> Result<Staged<Compressed>, BuildError> {
    let results: Vec<Result<Segment, BuildError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = segments
            .iter()
            .map(|(_, seg)| scope.spawn(|| compress_segment(seg, c, mtime, seg_dir)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Compressed {
        image: Vec::new(),
        segments: Vec::new(),
        files: Vec::new(),
    };
    for ((name, seg), result) in segments.iter().zip(results) {
        let (compressed, cpio_bytes, cached, file) = result?;
        out.files.push(file);
        tracing::debug!(
            segment = %name,
            cpio_bytes,
            compressed_bytes = compressed.len(),
            cached,
            dir = %seg_dir.display(),
            "segment"
        );
        out.segments.push(SegmentReport {
            segment: SegmentInfo {
                name: name.to_string(),
                entries: seg.entries().count(),
                cpio_bytes,
                compressed_bytes: compressed.len() as u64,
            },
            cached,
        });
        out.image.extend_from_slice(&compressed);
    }
    Ok(Staged {
        cached: out.segments.iter().all(|s| s.cached),
        out,
        inputs: Vec::new(),
    })
}

/// A compressed segment: bytes, uncompressed cpio length, whether it came from the cache, and
/// the cache file holding it.
type Segment = (Vec<u8>, u64, bool, std::path::PathBuf);

/// Writes a segment's cpio and compresses it, reusing an earlier result for identical content.
fn compress_segment(
    seg: &ImageBuilder,
    c: &Compression,
    mtime: u64,
    dir: &Path,
) -> Result<Segment, BuildError> {
    let mut cpio = Vec::new();
    seg.write_cpio(&mut cpio, mtime)?;
    let key = hash_bytes(format!("{}:{:?}:", c.kind, c.level).as_bytes()) + &hash_bytes(&cpio);
    let path = dir.join(hash_bytes(key.as_bytes()));
    if let Ok(data) = fs::read(&path) {
        return Ok((data, cpio.len() as u64, true, path));
    }
    let data = compress(&cpio, c)?;
    write_atomic(&path, &data).map_err(BuildError::io("cannot write cache", &path))?;
    Ok((data, cpio.len() as u64, false, path))
}
