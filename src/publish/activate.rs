//! Consumers and activation. A consumer is anything that points nodes at a generation: the
//! `current` symlinks on both targets and every menu file at the TFTP root. Activation flips each
//! one atomically; a consumer that already has the wanted content is left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::error::{io_err, PublishError};
use super::fsops::{parent_of, Fs};
use super::history::History;
use super::layout::{
    validate_menu_path, Layout, CURRENT, GEN_HEX_LEN, INITRAMFS, MANIFEST, TFTP_SUBDIR, VMLINUZ,
};
use super::{GenerationPaths, MenuFiles};

/// What activation does to one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerChange {
    Create,
    Update,
    Unchanged,
    /// A menu file no longer rendered (see `active::stale_menus`).
    Remove,
}

/// One consumer and its change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerPlan {
    /// `tftp:REL` or `nfs:REL` (path relative to the target).
    pub consumer: String,
    pub change: ConsumerChange,
}

/// The paths a menu renderer gets for `generation`.
pub fn paths_for(layout: &Layout, generation: &str, root: bool, cmdline: &str) -> GenerationPaths {
    let dir = layout.tftp_rel(generation);
    GenerationPaths {
        profile: layout.profile.clone(),
        generation: generation.to_string(),
        vmlinuz: format!("{dir}/{VMLINUZ}"),
        initramfs: format!("{dir}/{INITRAMFS}"),
        manifest: format!("{dir}/{MANIFEST}"),
        tftp_dir: dir,
        nfs_root: root.then(|| layout.nfs_gen(generation)),
        nfs_rel: root.then(|| format!("{}/{generation}", layout.profile)),
        cmdline: cmdline.to_string(),
        boot: None,
    }
}

/// Checks menu paths (valid, no duplicates) and side-file names (one plain file name each).
pub fn validate_menus(m: &MenuFiles) -> Result<(), PublishError> {
    for (name, _) in m.nfs_files.iter().chain(&m.site_files) {
        validate_side_name(name)?;
    }
    let mut seen = BTreeSet::new();
    for (rel, _) in &m.files {
        validate_menu_path(rel)?;
        if !seen.insert(rel.as_str()) {
            return Err(PublishError::InvalidMenuPath {
                path: rel.clone(),
                reason: "listed twice",
            });
        }
    }
    Ok(())
}

/// A side file's name: one component, not hidden, not a temporary.
fn validate_side_name(name: &str) -> Result<(), PublishError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PublishError::InvalidMenuPath {
            path: name.to_string(),
            reason: "a side file is one plain file name",
        })
    }
}

/// The desired state of every consumer for `generation`.
enum Want<'a> {
    Link(std::path::PathBuf),
    File(std::path::PathBuf, &'a [u8]),
    Gone(std::path::PathBuf),
}

/// Every consumer in activation order: side files first (exports, DHCP reservations, the site
/// settings: what a node needs before it is pointed at the generation), then the `current` links,
/// then the menus that point nodes at it, last the removal of menus no longer rendered.
fn wanted<'a>(
    layout: &Layout,
    root: bool,
    menus: &'a MenuFiles,
    stale: &[String],
) -> Vec<(String, Want<'a>)> {
    let mut v = Vec::new();
    for (name, data) in &menus.nfs_files {
        v.push((
            format!("nfs:{name}"),
            Want::File(layout.nfs.join(name), data),
        ));
    }
    for (name, data) in &menus.site_files {
        v.push((
            format!("tftp:{TFTP_SUBDIR}/{name}"),
            Want::File(layout.tftp_base().join(name), data),
        ));
    }
    if root {
        v.push((
            format!("nfs:{}/{CURRENT}", layout.profile),
            Want::Link(layout.nfs_profile().join(CURRENT)),
        ));
    }
    v.push((
        format!("tftp:{TFTP_SUBDIR}/{}/{CURRENT}", layout.profile),
        Want::Link(layout.tftp_profile().join(CURRENT)),
    ));
    for (rel, data) in &menus.files {
        v.push((format!("tftp:{rel}"), Want::File(layout.menu(rel), data)));
    }
    for rel in stale {
        v.push((format!("tftp:{rel}"), Want::Gone(layout.menu(rel))));
    }
    v
}

fn change_of(want: &Want, generation: &str) -> Result<ConsumerChange, PublishError> {
    let same = match want {
        Want::Gone(p) => {
            return Ok(match fs::symlink_metadata(p) {
                Ok(_) => ConsumerChange::Remove,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConsumerChange::Unchanged,
                Err(e) => return Err(io_err("stat", p)(e)),
            })
        }
        Want::Link(p) => match fs::read_link(p) {
            Ok(t) => t == Path::new(generation),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConsumerChange::Create)
            }
            // Something else than a symlink there: it gets replaced.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => false,
            Err(e) => return Err(io_err("read symlink", p)(e)),
        },
        Want::File(p, data) => match fs::read(p) {
            Ok(b) => b == *data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConsumerChange::Create)
            }
            Err(e) => return Err(io_err("read", p)(e)),
        },
    };
    Ok(if same {
        ConsumerChange::Unchanged
    } else {
        ConsumerChange::Update
    })
}

