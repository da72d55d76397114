//! The build driver: the configuration key and the up-to-date check, then each stage through
//! the [`Recorder`] (which records what it read), then the write stage and the saved state.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::acquire::acquire;
use super::root::{root_stage, RootCtx};
use super::stage::{Input, Recorder};
use super::state::{BuildState, HashCache};
use super::write::{write_outputs, Outputs, INITRAMFS, MANIFEST, SHA256SUMS, VMLINUZ};
use super::{secs, stages, BuildError, BuildOptions, BuildReport, Progress, CACHE_ENV};
use crate::fsx::memo::hash_bytes;
use crate::init_binary::INIT_BINARY;
use crate::kernel::Kernel;
use crate::profile::{KernelSpec, Profile, Project};
use crate::rootfs::Refresh;

/// Cache subdirectory of compressed segments, keyed by content + compression.
const SEGMENTS_DIR: &str = "segments";
/// The build's stat-memoized content hashes, inside the cache.
const HASHES_FILE: &str = "hashes.json";
/// Per-profile saved states (`state/PROFILE.json`), inside the cache.
const STATE_DIR: &str = "state";

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
    /// The cache entries the build used (kernel, tarball, root tree and base, segments): an
    /// up-to-date build stamps them as used and keeps them as the build did.
    #[serde(default)]
    uses: Vec<PathBuf>,
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

/// The kernel a build of `opts` uses: `--kernel`, else the profile's.
fn kernel_spec(opts: &BuildOptions, profile: &Profile) -> Result<KernelSpec, BuildError> {
    opts.kernel
        .clone()
        .or_else(|| profile.kernel.clone())
        .ok_or_else(|| BuildError::NoKernel(profile.name.clone()))
}

/// The kernel tree a build of `opts` uses, opened as its kernel stage opens it (a package is
/// extracted into the cache once): for a tool that needs more of the kernel than the image
/// holds, like the LACP partner VM of `netroot qemu --network lacp`.
pub fn kernel_tree(opts: &BuildOptions) -> Result<Kernel, BuildError> {
    let profile = Project::new(&opts.project).load_profile(&opts.profile)?;
    let spec = kernel_spec(opts, &profile)?;
    let cache = cache_dir_for(opts);
    let mut hc = HashCache::load(&cache.join(HASHES_FILE));
    Ok(acquire(&spec, &cache, &mut hc, &super::Quiet)?.out)
}

/// Logs the cache's size (allocated bytes, as `netroot clean --dry-run` counts them) at info level;
/// walking the cache costs time, so only when someone listens. A cache that cannot be measured is
/// said as such (the build itself succeeded).
fn log_cache_size(cache: &std::path::Path) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    match super::clean::usage(cache) {
        Ok(bytes) => tracing::info!(
            cache = %cache.display(),
            bytes,
            mib = format!("{:.1}", bytes as f64 / MIB),
            "cache size"
        ),
        Err(e) => tracing::info!(cache = %cache.display(), error = %e, "cache size unknown"),
    }
}

/// After a successful build: stamps the cache entries it used, then keeps the cache under `max`
/// (if bounded); returns the bytes evicted.
fn care_for_cache(
    cache: &std::path::Path,
    out: &std::path::Path,
    uses: &[PathBuf],
    max: Option<u64>,
    progress: &dyn Progress,
) -> Result<u64, BuildError> {
    super::evict::touch(cache, uses)?;
    let Some(max) = max else {
        log_cache_size(cache);
        return Ok(0);
    };
    let evicted = super::evict::bound(cache, out, uses, max, progress)?;
    tracing::info!(
        cache = %cache.display(),
        bytes = evicted.total,
        mib = format!("{:.1}", evicted.total as f64 / MIB),
        evicted = evicted.bytes,
        max,
        "cache size"
    );
    Ok(evicted.bytes)
}

/// Bytes in a MiB, for the cache size a person reads.
const MIB: f64 = 1024.0 * 1024.0;

/// Where one build keeps what it remembers between runs.
struct Paths {
    cache: PathBuf,
    out: PathBuf,
    hashes: PathBuf,
    state: PathBuf,
}

