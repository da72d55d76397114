//! NFS export configuration for published root trees: `/etc/exports.d/netroot.exports` lines for
//! the kernel server and an nfs-ganesha configuration fragment. Each profile's directory
//! `NFS/PROFILE` is exported read-only with root not squashed, to the compute networks only, with
//! an explicit `fsid` / `Export_Id` derived stably from the profile name: both masters of a DRBD
//! pair render identical ids, so file handles stay valid across a failover.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::error::PublishError;
use super::fsops::Fs;
use super::layout::validate_profile;

/// Where the kernel server's export fragment goes.
pub const EXPORTS_FILE: &str = "/etc/exports.d/netroot.exports";
/// Default NFSv4 pseudo-path root for ganesha exports (`/netroot/PROFILE`).
pub const DEFAULT_PSEUDO_ROOT: &str = "/netroot";
/// Kernel nfsd fsids are 32-bit; 0 means the NFSv4 root, so ids are 1..=2^31-1.
const FSID_MAX: u32 = 0x7fff_ffff;
/// Ganesha export ids are 16-bit; 0 is its pseudo root.
const EXPORT_ID_MAX: u32 = 0xffff;

/// One profile's export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub profile: String,
    /// Networks or hosts allowed to mount, e.g. `10.0.0.0/24`.
    pub clients: Vec<String>,
    /// Overrides the derived kernel fsid (to resolve a collision).
    pub fsid: Option<u32>,
    /// Overrides the derived ganesha Export_Id.
    pub export_id: Option<u16>,
}

/// The exports of all profiles on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportsConfig {
    /// The NFS target directory (`Targets::nfs`).
    pub nfs_dir: PathBuf,
    /// Ganesha pseudo-path root ([`DEFAULT_PSEUDO_ROOT`]).
    pub pseudo_root: String,
    pub exports: Vec<ExportSpec>,
}

fn derive(domain: &str, profile: &str, max: u32) -> u32 {
    let h = blake3::hash(format!("{domain}\0{profile}").as_bytes());
    let mut four = [0u8; 4];
    four.copy_from_slice(h.as_bytes().get(..4).unwrap_or(&[0; 4]));
    1 + u32::from_le_bytes(four) % max
}

/// The kernel export fsid of a profile: stable, in 1..=2^31-1.
pub fn fsid_for(profile: &str) -> u32 {
    derive("netroot-fsid-v1", profile, FSID_MAX)
}

/// The ganesha Export_Id of a profile: stable, in 1..=65535.
pub fn export_id_for(profile: &str) -> u16 {
    u16::try_from(derive("netroot-export-id-v1", profile, EXPORT_ID_MAX)).unwrap_or(u16::MAX)
}

fn invalid(field: &'static str, value: &str, reason: &'static str) -> PublishError {
    PublishError::InvalidExport {
        field,
        value: value.to_string(),
        reason,
    }
}

