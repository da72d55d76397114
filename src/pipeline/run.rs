//! The build driver: up-to-date check, then the stages, then the atomic output swap.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::acquire::{acquire, add_input};
use super::assemble;
use super::state::BuildState;
use super::{secs, BuildError, BuildOptions, BuildReport, Progress, StageReport, CACHE_ENV};
use crate::compress::{compress, Compression};
use crate::fsx::atomic::{staging_dir, swap_dir_into_place, write_atomic};
use crate::fsx::memo::{hash_bytes, Memo as HashCache};
use crate::image::ImageBuilder;
use crate::init_binary::INIT_BINARY;
use crate::manifest;
use crate::profile::{to_toml, Project};
use crate::{elfdeps, kmod};

/// Output file names inside `OUT/PROFILE/`.
pub const VMLINUZ: &str = "vmlinuz";
pub const INITRAMFS: &str = "initramfs.img";
pub const MANIFEST: &str = "manifest.json";
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Symlink to the profile's root tree (in the cache), when the profile has one.
pub const ROOTFS: &str = "rootfs";
/// Cache subdirectory of compressed segments, keyed by content + compression.
const SEGMENTS_DIR: &str = "segments";

/// What the last build produced, kept with its state to answer an up-to-date build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Summary {
    /// The root tree in the cache that `OUT/PROFILE/rootfs` points at.
    root_dir: Option<PathBuf>,
    kernel_version: String,
    initramfs_bytes: u64,
    initramfs_sha256: String,
    modules: usize,
    warnings: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    state: BuildState,
    summary: Summary,
}

/// The cache directory: `NETROOT_CACHE`, the option, or `OUT/.cache`.
pub fn cache_dir_for(opts: &BuildOptions) -> PathBuf {
    opts.cache_dir
        .clone()
        .or_else(|| std::env::var_os(CACHE_ENV).map(PathBuf::from))
        .unwrap_or_else(|| opts.out_dir.join(".cache"))
}

struct Stages<'a> {
    list: Vec<StageReport>,
    at: Instant,
    progress: &'a dyn Progress,
}

impl Stages<'_> {
    fn start(&mut self, name: &str) {
        self.progress.stage(name);
        self.at = Instant::now();
    }
    fn done(&mut self, name: &'static str, cached: bool) {
        self.list.push(StageReport {
            name,
            seconds: secs(self.at.elapsed()),
            cached,
        });
    }
}

