//! A generation's identity and its TFTP side: content digests of the boot artifacts, the
//! generation id derived from them, and the generation directory
//! `TFTP/netroot/PROFILE/GEN/{vmlinuz,initramfs.img,manifest.json,generation.json}`, staged under a
//! temporary name and renamed into place once every file is written and fsynced.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD};

use serde::{Deserialize, Serialize};

use super::error::{errno, hash_err, io_err, PublishError};
use super::fsops::oplog::{FsOp, MetaChange};
use super::fsops::{meta, set_fd_mode, set_mode, tmp_path, write_op, Fs, DIR_MODE, FILE_MODE};
use super::layout::{is_generation_id, Layout, CURRENT, GENERATION_RECORD, GEN_HEX_LEN};
use super::layout::{INITRAMFS, MANIFEST, VMLINUZ};
use super::tree::Memo;
use super::Artifacts;
use crate::fsx::memo::{hash_reader, open_nofollow, BUF_SIZE};
use crate::fsx::stamp::Stamp;

/// Version of the `generation.json` schema: 2 adds the build's boot record, from which every
/// menu entry, per-MAC file, export and DHCP snippet of the generation is rendered.
pub const RECORD_VERSION: u32 = 2;
/// The oldest schema still read (verify, gc, repair); its generations cannot be re-rendered.
const OLDEST_RECORD_VERSION: u32 = 1;
/// Domain separator of the generation id hash (bump when the id's inputs change).
const ID_DOMAIN: &str = "netroot-generation-v1";

/// Size and content hash of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub size: u64,
    pub blake3: String,
}

/// Digests of the three boot artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactDigests {
    pub vmlinuz: FileDigest,
    pub initramfs: FileDigest,
    pub manifest: FileDigest,
}

impl ArtifactDigests {
    /// Hashes the artifacts (never following a symlink at the last component), answering from
    /// `memo` for files it knows unchanged.
    pub fn compute(a: &Artifacts, memo: &mut Memo) -> Result<ArtifactDigests, PublishError> {
        let mut one = |p: &Path| -> Result<FileDigest, PublishError> {
            let md = fs::symlink_metadata(p).map_err(io_err("stat", p))?;
            if !md.is_file() {
                return Err(PublishError::BadInput {
                    path: p.to_path_buf(),
                    reason: "not a regular file".into(),
                });
            }
            // Boot artifacts are not counted in `Memo::hashed` (root tree files are).
            let counted = memo.hashed;
            let blake3 = memo.hash_nofollow(p, &Stamp::of(&md));
            memo.hashed = counted;
            let blake3 = blake3.map_err(hash_err(p))?;
            Ok(FileDigest {
                size: md.len(),
                blake3,
            })
        };
        Ok(ArtifactDigests {
            vmlinuz: one(&a.vmlinuz)?,
            initramfs: one(&a.initramfs)?,
            manifest: one(&a.manifest)?,
        })
    }

    /// (file name in the generation directory, digest) for each artifact.
    pub fn named(&self) -> [(&'static str, &FileDigest); 3] {
        [
            (VMLINUZ, &self.vmlinuz),
            (INITRAMFS, &self.initramfs),
            (MANIFEST, &self.manifest),
        ]
    }
}

/// The generation id: `g` + 16 hex digits of blake3 over the profile, the artifact hashes, the root
/// tree digest and the generation-independent kernel command line. Same inputs, same id.
pub fn generation_id(
    profile: &str,
    artifacts: &ArtifactDigests,
    root_digest: Option<&str>,
    cmdline: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        ID_DOMAIN,
        profile,
        &artifacts.vmlinuz.blake3,
        &artifacts.initramfs.blake3,
        &artifacts.manifest.blake3,
        root_digest.unwrap_or("no-root"),
        cmdline,
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let hex = h.finalize().to_hex();
    format!("g{}", hex.get(..GEN_HEX_LEN).unwrap_or_default())
}

/// `generation.json`: what the generation holds, for verify and for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub version: u32,
    pub profile: String,
    pub generation: String,
    /// The complete kernel command line of the profile's menu entry for this generation (its
    /// NFS root path included); per-node entries add the node's overrides to it.
    pub cmdline: String,
    /// Artifact file name → digest.
    pub files: BTreeMap<String, FileDigest>,
    pub root: Option<RootRecord>,
    /// The build's boot record, copied verbatim (`None` in version-1 records and in generations
    /// published through the engine alone, which the shared menus cannot render).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<crate::record::BootRecord>,
}

/// Summary of the generation's root tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRecord {
    /// Digest of the tree manifest (`NFS/PROFILE/GEN.tree.json`).
    pub digest: String,
    pub entries: usize,
    pub files: usize,
    pub bytes: u64,
}

