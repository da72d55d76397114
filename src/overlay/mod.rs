//! Overlay trees: `overlays/NAME/` directories laid, in a given order, over a root directory or
//! an initramfs.
//!
//! [`plan`] reads every overlay (`scan`), renders `*.j2` files with the profile's variables
//! (`template`), merges the trees and applies ownership overrides (`merge`) into a [`Plan`]:
//! a sorted list of directories, files and symlinks with their final bytes, mode and owner.
//! [`apply`] writes a plan into a directory without ever following a symlink it finds there
//! ([`apply_stamped`] with one mtime for everything it writes);
//! [`Plan::add_to_image`] adds it to an [`ImageBuilder`](crate::image::ImageBuilder).
//! [`plan_with_nodes`] also renders the templates once per node into per-node layers of a root
//! tree (`per_node`).
//!
//! Rules:
//! - Directories merge; the last overlay that provides a directory sets its mode and owner.
//! - A file or symlink provided by two overlays is an error naming both, unless its path is in
//!   `allow_override`, in which case the later overlay wins. A path never changes kind.
//! - Modes come from the overlay's files; owners too when running as root, else everything is
//!   owned by root (0:0), as an unprivileged checkout cannot hold other owners. `overrides`
//!   then sets mode, uid or gid per image path.
//! - Devices, fifos and sockets in an overlay are errors; so are names that are not UTF-8.

mod apply;
mod error;
mod merge;
mod per_node;
mod scan;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use apply::{apply, apply_stamped};
pub use error::OverlayError;
pub use merge::plan;
pub use per_node::{plan_with_nodes, NodeVars};
pub use template::TEMPLATE_SUFFIX;

/// One overlay: its name (for messages) and its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySpec {
    pub name: String,
    pub dir: PathBuf,
    /// Owner (uid, gid) of every entry of this overlay before per-path overrides (a profile's
    /// `overlays.owner`); `None`: the files' own owners when building as root, else root.
    pub owner: Option<(u32, u32)>,
}

/// Ownership and mode set for one image path, overriding what the overlay's file says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ownership {
    /// Permission bits including setuid, setgid and sticky (at most `0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Where a plan entry came from: the overlay and the path inside it (with any `.j2` suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub overlay: String,
    pub path: String,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "overlay \"{}\" ({})", self.overlay, self.path)
    }
}

/// What a plan entry creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryContent {
    Directory,
    /// A regular file with these bytes (rendered, for templates).
    File(Arc<[u8]>),
    /// A symbolic link to this target, stored verbatim.
    Symlink(String),
}

impl EntryContent {
    /// Lowercase kind name for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            EntryContent::Directory => "directory",
            EntryContent::File(_) => "file",
            EntryContent::Symlink(_) => "symlink",
        }
    }
}

/// One path of the merged overlays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// Clean relative image path (`etc/motd`).
    pub path: String,
    pub content: EntryContent,
    /// Permission bits (`0o7777` mask); `0o777` for symlinks.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub source: Source,
}

/// The merged overlays, sorted so that every directory comes before its contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    entries: Vec<PlanEntry>,
}

impl Plan {
    /// All entries, directories before their contents, otherwise by path components.
    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// The entry for an image path.
    pub fn get(&self, path: &str) -> Option<&PlanEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds every entry to an image. The newc writer stores every entry as root, so an entry
    /// with another owner is an error rather than silently becoming root's.
    pub fn add_to_image(&self, image: &mut crate::image::ImageBuilder) -> Result<(), OverlayError> {
        for e in &self.entries {
            if e.uid != 0 || e.gid != 0 {
                return Err(OverlayError::OwnerNotRepresentable {
                    path: e.path.clone(),
                    uid: e.uid,
                    gid: e.gid,
                });
            }
            let added = match &e.content {
                EntryContent::Directory => image.add_dir(&e.path, e.mode),
                EntryContent::File(data) => image.add_file(&e.path, e.mode, data.clone()),
                EntryContent::Symlink(target) => image.add_symlink(&e.path, target),
            };
            added.map_err(|source| OverlayError::Image {
                entry: e.source.to_string(),
                source: Box::new(source),
            })?;
        }
        Ok(())
    }

    pub(crate) fn from_sorted(entries: Vec<PlanEntry>) -> Self {
        Plan { entries }
    }
}

/// Template variables: the profile's `[vars]`, plus a node's when rendering for one node.
pub type Vars = BTreeMap<String, toml::Value>;
