//! Comparing a tree as found on disk with the manifest it was published with: every missing,
//! unexpected, retyped, changed-content or changed-metadata entry is one [`Problem`].

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use super::manifest::{EntryKind, TreeEntry, TreeManifest};

/// One difference between what was published and what is there now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the file (a target path, or a manifest path inside a root tree).
    pub path: String,
    pub kind: ProblemKind,
}

/// What is wrong with a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ProblemKind {
    Missing,
    Unexpected,
    TypeChanged {
        expected: String,
        actual: String,
    },
    ContentChanged {
        expected: String,
        actual: String,
    },
    MetadataChanged {
        field: String,
        expected: String,
        actual: String,
    },
    /// A state file is unreadable or disagrees with the record that names it.
    BadRecord {
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::Missing => write!(f, "{}: missing", self.path),
            ProblemKind::Unexpected => write!(f, "{}: not in the manifest", self.path),
            ProblemKind::TypeChanged { expected, actual } => {
                write!(f, "{}: is a {actual}, expected a {expected}", self.path)
            }
            ProblemKind::ContentChanged { expected, actual } => write!(
                f,
                "{}: content changed (blake3 {actual}, expected {expected})",
                self.path
            ),
            ProblemKind::MetadataChanged {
                field,
                expected,
                actual,
            } => write!(
                f,
                "{}: {field} changed ({actual}, expected {expected})",
                self.path
            ),
            ProblemKind::BadRecord { reason } => write!(f, "{}: {reason}", self.path),
        }
    }
}

/// Every difference between `expected` and `actual`; `prefix` is prepended to entry paths in the
/// problems (the tree's location).
pub fn diff(expected: &TreeManifest, actual: &TreeManifest, prefix: &str) -> Vec<Problem> {
    diff_entries(expected, actual)
        .into_iter()
        .map(|(p, kind)| Problem {
            path: format!("{prefix}/{p}"),
            kind,
        })
        .collect()
}

/// [`diff`] by manifest path: (entry path, what is wrong), expected entries first in manifest
/// order, then the unexpected ones.
pub fn diff_entries(expected: &TreeManifest, actual: &TreeManifest) -> Vec<(String, ProblemKind)> {
    let mut out = Vec::new();
    let found: HashMap<&str, &TreeEntry> = actual
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    for want in &expected.entries {
        match found.get(want.path.as_str()) {
            None => out.push((want.path.clone(), ProblemKind::Missing)),
            Some(got) => {
                let mut problems = Vec::new();
                compare(want, got, &want.path, &mut problems);
                out.extend(problems.into_iter().map(|p| (p.path, p.kind)));
            }
        }
    }
    let wanted: std::collections::HashSet<&str> =
        expected.entries.iter().map(|e| e.path.as_str()).collect();
    for got in &actual.entries {
        if !wanted.contains(got.path.as_str()) {
            out.push((got.path.clone(), ProblemKind::Unexpected));
        }
    }
    out
}

fn compare(want: &TreeEntry, got: &TreeEntry, path: &str, out: &mut Vec<Problem>) {
    let mut push = |kind: ProblemKind| {
        out.push(Problem {
            path: path.to_string(),
            kind,
        })
    };
    let mut meta = |field: &str, expected: String, actual: String| {
        if expected != actual {
            push(match field {
                "type" => ProblemKind::TypeChanged { expected, actual },
                "content" => ProblemKind::ContentChanged { expected, actual },
                _ => ProblemKind::MetadataChanged {
                    field: field.to_string(),
                    expected,
                    actual,
                },
            });
        }
    };
    if want.kind.name() != got.kind.name() {
        meta("type", want.kind.name().into(), got.kind.name().into());
        return;
    }
    meta(
        "mode",
        format!("{:04o}", want.mode),
        format!("{:04o}", got.mode),
    );
    meta("uid", want.uid.to_string(), got.uid.to_string());
    meta("gid", want.gid.to_string(), got.gid.to_string());
    meta(
        "mtime",
        format!("{}.{:09}", want.mtime, want.mtime_nsec),
        format!("{}.{:09}", got.mtime, got.mtime_nsec),
    );
    if want.xattrs != got.xattrs {
        let names = |e: &TreeEntry| e.xattrs.keys().cloned().collect::<Vec<_>>().join(",");
        meta(
            "xattrs",
            names(want),
            format!("{} (values differ)", names(got)),
        );
    }
    match (&want.kind, &got.kind) {
        (
            EntryKind::File {
                size: ws,
                blake3: wh,
                hardlink_of: wl,
            },
            EntryKind::File {
                size: gs,
                blake3: gh,
                hardlink_of: gl,
            },
        ) => {
            meta("size", ws.to_string(), gs.to_string());
            meta(
                "hardlink",
                wl.clone().unwrap_or_else(|| "none".into()),
                gl.clone().unwrap_or_else(|| "none".into()),
            );
            meta("content", wh.clone(), gh.clone());
        }
        (EntryKind::Symlink { target: w }, EntryKind::Symlink { target: g }) => {
            meta("symlink target", w.clone(), g.clone())
        }
        (EntryKind::Char { rdev: w }, EntryKind::Char { rdev: g })
        | (EntryKind::Block { rdev: w }, EntryKind::Block { rdev: g }) => {
            meta("rdev", w.to_string(), g.to_string())
        }
        _ => {}
    }
}
