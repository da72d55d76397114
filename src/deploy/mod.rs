//! Glue between a profile and the publish engine. A publish of profile P reads P's profile file,
//! `nodes.toml` and `netroot.toml`, checks them before building ([`check_publishable`]), takes
//! the build's record ([`build_record`]) and hands the engine a renderer ([`render::render`])
//! that makes every shared file from published records only; rollback renders from the target
//! generation's record and the published site settings. The CLI commands `publish`, `rollback`,
//! `gc` and `verify` are thin wrappers over this.

pub mod grub;
mod render;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::nodes::{Inventory, NodeNetwork, NODES_FILE};
use crate::pipeline::{self, BuildOptions, BuildReport, Progress};
use crate::profile::{Profile, Project};
use crate::publish::{self, Artifacts, Loaders, PublishOptions, Targets};
use crate::record::BootRecord;

pub use render::{
    render, SiteSource, DHCPD_FILE, DNSMASQ_FILE, GANESHA_EXPORTS_FILE, KERNEL_EXPORTS_FILE,
};

/// GRUB's network images, installed once into the TFTP root by `grub-mknetdir` when available.
const GRUB_MKNETDIR: &str = "grub-mknetdir";
const GRUB_BIOS_CORE: &str = "boot/grub/i386-pc/core.0";

