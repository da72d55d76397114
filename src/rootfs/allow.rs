//! The allow-list a root tree's security inventory is checked against: one glob list per
//! category; every reported path must match a glob of its category.
//!
//! Globs match image paths (`/usr/bin/su`); `*` stays within one component, `**` crosses them
//! (`/dev/**`).

use std::fmt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::error::RootfsError;
use super::scan::RootReport;

/// Globs of the paths allowed per category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllowList {
    pub setuid: Vec<String>,
    pub setgid: Vec<String>,
    pub capabilities: Vec<String>,
    pub devices: Vec<String>,
    pub world_writable: Vec<String>,
    pub sticky_dirs: Vec<String>,
}

/// A category of the security inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Setuid,
    Setgid,
    Capability,
    Device,
    WorldWritable,
    StickyDir,
}

impl Category {
    fn name(self) -> &'static str {
        match self {
            Category::Setuid => "setuid",
            Category::Setgid => "setgid",
            Category::Capability => "capability",
            Category::Device => "device",
            Category::WorldWritable => "world-writable",
            Category::StickyDir => "sticky-dir",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reported path the allow-list does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offender {
    pub category: Category,
    pub path: PathBuf,
}

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.category, self.path.display())
    }
}

fn compile(category: Category, globs: &[String]) -> Result<GlobSet, RootfsError> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| RootfsError::Glob {
                category: category.name(),
                glob: g.clone(),
                reason: e.kind().to_string(),
            })?;
        set.add(glob);
    }
    set.build().map_err(|e| RootfsError::Glob {
        category: category.name(),
        glob: globs.join(" "),
        reason: e.kind().to_string(),
    })
}

fn as_paths(v: &[PathBuf]) -> Vec<&Path> {
    v.iter().map(PathBuf::as_path).collect()
}

/// Fails with every path of `report` (per category) that `allow` does not cover.
pub fn check_allowed(report: &RootReport, allow: &AllowList) -> Result<(), RootfsError> {
    let caps: Vec<&Path> = report
        .capabilities
        .iter()
        .map(|c| c.path.as_path())
        .collect();
    let devices: Vec<&Path> = report.devices.iter().map(|d| d.path.as_path()).collect();
    let table: [(Category, &[String], Vec<&Path>); 6] = [
        (Category::Setuid, &allow.setuid, as_paths(&report.setuid)),
        (Category::Setgid, &allow.setgid, as_paths(&report.setgid)),
        (Category::Capability, &allow.capabilities, caps),
        (Category::Device, &allow.devices, devices),
        (
            Category::WorldWritable,
            &allow.world_writable,
            as_paths(&report.world_writable),
        ),
        (
            Category::StickyDir,
            &allow.sticky_dirs,
            as_paths(&report.sticky_dirs),
        ),
    ];
    let mut offenders = Vec::new();
    for (category, globs, paths) in table {
        let set = compile(category, globs)?;
        for p in paths {
            if !set.is_match(p) {
                offenders.push(Offender {
                    category,
                    path: p.to_path_buf(),
                });
            }
        }
    }
    if offenders.is_empty() {
        Ok(())
    } else {
        Err(RootfsError::NotAllowed { offenders })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::scan::{CapabilityFile, DeviceKind, DeviceNode};

    fn report() -> RootReport {
        RootReport {
            setuid: vec![
                "/usr/bin/su".into(),
                "/usr/bin/sudo".into(),
                "/opt/x/bin/evil".into(),
            ],
            setgid: vec!["/usr/sbin/unix_chkpwd".into()],
            capabilities: vec![CapabilityFile {
                path: "/usr/bin/ping".into(),
                caps: "cap_net_raw=ep".into(),
            }],
            devices: vec![DeviceNode {
                path: "/dev/sda".into(),
                kind: DeviceKind::Block,
                major: 8,
                minor: 0,
            }],
            world_writable: vec!["/var/spool/x".into()],
            sticky_dirs: vec!["/tmp".into()],
            ..RootReport::default()
        }
    }

    #[test]
    fn everything_allowed_passes() {
        let allow = AllowList {
            setuid: vec!["/usr/bin/*".into(), "/opt/**".into()],
            setgid: vec!["/usr/sbin/unix_chkpwd".into()],
            capabilities: vec!["/usr/bin/ping".into()],
            devices: vec!["/dev/**".into()],
            world_writable: vec!["/var/spool/*".into()],
            sticky_dirs: vec!["/tmp".into(), "/var/tmp".into()],
        };
        check_allowed(&report(), &allow).unwrap();
    }

    #[test]
    fn every_offender_is_listed_with_its_category() {
        let allow = AllowList {
            setuid: vec!["/usr/bin/*".into(), "/opt/*".into()],
            sticky_dirs: vec!["/tmp".into()],
            ..AllowList::default()
        };
        let e = check_allowed(&report(), &allow).unwrap_err();
        assert_eq!(
            e.to_string(),
            "5 path(s) not allowed: setuid /opt/x/bin/evil, setgid /usr/sbin/unix_chkpwd, \
             capability /usr/bin/ping, device /dev/sda, world-writable /var/spool/x"
        );
    }

    #[test]
    fn bad_glob_is_named() {
        let allow = AllowList {
            devices: vec!["/dev/[".into()],
            ..AllowList::default()
        };
        let e = check_allowed(&RootReport::default(), &allow).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("allow-list device: invalid glob \"/dev/[\": "),
            "{e}"
        );
    }

    #[test]
    fn allow_list_parses_from_json_and_refuses_unknown_keys() {
        let a: AllowList = serde_json::from_str(r#"{"setuid": ["/usr/bin/su"]}"#).unwrap();
        assert_eq!(a.setuid, vec!["/usr/bin/su"]);
        let e = serde_json::from_str::<AllowList>(r#"{"suid": []}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `suid`"), "{e}");
    }
}
