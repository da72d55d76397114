//! A power-loss model of the filesystem, in the spirit of ALICE (Pillai et al., OSDI 2014): replay
//! a recorded operation log ([`super::oplog`]) against an in-memory filesystem that tracks, next to
//! what the process saw, what was made durable, then ask what a machine would find after losing
//! power at any point.
//!
//! Rules (weaker than any Linux filesystem, so a sequence correct here is correct there):
//! - a file's data and metadata are durable after fsync of that file, or syncfs of its filesystem;
//!   until then a crash leaves the last durable version (for a new file: empty, default metadata);
//! - a directory's entries (and its own metadata) are durable after fsync of that directory or
//!   syncfs; until then a crash keeps any *prefix* of the directory's entry changes since the last
//!   sync (0 = all lost, all = all kept, anything in between), chosen per directory independently;
//!   a rename inside one directory is one atomic change;
//! - a symlink's target is written with its inode (every Linux filesystem does so);
//! - each root given to [`Model::snapshot`] is its own filesystem: syncfs of one does not flush
//!   another (the TFTP and NFS targets may be on different disks).
//!
//! Not modelled: torn writes inside a file (a non-durable file is the durable version, which the
//! checks tell apart from the new content just as well), reordering of writes across directories
//! beyond the per-directory prefixes, xattr values (only that an xattr was set), disk errors.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::oplog::{FsOp, MetaChange};

/// Index of an inode in the model.
pub type Ino = usize;

/// Content of a regular file: (length, blake3 hex); `None` is empty (a new file's durable state).
pub type Content = Option<(u64, String)>;

/// Metadata of an inode as far as recorded: `mode`, `owner`, `mtime`, `xattr:NAME`.
pub type Meta = BTreeMap<String, String>;

#[derive(Debug, Clone)]
enum Change {
    Add(OsString, Ino),
    Remove(OsString),
    Rename(OsString, OsString),
}

#[derive(Debug, Clone)]
enum Body {
    Dir {
        live: BTreeMap<OsString, Ino>,
        durable: BTreeMap<OsString, Ino>,
        pending: Vec<Change>,
    },
    File {
        live: Content,
        durable: Content,
    },
    Symlink(PathBuf),
    Special,
}

#[derive(Debug, Clone)]
struct Inode {
    fs: usize,
    body: Body,
    meta: Meta,
    durable_meta: Meta,
}

/// What a crash keeps of the non-durable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing that was not made durable.
    Lost,
    /// Everything (what a process kill leaves).
    Kept,
    /// Per directory a pseudo-random prefix of its pending changes, per file the durable or the
    /// live version, derived from the seed.
    Mixed(u64),
}

/// A node as found after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir(Vec<OsString>, Meta),
    File(Content, Meta),
    Symlink(PathBuf, Meta),
    Special(Meta),
}

/// An error replaying the log: the log and the model disagree (a test bug or an unmodelled op).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("op {index} ({op}): {reason}")]
    Replay {
        index: usize,
        op: String,
        reason: String,
    },
    #[error("snapshot of {path}: {reason}")]
    Snapshot { path: PathBuf, reason: String },
}

/// The modelled filesystems.
#[derive(Debug, Clone)]
pub struct Model {
    roots: Vec<(PathBuf, Ino)>,
    inodes: Vec<Inode>,
    applied: usize,
}

