//! Differences between two images, as the unpacked trees would differ.
//!
//! Each image is first reduced to what the kernel leaves in rootfs: paths normalised
//! (no `./`), a later segment's entry replacing an earlier one. Files are then added,
//! removed or changed (content, mode, owner, link target or device number; mtimes are
//! ignored), and kernel modules (`*.ko*` under `lib/modules`) are compared by name. A changed
//! netroot boot config is also shown key by key (when the reader kept its content).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use netroot_boot::bootconfig::{BootConfig, BOOT_CONFIG_PATH, KEYS};
use serde::Serialize;

use super::inspect::{entry_line, mode_string, EntryJson};
use super::reader::{Entry, Image};

/// Module file suffixes the kernel's module loader accepts.
const MODULE_SUFFIXES: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];
/// Where modules live (with and without the usr-merge).
const MODULE_DIRS: [&str; 2] = ["lib/modules/", "usr/lib/modules/"];

/// One way an entry changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `content`, `mode`, `owner`, `target`, `device`, or for the boot config the `netroot.*`
    /// key whose values changed.
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// An entry present in both images with differences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub path: String,
    pub changes: Vec<Change>,
}

/// A module present in both images whose file differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleChange {
    pub name: String,
    pub old_path: String,
    pub new_path: String,
}

/// A module and the path it is at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleRef {
    pub name: String,
    pub path: String,
}

/// Module-level differences, by module name (`-` and `_` are the same, as for modprobe).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleDiff {
    /// With their path in the new image.
    pub added: Vec<ModuleRef>,
    /// With their path in the old image.
    pub removed: Vec<ModuleRef>,
    pub changed: Vec<ModuleChange>,
}

/// Differences from image A to image B.
#[derive(Debug)]
pub struct Diff<'a> {
    pub added: Vec<&'a Entry>,
    pub removed: Vec<&'a Entry>,
    pub changed: Vec<Changed>,
    pub modules: ModuleDiff,
}

impl Diff<'_> {
    /// Whether the unpacked trees are the same (ignoring mtimes).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The tree the kernel would unpack: normalised path -> last entry written there.
pub fn final_tree(image: &Image) -> BTreeMap<&str, &Entry> {
    image.entries().map(|e| (e.normalized_path(), e)).collect()
}

/// The module name for a path under a modules directory, e.g. `e1000e`, `nf_tables`.
pub fn module_name(path: &str) -> Option<String> {
    if !MODULE_DIRS.iter().any(|d| path.starts_with(d)) {
        return None;
    }
    let file = path.rsplit('/').next()?;
    MODULE_SUFFIXES
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))
        .filter(|name| !name.is_empty())
        .map(|name| name.replace('-', "_"))
}

/// Key-by-key differences of two netroot boot configs (`etc/netroot/boot.conf` kept by the
/// reader): one change per `netroot.*` key whose values differ, rendered by the key table
/// itself. `None` when either side is not a boot config this netroot parses.
fn boot_conf_changes(a: &Entry, b: &Entry) -> Option<Vec<Change>> {
    let parse = |e: &Entry| {
        let text = std::str::from_utf8(e.data.as_deref()?).ok()?;
        BootConfig::parse(text).ok()
    };
    let (old, new) = (parse(a)?, parse(b)?);
    let shown = |values: Vec<String>| {
        if values.is_empty() {
            "-".to_owned()
        } else {
            values.join(", ")
        }
    };
    let mut changes = Vec::new();
    for key in KEYS {
        let (o, n) = (key.render(&old), key.render(&new));
        if o == n {
            continue;
        }
        if !key.is_list() {
            changes.push(Change {
                field: key.name,
                old: shown(o),
                new: shown(n),
            });
            continue;
        }
        // A list key (module lines, DNS servers): each value removed or added on its own line.
        let gone = o
            .iter()
            .filter(|v| !n.contains(v))
            .map(|v| (v.clone(), "-".to_owned()));
        let came = n
            .iter()
            .filter(|v| !o.contains(v))
            .map(|v| ("-".to_owned(), v.clone()));
        changes.extend(gone.chain(came).map(|(old, new)| Change {
            field: key.name,
            old,
            new,
        }));
    }
    Some(changes)
}

fn compare(a: &Entry, b: &Entry) -> Vec<Change> {
    let mut changes = Vec::new();
    let content = |e: &Entry| match &e.sha256 {
        Some(sha) => format!("{} bytes, sha256 {}", e.size, sha.get(..16).unwrap_or(sha)),
        None => "-".to_owned(),
    };
    if a.sha256 != b.sha256 {
        changes.push(Change {
            field: "content",
            old: content(a),
            new: content(b),
        });
        if a.normalized_path() == BOOT_CONFIG_PATH {
            changes.extend(boot_conf_changes(a, b).unwrap_or_default());
        }
    }
    if a.mode != b.mode {
        changes.push(Change {
            field: "mode",
            old: mode_string(a.mode),
            new: mode_string(b.mode),
        });
    }
    if (a.uid, a.gid) != (b.uid, b.gid) {
        let owner = |e: &Entry| format!("{}/{}", e.uid, e.gid);
        changes.push(Change {
            field: "owner",
            old: owner(a),
            new: owner(b),
        });
    }
    if a.link_target != b.link_target {
        let target = |e: &Entry| e.link_target.clone().unwrap_or_else(|| "-".to_owned());
        changes.push(Change {
            field: "target",
            old: target(a),
            new: target(b),
        });
    }
    if (a.rdev_major, a.rdev_minor) != (b.rdev_major, b.rdev_minor) {
        let dev = |e: &Entry| format!("{}:{}", e.rdev_major, e.rdev_minor);
        changes.push(Change {
            field: "device",
            old: dev(a),
            new: dev(b),
        });
    }
    changes
}

