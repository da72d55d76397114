//! The record of the last successful build of a profile: the configuration key and every input
//! (file content hash, or directory listing hash, or "must be absent") it depended on. A build whose
//! key and inputs all match, and whose outputs are intact, is up to date and does no work.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hashcache::{hash_listing, HashCache};

/// What one input contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputHash {
    /// File content (blake3); `None` = the file must not exist (a negative lookup, e.g. firmware).
    File(Option<String>),
    /// Sorted names in a directory; `None` = the directory must not exist.
    Listing(Option<String>),
}

/// Dependencies of one build, as recorded after it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildState {
    /// Hash of tool version, init binary, resolved profile and options.
    pub key: String,
    pub inputs: BTreeMap<PathBuf, InputHash>,
    /// Output file name → blake3, checked so a damaged output is rebuilt.
    pub outputs: BTreeMap<String, String>,
}

impl BuildState {
    pub fn load(path: &Path) -> Option<BuildState> {
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }

    /// Records a file input through the hash cache.
    pub fn add_file(&mut self, hc: &mut HashCache, path: &Path) -> io::Result<()> {
        if !self.inputs.contains_key(path) {
            let h = hc.hash(path).map_err(|e| with_path(e, path))?;
            self.inputs.insert(path.to_path_buf(), InputHash::File(h));
        }
        Ok(())
    }

    /// Records a directory listing input.
    pub fn add_listing(&mut self, path: &Path) -> io::Result<()> {
        if !self.inputs.contains_key(path) {
            let h = hash_listing(path).map_err(|e| with_path(e, path))?;
            self.inputs.insert(path.to_path_buf(), InputHash::Listing(h));
        }
        Ok(())
    }

    /// The first input or output that differs from what is on disk now, if any.
    pub fn first_change(&self, hc: &mut HashCache, out_dir: &Path) -> io::Result<Option<String>> {
        for (path, recorded) in &self.inputs {
            let now = match recorded {
                InputHash::File(_) => InputHash::File(hc.hash(path)?),
                InputHash::Listing(_) => InputHash::Listing(hash_listing(path)?),
            };
            if &now != recorded {
                return Ok(Some(format!("input changed: {}", path.display())));
            }
        }
        for (name, recorded) in &self.outputs {
            if hc.hash(&out_dir.join(name))?.as_ref() != Some(recorded) {
                return Ok(Some(format!("output missing or modified: {name}")));
            }
        }
        Ok(None)
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
