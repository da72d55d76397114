//! A snapshot of directory trees for before/after equality: every entry's type, permission
//! bits, content digest and symlink target (times are left out: a refused publish may not
//! write, but reading is allowed).

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    /// Length and a digest of the content.
    File {
        mode: u32,
        len: u64,
        digest: u64,
    },
    Link {
        target: PathBuf,
    },
    Other {
        mode: u32,
    },
}

pub type Snapshot = BTreeMap<PathBuf, Entry>;

/// Every entry under each of `roots` (a missing root is an empty tree).
pub fn snapshot(roots: &[&Path]) -> Snapshot {
    let mut out = Snapshot::new();
    for r in roots {
        if fs::symlink_metadata(r).is_ok() {
            walk(r, &mut out);
        }
    }
    out
}

fn walk(path: &Path, out: &mut Snapshot) {
    let m = fs::symlink_metadata(path).unwrap();
    let mode = m.permissions().mode() & 0o7777;
    let t = m.file_type();
    let entry = if t.is_symlink() {
        Entry::Link {
            target: fs::read_link(path).unwrap(),
        }
    } else if t.is_dir() {
        let mut names: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            walk(&n, out);
        }
        Entry::Dir { mode }
    } else if t.is_file() {
        let data = fs::read(path).unwrap();
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        Entry::File {
            mode,
            len: data.len() as u64,
            digest: h.finish(),
        }
    } else {
        Entry::Other { mode }
    };
    out.insert(path.to_path_buf(), entry);
}

/// Panics naming every path added, removed or changed between `a` and `b`.
pub fn assert_same(a: &Snapshot, b: &Snapshot, case: &str) {
    let mut diffs = Vec::new();
    for (p, e) in a {
        match b.get(p) {
            None => diffs.push(format!("removed {}", p.display())),
            Some(f) if f != e => diffs.push(format!("changed {}: {e:?} -> {f:?}", p.display())),
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
