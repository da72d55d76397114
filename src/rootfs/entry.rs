//! One tar entry to one node: names, owner, mode, mtime (PAX nanoseconds), `SCHILY.xattr.*`,
//! device numbers, and the entry types and PAX records that are refused.

use std::ffi::OsString;
use std::io::{self, Read};

use tar::EntryType;

use super::error::EntryError;
use super::node::Kind;
use super::policy::Policy;
use super::tree::{self, Tree};
use crate::fsx::inode::{Meta, Time};

/// PAX key prefix of extended attributes (GNU tar and bsdtar both write it).
const PAX_XATTR: &str = "SCHILY.xattr.";
/// PAX key prefixes that we refuse, with the reason.
const PAX_REFUSED: [(&str, &str); 2] = [
    ("GNU.sparse.", "pax sparse file (GNU.sparse.*)"),
    ("SCHILY.acl.", "posix acls (SCHILY.acl.*)"),
];
/// Longest entry name accepted: PATH_MAX (4096) less its NUL. A longer path cannot be passed to
/// any system call on the booted node, and the cap bounds the work one entry can cost.
pub(crate) const MAX_NAME_BYTES: usize = 4095;
/// The only PAX global header key we accept (git archive writes the commit id there).
const PAX_GLOBAL_OK: &str = "comment";

/// What the PAX records of one entry say beyond what the tar crate applies itself.
#[derive(Debug, Default)]
struct Pax {
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    mtime: Option<Time>,
    devmajor: Option<u32>,
    devminor: Option<u32>,
}

fn pax<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Pax, EntryError> {
    let mut out = Pax::default();
    let Some(exts) = entry.pax_extensions().map_err(EntryError::Read)? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext.map_err(EntryError::Read)?;
        let key = ext.key_bytes();
        let value = ext.value_bytes();
        let text = || String::from_utf8_lossy(value).into_owned();
        if let Some(name) = key.strip_prefix(PAX_XATTR.as_bytes()) {
            out.xattrs.push((name.to_vec(), value.to_vec()));
            continue;
        }
        for (prefix, what) in PAX_REFUSED {
            if key.starts_with(prefix.as_bytes()) {
                return Err(EntryError::Unsupported { kind: what.into() });
            }
        }
        match key {
            b"mtime" => {
                out.mtime = Some(parse_pax_time(value).ok_or_else(|| EntryError::Field {
                    field: "pax mtime",
                    value: text(),
                })?)
            }
            b"SCHILY.devmajor" => out.devmajor = Some(parse_u32(value, "pax devmajor")?),
            b"SCHILY.devminor" => out.devminor = Some(parse_u32(value, "pax devminor")?),
            _ => {}
        }
    }
    Ok(out)
}

fn parse_u32(value: &[u8], field: &'static str) -> Result<u32, EntryError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EntryError::Field {
            field,
            value: String::from_utf8_lossy(value).into_owned(),
        })
}

/// A PAX time: `[-]seconds[.fraction]`; digits beyond nanoseconds are dropped.
pub(crate) fn parse_pax_time(value: &[u8]) -> Option<Time> {
    let s = std::str::from_utf8(value).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let (neg, digits) = match int.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, int),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = digits.parse().ok()?;
    let mut nsec = 0u32;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nsec += u32::from(b - b'0') * 10u32.pow(8 - u32::try_from(i).ok()?);
    }
    Some(if !neg {
        Time { sec: secs, nsec }
    } else if nsec == 0 {
        Time {
            sec: -secs,
            nsec: 0,
        }
    } else {
        // -1.25 is 1.25 s before the epoch: second -2 plus 0.75 s.
        Time {
            sec: -secs - 1,
            nsec: 1_000_000_000 - nsec,
        }
    })
}

fn field<T>(r: io::Result<T>, name: &'static str) -> Result<T, EntryError> {
    r.map_err(|e| EntryError::Field {
        field: name,
        value: e.to_string(),
    })
}

/// An owner id: numeric, below `u32::MAX` (which means "unchanged" to chown).
fn id(v: u64, name: &'static str) -> Result<u32, EntryError> {
    u32::try_from(v)
        .ok()
        .filter(|v| *v != u32::MAX)
        .ok_or_else(|| EntryError::Field {
            field: name,
            value: v.to_string(),
        })
}

fn device<R: Read>(entry: &tar::Entry<'_, R>, pax: &Pax) -> Result<(u32, u32), EntryError> {
    let h = entry.header();
    let major = match pax.devmajor {
        Some(m) => Some(m),
        None => field(h.device_major(), "device major")?,
    };
    let minor = match pax.devminor {
        Some(m) => Some(m),
        None => field(h.device_minor(), "device minor")?,
    };
    match (major, minor) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(EntryError::Field {
            field: "device numbers",
            value: "missing (pre-POSIX header)".into(),
        }),
    }
}

/// Which entries an extraction writes (by normal name components); the others are skipped.
pub(crate) type Select<'a> = &'a dyn Fn(&[OsString]) -> bool;

