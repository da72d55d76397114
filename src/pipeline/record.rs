//! The build's side of the output record ([`crate::record::BootRecord`]): what publish needs to
//! render every consumer of a generation without reading the project again.

use std::fs;
use std::path::Path;

use netroot_boot::bootconfig::{BootConfig, NODE_LAYERS_DIR};

use super::root::BuiltRoot;
use super::BuildError;
use crate::nodes::Inventory;
use crate::profile::Profile;
use crate::record::{BootRecord, Console};

/// The record of a build of `profile` with the finished boot config `boot`.
pub(super) fn boot_record(
    profile: &Profile,
    boot: &BootConfig,
    inventory: Option<&Inventory>,
    root: Option<&BuiltRoot>,
) -> Result<BootRecord, BuildError> {
    let console = profile
        .menu
        .serial
        .map(|(unit, baud)| Console { unit, baud });
    let nodes = inventory
        .map(|inv| {
            inv.of_profile(&profile.name)
                .map(|n| n.to_record())
                .collect()
        })
        .unwrap_or_default();
    let node_layers = match root {
        Some(r) => layers_in(&r.dir)?,
        None => Vec::new(),
    };
    Ok(BootRecord {
        kernel_version: boot.kernel_version.clone(),
        conf: boot.render(),
        cmdline: boot.entry_cmdline(profile.menu.serial, &profile.menu.cmdline_extra),
        console,
        cmdline_extra: profile.menu.cmdline_extra.trim().to_string(),
        title: if profile.description.is_empty() {
            profile.name.clone()
        } else {
            profile.description.clone()
        },
        nodes,
        node_layers,
        export_clients: profile.publish.client_network.iter().cloned().collect(),
    })
}

/// The nodes with a layer (`.netroot/nodes/NAME`) in the finished root tree, read from the tree.
fn layers_in(root: &Path) -> Result<Vec<String>, BuildError> {
    let dir = root.join(NODE_LAYERS_DIR);
    let err = BuildError::io("cannot list the per-node layers", &dir);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(BuildError::io("cannot list the per-node layers", &dir))?;
        let is_dir = e
            .file_type()
            .map_err(BuildError::io("cannot list the per-node layers", &dir))?
            .is_dir();
        if let (true, Some(name)) = (is_dir, e.file_name().to_str()) {
            out.push(name.to_string());
        }
    }
    out.sort();
    Ok(out)
}
