//! The shared menus of a TFTP root, rendered only from what is published: one entry per
//! profile from its active generation's boot record (the boot config parsed by the init's own
//! parser, pointed at the generation's root, plus the record's console and extra words), per-MAC
//! menus for the nodes those records list (the record's entry plus the node's overrides), and the
//! site settings for everything no profile owns (title, timeout, loader serial, default entry).
//! Nothing here reads a profile file or `nodes.toml`.

use std::collections::BTreeMap;

use netroot_boot::bootconfig::BootConfig;

use super::{render_files, MenuEntry, MenuError, MenuModel, ProfileBoot};
use super::{MenuFile, NodeMenu};
use crate::nodes::Node;
use crate::record::{BootRecord, Console};
use crate::site::PublishedSite;

/// One profile's active generation, as the menus see it.
#[derive(Debug, Clone, Copy)]
pub struct PublishedProfile<'a> {
    pub profile: &'a str,
    /// `netroot/PROFILE/GEN/vmlinuz` and `.../initramfs.img`.
    pub kernel: &'a str,
    pub initrd: &'a str,
    /// `PROFILE/GEN` when the generation has a root tree.
    pub nfs_rel: Option<&'a str>,
    pub boot: &'a BootRecord,
    /// When it was activated: the latest activation serves a node listed by several profiles.
    pub activated_ns: u64,
}

/// The rendered shared menus.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub files: Vec<MenuFile>,
    /// Each profile's entry command line.
    pub cmdlines: BTreeMap<String, String>,
    /// Every node served, after resolving nodes listed by several profiles.
    pub nodes: Vec<Node>,
    pub warnings: Vec<String>,
}

/// A profile's boot config for its generation: the export becomes `EXPORT/PROFILE/GEN`.
fn generation_boot(p: &PublishedProfile<'_>) -> Result<BootConfig, MenuError> {
    let mut boot = p.boot.boot_config().map_err(|reason| MenuError::Node {
        node: format!("(profile {})", p.profile),
        reason,
    })?;
    if let Some(rel) = p.nfs_rel {
        boot.nfs.export = format!("{}/{rel}", boot.nfs.export.trim_end_matches('/'));
    }
    Ok(boot)
}

/// The command line of `p`'s own entry.
pub fn profile_cmdline(p: &PublishedProfile<'_>) -> Result<String, MenuError> {
    let boot = generation_boot(p)?;
    Ok(boot.entry_cmdline(p.boot.console.map(Console::pair), &p.boot.cmdline_extra))
}

/// Nodes served, each with the index of its profile, and warnings about nodes listed twice.
type Resolved = (Vec<(usize, Node)>, Vec<String>);

/// The nodes served: for a MAC or name listed by several profiles, the profile activated last.
fn resolve_nodes(profiles: &[PublishedProfile<'_>]) -> Result<Resolved, MenuError> {
    let mut claims: Vec<(u64, &str, usize, Node)> = Vec::new();
    for (i, p) in profiles.iter().enumerate() {
        for n in &p.boot.nodes {
            let node = Node::from_record(p.profile, n).map_err(|e| MenuError::Node {
                node: n.name.clone(),
                reason: e.to_string(),
            })?;
            claims.push((p.activated_ns, p.profile, i, node));
        }
    }
    // Newest activation first (ties: profile name) so the first claim of a MAC wins.
    claims.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut out: Vec<(usize, Node)> = Vec::new();
    let mut warnings = Vec::new();
    for (_, profile, i, node) in claims {
        match out
            .iter()
            .find(|(_, o)| o.mac == node.mac || o.name == node.name)
        {
            Some((_, o)) => warnings.push(format!(
                "node {} ({}) is listed by the active generations of profiles {} and {profile}: \
                 it boots {} (activated last)",
                node.name,
                node.mac_text(),
                o.profile,
                o.profile
            )),
            None => out.push((i, node)),
        }
    }
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok((out, warnings))
}

/// Renders every shared menu file from the published profiles (any order) and the site settings.
pub fn render_published(
    site: &PublishedSite,
    profiles: &[PublishedProfile<'_>],
) -> Result<Published, MenuError> {
    let mut profiles = profiles.to_vec();
    profiles.sort_by(|a, b| a.profile.cmp(b.profile));
    let mut cmdlines = BTreeMap::new();
    let mut entries = Vec::new();
    for p in &profiles {
        let cmdline = profile_cmdline(p)?;
        cmdlines.insert(p.profile.to_string(), cmdline.clone());
        entries.push(MenuEntry {
            id: p.profile.to_string(),
            title: p.boot.title.clone(),
            kernel: p.kernel.to_string(),
            initrd: p.initrd.to_string(),
            cmdline,
        });
    }
    let s = &site.settings;
    let model = MenuModel {
        entries,
        default: site.default.clone(),
        timeout_secs: s.timeout_secs,
        http_base: s.http_base.clone(),
        serial: s.serial,
        title: s.title.clone(),
        tftp_server: None,
    };
    model.validate()?;
    let (nodes, warnings) = resolve_nodes(&profiles)?;
    let mut node_menus = Vec::new();
    for (i, node) in &nodes {
        let Some(p) = profiles.get(*i) else { continue };
        node_menus.push(NodeMenu {
            name: node.name.clone(),
            mac: node.mac,
            menu: MenuModel {
                entries: vec![node_entry(p, node)?],
                default: p.profile.to_string(),
                ..model.clone()
            },
        });
    }
    super::entries::check_node_menus(&node_menus)?;
    Ok(Published {
        files: render_files(&model, &node_menus)?,
        cmdlines,
        nodes: nodes.into_iter().map(|(_, n)| n).collect(),
        warnings,
    })
}

/// A node's entry: its profile's record with the node's overrides, and its layer when the
/// generation has one (the init fails the boot on a missing layer).
fn node_entry(p: &PublishedProfile<'_>, node: &Node) -> Result<MenuEntry, MenuError> {
    let boot = generation_boot(p)?;
    let profile = ProfileBoot {
        id: p.profile,
        title: &p.boot.title,
        boot: &boot,
        kernel: p.kernel,
        initrd: p.initrd,
    };
    super::entries::entry_of(
        &profile,
        node,
        p.boot.node_layers.contains(&node.name),
        p.boot.console.map(Console::pair),
        &p.boot.cmdline_extra,
    )
}
