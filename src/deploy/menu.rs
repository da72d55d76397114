//! The boot menus of one publish: an entry for the profile's new generation plus one for every
//! other profile already published to the same TFTP root (its `current` generation), and per-MAC
//! menus for the nodes of `nodes.toml` whose profile has an entry. Every entry names its
//! generation's kernel, initramfs and NFS root explicitly, so any mix of old and new consumer
//! files is a consistent boot. A node's entry names its layer (`netroot.node=NAME`) only when
//! that generation's root tree has one, since the init fails the boot on a missing layer (a
//! node added after its profile's last publish boots without one until the next publish).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use netroot_init::bootconfig::{BootConfig, NODE_LAYERS_DIR};

use super::DeployError;
use crate::menus::{self, MenuModel, ProfileBoot};
use crate::nodes::{Inventory, Node, NODES_FILE};
use crate::profile::{Profile, Project};
use crate::publish::{GenerationPaths, MenuFiles, Targets};

/// Directory of published generations inside the TFTP root, and the active-generation link.
const TFTP_NETROOT: &str = "netroot";
const CURRENT: &str = "current";

/// One menu entry's inputs: profile, its boot config pointed at the generation's root, paths,
/// and the nodes that have a layer in the generation's root tree.
struct Published {
    profile: Profile,
    boot: BootConfig,
    kernel: String,
    initrd: String,
    layers: BTreeSet<String>,
}

/// The nodes with a layer (`.netroot/nodes/NAME`) in the root tree `root`, from the tree itself.
fn layers_in(root: &Path) -> Result<BTreeSet<String>, DeployError> {
    let dir = root.join(NODE_LAYERS_DIR);
    let err = |source| DeployError::NodeLayers {
        path: dir.clone(),
        source,
    };
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = BTreeSet::new();
    for e in rd {
        let e = e.map_err(err)?;
        if e.file_type().map_err(err)?.is_dir() {
            if let Some(name) = e.file_name().to_str() {
                out.insert(name.to_string());
            }
        }
    }
    Ok(out)
}

/// The nodes with a layer in the generation whose root is `nfs_root` (`None`: no root tree). A
/// published generation is read; one not published yet is the build just made (publish builds
/// first), which has a layer for every node of its profile in the inventory.
fn generation_layers(
    nfs_root: Option<&Path>,
    profile: &str,
    inventory: Option<&Inventory>,
) -> Result<BTreeSet<String>, DeployError> {
    match nfs_root {
        None => Ok(BTreeSet::new()),
        Some(root) if root.is_dir() => layers_in(root),
        Some(_) => Ok(inventory
            .map(|inv| inv.of_profile(profile).map(|n| n.name.clone()).collect())
            .unwrap_or_default()),
    }
}

/// The boot config of a generation: the NFS export becomes `EXPORT/PROFILE/GEN`; the kernel
/// version is the built one (menus validate the config they render).
fn for_generation(profile: &Profile, nfs_rel: Option<&str>, kernel_version: &str) -> BootConfig {
    let mut boot = profile.boot.clone();
    boot.kernel_version = kernel_version.to_string();
    if let Some(rel) = nfs_rel {
        boot.nfs.export = format!("{}/{rel}", boot.nfs.export.trim_end_matches('/'));
    }
    boot
}

/// Other profiles' active generations in the TFTP root, for profiles the project still has.
fn others(project: &Path, this: &str, t: &Targets) -> Result<Vec<Published>, DeployError> {
    let dir = t.tftp.join(TFTP_NETROOT);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let proj = Project::new(project);
    let mut out = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| n != this && !n.starts_with('.'))
    {
        let Ok(gen) = fs::read_link(dir.join(&name).join(CURRENT)) else {
            continue;
        };
        let Some(gen) = gen.file_name().and_then(|g| g.to_str()).map(str::to_string) else {
            continue;
        };
        // A profile removed from the project keeps its files but leaves the menus.
        let Ok(profile) = proj.load_profile(&name) else {
            continue;
        };
        let root = t.nfs.join(&name).join(&gen);
        let has_root = root.is_dir();
        let rel = has_root.then(|| format!("{name}/{gen}"));
        let layers = if has_root {
            layers_in(&root)?
        } else {
            BTreeSet::new()
        };
        let manifest = dir.join(&name).join(&gen).join(crate::build::MANIFEST);
        let Some(kver) = kernel_version_of(&manifest) else {
            continue;
        };
        out.push(Published {
            boot: for_generation(&profile, rel.as_deref(), &kver),
            kernel: format!("{TFTP_NETROOT}/{name}/{gen}/vmlinuz"),
            initrd: format!("{TFTP_NETROOT}/{name}/{gen}/initramfs.img"),
            profile,
            layers,
        });
    }
    Ok(out)
}

