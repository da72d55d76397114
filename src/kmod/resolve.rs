//! The closure walk: requests → modules, following `depends=` and `softdep=` breadth-first, then
//! load order, firmware and the report of what was read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::alias::AliasIndex;
use super::builtin::Builtins;
use super::elf::modinfo_section;
use super::error::KmodError;
use super::firmware::find_firmware;
use super::index::{ModuleEntry, ModuleIndex};
use super::modinfo::{normalize_name, ModInfo};
use super::source::{parallel_map, read_modinfo_only, read_module};
use super::topo::topo_sort;
use super::{Closure, FirmwareFile, Reason, ResolveOptions, ResolvedModule};

/// How many near names an unknown-module error suggests.
const CLOSEST_COUNT: usize = 3;

/// A module of the closure, read and parsed.
struct Loaded {
    entry: ModuleEntry,
    data: Vec<u8>,
    info: ModInfo,
    reasons: BTreeSet<Reason>,
}

/// Which softdep list a target comes from.
#[derive(Clone, Copy)]
enum Soft {
    Pre,
    Post,
}

/// State of one resolution.
struct Resolver<'a> {
    opts: &'a ResolveOptions,
    index: ModuleIndex,
    builtins: Builtins,
    /// Aliases of all shipped modules, built on first need.
    aliases: Option<AliasIndex>,
    loaded: BTreeMap<String, Loaded>,
    /// Modules to add (or to give another reason) in the next wave.
    pending: Vec<(String, Reason)>,
    /// (loads first, loads after).
    edges: BTreeSet<(String, String)>,
    builtin_hits: BTreeSet<(String, String)>,
    warnings: Vec<String>,
    inputs: BTreeSet<PathBuf>,
    /// Modules whose `.modinfo` alone was read (alias index): path → blake3 of the section.
    modinfo_inputs: BTreeMap<PathBuf, String>,
}

/// Resolves `requests` (module names, aliases, or path globs relative to `modules_dir`) into the
/// closure of modules and firmware they need. `modules_dir` is `.../lib/modules/KVER`.
pub fn resolve(
    modules_dir: &Path,
    requests: &[String],
    opts: &ResolveOptions,
) -> Result<Closure, KmodError> {
    if !modules_dir.is_dir() {
        return Err(KmodError::NotADirectory {
            path: modules_dir.to_owned(),
        });
    }
    let index = ModuleIndex::scan(modules_dir)?;
    let builtins = Builtins::load(modules_dir)?;
    let mut resolver = Resolver {
        opts,
        warnings: index
            .warnings
            .iter()
            .chain(&builtins.warnings)
            .cloned()
            .collect(),
        inputs: index.dirs.iter().chain(&builtins.inputs).cloned().collect(),
        index,
        builtins,
        aliases: None,
        modinfo_inputs: BTreeMap::new(),
        loaded: BTreeMap::new(),
        pending: Vec::new(),
        edges: BTreeSet::new(),
        builtin_hits: BTreeSet::new(),
    };
    for request in requests {
        resolver.request(modules_dir, request)?;
    }
    resolver.expand()?;
    resolver.finish()
}

