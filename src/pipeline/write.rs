//! The write stage: the manifest from what the stages produced, every output written into a
//! staging directory and swapped into `OUT/PROFILE/` at once.

use std::fs;
use std::path::PathBuf;

use super::describe::{build_manifest, ManifestParts};
use super::root::BuiltRoot;
use super::stages::Segments;
use super::state::BuildState;
use super::{BuildError, BuildOptions};
use crate::fsx::atomic::{staging_dir, swap_dir_into_place, write_atomic};
use crate::manifest::{self, Manifest, SegmentInfo};
use crate::profile::{KernelSpec, Profile};

/// Output file names inside `OUT/PROFILE/`.
pub const VMLINUZ: &str = "vmlinuz";
pub const INITRAMFS: &str = "initramfs.img";
pub const MANIFEST: &str = "manifest.json";
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Symlink to the profile's root tree (in the cache), when the profile has one.
pub const ROOTFS: &str = "rootfs";

/// What the write stage needs from the stages before it.
pub(super) struct Outputs<'a> {
    pub opts: &'a BuildOptions,
    pub profile: &'a Profile,
    pub spec: &'a KernelSpec,
    pub kernel: &'a crate::kernel::Kernel,
    pub closure: &'a crate::kmod::Closure,
    pub boot: &'a netroot_boot::bootconfig::BootConfig,
    pub segments: &'a Segments,
    pub seg_infos: Vec<SegmentInfo>,
    pub image: &'a [u8],
    pub inventory: Option<&'a crate::nodes::Inventory>,
    pub root: Option<&'a BuiltRoot>,
    pub state: &'a BuildState,
}

/// Describes the build and moves its outputs into `out` atomically; returns the manifest.
pub(super) fn write_outputs(o: Outputs<'_>, out: &PathBuf) -> Result<Manifest, BuildError> {
    let vmlinuz = fs::read(&o.kernel.image)
        .map_err(BuildError::io("cannot read kernel image", &o.kernel.image))?;
    let boot_record = super::record::boot_record(o.profile, o.boot, o.inventory, o.root)?;
    let man = build_manifest(ManifestParts {
        opts: o.opts,
        profile: o.profile,
        spec: o.spec,
        kernel: o.kernel,
        closure: o.closure,
        boot: o.boot,
        segments: o.segments,
        seg_infos: o.seg_infos,
        image: o.image,
        vmlinuz: &vmlinuz,
        state: o.state,
        root: o.root,
        boot_record,
    });
    let man_json = man.to_json().map_err(|e| {
        BuildError::io("cannot serialize manifest", MANIFEST)(std::io::Error::other(e))
    })?;
    // The manifest already holds the kernel's and the image's digests: hash only the manifest.
    let sums = manifest::sha256sums(&[
        (VMLINUZ, &man.kernel.vmlinuz.sha256),
        (INITRAMFS, &man.initramfs.sha256),
        (MANIFEST, &manifest::sha256_hex(&man_json)),
    ]);
    let files: [(&str, &[u8]); 5] = [
        (VMLINUZ, &vmlinuz),
        (INITRAMFS, o.image),
        (MANIFEST, &man_json),
        (SHA256SUMS, sums.as_bytes()),
        (crate::record::BOOT_CONF_FILE, man.boot.conf.as_bytes()),
    ];
    swap_in(o.opts, &o.profile.name, &files, o.root, out)?;
    Ok(man)
}

/// Writes `files` (and the root-tree link) into a staging directory beside `out`, then swaps it
/// into place.
fn swap_in(
    opts: &BuildOptions,
    profile: &str,
    files: &[(&str, &[u8])],
    root: Option<&BuiltRoot>,
    out: &PathBuf,
) -> Result<(), BuildError> {
    fs::create_dir_all(&opts.out_dir).map_err(BuildError::io(
        "cannot create output directory",
        &opts.out_dir,
    ))?;
    let staged = staging_dir(&opts.out_dir, &format!(".{profile}.staging-")).map_err(
        BuildError::io("cannot create staging directory", &opts.out_dir),
    )?;
    for (name, data) in files {
        let p = staged.path().join(name);
        write_atomic(&p, data).map_err(BuildError::io("cannot write output", &p))?;
    }
    if let Some(r) = root {
        let link = staged.path().join(ROOTFS);
        let target = std::path::absolute(&r.dir)
            .map_err(BuildError::io("cannot resolve root tree path", &r.dir))?;
        crate::fsx::atomic::symlink_atomic(&target, &link)
            .map_err(BuildError::io("cannot link root tree", &link))?;
    }
    let staged = staged.keep();
    swap_dir_into_place(&staged, out).map_err(BuildError::io("cannot move build into place", out))
}
