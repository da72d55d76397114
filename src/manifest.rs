//! `manifest.json`: what went into a build and why. Deterministic (sorted, no timestamps, no build
//! directory paths) so two builds of the same inputs give byte-identical manifests.

use std::path::Path;

use serde::Serialize;

/// Version of the manifest schema.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub netroot_version: String,
    pub profile: String,
    pub kernel: KernelInfo,
    pub compression: String,
    pub source_date_epoch: u64,
    pub initramfs: ImageInfo,
    pub init: FileInfo,
    pub boot_config: FileInfo,
    pub modules: Vec<ModuleInfo>,
    pub builtin: Vec<BuiltinInfo>,
    pub firmware: Vec<FirmwareInfo>,
    pub warnings: Vec<String>,
    pub files: Vec<EntryInfo>,
    pub inputs: Vec<InputInfo>,
    /// The NFS root tree (`OUT/PROFILE/rootfs`), when the profile has `[root]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<RootInfo>,
    /// What publish copies into each generation record ([`crate::record`]).
    pub boot: crate::record::BootRecord,
}

/// The root tree: its content key and security inventory.
#[derive(Debug, Serialize)]
pub struct RootInfo {
    pub key: String,
    pub report: crate::rootfs::RootReport,
}

#[derive(Debug, Serialize)]
pub struct KernelInfo {
    pub version: String,
    pub source: String,
    pub vmlinuz: FileInfo,
}

#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentInfo {
    pub name: String,
    pub entries: usize,
    pub cpio_bytes: u64,
    pub compressed_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct ImageInfo {
    pub size: u64,
    pub sha256: String,
    pub segments: Vec<SegmentInfo>,
}

#[derive(Debug, Serialize)]
pub struct ModuleInfo {
    pub name: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub params: String,
    pub reasons: Vec<String>,
    pub firmware: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BuiltinInfo {
    pub name: String,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct FirmwareInfo {
    pub name: String,
    pub found: bool,
    pub needed_by: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct EntryInfo {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub mode: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InputInfo {
    pub path: String,
    /// blake3 of the content, a directory listing hash, or "absent".
    pub blake3: String,
}

/// Hex digits of a sha256 digest.
pub const SHA256_HEX_LEN: usize = 64;

/// Whether `s` is a sha256 digest in hex (any case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == SHA256_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// sha256 of a byte slice, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

impl Manifest {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut v = serde_json::to_vec_pretty(self)?;
        v.push(b'\n');
        Ok(v)
    }
}

/// `SHA256SUMS` in the format `sha256sum -c` reads, from (file name, hex sha256) pairs.
pub fn sha256sums(files: &[(&str, &str)]) -> String {
    files
        .iter()
        .map(|(name, sha)| format!("{sha}  {name}\n"))
        .collect()
}

/// A path as recorded in the manifest: relative to the project when inside it, else as given.
pub fn display_path(path: &Path, project: &Path) -> String {
    path.strip_prefix(project)
        .unwrap_or(path)
        .display()
        .to_string()
}