/// Builds `opts.profile` into `opts.out_dir/PROFILE/`, or reports it up to date.
pub fn build(opts: &BuildOptions, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let t0 = Instant::now();
    let max = super::cache_bound::cache_max()?;
    let profile = Project::new(&opts.project).load_profile(&opts.profile)?;
    let spec = kernel_spec(opts, &profile)?;
    let cache = cache_dir_for(opts);
    let paths = Paths {
        out: opts.out_dir.join(&profile.name),
        hashes: cache.join(HASHES_FILE),
        state: cache.join(STATE_DIR).join(format!("{}.json", profile.name)),
        cache,
    };
    tracing::info!(
        profile = %profile.name,
        out = %paths.out.display(),
        cache = %paths.cache.display(),
        state = %paths.state.display(),
        "build"
    );
    let mut hc = HashCache::load(&paths.hashes);
    let key = config_key(&profile, &spec, opts.source_date_epoch)?;
    let reason = match check_saved(&paths, &key, &mut hc)? {
        // A refresh re-runs the recipe even when nothing it knows of changed.
        Check::UpToDate(_) if opts.refresh_root => Some("--refresh-root".to_string()),
        Check::UpToDate(summary) => {
            tracing::info!(profile = %profile.name, "up to date: no stage runs");
            let mut uses = summary.uses.clone();
            uses.extend(summary.root_dir.clone());
            let evicted = care_for_cache(&paths.cache, &opts.out_dir, &uses, max, progress)?;
            let mut report = up_to_date(profile.name, &paths, summary, t0);
            report.evicted_bytes = evicted;
            return Ok(report);
        }
        Check::Rebuild(reason) => reason,
    };
    tracing::info!(
        reason = reason.as_deref().unwrap_or("no saved state (first build)"),
        "rebuilding"
    );
    let mut rec = Recorder {
        hc,
        state: BuildState {
            key,
            ..Default::default()
        },
        stages: Vec::new(),
        progress,
    };
    let profile_files: Vec<Input> = profile
        .files
        .iter()
        .map(|f| Input::Path(opts.project.join(f)))
        .collect();
    rec.record(&profile_files)?;
    let summary = run_stages(opts, &profile, &spec, &paths, &mut rec)?;
    let evicted = care_for_cache(&paths.cache, &opts.out_dir, &summary.0.uses, max, progress)?;
    Ok(BuildReport {
        profile: profile.name,
        up_to_date: false,
        reason,
        out_dir: paths.out,
        kernel_version: summary.0.kernel_version,
        initramfs_bytes: summary.0.initramfs_bytes,
        initramfs_sha256: summary.0.initramfs_sha256,
        modules: summary.0.modules,
        warnings: summary.0.warnings,
        stages: rec.stages,
        segments: summary.1,
        evicted_bytes: evicted,
        seconds: secs(t0.elapsed()),
    })
}

/// The stages in order, then the write stage and the saved state.
fn run_stages(
    opts: &BuildOptions,
    profile: &Profile,
    spec: &KernelSpec,
    paths: &Paths,
    rec: &mut Recorder<'_>,
) -> Result<(Summary, Vec<super::SegmentReport>), BuildError> {
    let cache = &paths.cache;
    let progress = rec.progress;
    let kernel = rec.run("kernel", |hc| acquire(spec, cache, hc, progress))?;
    let closure = rec.run("modules", |_| stages::modules(&kernel, profile, cache))?;
    for w in &closure.warnings {
        rec.progress.warn(w);
    }
    let binaries = rec.run("binaries", |_| stages::binaries(profile))?;
    let (boot, segments) = rec.run("assemble", |_| {
        stages::assemble(&opts.project, profile, &kernel, &closure, &binaries)
    })?;
    let seg_dir = cache.join(SEGMENTS_DIR);
    let epoch = opts.source_date_epoch;
    let compressed = rec.run("compress", |_| {
        stages::compress_all(&segments, &profile.compression, epoch, &seg_dir)
    })?;
    let ctx = RootCtx {
        project: &opts.project,
        cache,
        source_date_epoch: epoch,
        refresh: if opts.refresh_root {
            Refresh::Always
        } else {
            Refresh::IfMissing
        },
        progress,
    };
    let rooted = rec.run("root", |hc| root_stage(&ctx, profile, hc))?;
    let started = Instant::now();
    rec.progress.stage("write");
    let man = write_outputs(
        Outputs {
            opts,
            profile,
            spec,
            kernel: &kernel,
            closure: &closure,
            boot: &boot,
            segments: &segments,
            seg_infos: compressed
                .segments
                .iter()
                .map(|s| s.segment.clone())
                .collect(),
            image: &compressed.image,
            inventory: rooted.inventory.as_ref(),
            root: rooted.root.as_ref(),
            state: &rec.state,
        },
        &paths.out,
    )?;
    let mut uses = vec![kernel.image.clone()];
    uses.extend(rec.state.inputs.keys().map(PathBuf::from));
    uses.extend(compressed.files.iter().cloned());
    if let Some(r) = &rooted.root {
        uses.extend([r.dir.clone(), r.base.clone()]);
    }
    let summary = Summary {
        uses: super::evict::entries_only(cache, uses),
        root_dir: rooted.root.as_ref().map(|r| r.dir.clone()),
        kernel_version: kernel.version.clone(),
        initramfs_bytes: compressed.image.len() as u64,
        initramfs_sha256: man.initramfs.sha256.clone(),
        modules: closure.modules.len(),
        warnings: closure.warnings.clone(),
    };
    save(paths, rec, &summary)?;
    rec.stages.push(super::StageReport {
        name: "write",
        seconds: secs(started.elapsed()),
        cached: false,
    });
    Ok((summary, compressed.segments))
}