fn mix(seed: u64, ino: Ino) -> u64 {
    // SplitMix64 finalizer: a fixed, well-spread function of (seed, inode).
    let mut z = seed ^ (ino as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Model {
    /// Reads the real trees at `roots` (each its own filesystem) as fully durable state.
    pub fn snapshot(roots: &[&Path]) -> Result<Model, ModelError> {
        let mut m = Model {
            roots: Vec::new(),
            inodes: Vec::new(),
            applied: 0,
        };
        for (fs_id, root) in roots.iter().enumerate() {
            let ino = m.read_real(fs_id, root)?;
            m.roots.push((root.to_path_buf(), ino));
        }
        Ok(m)
    }

    fn read_real(&mut self, fs_id: usize, path: &Path) -> Result<Ino, ModelError> {
        let bad = |e: std::io::Error| ModelError::Snapshot {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let md = fs::symlink_metadata(path).map_err(bad)?;
        let mut meta = Meta::new();
        if !md.file_type().is_symlink() {
            meta.insert("mode".into(), format!("{:o}", md.mode() & 0o7777));
        }
        meta.insert("owner".into(), format!("{}:{}", md.uid(), md.gid()));
        meta.insert(
            "mtime".into(),
            format!("{}.{}", md.mtime(), md.mtime_nsec()),
        );
        let body = if md.is_dir() {
            let mut live = BTreeMap::new();
            let mut names: Vec<OsString> = fs::read_dir(path)
                .map_err(bad)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(bad)?;
            names.sort();
            for n in names {
                let child = self.read_real(fs_id, &path.join(&n))?;
                live.insert(n, child);
            }
            Body::Dir {
                durable: live.clone(),
                live,
                pending: Vec::new(),
            }
        } else if md.is_file() {
            let data = fs::read(path).map_err(bad)?;
            let c = content_of(&data);
            Body::File {
                live: c.clone(),
                durable: c,
            }
        } else if md.file_type().is_symlink() {
            Body::Symlink(fs::read_link(path).map_err(bad)?)
        } else {
            Body::Special
        };
        self.inodes.push(Inode {
            fs: fs_id,
            body,
            durable_meta: meta.clone(),
            meta,
        });
        Ok(self.inodes.len() - 1)
    }

    /// Applies `ops` in order (continuing from previous calls; errors name the op's index).
    pub fn apply_all(&mut self, ops: &[FsOp]) -> Result<(), ModelError> {
        for op in ops {
            self.apply(op)?;
        }
        Ok(())
    }

    /// Applies one operation to the live state.
    pub fn apply(&mut self, op: &FsOp) -> Result<(), ModelError> {
        let index = self.applied;
        let fail = |reason: String| ModelError::Replay {
            index,
            op: format!("{op:?}"),
            reason,
        };
        match op {
            FsOp::Mkdir { path } => {
                let body = Body::Dir {
                    live: BTreeMap::new(),
                    durable: BTreeMap::new(),
                    pending: Vec::new(),
                };
                self.create(path, body).map_err(fail)?;
            }
            FsOp::Create { path } => {
                let body = Body::File {
                    live: None,
                    durable: None,
                };
                self.create(path, body).map_err(fail)?;
            }
            FsOp::Symlink { target, path } => {
                self.create(path, Body::Symlink(target.clone()))
                    .map_err(fail)?;
            }
            FsOp::Mknod { path } => {
                self.create(path, Body::Special).map_err(fail)?;
            }
            FsOp::Write { path, len, blake3 } => {
                let ino = self.resolve(path).map_err(fail)?;
                match &mut self.inodes[ino].body {
                    Body::File { live, .. } => {
                        *live = Some((*len, blake3.clone())).filter(|c| c.0 > 0)
                    }
                    _ => return Err(fail("not a regular file".into())),
                }
            }
            FsOp::Meta { path, change } => {
                let ino = self.resolve(path).map_err(fail)?;
                let (k, v) = match change {
                    MetaChange::Mode(m) => ("mode".to_string(), format!("{m:o}")),
                    MetaChange::Owner(u, g) => ("owner".into(), format!("{u}:{g}")),
                    MetaChange::Times(s, n) => ("mtime".into(), format!("{s}.{n}")),
                    MetaChange::Xattr(name) => (format!("xattr:{name}"), "set".into()),
                };
                self.inodes[ino].meta.insert(k, v);
            }
            FsOp::FsyncFile { path } | FsOp::FsyncDir { path } => {
                let ino = self.resolve(path).map_err(fail)?;
                self.sync_inode(ino);
            }
            FsOp::Syncfs { path } => {
                let fs_id = self.fs_of(path).map_err(fail)?;
                for ino in 0..self.inodes.len() {
                    if self.inodes[ino].fs == fs_id {
                        self.sync_inode(ino);
                    }
                }
            }
            FsOp::Rename {
                from,
                to,
                noreplace,
            } => {
                let (fdir, fname) = self.parent(from).map_err(fail)?;
                let (tdir, tname) = self.parent(to).map_err(fail)?;
                let ino = self
                    .entry(fdir, &fname)
                    .ok_or_else(|| fail("no source".into()))?;
                if *noreplace && self.entry(tdir, &tname).is_some() {
                    return Err(fail("target exists".into()));
                }
                if fdir == tdir {
                    self.change(fdir, Change::Rename(fname, tname));
                } else {
                    self.change(fdir, Change::Remove(fname));
                    self.change(tdir, Change::Add(tname, ino));
                }
            }
            FsOp::Link { from, to } => {
                let ino = self.resolve(from).map_err(fail)?;
                let (dir, name) = self.parent(to).map_err(fail)?;
                if self.entry(dir, &name).is_some() {
                    return Err(fail("target exists".into()));
                }
                self.change(dir, Change::Add(name, ino));
            }
            FsOp::Remove { path } => {
                let (dir, name) = self.parent(path).map_err(fail)?;
                if self.entry(dir, &name).is_none() {
                    return Err(fail("no such entry".into()));
                }
                self.change(dir, Change::Remove(name));
            }
        }
        self.applied += 1;
        Ok(())
    }

    fn sync_inode(&mut self, ino: Ino) {
        let i = &mut self.inodes[ino];
        i.durable_meta = i.meta.clone();
        match &mut i.body {
            Body::Dir {
                live,
                durable,
                pending,
            } => {
                *durable = live.clone();
                pending.clear();
            }
            Body::File { live, durable } => *durable = live.clone(),
            _ => {}
        }
    }

    fn create(&mut self, path: &Path, body: Body) -> Result<(), String> {
        let (dir, name) = self.parent(path)?;
        if self.entry(dir, &name).is_some() {
            return Err("exists".into());
        }
        let fs_id = self.inodes[dir].fs;
        self.inodes.push(Inode {
            fs: fs_id,
            body,
            meta: Meta::new(),
            durable_meta: Meta::new(),
        });
        let ino = self.inodes.len() - 1;
        self.change(dir, Change::Add(name, ino));
        Ok(())
    }

    fn change(&mut self, dir: Ino, c: Change) {
        if let Body::Dir { live, pending, .. } = &mut self.inodes[dir].body {
            apply_change(live, &c);
            pending.push(c);
        }
    }

    fn entry(&self, dir: Ino, name: &OsStr) -> Option<Ino> {
        match &self.inodes[dir].body {
            Body::Dir { live, .. } => live.get(name).copied(),
            _ => None,
        }
    }

    fn split<'p>(&self, path: &'p Path) -> Result<(usize, Vec<&'p OsStr>), String> {
        for (i, (root, _)) in self.roots.iter().enumerate() {
            if let Ok(rest) = path.strip_prefix(root) {
                let mut parts = Vec::new();
                for c in rest.components() {
                    match c {
                        Component::Normal(n) => parts.push(n),
                        _ => return Err(format!("unclean path {}", path.display())),
                    }
                }
                return Ok((i, parts));
            }
        }
        Err(format!("{} is outside the modelled roots", path.display()))
    }

    fn fs_of(&self, path: &Path) -> Result<usize, String> {
        let ino = self.resolve(path)?;
        Ok(self.inodes[ino].fs)
    }

    /// The live inode at `path` (no symlink is followed).
    fn resolve(&self, path: &Path) -> Result<Ino, String> {
        let (root, parts) = self.split(path)?;
        let mut ino = self.roots[root].1;
        for p in parts {
            ino = self
                .entry(ino, p)
                .ok_or_else(|| format!("{} does not exist", path.display()))?;
        }
        Ok(ino)
    }

    fn parent(&self, path: &Path) -> Result<(Ino, OsString), String> {
        let name = path
            .file_name()
            .ok_or_else(|| format!("{} has no name", path.display()))?;
        let dir = self.resolve(super::parent_of(path))?;
        match self.inodes[dir].body {
            Body::Dir { .. } => Ok((dir, name.to_os_string())),
            _ => Err(format!("parent of {} is not a directory", path.display())),
        }
    }

    /// What a machine finds at `path` after a crash at this point with `outcome`; `None` when the
    /// path does not exist then.
    pub fn crashed(&self, path: &Path, outcome: Outcome) -> Option<Node> {
        let (root, parts) = self.split(path).ok()?;
        let mut ino = self.roots[root].1;
        for p in parts {
            ino = *self.crashed_entries(ino, outcome)?.get(p)?;
        }
        let i = &self.inodes[ino];
        let keep = self.keeps_live(ino, outcome);
        let meta = if keep { &i.meta } else { &i.durable_meta }.clone();
        Some(match &i.body {
            Body::Dir { .. } => {
                let names = self.crashed_entries(ino, outcome)?.into_keys().collect();
                Node::Dir(names, meta)
            }
            Body::File { live, durable } => {
                Node::File(if keep { live } else { durable }.clone(), meta)
            }
            Body::Symlink(t) => Node::Symlink(t.clone(), meta),
            Body::Special => Node::Special(meta),
        })
    }

    fn keeps_live(&self, ino: Ino, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Lost => false,
            Outcome::Kept => true,
            Outcome::Mixed(seed) => mix(seed, ino) & 1 == 1,
        }
    }

    fn crashed_entries(&self, dir: Ino, outcome: Outcome) -> Option<BTreeMap<OsString, Ino>> {
        let Body::Dir {
            live,
            durable,
            pending,
        } = &self.inodes[dir].body
        else {
            return None;
        };
        let keep = match outcome {
            Outcome::Lost => 0,
            Outcome::Kept => return Some(live.clone()),
            Outcome::Mixed(seed) => (mix(seed, dir) % (pending.len() as u64 + 1)) as usize,
        };
        let mut m = durable.clone();
        for c in pending.iter().take(keep) {
            apply_change(&mut m, c);
        }
        Some(m)
    }

    /// Every path under `dir` after a crash (depth-first), with its node.
    pub fn crashed_tree(&self, dir: &Path, outcome: Outcome) -> Vec<(PathBuf, Node)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(p) = stack.pop() {
            let Some(n) = self.crashed(&p, outcome) else {
                continue;
            };
            if let Node::Dir(names, _) = &n {
                stack.extend(names.iter().rev().map(|c| p.join(c)));
            }
            out.push((p, n));
        }
        out
    }
}