/// A path usable unquoted in exports(5) and quoted in ganesha's config.
fn check_path(field: &'static str, p: &Path) -> Result<String, PublishError> {
    let s = p
        .to_str()
        .ok_or_else(|| invalid(field, &p.to_string_lossy(), "not UTF-8"))?;
    if !s.starts_with('/') {
        return Err(invalid(field, s, "must be absolute"));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"\\();#{}".contains(c))
    {
        return Err(invalid(
            field,
            s,
            "whitespace, control characters and \"\\();#{} are not allowed",
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn check_clients(clients: &[String]) -> Result<(), PublishError> {
    if clients.is_empty() {
        return Err(invalid(
            "clients",
            "",
            "list the compute networks allowed to mount",
        ));
    }
    for c in clients {
        if matches!(c.as_str(), "*" | "0.0.0.0/0" | "::/0") {
            return Err(invalid("clients", c, "refusing to export to the world"));
        }
        if c.is_empty()
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ".:/-_*".contains(ch))
        {
            return Err(invalid(
                "clients",
                c,
                "expected a host, network (a.b.c.d/len) or wildcard host name",
            ));
        }
    }
    Ok(())
}

/// Checks every spec and resolves ids: (spec, fsid, export id), in profile order.
fn resolve(cfg: &ExportsConfig) -> Result<Vec<(&ExportSpec, u32, u16)>, PublishError> {
    let mut out = Vec::new();
    let mut fsids: BTreeMap<u32, &str> = BTreeMap::new();
    let mut ids: BTreeMap<u16, &str> = BTreeMap::new();
    let mut specs: Vec<&ExportSpec> = cfg.exports.iter().collect();
    specs.sort_by(|a, b| a.profile.cmp(&b.profile));
    for s in specs {
        validate_profile(&s.profile)?;
        check_clients(&s.clients)?;
        let fsid = s.fsid.unwrap_or_else(|| fsid_for(&s.profile));
        let id = s.export_id.unwrap_or_else(|| export_id_for(&s.profile));
        if fsid == 0 {
            return Err(invalid("fsid", "0", "0 is the NFSv4 root; use 1 or more"));
        }
        if id == 0 {
            return Err(invalid(
                "export_id",
                "0",
                "0 is ganesha's pseudo root; use 1 or more",
            ));
        }
        if let Some(other) = fsids.insert(fsid, &s.profile) {
            return Err(PublishError::ExportIdCollision {
                kind: "fsid",
                a: other.to_string(),
                b: s.profile.clone(),
                id: u64::from(fsid),
            });
        }
        if let Some(other) = ids.insert(id, &s.profile) {
            return Err(PublishError::ExportIdCollision {
                kind: "Export_Id",
                a: other.to_string(),
                b: s.profile.clone(),
                id: u64::from(id),
            });
        }
        out.push((s, fsid, id));
    }
    Ok(out)
}

/// `/etc/exports.d/netroot.exports` for the kernel NFS server.
pub fn kernel_exports(cfg: &ExportsConfig) -> Result<String, PublishError> {
    let dir = check_path("nfs_dir", &cfg.nfs_dir)?;
    let mut out = String::from("# netroot: generated by `netroot exports`; do not edit\n");
    for (s, fsid, _) in resolve(cfg)? {
        let _ = write!(out, "{dir}/{}", s.profile);
        for c in &s.clients {
            let _ = write!(
                out,
                " {c}(ro,no_root_squash,fsid={fsid},no_subtree_check,sync)"
            );
        }
        out.push('\n');
    }
    Ok(out)
}

/// An nfs-ganesha configuration fragment: the NFSv4 block and one EXPORT block per profile.
/// Only the listed clients get read-only access (the export's own access is None).
pub fn ganesha_config(cfg: &ExportsConfig) -> Result<String, PublishError> {
    let dir = check_path("nfs_dir", &cfg.nfs_dir)?;
    let pseudo = check_path("pseudo_root", Path::new(&cfg.pseudo_root))?;
    let mut out = String::from(
        "# netroot: generated by `netroot exports`; do not edit\n\
         NFSv4 {\n\
         \x20   # Numeric uids/gids on the wire: with names, a node's id mapper upcall execs\n\
         \x20   # /sbin/request-key from the NFS root it is mapping for, and the node deadlocks.\n\
         \x20   Only_Numeric_Owners = true;\n\
         }\n",
    );
    for (s, _, id) in resolve(cfg)? {
        let _ = write!(
            out,
            "\nEXPORT {{\n\
             \x20   Export_Id = {id};\n\
             \x20   Path = \"{dir}/{p}\";\n\
             \x20   Pseudo = \"{pseudo}/{p}\";\n\
             \x20   Access_Type = None;\n\
             \x20   Squash = No_Root_Squash;\n\
             \x20   Protocols = 4;\n\
             \x20   Transports = TCP;\n\
             \x20   SecType = sys;\n\
             \x20   CLIENT {{\n\
             \x20       Clients = {clients};\n\
             \x20       Access_Type = RO;\n\
             \x20   }}\n\
             \x20   FSAL {{\n\
             \x20       Name = VFS;\n\
             \x20   }}\n\
             }}\n",
            p = s.profile,
            clients = s.clients.join(", "),
        );
    }
    Ok(out)
}

/// Writes an exports file atomically (temp, fsync, rename, fsync dir), creating its directory.
pub fn write_exports_file(path: &Path, text: &str) -> Result<(), PublishError> {
    let fs_ = Fs::new(None);
    fs_.create_dir_all(super::fsops::parent_of(path))?;
    fs_.write_atomic(path, text.as_bytes())
}