/// Records the outputs' hashes and saves the state and the hash cache.
fn save(paths: &Paths, rec: &mut Recorder<'_>, summary: &Summary) -> Result<(), BuildError> {
    for name in [VMLINUZ, INITRAMFS, MANIFEST, SHA256SUMS] {
        let p = paths.out.join(name);
        if let Some(h) = rec
            .hc
            .hash(&p)
            .map_err(BuildError::io("cannot hash output", &p))?
        {
            rec.state.outputs.insert(name.to_string(), h);
        }
    }
    let saved = serde_json::to_vec(&SavedRef {
        state: &rec.state,
        summary,
    })
    .map_err(|e| {
        BuildError::io("cannot serialize state", &paths.state)(std::io::Error::other(e))
    })?;
    crate::fsx::atomic::write_atomic(&paths.state, &saved)
        .map_err(BuildError::io("cannot write build state", &paths.state))?;
    rec.hc
        .save(&paths.hashes)
        .map_err(BuildError::io("cannot write cache", &paths.hashes))
}

/// [`Saved`] by reference, for writing.
#[derive(Serialize)]
struct SavedRef<'a> {
    state: &'a BuildState,
    summary: &'a Summary,
}

/// The outcome of comparing the saved state with the configuration and the files now.
enum Check {
    UpToDate(Summary),
    /// Why a rebuild is needed (`None`: no saved state, a cold build).
    Rebuild(Option<String>),
}

/// Compares the last build's saved state with `key` and with every recorded input and output.
fn check_saved(paths: &Paths, key: &str, hc: &mut HashCache) -> Result<Check, BuildError> {
    let saved: Option<Saved> = fs::read(&paths.state)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(saved) = saved else {
        return Ok(Check::Rebuild(None));
    };
    if saved.state.key != key {
        return Ok(Check::Rebuild(Some(
            "configuration changed (profile, options, init or netroot version)".to_string(),
        )));
    }
    // The root tree `OUT/PROFILE/rootfs` points at may have been evicted from the cache
    // (NETROOT_CACHE_MAX): the link would dangle, so the tree is built again.
    if let Some(root) = &saved.summary.root_dir {
        if !root.is_dir() {
            return Ok(Check::Rebuild(Some(format!(
                "root tree no longer in the cache: {}",
                root.display()
            ))));
        }
    }
    let change = saved
        .state
        .first_change(hc, &paths.out)
        .map_err(BuildError::io("cannot check inputs", &paths.out))?;
    match change {
        Some(r) => Ok(Check::Rebuild(Some(r))),
        None => {
            hc.save(&paths.hashes)
                .map_err(BuildError::io("cannot write cache", &paths.hashes))?;
            Ok(Check::UpToDate(saved.summary))
        }
    }
}

/// The report of a build that found everything up to date.
fn up_to_date(profile: String, paths: &Paths, m: Summary, t0: Instant) -> BuildReport {
    BuildReport {
        profile,
        up_to_date: true,
        reason: None,
        out_dir: paths.out.clone(),
        kernel_version: m.kernel_version,
        initramfs_bytes: m.initramfs_bytes,
        initramfs_sha256: m.initramfs_sha256,
        modules: m.modules,
        warnings: m.warnings,
        stages: Vec::new(),
        segments: Vec::new(),
        evicted_bytes: 0,
        seconds: secs(t0.elapsed()),
    }
}

/// The configuration key: tool version, embedded init, kernel source, timestamp and the whole
/// serialized profile. A build with another key is never up to date.
fn config_key(profile: &Profile, spec: &KernelSpec, epoch: u64) -> Result<String, BuildError> {
    let serialized = profile.cache_key_bytes().map_err(|e| {
        BuildError::io("cannot serialize profile", &profile.name)(std::io::Error::other(e))
    })?;
    let head = format!(
        "netroot {}\ninit {}\nkernel {spec:?}\nepoch {epoch}\n",
        env!("CARGO_PKG_VERSION"),
        hash_bytes(INIT_BINARY),
    );
    Ok(hash_bytes(&[head.as_bytes(), &serialized].concat()))
}