/// What activating `generation` would change (reads only).
pub fn plan_consumers(
    layout: &Layout,
    generation: &str,
    root: bool,
    menus: &MenuFiles,
    stale: &[String],
) -> Result<Vec<ConsumerPlan>, PublishError> {
    wanted(layout, root, menus, stale)
        .into_iter()
        .map(|(consumer, w)| {
            Ok(ConsumerPlan {
                consumer,
                change: change_of(&w, generation)?,
            })
        })
        .collect()
}

/// Flips every consumer that differs to `generation`: the NFS `current`, the TFTP `current`, then
/// the menu files, each atomically; then removes the `stale` menus.
pub fn activate(
    fs_: &Fs,
    layout: &Layout,
    generation: &str,
    root: bool,
    menus: &MenuFiles,
    stale: &[String],
) -> Result<Vec<ConsumerPlan>, PublishError> {
    let mut out = Vec::new();
    for (consumer, w) in wanted(layout, root, menus, stale) {
        let change = change_of(&w, generation)?;
        if change != ConsumerChange::Unchanged {
            match &w {
                Want::Gone(p) => {
                    fs_.remove(p)?;
                }
                Want::Link(p) => fs_.symlink_atomic(generation, p)?,
                Want::File(p, data) => {
                    fs_.create_dir_all(parent_of(p))?;
                    fs_.write_atomic(p, data)?;
                }
            }
        }
        out.push(ConsumerPlan { consumer, change });
    }
    Ok(out)
}

/// Generations of this profile referenced by consumers: generation → consumers naming it. Reads
/// both `current` symlinks and every menu file the history knows plus `extra_menus`.
pub fn references(
    layout: &Layout,
    history: &History,
    extra_menus: &[String],
) -> Result<BTreeMap<String, Vec<String>>, PublishError> {
    let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (consumer, p) in [
        (
            format!("nfs:{}/{CURRENT}", layout.profile),
            layout.nfs_profile().join(CURRENT),
        ),
        (
            format!("tftp:{TFTP_SUBDIR}/{}/{CURRENT}", layout.profile),
            layout.tftp_profile().join(CURRENT),
        ),
    ] {
        match fs::read_link(&p) {
            Ok(t) => refs
                .entry(t.to_string_lossy().into_owned())
                .or_default()
                .push(consumer),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read symlink", &p)(e)),
        }
    }
    let menus: BTreeSet<&String> = history.consumers.iter().chain(extra_menus).collect();
    for rel in menus {
        let p = layout.menu(rel);
        let data = match fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("read", &p)(e)),
        };
        for g in generations_named(&data, &layout.profile) {
            refs.entry(g).or_default().push(format!("tftp:{rel}"));
        }
    }
    Ok(refs)
}

/// Every `PROFILE/gXXXXXXXXXXXXXXXX` in `data` where PROFILE is a whole path component.
pub fn generations_named(data: &[u8], profile: &str) -> BTreeSet<String> {
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    let needle = format!("{profile}/g");
    let n = needle.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i + n.len() <= data.len() {
        if data.get(i..i + n.len()) != Some(n) {
            i += 1;
            continue;
        }
        let start_ok = i == 0 || data.get(i - 1).is_some_and(|&b| !name_byte(b));
        let hex_start = i + n.len();
        let hex = data.get(hex_start..hex_start + GEN_HEX_LEN);
        let end_ok = data
            .get(hex_start + GEN_HEX_LEN)
            .is_none_or(|&b| !b.is_ascii_alphanumeric());
        if let Some(hex) = hex.filter(|h| {
            h.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        }) {
            if start_ok && end_ok {
                out.insert(format!("g{}", String::from_utf8_lossy(hex)));
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_profile_references_only() {
        let menu = b"kernel tftp://s/netroot/compute/g0123456789abcdef/vmlinuz \
            root=nfs:10.0.0.1:/srv/nfs/compute/gfedcba9876543210,vers=4.2\n\
            kernel netroot/xcompute/g1111111111111111/vmlinuz\n\
            kernel netroot/compute/g22222222222222/short\n";
        let got: Vec<_> = generations_named(menu, "compute").into_iter().collect();
        assert_eq!(got, ["g0123456789abcdef", "gfedcba9876543210"]);
    }
}
