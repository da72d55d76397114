//! The per-profile history (`TFTP/netroot/PROFILE/history.json`): generations in publish order,
//! the active one, and every menu file ever written for the profile (so cleanup knows where
//! temporaries can be). Written atomically; an unreadable history is an error, never "empty".

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{io_err, PublishError};
use super::fsops::Fs;
use super::layout::validate_generation;

/// Version of the history schema.
pub const HISTORY_VERSION: u32 = 1;

/// One published generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub generation: String,
    /// Seconds since the epoch when it was (last) published.
    pub published_unix: u64,
    /// It has a root tree on the NFS target.
    pub root: bool,
}

/// The profile's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub version: u32,
    pub profile: String,
    pub active: Option<String>,
    /// Oldest first.
    pub generations: Vec<HistoryEntry>,
    /// Menu file paths (relative to the TFTP root) written for this profile.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// When the active generation was activated (nanoseconds since the epoch): of several
    /// profiles whose active generations list the same node, the one activated last serves it.
    #[serde(default)]
    pub activated_ns: u64,
    /// The hook the last publish ran (`publish.hook`): rollback runs it too, so the site's side
    /// effects (exportfs, syncing the other master) follow a rollback without the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

impl History {
    pub fn empty(profile: &str) -> History {
        History {
            version: HISTORY_VERSION,
            profile: profile.to_string(),
            active: None,
            generations: Vec::new(),
            consumers: Vec::new(),
            activated_ns: 0,
            hook: None,
        }
    }

    /// Loads the history; a missing file is an empty history.
    pub fn load(path: &Path, profile: &str) -> Result<History, PublishError> {
        let b = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(History::empty(profile))
            }
            Err(e) => return Err(io_err("read", path)(e)),
        };
        let bad = |reason: String| PublishError::BadState {
            path: path.to_path_buf(),
            reason,
        };
        let h: History = serde_json::from_slice(&b).map_err(|e| bad(e.to_string()))?;
        if h.version != HISTORY_VERSION {
            return Err(bad(format!(
                "history version {} is not supported (expected {HISTORY_VERSION})",
                h.version
            )));
        }
        if h.profile != profile {
            return Err(bad(format!(
                "history is for profile {:?}, not {profile:?}",
                h.profile
            )));
        }
        for g in h.generations.iter().map(|e| &e.generation).chain(&h.active) {
            validate_generation(g).map_err(|e| bad(e.to_string()))?;
        }
        if let Some(a) = &h.active {
            if h.entry(a).is_none() {
                return Err(bad(format!("active generation {a} is not listed")));
            }
        }
        Ok(h)
    }

    /// Writes the history atomically.
    pub fn save(&self, fs_: &Fs, path: &Path) -> Result<(), PublishError> {
        let mut b = serde_json::to_vec_pretty(self).map_err(|e| PublishError::BadState {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        b.push(b'\n');
        fs_.write_atomic(path, &b)
    }

    pub fn entry(&self, generation: &str) -> Option<&HistoryEntry> {
        self.generations.iter().find(|e| e.generation == generation)
    }

    /// Appends a generation, or moves an already listed one to the end (it is the newest publish).
    pub fn push(&mut self, entry: HistoryEntry) {
        self.generations
            .retain(|e| e.generation != entry.generation);
        self.generations.push(entry);
    }

    /// The generation listed before `generation` (the rollback target).
    pub fn previous_of(&self, generation: &str) -> Option<&str> {
        let i = self
            .generations
            .iter()
            .position(|e| e.generation == generation)?;
        let prev = i.checked_sub(1)?;
        self.generations.get(prev).map(|e| e.generation.as_str())
    }

    /// The rollback target of the active generation.
    pub fn rollback_target(&self) -> Option<&str> {
        self.active.as_deref().and_then(|a| self.previous_of(a))
    }

    /// Records a menu file path.
    pub fn add_consumer(&mut self, rel: &str) {
        if !self.consumers.iter().any(|c| c == rel) {
            self.consumers.push(rel.to_string());
            self.consumers.sort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(g: &str) -> HistoryEntry {
        HistoryEntry {
            generation: g.into(),
            published_unix: 1,
            root: true,
        }
    }
    const A: &str = "g000000000000000a";
    const B: &str = "g000000000000000b";
    const C: &str = "g000000000000000c";

    #[test]
    fn push_moves_to_end_and_previous_follows_order() {
        let mut h = History::empty("p");
        h.push(e(A));
        h.push(e(B));
        h.push(e(C));
        h.active = Some(C.into());
        assert_eq!(h.rollback_target(), Some(B));
        h.push(e(A));
        let order: Vec<_> = h
            .generations
            .iter()
            .map(|e| e.generation.as_str())
            .collect();
        assert_eq!(order, [B, C, A]);
        assert_eq!(h.previous_of(B), None);
    }

    #[test]
    fn load_save_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("history.json");
        assert_eq!(History::load(&p, "p").unwrap(), History::empty("p"));
        let mut h = History::empty("p");
        h.push(e(A));
        h.active = Some(A.into());
        h.add_consumer("x.ipxe");
        h.save(&Fs::new(None), &p).unwrap();
        assert_eq!(History::load(&p, "p").unwrap(), h);
        let err = History::load(&p, "q").unwrap_err().to_string();
        assert!(
            err.ends_with("history is for profile \"p\", not \"q\""),
            "{err}"
        );
        fs::write(&p, "{").unwrap();
        assert!(History::load(&p, "p").is_err());
        h.active = Some(B.into());
        h.save(&Fs::new(None), &p).unwrap();
        let err = History::load(&p, "p").unwrap_err().to_string();
        assert!(
            err.ends_with(&format!("active generation {B} is not listed")),
            "{err}"
        );
    }
}