impl GenerationRecord {
    /// Reads and checks a record.
    pub fn read(path: &Path) -> Result<GenerationRecord, PublishError> {
        let bad = |reason: String| PublishError::BadState {
            path: path.to_path_buf(),
            reason,
        };
        let b = fs::read(path).map_err(io_err("read", path))?;
        let r: GenerationRecord = serde_json::from_slice(&b).map_err(|e| bad(e.to_string()))?;
        if !(OLDEST_RECORD_VERSION..=RECORD_VERSION).contains(&r.version) {
            return Err(bad(format!(
                "generation record version {} is not supported (expected {OLDEST_RECORD_VERSION} to {RECORD_VERSION})",
                r.version
            )));
        }
        Ok(r)
    }
}

/// Creates `TFTP/netroot/PROFILE/GEN` from the artifacts: staged under a temporary name, every
/// file fsynced, then renamed into place (never replacing an existing generation). Returns
/// warnings: active generation files found damaged (copied from the artifacts instead of linked).
pub fn stage_tftp(
    fs_: &Fs,
    layout: &Layout,
    a: &Artifacts,
    record: &GenerationRecord,
) -> Result<Vec<String>, PublishError> {
    let parent = layout.tftp_profile();
    let dest = layout.tftp_gen(&record.generation);
    let tmp = tmp_path(&parent, "gen");
    fs_.step();
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(&tmp)
        .map_err(io_err("create directory", &tmp))?;
    fs_.record(|| FsOp::Mkdir { path: tmp.clone() });
    set_mode(&tmp, DIR_MODE)?;
    fs_.record(|| meta(&tmp, MetaChange::Mode(DIR_MODE)));
    let prev = active_record(layout);
    let mut warnings = Vec::new();
    for (name, src) in [
        (VMLINUZ, &a.vmlinuz),
        (INITRAMFS, &a.initramfs),
        (MANIFEST, &a.manifest),
    ] {
        let want = record
            .files
            .get(name)
            .ok_or_else(|| PublishError::BadState {
                path: dest.clone(),
                reason: format!("internal: no digest for {name}"),
            })?;
        let linked = match &prev {
            Some((dir, rec)) if rec.files.get(name) == Some(want) => {
                let from = dir.join(name);
                let outcome = link_identical(fs_, &from, &tmp.join(name), want)?;
                if let Linked::Damaged(why) = &outcome {
                    warnings.push(damaged_warning(&from, why, &layout.profile));
                }
                outcome == Linked::Yes
            }
            _ => false,
        };
        if !linked {
            copy_verified(fs_, src, &tmp.join(name), want)?;
        }
    }
    let mut json = serde_json::to_vec_pretty(record).map_err(|e| PublishError::BadState {
        path: dest.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    write_new(fs_, &tmp.join(GENERATION_RECORD), &json)?;
    fs_.fsync_dir(&tmp)?;
    fs_.rename_noreplace(&tmp, &dest)?;
    fs_.fsync_dir(&parent)?;
    Ok(warnings)
}

/// The report line for a published file that was not linked because it is damaged.
fn damaged_warning(path: &Path, why: &str, profile: &str) -> String {
    format!(
        "{}: {why}; not hardlinked into the new generation (copied from the build output); \
         run `netroot verify {profile} --repair`",
        path.display()
    )
}

/// The active generation's directory and record, if readable (a link source for identical
/// artifacts: a kernel or initramfs is tens of megabytes, and most publishes change only the root
/// tree or the command line).
fn active_record(layout: &Layout) -> Option<(PathBuf, GenerationRecord)> {
    let target = fs::read_link(layout.tftp_profile().join(CURRENT)).ok()?;
    let name = target.to_str().filter(|n| is_generation_id(n))?;
    let dir = layout.tftp_gen(name);
    let rec = GenerationRecord::read(&dir.join(GENERATION_RECORD)).ok()?;
    Some((dir, rec))
}

/// What [`link_identical`] did.
#[derive(Debug, PartialEq, Eq)]
enum Linked {
    Yes,
    /// Not linked, for a reason that is no damage (the filesystem's link limit).
    No,
    /// Not linked: the published file is not what its record says (why).
    Damaged(String),
}

/// Hardlinks the published file `from` to `to` if it still is a regular 0644 file with exactly
/// the recorded content: it is re-hashed first (an immutable generation's file can still be
/// damaged by a stray write or the disk, and linking would spread the damage to the new
/// generation). The inode linked is the one hashed.
fn link_identical(
    fs_: &Fs,
    from: &Path,
    to: &Path,
    want: &FileDigest,
) -> Result<Linked, PublishError> {
    let mut f = match open_nofollow(from).map_err(io_err("open", from)) {
        Ok(f) => f,
        Err(e) => return Ok(Linked::Damaged(format!("cannot be opened ({e})"))),
    };
    let md = f.metadata().map_err(io_err("stat", from))?;
    if !md.is_file() || md.permissions().mode() & 0o7777 != FILE_MODE {
        return Ok(Linked::Damaged(format!(
            "not a regular file of mode {FILE_MODE:04o}"
        )));
    }
    // A read error (a bad sector) is damage too: the file is copied from the artifacts.
    let (got, size) = match hash_reader(&mut f).map_err(io_err("read", from)) {
        Ok(h) => h,
        Err(e) => return Ok(Linked::Damaged(format!("cannot be re-read ({e})"))),
    };
    if got != want.blake3 || size != want.size {
        return Ok(Linked::Damaged(format!(
            "content changed (blake3 {got}, {size} bytes; recorded {}, {} bytes)",
            want.blake3, want.size
        )));
    }
    fs_.step();
    match rustix::fs::linkat(CWD, from, CWD, to, AtFlags::empty()) {
        Ok(()) => {
            fs_.record(|| FsOp::Link {
                from: from.into(),
                to: to.into(),
            });
        }
        Err(rustix::io::Errno::MLINK) => return Ok(Linked::No),
        Err(e) => return Err(errno("hardlink", to)(e)),
    }
    let linked = fs::symlink_metadata(to).map_err(io_err("stat", to))?;
    if (linked.dev(), linked.ino()) != (md.dev(), md.ino()) {
        return Err(PublishError::SourceChanged {
            path: from.to_path_buf(),
            detail: "replaced between hashing and hardlinking".into(),
        });
    }
    Ok(Linked::Yes)
}

/// Copies `src` to the new file `dest` (0644), hashing on the way; fails if the content is not
/// `want` (the source changed since it was hashed). Fsyncs `dest` and returns it.
pub(crate) fn copy_verified(
    fs_: &Fs,
    src: &Path,
    dest: &Path,
    want: &FileDigest,
) -> Result<fs::File, PublishError> {
    let mut from = open_nofollow(src).map_err(io_err("open", src))?;
    fs_.step();
    let mut to = create_new(fs_, dest)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut size = 0u64;
    let mut first = true;
    loop {
        let k = from.read(&mut buf).map_err(io_err("read", src))?;
        if k == 0 {
            break;
        }
        let chunk = buf.get(..k).unwrap_or_default();
        h.update(chunk);
        to.write_all(chunk).map_err(io_err("write", dest))?;
        size += k as u64;
        if first {
            // A crash point with a partially written file.
            fs_.step();
            first = false;
        }
    }
    let got = h.finalize().to_hex().to_string();
    if got != want.blake3 || size != want.size {
        return Err(PublishError::SourceChanged {
            path: src.to_path_buf(),
            detail: format!(
                "blake3 {got} ({size} bytes) while copying, {} ({} bytes) when hashed",
                want.blake3, want.size
            ),
        });
    }
    fs_.record(|| FsOp::Write {
        path: dest.into(),
        len: size,
        blake3: got,
    });
    fs_.step();
    fs_.fsync_file(&to, dest)?;
    Ok(to)
}

fn create_new(fs_: &Fs, path: &Path) -> Result<fs::File, PublishError> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err("create", path))?;
    fs_.record(|| FsOp::Create { path: path.into() });
    set_fd_mode(&f, path, FILE_MODE)?;
    fs_.record(|| meta(path, MetaChange::Mode(FILE_MODE)));
    Ok(f)
}

