//! The record of the last successful build of a profile: the configuration key and every input
//! (file content hash, or directory listing hash, or "must be absent") it depended on. A build whose
//! key and inputs all match, and whose outputs are intact, is up to date and does no work.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::hashcache::HashCache;

/// What one input contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputHash {
    /// File content (blake3); `None` = the file must not exist (a negative lookup, e.g. firmware).
    File(Option<String>),
    /// Sorted names in a directory; `None` = the directory must not exist.
    Listing(Option<String>),
    /// Only a kernel module's `.modinfo` section was used (alias lookup): its blake3.
    Modinfo(String),
    /// A whole directory tree with metadata (see `hashcache::tree_digest`).
    Tree(Option<String>),
}

/// Dependencies of one build, as recorded after it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildState {
    /// Hash of tool version, init binary, resolved profile and options.
    pub key: String,
    /// Input path (UTF-8) → what it contributed.
    pub inputs: BTreeMap<String, InputHash>,
    /// Output file name → blake3, checked so a damaged output is rebuilt.
    pub outputs: BTreeMap<String, String>,
}

impl BuildState {
    /// Records a file input through the hash cache.
    pub fn add_file(&mut self, hc: &mut HashCache, path: &Path) -> io::Result<()> {
        if let Entry::Vacant(slot) = self.inputs.entry(key(path)?) {
            let h = hc.hash(path).map_err(|e| with_path(e, path))?;
            slot.insert(InputHash::File(h));
        }
        Ok(())
    }

    /// Records a directory listing input.
    pub fn add_listing(&mut self, hc: &mut HashCache, path: &Path) -> io::Result<()> {
        if let Entry::Vacant(slot) = self.inputs.entry(key(path)?) {
            let h = hc.listing(path).map_err(|e| with_path(e, path))?;
            slot.insert(InputHash::Listing(h));
        }
        Ok(())
    }

    /// The first input or output that differs from what is on disk now, if any.
    pub fn first_change(&self, hc: &mut HashCache, out_dir: &Path) -> io::Result<Option<String>> {
        for (path, recorded) in &self.inputs {
            let p = Path::new(path);
            let now = match recorded {
                InputHash::File(_) => InputHash::File(hc.hash(p)?),
                InputHash::Listing(_) => InputHash::Listing(hc.listing(p)?),
                InputHash::Tree(_) => InputHash::Tree(super::hashcache::tree_digest(p, hc)?),
                InputHash::Modinfo(_) => match hc.modinfo(p)? {
                    Some(h) => InputHash::Modinfo(h),
                    None => InputHash::File(None),
                },
            };
            if &now != recorded {
                return Ok(Some(format!("input changed: {path}")));
            }
        }
        for (name, recorded) in &self.outputs {
            if hc.hash(&out_dir.join(name))?.as_ref() != Some(recorded) {
                return Ok(Some(format!("output missing or modified: {name}")));
            }
        }
        Ok(None)
    }

    /// Records a module whose `.modinfo` section (hash `h`) was used, unless its whole content
    /// is already an input.
    pub fn add_modinfo(&mut self, hc: &mut HashCache, path: &Path, h: &str) -> io::Result<()> {
        if let Entry::Vacant(slot) = self.inputs.entry(key(path)?) {
            hc.remember_modinfo(path, h)?;
            slot.insert(InputHash::Modinfo(h.to_string()));
        }
        Ok(())
    }

    /// Records a directory tree input (content and metadata) with its digest
    /// (`hashcache::tree_digest`, computed by the stage that read the tree).
    pub fn add_tree(&mut self, path: &Path, digest: Option<String>) -> io::Result<()> {
        self.inputs.insert(key(path)?, InputHash::Tree(digest));
        Ok(())
    }

    /// Records a negative input: `path` must stay absent.
    pub fn add_absent(&mut self, path: &Path) -> io::Result<()> {
        self.inputs.insert(key(path)?, InputHash::File(None));
        Ok(())
    }
}

fn key(path: &Path) -> io::Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path is not UTF-8: {}", path.display()),
        )
    })
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