/// Errors of the glue itself (engine and build errors pass through).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("profile \"{profile}\": no {what} directory: give --{what} or set publish.{what} in the profile")]
    NoTarget { profile: String, what: &'static str },
    #[error("{what} directory {path}: cannot make it absolute: {source}")]
    TargetPath {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("build output {0} is missing (run netroot build first)")]
    MissingArtifact(PathBuf),
    #[error(
        "{file}: profile {profile:?} sets no publish.client_network: the NFS export of its root \
         would have no clients (set e.g. client_network = \"10.0.0.0/16\" in [publish])"
    )]
    NoClientNetwork { profile: String, file: PathBuf },
    #[error(
        "generation {1} of profile {0} has no boot record to render its menus from (it was \
         published by an older netroot); publish {0} again"
    )]
    NoBootRecord(String, String),
    #[error("the published record of profile {profile:?} does not hold together: {reason}")]
    BadRecord { profile: String, reason: String },
    #[error(transparent)]
    Build(#[from] pipeline::BuildError),
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error(transparent)]
    Menu(#[from] crate::menus::MenuError),
    #[error(transparent)]
    Nodes(#[from] crate::nodes::NodesError),
    #[error(transparent)]
    Site(#[from] crate::site::SiteError),
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
}

/// Where to publish: the options win over the profile's `[publish]`. `profile` is called only
/// when an option is missing (rollback, gc and verify work with a broken profile file when
/// both directories are given). A relative directory is taken from the current directory and
/// made absolute here, because the NFS export files and records name it.
pub fn targets(
    name: &str,
    tftp: Option<&Path>,
    nfs: Option<&Path>,
    profile: impl FnOnce() -> Result<Profile, DeployError>,
) -> Result<Targets, DeployError> {
    if let (Some(tftp), Some(nfs)) = (tftp, nfs) {
        return Ok(Targets {
            tftp: absolute("tftp", tftp)?,
            nfs: absolute("nfs", nfs)?,
        });
    }
    let p = profile()?;
    let pick = |opt: Option<&Path>, conf: &Option<PathBuf>, what| {
        opt.map(Path::to_path_buf)
            .or_else(|| conf.clone())
            .ok_or_else(|| DeployError::NoTarget {
                profile: name.to_string(),
                what,
            })
    };
    Ok(Targets {
        tftp: absolute("tftp", &pick(tftp, &p.publish.tftp, "tftp")?)?,
        nfs: absolute("nfs", &pick(nfs, &p.publish.nfs, "nfs")?)?,
    })
}

fn absolute(what: &'static str, path: &Path) -> Result<PathBuf, DeployError> {
    std::path::absolute(path).map_err(|source| DeployError::TargetPath {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses, before anything is built or written, a profile whose publication could not be
/// served: no client network for its export, or a `nodes.toml` naming a profile the project
/// does not have or giving one of this profile's nodes an address that cannot reach its server.
pub fn check_publishable(project: &Path, profile: &Profile) -> Result<(), DeployError> {
    if profile.root.is_some() && profile.publish.client_network.is_none() {
        return Err(DeployError::NoClientNetwork {
            profile: profile.name.clone(),
            file: profile
                .files
                .last()
                .cloned()
                .unwrap_or_else(|| PathBuf::from(&profile.name)),
        });
    }
    let file = project.join(NODES_FILE);
    if !file.is_file() {
        return Ok(());
    }
    let inv = Inventory::load(&file, Path::new(NODES_FILE))?;
    inv.check_profiles(&Project::new(project).profile_names()?)?;
    inv.check_network(&profile.name, &node_network(profile))?;
    Ok(())
}

/// What the profile says about where its nodes may live.
fn node_network(p: &Profile) -> NodeNetwork {
    let client = p.publish.client_network.as_deref();
    NodeNetwork::of_boot(
        &p.boot,
        client.and_then(netroot_boot::bootconfig::parse_ipv4_network),
    )
}

/// The build's record in `out/PROFILE/`, checked.
pub fn build_record(out: &Path, profile: &str) -> Result<BootRecord, DeployError> {
    let dir = out.join(profile);
    Ok(BootRecord::read(&dir, &dir.join(pipeline::MANIFEST))?)
}

/// The engine options for publishing `boot` of `profile`: the record, a hash memo in the cache,
/// the hook, `publish.keep`, GRUB's images when `grub-mknetdir` is installed.
pub fn options(profile: &Profile, cache: &Path, boot: BootRecord) -> PublishOptions {
    PublishOptions {
        cmdline: boot.cmdline.clone(),
        hash_memo: Some(cache.join(format!("publish-{}.json", profile.name))),
        hook: profile.publish.hook.clone(),
        crash_after_ops: None,
        boot: Some(boot),
        loaders: grub_loaders(),
        keep: Some(profile.publish.keep as usize),
        on_lock_wait: None,
    }
}

/// Options for rollback, gc and verify, which need no build record.
pub fn maintenance_options(profile: &str, cache: &Path) -> PublishOptions {
    PublishOptions {
        hash_memo: Some(cache.join(format!("publish-{profile}.json"))),
        ..Default::default()
    }
}

/// GRUB's network images by `grub-mknetdir`, when it is installed (else the GRUB menu is for a
/// loader installed by hand). What it installs is world-readable whatever the umask.
pub fn grub_loaders() -> Option<Loaders> {
    let program = find_program(GRUB_MKNETDIR)?;
    Some(Loaders {
        marker: GRUB_BIOS_CORE.to_string(),
        install: Arc::new(move |dir: &Path| {
            grub::mknetdir(&program, dir, None).map_err(|e| Box::new(e) as _)
        }),
    })
}

/// `name` on `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
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
    let manifest = need(pipeline::MANIFEST)?;
    // OUT/PROFILE/rootfs links to the tree in the build cache; the engine takes the tree itself.
    // A build with a root whose tree is gone (cache removed) is an error, never a rootless
    // generation.
    let root_tree = if crate::record::build_has_root(&manifest)? {
        let link = dir.join(pipeline::ROOTFS);
        let tree = std::fs::canonicalize(&link).ok().filter(|r| r.is_dir());
        Some(tree.ok_or(DeployError::MissingArtifact(link))?)
    } else {
        None
    };
    Ok(Artifacts {
        profile: profile.to_string(),
        vmlinuz: need(pipeline::VMLINUZ)?,
        initramfs: need(pipeline::INITRAMFS)?,
        manifest,
        root_tree,
    })
}

/// Builds (a no-op when up to date) and returns the build report.
pub fn build_first(
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport, DeployError> {
    Ok(pipeline::build(opts, progress)?)
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