/// Writes a new file (0644) and fsyncs it.
fn write_new(fs_: &Fs, path: &Path, data: &[u8]) -> Result<(), PublishError> {
    fs_.step();
    let mut f = create_new(fs_, path)?;
    f.write_all(data).map_err(io_err("write", path))?;
    fs_.record(|| write_op(path, data));
    fs_.step();
    fs_.fsync_file(&f, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(h: &str) -> FileDigest {
        FileDigest {
            size: 1,
            blake3: h.into(),
        }
    }

    #[test]
    fn id_is_stable_and_depends_on_every_input() {
        let a = ArtifactDigests {
            vmlinuz: d("v"),
            initramfs: d("i"),
            manifest: d("m"),
        };
        let id = generation_id("compute", &a, Some("r"), "quiet");
        assert_eq!(id, generation_id("compute", &a, Some("r"), "quiet"));
        assert!(crate::publish::layout::is_generation_id(&id), "{id}");
        let mut b = a.clone();
        b.initramfs.blake3 = "j".into();
        for other in [
            generation_id("other", &a, Some("r"), "quiet"),
            generation_id("compute", &b, Some("r"), "quiet"),
            generation_id("compute", &a, None, "quiet"),
            generation_id("compute", &a, Some("r"), "quiet debug"),
        ] {
            assert_ne!(id, other);
        }
        // Each part is length-prefixed: text cannot move between the profile and the cmdline.
        assert_ne!(
            generation_id("ab", &a, Some("r"), "c"),
            generation_id("a", &a, Some("r"), "bc")
        );
    }
}