/// Writes one entry, if `select`ed, under `policy`.
pub(crate) fn put<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    tree: &mut Tree,
    policy: Policy,
    select: Select<'_>,
) -> Result<(), EntryError> {
    let etype = entry.header().entry_type();
    if etype.is_pax_global_extensions() {
        return check_global(entry);
    }
    let raw = entry.path_bytes();
    if raw.len() > MAX_NAME_BYTES {
        return Err(EntryError::NameTooLong { len: raw.len() });
    }
    policy.check_name(&raw)?;
    let name = tree::components(&raw)?;
    drop(raw);
    if !select(&name) {
        return Ok(());
    }
    policy.check_type(etype)?;
    if !matches!(
        etype,
        EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink
            | EntryType::Link
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo
    ) {
        return Err(unsupported(etype));
    }
    let pax = pax(entry)?;
    let h = entry.header();
    let mtime = match pax.mtime {
        Some(t) => t,
        None => {
            let m = field(h.mtime(), "mtime")?;
            Time {
                sec: i64::try_from(m).map_err(|_| EntryError::Field {
                    field: "mtime",
                    value: m.to_string(),
                })?,
                nsec: 0,
            }
        }
    };
    let (uid, gid) = match policy.keeps_owners() {
        true => (
            id(field(h.uid(), "uid")?, "uid")?,
            id(field(h.gid(), "gid")?, "gid")?,
        ),
        false => tree.owner(),
    };
    let meta = Meta {
        uid,
        gid,
        mode: field(h.mode(), "mode")?,
        mtime: Some(mtime),
        xattrs: pax.xattrs.clone(),
    };
    let meta = policy.meta(meta, etype == EntryType::Directory, tree.owner());
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    if etype == EntryType::Symlink {
        policy.check_link(link.as_deref().unwrap_or_default(), &name)?;
    }
    let need_link = || {
        link.clone().ok_or(EntryError::Field {
            field: "link name",
            value: String::new(),
        })
    };
    match etype {
        EntryType::Regular | EntryType::Continuous => {
            let size = entry.size();
            tree.put(&name, Kind::File { data: entry, size }, meta)
        }
        EntryType::Directory => tree.put(&name, Kind::Dir, meta),
        EntryType::Symlink => tree.put(
            &name,
            Kind::Symlink(link.as_deref().unwrap_or_default()),
            meta,
        ),
        EntryType::Link => tree.put(&name, Kind::Hardlink(&need_link()?), meta),
        EntryType::Char => {
            let (major, minor) = device(entry, &pax)?;
            tree.put(&name, Kind::Char { major, minor }, meta)
        }
        EntryType::Block => {
            let (major, minor) = device(entry, &pax)?;
            tree.put(&name, Kind::Block { major, minor }, meta)
        }
        EntryType::Fifo => tree.put(&name, Kind::Fifo, meta),
        _ => Err(unsupported(etype)),
    }
}

fn unsupported(t: EntryType) -> EntryError {
    EntryError::Unsupported {
        kind: if t.is_gnu_sparse() {
            "gnu sparse file".to_owned()
        } else {
            format!("type {:?} ({})", char::from(t.as_byte()), type_name(t))
        },
    }
}

fn type_name(t: EntryType) -> &'static str {
    match t.as_byte() {
        b'V' => "volume label",
        b'M' => "multi-volume continuation",
        b'D' => "gnu incremental directory",
        b'N' => "old gnu long name",
        b'L' | b'K' => "gnu long name without a following entry",
        b'x' => "pax header without a following entry",
        _ => "unknown",
    }
}

/// A PAX global header may only carry a comment: anything else would change how later entries
/// are read, which we do not implement.
fn check_global<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(), EntryError> {
    let mut data = Vec::new();
    entry.read_to_end(&mut data).map_err(EntryError::Read)?;
    for rec in tar::PaxExtensions::new(&data) {
        let rec = rec.map_err(EntryError::Read)?;
        if rec.key_bytes() != PAX_GLOBAL_OK.as_bytes() {
            return Err(EntryError::Unsupported {
                kind: format!(
                    "pax global header with key {:?}",
                    String::from_utf8_lossy(rec.key_bytes())
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(
            parse_pax_time(b"1700000000"),
            Some(Time {
                sec: 1_700_000_000,
                nsec: 0
            })
        );
        assert_eq!(
            parse_pax_time(b"1700000000.123456789999"),
            Some(Time {
                sec: 1_700_000_000,
                nsec: 123_456_789
            })
        );
        assert_eq!(
            parse_pax_time(b"1.5"),
            Some(Time {
                sec: 1,
                nsec: 500_000_000
            })
        );
        assert_eq!(
            parse_pax_time(b"-1.25"),
            Some(Time {
                sec: -2,
                nsec: 750_000_000
            })
        );
        assert_eq!(parse_pax_time(b"-3"), Some(Time { sec: -3, nsec: 0 }));
        for bad in [&b""[..], b"x", b"1.x", b"--1", b".5", b"1e9"] {
            assert_eq!(parse_pax_time(bad), None, "{bad:?}");
        }
    }
}
