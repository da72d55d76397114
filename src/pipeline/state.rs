//! The record of the last successful build of a profile: the configuration key and every input
//! (file content hash, or directory listing hash, or "must be absent") it depended on. A build whose
//! key and inputs all match, and whose outputs are intact, is up to date and does no work.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, OFlags};
use serde::{Deserialize, Serialize};

use crate::fsx::memo::{self, HashError, Memo};
use crate::fsx::stamp::Stamp;
use crate::fsx::walk::{self, Item, Options, OtherFs};

/// What the build's memo knows of an input besides its content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFacts {
    /// A directory's listing hash ([`hash_listing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listing: Option<String>,
    /// blake3 of a kernel module's `.modinfo` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modinfo: Option<String>,
}

/// The build's memo of input and output hashes (`OUT/.cache/hashes.json`).
pub type HashCache = Memo<InputFacts>;

/// How directory inputs are walked: into other filesystems too (a mounted directory's content
/// is part of the input), the root itself may be a symlink.
const INPUT_WALK: Options = Options {
    other_fs: OtherFs::Enter,
    follow_root: true,
};

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
    /// A whole directory tree with metadata (see [`tree_digest`]).
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
            let h = listing(hc, path).map_err(|e| with_path(e, path))?;
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
                InputHash::Listing(_) => InputHash::Listing(listing(hc, p)?),
                InputHash::Tree(_) => InputHash::Tree(tree_digest(p, hc)?),
                InputHash::Modinfo(_) => match modinfo(hc, p)? {
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
            remember_modinfo(hc, path, h)?;
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

/// The stamp of `path` (symlinks followed), `None` when it does not exist.
fn stamp_of(path: &Path) -> io::Result<Option<Stamp>> {
    match fs::metadata(path) {
        Ok(md) => Ok(Some(Stamp::of(&md))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Listing hash of the directory `dir` ([`hash_listing`]), memoized by the directory's own
/// stamp: adding, removing or renaming an entry changes the directory's mtime and ctime.
fn listing(hc: &mut HashCache, dir: &Path) -> io::Result<Option<String>> {
    let Some(stamp) = stamp_of(dir)? else {
        return Ok(None);
    };
    hc.memoized(dir, &stamp, |e| &mut e.more.listing, || hash_listing(dir))
}

/// blake3 of a module's `.modinfo` section, memoized by the file's stamp.
fn modinfo(hc: &mut HashCache, path: &Path) -> io::Result<Option<String>> {
    let Some(stamp) = stamp_of(path)? else {
        return Ok(None);
    };
    hc.memoized(
        path,
        &stamp,
        |e| &mut e.more.modinfo,
        || {
            crate::kmod::modinfo_hash(path)
                .map(Some)
                .map_err(io::Error::other)
        },
    )
}

/// Records a `.modinfo` hash computed elsewhere (the module resolver) for the file as it is now.
fn remember_modinfo(hc: &mut HashCache, path: &Path, h: &str) -> io::Result<()> {
    let stamp = Stamp::of(&fs::metadata(path)?);
    let mut e = hc
        .known(path, &stamp)
        .cloned()
        .unwrap_or_else(|| memo::Entry::new(stamp));
    e.more.modinfo = Some(h.to_string());
    hc.remember(path, e);
    Ok(())
}

/// Hash of a directory listing (sorted entry names), for inputs that depend on which files exist.
pub fn hash_listing(dir: &Path) -> io::Result<Option<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for e in rd {
        names.push(e?.file_name());
    }
    names.sort();
    let mut h = blake3::Hasher::new();
    for n in names {
        h.update(n.as_encoded_bytes());
        h.update(b"\0");
    }
    Ok(Some(h.finalize().to_hex().to_string()))
}

/// One entry's part of a [`tree_digest`].
struct DigestLine {
    /// Walk index of the entry and of its directory.
    index: usize,
    parent: usize,
    is_dir: bool,
    bytes: Vec<u8>,
}

/// The [`tree_digest`] line of a walked entry: relative path, then type with the content hash
/// (files, memoized) or link target (symlinks) or device number, mode, owner.
fn digest_line(item: &Item<'_>, hc: &mut HashCache) -> io::Result<DigestLine> {
    let st = &item.st;
    let what = match item.file_type() {
        FileType::Directory => "d".to_string(),
        FileType::Symlink => {
            let target = item.read_link()?;
            format!("l{}", Path::new(OsStr::from_bytes(&target)).display())
        }
        FileType::RegularFile => {
            let path = item.host_path();
            let open = || item.open(OFlags::RDONLY).map(File::from);
            match hc.hash_opened(&path, &Stamp::of_stat(st), open) {
                Ok(h) | Err(HashError::Changed { blake3: h, .. }) => format!("f{h}"),
                Err(HashError::Open(e) | HashError::Read(e)) => return Err(e),
            }
        }
        FileType::BlockDevice | FileType::CharacterDevice => format!("n{}", st.st_rdev),
        _ => "s".to_string(),
    };
    let rel: Vec<&[u8]> = item.path.iter().map(|p| p.as_bytes()).collect();
    let mut bytes = rel.join(&b'/');
    bytes.extend_from_slice(
        format!("\0{what}\0{:o}\0{}\0{}\n", st.st_mode, st.st_uid, st.st_gid).as_bytes(),
    );
    Ok(DigestLine {
        index: item.index,
        parent: item.parent,
        is_dir: item.file_type() == FileType::Directory,
        bytes,
    })
}

/// Digest of a whole directory tree: every entry's relative path, type, mode, owner, and content
/// hash (files, memoized) or link target (symlinks) or device number. Symlinks are never followed.
/// Used for a directory root-tree source, where metadata matters as much as content.
pub fn tree_digest(root: &Path, hc: &mut HashCache) -> io::Result<Option<String>> {
    if fs::symlink_metadata(root).is_err() {
        return Ok(None);
    }
    let mut lines = Vec::new();
    walk::walk(root, INPUT_WALK, &mut |item: &Item<'_>| -> io::Result<()> {
        if !item.path.is_empty() {
            lines.push(digest_line(item, hc)?);
        }
        Ok(())
    })
    .map_err(|stop| stop.into_err(io::Error::from))?;
    // The digest recorded in build states and manifests hashes the lines in the order of the
    // walk it was first defined with: a directory's entries by name, then the directories
    // listed in it from the last one back (a stack of directories).
    let mut listings: HashMap<usize, Vec<&DigestLine>> = HashMap::new();
    for l in &lines {
        listings.entry(l.parent).or_default().push(l);
    }
    let mut h = blake3::Hasher::new();
    let mut stack = vec![0];
    while let Some(dir) = stack.pop() {
        for l in listings.get(&dir).into_iter().flatten() {
            h.update(&l.bytes);
            if l.is_dir {
                stack.push(l.index);
            }
        }
    }
    Ok(Some(h.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest as it was first defined, over a `std::fs` walk: the recorded digests (build
    /// states, manifests) must not change.
    fn std_walk_digest(root: &Path) -> String {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let mut h = blake3::Hasher::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let path = e.path();
                let md = fs::symlink_metadata(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap();
                let ft = md.file_type();
                let what = if ft.is_dir() {
                    stack.push(path.clone());
                    "d".to_string()
                } else if ft.is_symlink() {
                    format!("l{}", fs::read_link(&path).unwrap().display())
                } else if ft.is_file() {
                    format!("f{}", memo::hash_bytes(&fs::read(&path).unwrap()))
                } else if ft.is_block_device() || ft.is_char_device() {
                    format!("n{}", md.rdev())
                } else {
                    "s".to_string()
                };
                h.update(rel.as_os_str().as_encoded_bytes());
                h.update(
                    format!("\0{what}\0{:o}\0{}\0{}\n", md.mode(), md.uid(), md.gid()).as_bytes(),
                );
            }
        }
        h.finalize().to_hex().to_string()
    }

    #[test]
    fn the_tree_digest_is_the_one_first_defined() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for dir in ["a/x/deep", "a/y", "b", "c/z"] {
            fs::create_dir_all(r.join(dir)).unwrap();
        }
        for (f, data) in [
            ("a/x/deep/f", "1"),
            ("a/y/g", "2"),
            ("b/h", "3"),
            ("top", "4"),
        ] {
            fs::write(r.join(f), data).unwrap();
        }
        fs::set_permissions(r.join("b/h"), fs::Permissions::from_mode(0o4755)).unwrap();
        symlink("../top", r.join("a/link")).unwrap();
        symlink(OsStr::from_bytes(b"bad\xff"), r.join("c/odd")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            r.join("c/z/fifo"),
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut hc = HashCache::new();
        let got = tree_digest(r, &mut hc).unwrap().unwrap();
        assert_eq!(got, std_walk_digest(r));
        assert_eq!(tree_digest(&r.join("missing"), &mut hc).unwrap(), None);
    }

    #[test]
    fn listing_changes_when_a_file_appears() {
        let dir = tempfile::tempdir().unwrap();
        let a = hash_listing(dir.path()).unwrap();
        fs::write(dir.path().join("n"), b"").unwrap();
        assert_ne!(a, hash_listing(dir.path()).unwrap());
        assert_eq!(hash_listing(&dir.path().join("nope")).unwrap(), None);
        let mut hc = HashCache::new();
        assert_eq!(
            listing(&mut hc, dir.path()).unwrap(),
            hash_listing(dir.path()).unwrap()
        );
        assert_eq!(listing(&mut hc, &dir.path().join("nope")).unwrap(), None);
    }
}
