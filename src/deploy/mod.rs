//! Glue between a profile and the publish engine: locate the build's artifacts, choose the
//! targets, render every consumer's boot menus for a generation, and write the export snippets.
//! The CLI commands `publish`, `rollback`, `gc` and `verify` are thin wrappers over this.

pub mod grub;
mod menu;

use std::path::{Path, PathBuf};

use crate::build::{self, BuildOptions, BuildReport, Progress};
use crate::profile::{Profile, Project};
use crate::publish::{self, Artifacts, PublishOptions, Targets};

pub use menu::{generation_cmdline, render_menus};

/// Export snippets written next to the published trees, for the admin or the hook to install.
pub const KERNEL_EXPORTS_FILE: &str = "netroot.exports";
pub const GANESHA_EXPORTS_FILE: &str = "netroot.ganesha.conf";
/// DHCP host reservations from nodes.toml, for dnsmasq and ISC dhcpd.
pub const DNSMASQ_HOSTS_FILE: &str = "netroot.dnsmasq.conf";
pub const DHCPD_HOSTS_FILE: &str = "netroot.dhcpd.conf";
/// GRUB's network images, installed once into the TFTP root by `grub-mknetdir` when available.
const GRUB_MKNETDIR: &str = "grub-mknetdir";
const GRUB_BIOS_CORE: &str = "boot/grub/i386-pc/core.0";

/// Errors of the glue itself (engine and build errors pass through).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("profile \"{profile}\": no {what} directory: give --{what} or set publish.{what} in the profile")]
    NoTarget { profile: String, what: &'static str },
    #[error("build output {0} is missing (run netroot build first)")]
    MissingArtifact(PathBuf),
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error(transparent)]
    Menu(#[from] crate::menus::MenuError),
    #[error(transparent)]
    Nodes(#[from] crate::nodes::NodesError),
    #[error("cannot read the per-node layers in {path}")]
    NodeLayers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("installing GRUB's network images into {dir} failed")]
    Mknetdir {
        dir: PathBuf,
        #[source]
        source: grub::MknetdirError,
    },
}

/// Where to publish: the options win over the profile's `[publish]`.
pub fn targets(
    profile: &Profile,
    tftp: Option<&Path>,
    nfs: Option<&Path>,
) -> Result<Targets, DeployError> {
    let pick = |opt: Option<&Path>, conf: &Option<PathBuf>, what| {
        opt.map(Path::to_path_buf)
            .or_else(|| conf.clone())
            .ok_or_else(|| DeployError::NoTarget {
                profile: profile.name.clone(),
                what,
            })
    };
    Ok(Targets {
        tftp: pick(tftp, &profile.publish.tftp, "tftp")?,
        nfs: pick(nfs, &profile.publish.nfs, "nfs")?,
    })
}

/// The engine options for a profile: its kernel command line, a hash memo in the cache, its hook.
pub fn options(profile: &Profile, cache: &Path) -> PublishOptions {
    PublishOptions {
        cmdline: crate::menus::kernel_cmdline(
            &profile.boot,
            profile.menu.serial,
            &profile.menu.cmdline_extra,
        ),
        hash_memo: Some(cache.join(format!("publish-{}.json", profile.name))),
        hook: profile.publish.hook.clone(),
        crash_after_ops: None,
    }
}

/// The artifacts of a finished build in `out/PROFILE/`.
pub fn artifacts(out: &Path, profile: &str) -> Result<Artifacts, DeployError> {
    let dir = out.join(profile);
    let need = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(DeployError::MissingArtifact(p))
        }
    };
    // OUT/PROFILE/rootfs links to the tree in the build cache; the engine takes the tree itself.
    let rootfs = std::fs::canonicalize(dir.join(build::ROOTFS)).ok();
    Ok(Artifacts {
        profile: profile.to_string(),
        vmlinuz: need(build::VMLINUZ)?,
        initramfs: need(build::INITRAMFS)?,
        manifest: need(build::MANIFEST)?,
        root_tree: rootfs.filter(|r| r.is_dir()),
    })
}

/// Builds (a no-op when up to date) and returns the build report.
pub fn build_first(
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport, DeployError> {
    Ok(build::build(opts, progress)?)
}

/// Writes the kernel-nfsd and nfs-ganesha export snippets for `profile` into the NFS directory.
pub fn write_exports(profile: &Profile, t: &Targets) -> Result<Vec<PathBuf>, DeployError> {
    use crate::publish::exports;
    let cfg = exports::ExportsConfig {
        nfs_dir: t.nfs.clone(),
        pseudo_root: exports::DEFAULT_PSEUDO_ROOT.to_string(),
        exports: vec![exports::ExportSpec {
            profile: profile.name.clone(),
            clients: profile.publish.client_network.iter().cloned().collect(),
            fsid: None,
            export_id: None,
        }],
    };
    let k = t.nfs.join(KERNEL_EXPORTS_FILE);
    let g = t.nfs.join(GANESHA_EXPORTS_FILE);
    exports::write_exports_file(&k, &exports::kernel_exports(&cfg)?)?;
    exports::write_exports_file(&g, &exports::ganesha_config(&cfg)?)?;
    Ok(vec![k, g])
}

/// Writes the DHCP reservations of `nodes.toml` (if the project has one) next to the exports.
pub fn write_dhcp_snippets(project: &Path, t: &Targets) -> Result<Vec<PathBuf>, DeployError> {
    use crate::nodes::{dhcpd_hosts, dnsmasq_hosts, Inventory, NODES_FILE};
    let file = project.join(NODES_FILE);
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let inv = Inventory::load(&file, Path::new(NODES_FILE))?;
    let d = t.nfs.join(DNSMASQ_HOSTS_FILE);
    let i = t.nfs.join(DHCPD_HOSTS_FILE);
    crate::publish::exports::write_exports_file(&d, &dnsmasq_hosts(&inv.nodes))?;
    crate::publish::exports::write_exports_file(&i, &dhcpd_hosts(&inv.nodes))?;
    Ok(vec![d, i])
}

/// Installs GRUB's network boot images (`core.0`, and `core.efi` when the EFI modules are
/// installed) into the TFTP root with `grub-mknetdir`, once: returns `false` when they are
/// already there or GRUB is not installed (the GRUB menu is then for a loader installed by hand).
/// What it installs is world-readable whatever the umask ([`grub::mknetdir`]).
pub fn install_grub(t: &Targets) -> Result<bool, DeployError> {
    if t.tftp.join(GRUB_BIOS_CORE).is_file() {
        return Ok(false);
    }
    match grub::mknetdir(Path::new(GRUB_MKNETDIR), &t.tftp, None) {
        Ok(()) => Ok(true),
        Err(grub::MknetdirError::Spawn { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(false)
        }
        Err(source) => Err(DeployError::Mknetdir {
            dir: t.tftp.clone(),
            source,
        }),
    }
}

/// The kernel version a published generation was built for (from its manifest).
pub fn kernel_version(
    t: &Targets,
    g: &crate::publish::GenerationPaths,
) -> Result<String, DeployError> {
    let manifest = t.tftp.join(&g.manifest);
    menu::kernel_version_of(&manifest).ok_or(DeployError::MissingArtifact(manifest))
}

/// Loads a profile of a project.
pub fn load(project: &Path, name: &str) -> Result<Profile, DeployError> {
    Ok(Project::new(project).load_profile(name)?)
}

/// Re-exported so the CLI needs only this module.
pub use publish::{
    gc, gc_dry_run, try_dry_run as dry_run, try_publish as publish_artifacts,
    try_rollback as rollback, verify,
};