fn apply_change(m: &mut BTreeMap<OsString, Ino>, c: &Change) {
    match c {
        Change::Add(n, ino) => {
            m.insert(n.clone(), *ino);
        }
        Change::Remove(n) => {
            m.remove(n);
        }
        Change::Rename(from, to) => {
            if let Some(ino) = m.remove(from) {
                m.insert(to.clone(), ino);
            }
        }
    }
}

/// The model's [`Content`] of `data`.
pub fn content_of(data: &[u8]) -> Content {
    (!data.is_empty()).then(|| (data.len() as u64, blake3::hash(data).to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_atomic(dir: &Path, name: &str, data: &[u8], fsync_file: bool) -> Vec<FsOp> {
        let tmp = dir.join(format!(".netroot-tmp-{name}"));
        let mut v = vec![
            FsOp::Create { path: tmp.clone() },
            super::super::write_op(&tmp, data),
        ];
        if fsync_file {
            v.push(FsOp::FsyncFile { path: tmp.clone() });
        }
        v.push(FsOp::Rename {
            from: tmp,
            to: dir.join(name),
            noreplace: false,
        });
        v.push(FsOp::FsyncDir { path: dir.into() });
        v
    }

    /// The menu after a crash at every point of `ops`, under every outcome kind.
    fn menus_seen(root: &Path, ops: &[FsOp]) -> Vec<Option<Node>> {
        let mut out = Vec::new();
        for k in 0..=ops.len() {
            let mut m = Model::snapshot(&[root]).unwrap();
            m.apply_all(&ops[..k]).unwrap();
            for o in [
                Outcome::Lost,
                Outcome::Kept,
                Outcome::Mixed(1),
                Outcome::Mixed(2),
            ] {
                out.push(m.crashed(&root.join("menu"), o));
            }
        }
        out
    }

    #[test]
    fn write_atomic_is_old_or_new_and_a_missing_fsync_shows_an_empty_file() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("menu"), b"old").unwrap();
        let ok = |n: &Option<Node>| match n {
            Some(Node::File(c, _)) => *c == content_of(b"old") || *c == content_of(b"new"),
            _ => false,
        };
        let good = write_atomic(d.path(), "menu", b"new", true);
        assert!(menus_seen(d.path(), &good).iter().all(ok));
        let bad = write_atomic(d.path(), "menu", b"new", false);
        let seen = menus_seen(d.path(), &bad);
        assert!(!seen.iter().all(ok));
        assert!(
            seen.contains(&Some(Node::File(None, Meta::new()))),
            "{seen:?}"
        );
    }

    #[test]
    fn directory_entries_need_a_directory_fsync_and_syncfs_covers_everything() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let mut m = Model::snapshot(&[d.path()]).unwrap();
        m.apply_all(&[
            FsOp::Mkdir { path: a.clone() },
            FsOp::Create { path: a.join("f") },
            super::super::write_op(&a.join("f"), b"x"),
            FsOp::FsyncFile { path: a.join("f") },
        ])
        .unwrap();
        assert_eq!(m.crashed(&a, Outcome::Lost), None);
        assert!(m.crashed(&a.join("f"), Outcome::Kept).is_some());
        let mut m2 = m.clone();
        m2.apply(&FsOp::FsyncDir {
            path: d.path().into(),
        })
        .unwrap();
        // a survives, but its entry f was never made durable.
        assert_eq!(m2.crashed(&a.join("f"), Outcome::Lost), None);
        m.apply(&FsOp::Syncfs { path: a.clone() }).unwrap();
        assert_eq!(
            m.crashed(&a.join("f"), Outcome::Lost),
            Some(Node::File(content_of(b"x"), Meta::new()))
        );
        // A rename inside one directory is atomic; renaming onto an existing name with
        // noreplace is refused like the kernel does.
        m.apply(&FsOp::Rename {
            from: a.clone(),
            to: b.clone(),
            noreplace: true,
        })
        .unwrap();
        for seed in 0..8 {
            let seen_a = m.crashed(&a, Outcome::Mixed(seed)).is_some();
            let seen_b = m.crashed(&b, Outcome::Mixed(seed)).is_some();
            assert!(seen_a != seen_b, "seed {seed}: exactly one name");
        }
        m.apply(&FsOp::Mkdir { path: a.clone() }).unwrap();
        let e = m
            .apply(&FsOp::Rename {
                from: a.clone(),
                to: b.clone(),
                noreplace: true,
            })
            .unwrap_err();
        assert!(e.to_string().ends_with(": target exists"), "{e}");
        assert!(e.to_string().starts_with("op 7 (Rename"), "{e}");
    }

    #[test]
    fn metadata_survives_only_when_synced_and_roots_are_separate_filesystems() {
        let d = tempfile::tempdir().unwrap();
        let (t, n) = (d.path().join("tftp"), d.path().join("nfs"));
        fs::create_dir(&t).unwrap();
        fs::create_dir(&n).unwrap();
        fs::write(t.join("f"), b"1").unwrap();
        fs::write(n.join("g"), b"2").unwrap();
        let mut m = Model::snapshot(&[&t, &n]).unwrap();
        m.apply_all(&[
            super::super::meta(&t.join("f"), MetaChange::Mode(0o600)),
            super::super::meta(&n.join("g"), MetaChange::Mode(0o600)),
            FsOp::Syncfs { path: n.clone() },
        ])
        .unwrap();
        let mode = |p: &Path| match m.crashed(p, Outcome::Lost) {
            Some(Node::File(_, meta)) => meta.get("mode").cloned(),
            _ => None,
        };
        assert_eq!(mode(&t.join("f")).as_deref(), Some("644"));
        assert_eq!(mode(&n.join("g")).as_deref(), Some("600"));
        let e = m
            .apply(&FsOp::Remove {
                path: d.path().join("elsewhere"),
            })
            .unwrap_err();
        assert!(
            e.to_string().contains("is outside the modelled roots"),
            "{e}"
        );
    }
}
