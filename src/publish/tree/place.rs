//! Where each entry of a new root tree goes: its directory (in walk order) and its name, from the
//! manifest's encoded paths; anything but plain path components is rejected.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::linkplan::Action;
use super::manifest::ROOT_PATH;
use super::scan::ScannedTree;
use crate::publish::error::PublishError;
use crate::publish::relpath;

/// The place of each entry: its directory (index into the directory list) and its name.
pub(super) struct Placed {
    /// Relative raw path of every directory, in walk order (`""` is the root).
    pub(super) dirs: Vec<OsString>,
    /// Entry index of each directory.
    pub(super) dir_entries: Vec<usize>,
    /// Per directory: (entry index, name) of its non-directory children staged in parallel.
    pub(super) children: Vec<Vec<(usize, OsString)>>,
}

/// Splits a manifest path into (parent, name) raw paths, rejecting anything but plain components.
fn split(rel: &str) -> Result<(OsString, OsString), PublishError> {
    let bad = || PublishError::BadState {
        path: PathBuf::from("<scanned tree>"),
        reason: format!("entry path {rel:?} is not a clean relative path"),
    };
    let raw = relpath::decode(rel).ok_or_else(bad)?;
    let bytes = raw.as_bytes();
    let plain = |c: &[u8]| !c.is_empty() && c != b"." && c != b"..";
    if !bytes.split(|&b| b == b'/').all(plain) {
        return Err(bad());
    }
    Ok(match bytes.iter().rposition(|&b| b == b'/') {
        Some(i) => (
            OsStr::from_bytes(bytes.get(..i).unwrap_or_default()).to_os_string(),
            OsStr::from_bytes(bytes.get(i + 1..).unwrap_or_default()).to_os_string(),
        ),
        None => (OsString::new(), raw),
    })
}

pub(super) fn place(scanned: &ScannedTree, actions: &[Action]) -> Result<Placed, PublishError> {
    let mut p = Placed {
        dirs: Vec::new(),
        dir_entries: Vec::new(),
        children: Vec::new(),
    };
    let mut slot: HashMap<OsString, usize> = HashMap::new();
    for (i, (e, a)) in scanned.manifest.entries.iter().zip(actions).enumerate() {
        if e.path == ROOT_PATH {
            if *a != Action::Mkdir || !p.dirs.is_empty() {
                return Err(PublishError::BadState {
                    path: scanned.root.clone(),
                    reason: "internal: the tree root must come first and be a directory".into(),
                });
            }
            slot.insert(OsString::new(), 0);
            p.dirs.push(OsString::new());
            p.dir_entries.push(i);
            p.children.push(Vec::new());
            continue;
        }
        let (parent, name) = split(&e.path)?;
        let Some(&d) = slot.get(&parent) else {
            return Err(PublishError::BadState {
                path: scanned.root.join(&parent),
                reason: format!(
                    "internal: the parent of {:?} is not listed before it",
                    e.path
                ),
            });
        };
        match a {
            Action::Mkdir => {
                let mut raw = parent;
                if !raw.is_empty() {
                    raw.push("/");
                }
                raw.push(&name);
                slot.insert(raw.clone(), p.dirs.len());
                p.dirs.push(raw);
                p.dir_entries.push(i);
                p.children.push(Vec::new());
            }
            Action::Hardlink => {}
            _ => {
                if let Some(c) = p.children.get_mut(d) {
                    c.push((i, name));
                }
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_parent_and_rejects_unclean_paths() {
        assert_eq!(split("a").unwrap(), ("".into(), "a".into()));
        assert_eq!(split("a/b/c").unwrap(), ("a/b".into(), "c".into()));
        assert_eq!(
            split("a/\\xff").unwrap(),
            ("a".into(), OsStr::from_bytes(b"\xff").into())
        );
        for bad in ["../x", "a/../b", "/abs", "", "a//b", "a/.", "\\x"] {
            let e = split(bad).unwrap_err().to_string();
            assert!(e.contains("is not a clean relative path"), "{bad}: {e}");
        }
    }
}
