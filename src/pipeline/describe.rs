//! The build's `manifest.json` from what the pipeline produced: the kernel and its source, the
//! image and its segments, every entry, module and firmware file, the inputs the build read
//! (the make-style rebuild check) and the root tree.

use std::path::Path;

use super::assemble;
use super::state::{BuildState, InputHash};
use super::BuildOptions;
use crate::image::ImageBuilder;
use crate::init_binary::INIT_BINARY;
use crate::kmod;
use crate::manifest::{self, Manifest};

/// Everything the manifest describes, as the build produced it.
pub(super) struct ManifestParts<'a> {
    pub(super) opts: &'a BuildOptions,
    pub(super) profile: &'a crate::profile::Profile,
    pub(super) spec: &'a crate::profile::KernelSpec,
    pub(super) kernel: &'a crate::kernel::Kernel,
    pub(super) closure: &'a kmod::Closure,
    pub(super) boot: &'a netroot_boot::bootconfig::BootConfig,
    pub(super) segments: &'a [(&'a str, ImageBuilder)],
    pub(super) seg_infos: Vec<manifest::SegmentInfo>,
    pub(super) image: &'a [u8],
    pub(super) vmlinuz: &'a [u8],
    pub(super) state: &'a BuildState,
    pub(super) root: Option<&'a super::root::BuiltRoot>,
    pub(super) boot_record: crate::record::BootRecord,
}

fn file_info(d: &[u8]) -> manifest::FileInfo {
    manifest::FileInfo {
        size: d.len() as u64,
        sha256: manifest::sha256_hex(d),
    }
}

fn kernel_source(spec: &crate::profile::KernelSpec, project: &Path) -> String {
    use crate::profile::KernelSpec;
    match spec {
        KernelSpec::Dir(d) => format!("dir:{}", manifest::display_path(d, project)),
        KernelSpec::Deb { path, .. } => format!("deb:{}", manifest::display_path(path, project)),
        KernelSpec::Host => "host".to_string(),
    }
}

/// Every image entry, sorted by path, each path once as the node gets it.
fn entry_infos(segments: &[(&str, ImageBuilder)]) -> Vec<manifest::EntryInfo> {
    // Later segments win when the kernel unpacks a path twice: list them first so the stable
    // sort + dedup below keeps the entry the node really gets.
    let mut files: Vec<manifest::EntryInfo> = segments
        .iter()
        .rev()
        .flat_map(|(_, s)| s.entries())
        .map(|e| manifest::EntryInfo {
            path: e.path.clone(),
            kind: e.kind.to_string(),
            mode: format!("{:04o}", e.mode & 0o7777),
            size: e.size,
            sha256: e.sha256.clone(),
            target: e.target.clone(),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    files
}

/// The sha256 the image builder already computed for `path` (in the sorted `files`).
fn entry_sha(files: &[manifest::EntryInfo], path: &str) -> Option<String> {
    files
        .binary_search_by(|f| f.path.as_str().cmp(path))
        .ok()
        .and_then(|i| files.get(i))
        .and_then(|f| f.sha256.clone())
}

fn module_infos(p: &ManifestParts<'_>, files: &[manifest::EntryInfo]) -> Vec<manifest::ModuleInfo> {
    p.closure
        .modules
        .iter()
        .map(|m| {
            let path = assemble::module_path(&p.kernel.version, &m.rel_path);
            manifest::ModuleInfo {
                name: m.name.clone(),
                size: m.data.len() as u64,
                // Hashed once already, by the image builder.
                sha256: entry_sha(files, &path).unwrap_or_else(|| manifest::sha256_hex(&m.data)),
                path,
                params: p
                    .boot
                    .modules
                    .iter()
                    .find(|l| l.name == m.name)
                    .map(|l| l.params.clone())
                    .unwrap_or_default(),
                reasons: m.reasons.iter().map(|r| r.to_string()).collect(),
                firmware: m.firmware.clone(),
            }
        })
        .collect()
}

fn input_infos(state: &BuildState, project: &Path) -> Vec<manifest::InputInfo> {
    state
        .inputs
        .iter()
        .map(|(p, h)| manifest::InputInfo {
            path: manifest::display_path(Path::new(p), project),
            blake3: match h {
                InputHash::File(Some(h)) | InputHash::Listing(Some(h)) => h.clone(),
                InputHash::Modinfo(h) => format!("modinfo:{h}"),
                InputHash::Tree(Some(h)) => format!("tree:{h}"),
                InputHash::Tree(None) => "absent".into(),
                InputHash::File(None) | InputHash::Listing(None) => "absent".into(),
            },
        })
        .collect()
}

/// The build's `manifest.json`.
pub(super) fn build_manifest(p: ManifestParts<'_>) -> Manifest {
    use manifest::*;
    let files = entry_infos(p.segments);
    let modules = module_infos(&p, &files);
    Manifest {
        manifest_version: MANIFEST_VERSION,
        netroot_version: env!("CARGO_PKG_VERSION").to_string(),
        profile: p.profile.name.clone(),
        kernel: KernelInfo {
            version: p.kernel.version.clone(),
            source: kernel_source(p.spec, &p.opts.project),
            vmlinuz: file_info(p.vmlinuz),
        },
        compression: p.profile.compression.to_string(),
        source_date_epoch: p.opts.source_date_epoch,
        initramfs: ImageInfo {
            size: p.image.len() as u64,
            sha256: sha256_hex(p.image),
            segments: p.seg_infos,
        },
        init: FileInfo {
            size: INIT_BINARY.len() as u64,
            sha256: entry_sha(&files, assemble::INIT_PATH)
                .unwrap_or_else(|| sha256_hex(INIT_BINARY)),
        },
        boot_config: file_info(p.boot.render().as_bytes()),
        modules,
        builtin: p
            .closure
            .builtin
            .iter()
            .map(|(n, w)| BuiltinInfo {
                name: n.clone(),
                why: w.clone(),
            })
            .collect(),
        firmware: p
            .closure
            .firmware
            .iter()
            .map(|f| FirmwareInfo {
                name: f.name.clone(),
                found: f.source.is_some(),
                needed_by: f.needed_by.clone(),
            })
            .collect(),
        warnings: p.closure.warnings.clone(),
        files,
        inputs: input_infos(p.state, &p.opts.project),
        root: p.root.map(|r| manifest::RootInfo {
            key: r.key.clone(),
            report: r.report.clone(),
        }),
        boot: p.boot_record,
    }
}