fn modules<'a>(tree: &BTreeMap<&'a str, &'a Entry>) -> BTreeMap<String, (&'a str, &'a Entry)> {
    tree.iter()
        .filter_map(|(path, e)| Some((module_name(path)?, (*path, *e))))
        .collect()
}

/// Compares image `a` (old) with image `b` (new).
pub fn diff<'a>(a: &'a Image, b: &'a Image) -> Diff<'a> {
    let (ta, tb) = (final_tree(a), final_tree(b));
    let added = tb
        .iter()
        .filter(|(p, _)| !ta.contains_key(*p))
        .map(|(_, e)| *e)
        .collect();
    let removed = ta
        .iter()
        .filter(|(p, _)| !tb.contains_key(*p))
        .map(|(_, e)| *e)
        .collect();
    let changed = ta
        .iter()
        .filter_map(|(path, ea)| {
            let eb = tb.get(path)?;
            let changes = compare(ea, eb);
            (!changes.is_empty()).then(|| Changed {
                path: (*path).to_owned(),
                changes,
            })
        })
        .collect();
    let (ma, mb) = (modules(&ta), modules(&tb));
    let mut md = ModuleDiff::default();
    for (name, (path, _)) in &mb {
        if !ma.contains_key(name) {
            md.added.push(ModuleRef {
                name: name.clone(),
                path: (*path).to_owned(),
            });
        }
    }
    for (name, (path, ea)) in &ma {
        match mb.get(name) {
            None => md.removed.push(ModuleRef {
                name: name.clone(),
                path: (*path).to_owned(),
            }),
            Some((new_path, eb)) if ea.sha256 != eb.sha256 || path != new_path => {
                md.changed.push(ModuleChange {
                    name: name.clone(),
                    old_path: (*path).to_owned(),
                    new_path: (*new_path).to_owned(),
                })
            }
            Some(_) => {}
        }
    }
    Diff {
        added,
        removed,
        changed,
        modules: md,
    }
}

/// The text form: `added`/`removed` lines in listing format, `changed` lines with one
/// indented line per difference, then the modules section and a summary.
pub fn render_diff(d: &Diff<'_>, a_name: &str, b_name: &str) -> String {
    let mut out = format!("# diff {a_name} -> {b_name}\n");
    for e in &d.removed {
        let _ = writeln!(out, "removed {}", entry_line(e));
    }
    for e in &d.added {
        let _ = writeln!(out, "added   {}", entry_line(e));
    }
    for c in &d.changed {
        let _ = writeln!(out, "changed {}", c.path);
        for ch in &c.changes {
            let _ = writeln!(out, "    {}: {} -> {}", ch.field, ch.old, ch.new);
        }
    }
    let m = &d.modules;
    let _ = writeln!(out, "# modules");
    for r in &m.removed {
        let _ = writeln!(out, "removed module {} ({})", r.name, r.path);
    }
    for r in &m.added {
        let _ = writeln!(out, "added   module {} ({})", r.name, r.path);
    }
    for c in &m.changed {
        if c.old_path == c.new_path {
            let _ = writeln!(out, "changed module {} ({})", c.name, c.new_path);
        } else {
            let _ = writeln!(
                out,
                "changed module {} ({} -> {})",
                c.name, c.old_path, c.new_path
            );
        }
    }
    let _ = writeln!(
        out,
        "# {} added, {} removed, {} changed; modules: {} added, {} removed, {} changed",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        m.added.len(),
        m.removed.len(),
        m.changed.len()
    );
    out
}

/// JSON form of a diff.
#[derive(Debug, Serialize)]
pub struct DiffJson<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub identical: bool,
    pub added: Vec<EntryJson<'a>>,
    pub removed: Vec<EntryJson<'a>>,
    pub changed: &'a [Changed],
    pub modules: &'a ModuleDiff,
}

/// Builds the JSON form of a diff.
pub fn diff_json<'a>(d: &'a Diff<'a>, a_name: &'a str, b_name: &'a str) -> DiffJson<'a> {
    DiffJson {
        old: a_name,
        new: b_name,
        identical: d.is_empty(),
        added: d.added.iter().map(|e| EntryJson::new(e)).collect(),
        removed: d.removed.iter().map(|e| EntryJson::new(e)).collect(),
        changed: &d.changed,
        modules: &d.modules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(
            module_name("lib/modules/6.1.0/kernel/net/e1000e.ko").as_deref(),
            Some("e1000e")
        );
        assert_eq!(
            module_name("usr/lib/modules/6.1/x/nf-tables.ko.zst").as_deref(),
            Some("nf_tables")
        );
        assert_eq!(
            module_name("lib/modules/6.1/x/a.ko.xz").as_deref(),
            Some("a")
        );
        assert_eq!(module_name("lib/modules/6.1/modules.dep"), None);
        assert_eq!(module_name("lib/firmware/x.ko"), None);
        assert_eq!(module_name("lib/modules/6.1/.ko"), None);
    }
}