/// The kernel version recorded in a published generation's build manifest.
pub(super) fn kernel_version_of(manifest: &Path) -> Option<String> {
    let m: serde_json::Value = serde_json::from_slice(&fs::read(manifest).ok()?).ok()?;
    m["kernel"]["version"].as_str().map(str::to_string)
}

/// Renders every consumer file for the generation `g` of `profile`, built for `kernel_version`.
pub fn render_menus(
    project: &Path,
    profile: &Profile,
    kernel_version: &str,
    g: &GenerationPaths,
    t: &Targets,
) -> Result<MenuFiles, DeployError> {
    let nodes_file = project.join(NODES_FILE);
    let inventory = if nodes_file.is_file() {
        Some(Inventory::load(&nodes_file, Path::new(NODES_FILE))?)
    } else {
        None
    };
    let mut all = vec![Published {
        boot: for_generation(profile, g.nfs_rel.as_deref(), kernel_version),
        kernel: g.vmlinuz.clone(),
        initrd: g.initramfs.clone(),
        profile: profile.clone(),
        layers: generation_layers(g.nfs_root.as_deref(), &profile.name, inventory.as_ref())?,
    }];
    all.extend(others(project, &profile.name, t)?);
    let titles: Vec<String> = all
        .iter()
        .map(|p| {
            if p.profile.description.is_empty() {
                p.profile.name.clone()
            } else {
                p.profile.description.clone()
            }
        })
        .collect();
    let boots: Vec<ProfileBoot<'_>> = all
        .iter()
        .zip(&titles)
        .map(|(p, title)| ProfileBoot {
            id: &p.profile.name,
            title,
            boot: &p.boot,
            kernel: &p.kernel,
            initrd: &p.initrd,
        })
        .collect();
    let extra = &profile.menu.cmdline_extra;
    let model = MenuModel {
        entries: boots
            .iter()
            .map(|b| menus::profile_entry(b, profile.menu.serial, extra))
            .collect(),
        default: profile.name.clone(),
        timeout_secs: profile.menu.timeout_secs,
        http_base: profile.publish.http_base.clone(),
        serial: profile.menu.serial,
        title: profile.menu.title.clone(),
        tftp_server: None,
    };
    let node_menus = match &inventory {
        Some(inv) => {
            let with_entry: Vec<_> = inv
                .nodes
                .iter()
                .filter(|n| all.iter().any(|p| p.profile.name == n.profile))
                .cloned()
                .collect();
            let has_layer = |n: &Node| {
                all.iter()
                    .any(|p| p.profile.name == n.profile && p.layers.contains(&n.name))
            };
            menus::node_menus_with_layers(&model, &boots, &with_entry, extra, &has_layer)?
        }
        None => Vec::new(),
    };
    let files = menus::render_files(&model, &node_menus)?;
    Ok(MenuFiles {
        files: files
            .into_iter()
            .map(|f| (f.path, f.contents.into_bytes()))
            .collect(),
    })
}

/// The kernel command line of `profile`'s default menu entry for generation `g` (what a node
/// without a per-MAC menu boots with); `netroot qemu --loader direct` boots with it.
pub fn generation_cmdline(profile: &Profile, kernel_version: &str, g: &GenerationPaths) -> String {
    let boot = for_generation(profile, g.nfs_rel.as_deref(), kernel_version);
    menus::kernel_cmdline(&boot, profile.menu.serial, &profile.menu.cmdline_extra)
}