/// Whether `vermagic` is for kernel `version` (`6.1.0-56-amd64 SMP preempt ...`).
fn vermagic_matches(vermagic: &str, version: &str) -> bool {
    vermagic
        .strip_prefix(version)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// Reads a module and parses its `.modinfo`.
fn load(entry: &ModuleEntry) -> Result<(Vec<u8>, ModInfo), KmodError> {
    let data = read_module(&entry.source, entry.compression)?;
    let section = modinfo_section(data.as_slice()).map_err(|source| KmodError::Elf {
        path: entry.source.clone(),
        source,
    })?;
    let info = ModInfo::parse(&section).map_err(|source| KmodError::Modinfo {
        path: entry.source.clone(),
        source,
    })?;
    drop(section);
    Ok((data, info))
}

/// The [`CLOSEST_COUNT`] candidates nearest to `request` by edit distance, ties by name.
fn closest<'a>(request: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    let wanted = normalize_name(request);
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (strsim::levenshtein(&wanted, c), c.as_str()))
        .collect();
    scored.sort_unstable();
    scored.dedup();
    let names: Vec<&str> = scored.iter().take(CLOSEST_COUNT).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl Resolver<'_> {
    /// Turns one request into pending modules or built-in hits.
    fn request(&mut self, modules_dir: &Path, request: &str) -> Result<(), KmodError> {
        let reason = Reason::Requested(request.to_owned());
        if request.contains('/') || request.contains('*') {
            let matches = self.index.glob(request)?;
            if matches.is_empty() {
                return Err(KmodError::GlobNoMatch {
                    pattern: request.to_owned(),
                    modules_dir: modules_dir.to_owned(),
                });
            }
            for entry in matches {
                self.pending.push((entry.name.clone(), reason.clone()));
            }
            return Ok(());
        }
        let (modules, builtins) = self.targets(request)?;
        if modules.is_empty() && builtins.is_empty() {
            return Err(KmodError::UnknownModule {
                request: request.to_owned(),
                closest: closest(
                    request,
                    self.index.by_name.keys().chain(self.builtins.names.keys()),
                ),
            });
        }
        for module in modules {
            self.pending.push((module, reason.clone()));
        }
        for why in builtins {
            self.builtin_hits.insert((request.to_owned(), why));
        }
        Ok(())
    }

    /// Modules and built-in explanations for a name or alias, as modprobe looks it up: a module file
    /// by name, else a built-in by name, else every module and built-in with a matching alias.
    fn targets(&mut self, text: &str) -> Result<(BTreeSet<String>, Vec<String>), KmodError> {
        let name = normalize_name(text);
        if self.index.by_name.contains_key(&name) {
            return Ok((BTreeSet::from([name]), Vec::new()));
        }
        if let Some(decl) = self.builtins.names.get(&name) {
            return Ok((
                BTreeSet::new(),
                vec![format!("built into the kernel ({decl})")],
            ));
        }
        let modules = self.alias_index()?.lookup(text);
        let builtins = self
            .builtins
            .aliases
            .lookup(text)
            .into_iter()
            .map(|b| format!("alias of built-in module {b}"))
            .collect();
        Ok((modules, builtins))
    }

    /// The alias index of all shipped modules, built in parallel on first use.
    fn alias_index(&mut self) -> Result<&AliasIndex, KmodError> {
        if self.aliases.is_none() {
            let entries: Vec<&ModuleEntry> = self.index.by_name.values().collect();
            let parsed = parallel_map(&entries, |entry| {
                let section = read_modinfo_only(&entry.source, entry.compression)?;
                let hash = blake3::hash(&section).to_hex().to_string();
                ModInfo::parse_aliases(&section)
                    .map(|parsed| (parsed, hash))
                    .map_err(|source| KmodError::Modinfo {
                        path: entry.source.clone(),
                        source,
                    })
            });
            let mut index = AliasIndex::default();
            for (entry, result) in entries.iter().zip(parsed) {
                let ((_, aliases), hash) = result?;
                for alias in aliases {
                    index.insert(&alias, &entry.name);
                }
                self.modinfo_inputs.insert(entry.source.clone(), hash);
            }
            self.aliases = Some(index);
        }
        Ok(self.aliases.get_or_insert_with(AliasIndex::default))
    }

    /// Loads pending modules wave by wave until the closure is complete.
    fn expand(&mut self) -> Result<(), KmodError> {
        loop {
            let batch = std::mem::take(&mut self.pending);
            if batch.is_empty() {
                return Ok(());
            }
            let new: BTreeSet<&String> = batch
                .iter()
                .map(|(name, _)| name)
                .filter(|name| !self.loaded.contains_key(*name))
                .collect();
            let entries: Vec<ModuleEntry> = new
                .iter()
                .filter_map(|name| self.index.by_name.get(*name).cloned())
                .collect();
            let results = parallel_map(&entries, load);
            for (entry, result) in entries.iter().zip(results) {
                let (data, info) = result?;
                self.admit(entry.clone(), data, info)?;
            }
            for (name, reason) in batch {
                if let Some(loaded) = self.loaded.get_mut(&name) {
                    loaded.reasons.insert(reason);
                }
            }
            for entry in &entries {
                self.follow(&entry.name)?;
            }
        }
    }

    /// Checks a freshly read module and adds it to the closure.
    fn admit(&mut self, entry: ModuleEntry, data: Vec<u8>, info: ModInfo) -> Result<(), KmodError> {
        if !vermagic_matches(&info.vermagic, &self.opts.kernel_version) {
            return Err(KmodError::VermagicMismatch {
                module: entry.name,
                vermagic: info.vermagic,
                kernel_version: self.opts.kernel_version.clone(),
            });
        }
        if let Some(declared) = info.name.as_ref().filter(|n| **n != entry.name) {
            self.warnings.push(format!(
                "module file {} declares name={declared}; using the file name {}",
                entry.source.display(),
                entry.name
            ));
        }
        for token in &info.softdep_ignored {
            self.warnings.push(format!(
                "module {}: softdep {token:?} has no \"pre:\" or \"post:\" and is ignored, as modprobe does",
                entry.name
            ));
        }
        self.inputs.insert(entry.source.clone());
        self.loaded.insert(
            entry.name.clone(),
            Loaded {
                entry,
                data,
                info,
                reasons: BTreeSet::new(),
            },
        );
        Ok(())
    }

    /// Queues the `depends=` and `softdep=` targets of a loaded module.
    fn follow(&mut self, name: &str) -> Result<(), KmodError> {
        let Some(loaded) = self.loaded.get(name) else {
            return Ok(());
        };
        let depends = loaded.info.depends.clone();
        let soft: Vec<(Soft, String)> = (loaded.info.softdep_pre.iter().map(|s| (Soft::Pre, s)))
            .chain(loaded.info.softdep_post.iter().map(|s| (Soft::Post, s)))
            .map(|(kind, s)| (kind, s.clone()))
            .collect();
        for dep in depends {
            if self.index.by_name.contains_key(&dep) {
                self.edges.insert((dep.clone(), name.to_owned()));
                self.pending
                    .push((dep, Reason::DependencyOf(name.to_owned())));
            } else if let Some(decl) = self.builtins.names.get(&dep) {
                let why = format!("dependency of {name}, built into the kernel ({decl})");
                self.builtin_hits.insert((dep, why));
            } else {
                return Err(KmodError::MissingDependency {
                    module: name.to_owned(),
                    dependency: dep,
                });
            }
        }
        for (kind, target) in soft {
            let (label, reason) = match kind {
                Soft::Pre => ("pre", Reason::SoftdepPre(name.to_owned())),
                Soft::Post => ("post", Reason::SoftdepPost(name.to_owned())),
            };
            let (mut modules, builtins) = self.targets(&target)?;
            modules.remove(name);
            if modules.is_empty() && builtins.is_empty() {
                self.warnings.push(format!(
                    "softdep {label} {target:?} of module {name} matches no module or built-in; skipped"
                ));
            }
            for module in modules {
                let edge = match kind {
                    Soft::Pre => (module.clone(), name.to_owned()),
                    Soft::Post => (name.to_owned(), module.clone()),
                };
                self.edges.insert(edge);
                self.pending.push((module, reason.clone()));
            }
            for why in builtins {
                let why = format!("softdep {label} of {name}, {why}");
                self.builtin_hits.insert((target.clone(), why));
            }
        }
        Ok(())
    }

    /// Sorts the closure into load order and looks its firmware up.
    fn finish(mut self) -> Result<Closure, KmodError> {
        let nodes: BTreeSet<String> = self.loaded.keys().cloned().collect();
        let order = topo_sort(&nodes, &self.edges)?;
        let firmware = self.firmware()?;
        let mut modules = Vec::with_capacity(order.len());
        for name in order {
            let Some(loaded) = self.loaded.remove(&name) else {
                continue;
            };
            let mut seen = BTreeSet::new();
            let firmware: Vec<String> = loaded
                .info
                .firmware
                .into_iter()
                .filter(|f| seen.insert(f.clone()))
                .collect();
            modules.push(ResolvedModule {
                name,
                rel_path: loaded.entry.rel_path,
                source: loaded.entry.source,
                data: loaded.data,
                reasons: loaded.reasons.into_iter().collect(),
                firmware,
                vermagic: loaded.info.vermagic,
            });
        }
        Ok(Closure {
            modules,
            firmware,
            builtin: self.builtin_hits.into_iter().collect(),
            warnings: self.warnings,
            inputs: self.inputs.into_iter().collect(),
            modinfo_inputs: self.modinfo_inputs.into_iter().collect(),
        })
    }

    /// Looks up every `firmware=` of the closure; missing ones warn, or fail when strict.
    fn firmware(&mut self) -> Result<Vec<FirmwareFile>, KmodError> {
        let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (name, loaded) in &self.loaded {
            for fw in &loaded.info.firmware {
                wanted.entry(fw).or_default().insert(name);
            }
        }
        let dirs = &self.opts.firmware_dirs;
        let mut files: BTreeMap<String, (Option<PathBuf>, BTreeSet<String>)> = BTreeMap::new();
        for (fw, needed_by) in wanted {
            let modules = needed_by.iter().copied().collect::<Vec<_>>().join(", ");
            let search = find_firmware(dirs, fw, &modules)?;
            self.inputs.extend(search.inputs);
            if search.found.is_empty() {
                let listed = dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                if self.opts.firmware_strict {
                    return Err(KmodError::FirmwareMissing {
                        firmware: fw.to_owned(),
                        module: modules,
                        dirs: format!("[{listed}]"),
                    });
                }
                self.warnings.push(format!(
                    "firmware {fw:?} for module {modules} not found in [{listed}]"
                ));
            }
            let hits: Vec<(String, Option<PathBuf>)> = if search.found.is_empty() {
                vec![(fw.to_owned(), None)]
            } else {
                search
                    .found
                    .into_iter()
                    .map(|h| (h.name, Some(h.source)))
                    .collect()
            };
            for (name, source) in hits {
                let file = files.entry(name).or_insert((source, BTreeSet::new()));
                file.1.extend(needed_by.iter().map(|m| m.to_string()));
            }
        }
        Ok(files
            .into_iter()
            .map(|(name, (source, needed_by))| FirmwareFile {
                name,
                source,
                needed_by: needed_by.into_iter().collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vermagic_must_start_with_version_as_a_word() {
        let v = "6.1.0-56-amd64 SMP preempt mod_unload modversions";
        assert!(vermagic_matches(v, "6.1.0-56-amd64"));
        assert!(vermagic_matches("6.1.0-56-amd64", "6.1.0-56-amd64"));
        assert!(!vermagic_matches(v, "6.1.0-56"));
        assert!(!vermagic_matches(v, "6.1.0-57-amd64"));
        assert!(!vermagic_matches("", "6.1.0-56-amd64"));
        assert!(!vermagic_matches(v, ""));
    }

    #[test]
    fn closest_ranks_by_distance_then_name() {
        let names: Vec<String> = ["nfs", "nfsv2", "nfsv3", "nfsv4", "nfsd", "bonding"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("nfsv5", names.iter()), "nfsv2, nfsv3, nfsv4");
        assert!(closest("bond-ing", names.iter()).starts_with("bonding, "));
        assert_eq!(closest("x", [].iter()), "none");
    }
}
