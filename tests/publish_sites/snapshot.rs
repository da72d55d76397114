//! Before/after equality of the targets: every entry's metadata and content as the publish
//! tests' independent comparison sees it ([`publish_support::meta`]: type, mode, owner, mtime,
//! size, content, symlink target, rdev, xattrs). A refused publish must not write at all, so
//! even a directory's mtime must stay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::publish_support::{meta, walk, Meta};

pub type Snapshot = BTreeMap<PathBuf, Meta>;

/// Every entry under each of `roots` (a missing root is an empty tree).
pub fn snapshot(roots: &[&Path]) -> Snapshot {
    let mut paths = Vec::new();
    for r in roots.iter().filter(|r| r.exists()) {
        walk(r, &mut paths);
    }
    paths.into_iter().map(|p| (p.clone(), meta(&p))).collect()
}

/// Panics naming every path added, removed or changed between `a` and `b`.
pub fn assert_same(a: &Snapshot, b: &Snapshot, case: &str) {
    let mut diffs = Vec::new();
    for (p, e) in a {
        match b.get(p) {
            None => diffs.push(format!("removed {}", p.display())),
            Some(f) if f != e => diffs.push(format!("changed {}", p.display())),
            Some(_) => {}
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        diffs.push(format!("added {}", p.display()));
    }
    assert!(
        diffs.is_empty(),
        "{case}: the targets changed:\n{}",
        diffs.join("\n")
    );
}