/// Builds `opts.profile` into `opts.out_dir/PROFILE/`, or reports it up to date.
pub fn build(opts: &BuildOptions, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let t0 = Instant::now();
    let project = Project::new(&opts.project);
    let profile = project.load_profile(&opts.profile)?;
    let spec = opts
        .kernel
        .clone()
        .or_else(|| profile.kernel.clone())
        .ok_or_else(|| BuildError::NoKernel(profile.name.clone()))?;
    let cache = cache_dir_for(opts);
    let out = opts.out_dir.join(&profile.name);
    let hc_path = cache.join("hashes.json");
    let state_path = cache.join("state").join(format!("{}.json", profile.name));
    let mut hc = HashCache::load(&hc_path);
    let key = hash_bytes(
        format!(
            "netroot {}\ninit {}\nkernel {spec:?}\nepoch {}\n{}",
            env!("CARGO_PKG_VERSION"),
            hash_bytes(INIT_BINARY),
            opts.source_date_epoch,
            to_toml(&profile)
        )
        .as_bytes(),
    );
    let saved: Option<Saved> = fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let reason = match &saved {
        Some(s) if s.state.key == key => {
            match s
                .state
                .first_change(&mut hc, &out)
                .map_err(BuildError::io("cannot check inputs", &out))?
            {
                None => {
                    hc.save(&hc_path)
                        .map_err(BuildError::io("cannot write cache", &hc_path))?;
                    let m = &s.summary;
                    return Ok(BuildReport {
                        profile: profile.name,
                        up_to_date: true,
                        reason: None,
                        out_dir: out,
                        kernel_version: m.kernel_version.clone(),
                        initramfs_bytes: m.initramfs_bytes,
                        initramfs_sha256: m.initramfs_sha256.clone(),
                        modules: m.modules,
                        warnings: m.warnings.clone(),
                        stages: Vec::new(),
                        segments: Vec::new(),
                        seconds: secs(t0.elapsed()),
                    });
                }
                Some(r) => Some(r),
            }
        }
        Some(_) => {
            Some("configuration changed (profile, options, init or netroot version)".to_string())
        }
        None => None,
    };
    let mut st = Stages {
        list: Vec::new(),
        at: Instant::now(),
        progress,
    };
    let mut state = BuildState {
        key,
        ..Default::default()
    };
    for f in &profile.files {
        state
            .add_file(&mut hc, &opts.project.join(f))
            .map_err(BuildError::io("cannot read profile", f))?;
    }

    st.start("kernel");
    let (kernel, kcached) = acquire(&spec, &cache, &mut hc, &mut state)?;
    st.done("kernel", kcached);

    st.start("modules");
    let closure = kmod::resolve(
        &kernel.modules_dir,
        &profile.modules,
        &kmod::ResolveOptions {
            kernel_version: kernel.version.clone(),
            firmware_dirs: profile.firmware.dirs.clone(),
            firmware_strict: profile.firmware.strict,
        },
    )?;
    for p in closure.inputs.iter().filter(|p| !p.starts_with(&cache)) {
        add_input(p, &mut hc, &mut state)?;
    }
    for (p, h) in closure
        .modinfo_inputs
        .iter()
        .filter(|(p, _)| !p.starts_with(&cache))
    {
        state
            .add_modinfo(&mut hc, p, h)
            .map_err(BuildError::io("cannot record input", p))?;
    }
    for fw in &closure.firmware {
        match &fw.source {
            Some(src) => add_input(src, &mut hc, &mut state)?,
            // A firmware file that appears later must trigger a rebuild.
            None => {
                for d in &profile.firmware.dirs {
                    let p = d.join(&fw.name);
                    state
                        .add_absent(&p)
                        .map_err(BuildError::io("cannot record input", &p))?;
                }
            }
        }
    }
    for w in &closure.warnings {
        progress.warn(w);
    }
    st.done("modules", false);

    st.start("binaries");
    let binaries = elfdeps::resolve(&profile.extra_binaries, Path::new("/"))?;
    for b in &binaries {
        add_input(&b.source, &mut hc, &mut state)?;
    }
    st.done("binaries", false);

    st.start("assemble");
    let mut boot = profile.boot.clone();
    boot.kernel_version = kernel.version.clone();
    boot.modules = assemble::module_loads(&kernel.version, &closure, &profile.module_params);
    // Profile loading already ran this validation with a placeholder release and no modules
    // (`profile::resolve_boot`); what can still fail here is the module lines and the release.
    boot.validate()?;
    assemble::check_init_static(INIT_BINARY)?;
    super::overlays::record_inputs(
        &opts.project,
        &profile.overlays.initramfs,
        &mut hc,
        &mut state,
    )?;
    let mut init_seg = assemble::init_segment(&boot, &binaries)?;
    if !profile.overlays.initramfs.is_empty() {
        super::overlays::plan_overlays(&opts.project, &profile, &profile.overlays.initramfs)?
            .add_to_image(&mut init_seg)?;
    }
    let segments = [
        (
            "modules",
            assemble::modules_segment(&kernel.version, &closure)?,
        ),
        ("init", init_seg),
    ];
    st.done("assemble", false);

    st.start("compress");
    let seg_dir = cache.join(SEGMENTS_DIR);
    let mut image = Vec::new();
    let mut seg_infos = Vec::new();
    // Segments compress in parallel (one thread each); results are concatenated in order.
    let results: Vec<Result<Compressed, BuildError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = segments
            .iter()
            .map(|(_, seg)| {
                scope.spawn(|| {
                    compress_segment(seg, &profile.compression, opts.source_date_epoch, &seg_dir)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all_cached = true;
    let mut seg_reports = Vec::new();
    for ((name, seg), result) in segments.iter().zip(results) {
        let (compressed, cpio_len, cached) = result?;
        let entries = seg.entries().count();
        all_cached &= cached;
        let segment = manifest::SegmentInfo {
            name: name.to_string(),
            entries,
            cpio_bytes: cpio_len,
            compressed_bytes: compressed.len() as u64,
        };
        seg_infos.push(segment.clone());
        seg_reports.push(super::SegmentReport { segment, cached });
        image.extend_from_slice(&compressed);
    }
    st.done("compress", all_cached);

    st.start("root");
    let inventory = super::root::load_inventory(&opts.project, &mut hc, &mut state)?;
    let root = super::root::build_root(
        &opts.project,
        &profile,
        &cache,
        opts.source_date_epoch,
        inventory.as_ref(),
        &mut hc,
        &mut state,
    )?;
    st.done("root", root.as_ref().is_none_or(|r| r.cached));

    st.start("write");
    let vmlinuz = fs::read(&kernel.image)
        .map_err(BuildError::io("cannot read kernel image", &kernel.image))?;
    let boot_record =
        super::record::boot_record(&profile, &boot, inventory.as_ref(), root.as_ref())?;
    let man = super::describe::build_manifest(super::describe::ManifestParts {
        opts,
        profile: &profile,
        spec: &spec,
        kernel: &kernel,
        closure: &closure,
        boot: &boot,
        segments: &segments,
        seg_infos,
        image: &image,
        vmlinuz: &vmlinuz,
        state: &state,
        root: root.as_ref(),
        boot_record,
    });
    let man_json = man.to_json().map_err(|e| {
        BuildError::io("cannot serialize manifest", MANIFEST)(std::io::Error::other(e))
    })?;
    // The manifest already holds the kernel's and the image's digests: hash only the manifest.
    let man_sha = manifest::sha256_hex(&man_json);
    let sums = manifest::sha256sums(&[
        (VMLINUZ, &man.kernel.vmlinuz.sha256),
        (INITRAMFS, &man.initramfs.sha256),
        (MANIFEST, &man_sha),
    ]);
    fs::create_dir_all(&opts.out_dir).map_err(BuildError::io(
        "cannot create output directory",
        &opts.out_dir,
    ))?;
    let staged = staging_dir(&opts.out_dir, &format!(".{}.staging-", profile.name)).map_err(
        BuildError::io("cannot create staging directory", &opts.out_dir),
    )?;
    for (name, data) in [
        (VMLINUZ, &vmlinuz[..]),
        (INITRAMFS, &image[..]),
        (MANIFEST, &man_json[..]),
        (SHA256SUMS, sums.as_bytes()),
        (crate::record::BOOT_CONF_FILE, man.boot.conf.as_bytes()),
    ] {
        let p = staged.path().join(name);
        write_atomic(&p, data).map_err(BuildError::io("cannot write output", &p))?;
    }
    if let Some(r) = &root {
        let link = staged.path().join(ROOTFS);
        let target = std::path::absolute(&r.dir)
            .map_err(BuildError::io("cannot resolve root tree path", &r.dir))?;
        std::os::unix::fs::symlink(&target, &link)
            .map_err(BuildError::io("cannot link root tree", &link))?;
    }
    let staged = staged.keep();
    swap_dir_into_place(&staged, &out)
        .map_err(BuildError::io("cannot move build into place", &out))?;
    for name in [VMLINUZ, INITRAMFS, MANIFEST, SHA256SUMS] {
        let p = out.join(name);
        if let Some(h) = hc
            .hash(&p)
            .map_err(BuildError::io("cannot hash output", &p))?
        {
            state.outputs.insert(name.to_string(), h);
        }
    }
    let summary = Summary {
        root_dir: root.as_ref().map(|r| r.dir.clone()),
        kernel_version: kernel.version.clone(),
        initramfs_bytes: image.len() as u64,
        initramfs_sha256: man.initramfs.sha256.clone(),
        modules: closure.modules.len(),
        warnings: closure.warnings.clone(),
    };
    let saved = serde_json::to_vec(&Saved {
        state,
        summary: summary.clone(),
    })
    .map_err(|e| BuildError::io("cannot serialize state", &state_path)(std::io::Error::other(e)))?;
    write_atomic(&state_path, &saved)
        .map_err(BuildError::io("cannot write build state", &state_path))?;
    hc.save(&hc_path)
        .map_err(BuildError::io("cannot write cache", &hc_path))?;
    st.done("write", false);

    Ok(BuildReport {
        profile: profile.name,
        up_to_date: false,
        reason,
        out_dir: out,
        kernel_version: summary.kernel_version,
        initramfs_bytes: summary.initramfs_bytes,
        initramfs_sha256: summary.initramfs_sha256,
        modules: summary.modules,
        warnings: summary.warnings,
        stages: st.list,
        segments: seg_reports,
        seconds: secs(t0.elapsed()),
    })
}

/// A compressed segment: bytes, uncompressed cpio length, whether it came from the cache.
type Compressed = (Vec<u8>, u64, bool);

/// Writes a segment's cpio and compresses it, reusing an earlier result for identical content.
fn compress_segment(
    seg: &ImageBuilder,
    c: &Compression,
    mtime: u64,
    dir: &Path,
) -> Result<Compressed, BuildError> {
    let mut cpio = Vec::new();
    seg.write_cpio(&mut cpio, mtime)?;
    let key = hash_bytes(format!("{}:{:?}:", c.kind, c.level).as_bytes()) + &hash_bytes(&cpio);
    let path = dir.join(hash_bytes(key.as_bytes()));
    if let Ok(data) = fs::read(&path) {
        return Ok((data, cpio.len() as u64, true));
    }
    let data = compress(&cpio, c)?;
    write_atomic(&path, &data).map_err(BuildError::io("cannot write cache", &path))?;
    Ok((data, cpio.len() as u64, false))
}
