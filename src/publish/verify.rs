//! `verify`: re-hashes everything a profile has published (every listed generation's TFTP
//! artifacts and root tree) against the records and manifests, and checks that every consumer
//! references a listed, present generation. Files shared between generations by hardlink are read
//! once. Reads only.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::activate::references;
use super::error::{hash_err, io_err, PublishError};
use super::generation::GenerationRecord;
use super::history::{History, HistoryEntry};
use super::layout::{Layout, CURRENT, GENERATION_RECORD};
use super::tree::Memo;
use super::tree::{diff, scan, Problem, ProblemKind, TreeManifest};
use super::Targets;
use crate::fsx::stamp::Stamp;

/// Result of checking one generation.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationCheck {
    pub generation: String,
    pub active: bool,
    /// Entries compared (artifacts + tree entries).
    pub checked: usize,
    pub problems: Vec<Problem>,
}

/// Result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub profile: String,
    pub generations: Vec<GenerationCheck>,
    /// Problems of consumers (dangling or stale references).
    pub consumers: Vec<Problem>,
}

impl VerifyReport {
    /// The report of a profile with nothing to check.
    pub fn empty(profile: &str) -> VerifyReport {
        VerifyReport {
            profile: profile.to_string(),
            generations: Vec::new(),
            consumers: Vec::new(),
        }
    }
    /// True when nothing differs (the CLI exits non-zero otherwise).
    pub fn is_clean(&self) -> bool {
        self.consumers.is_empty() && self.generations.iter().all(|g| g.problems.is_empty())
    }
    /// Every problem, generations first.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.generations
            .iter()
            .flat_map(|g| &g.problems)
            .chain(&self.consumers)
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for g in &self.generations {
            let state = if g.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            let active = if g.active { " (active)" } else { "" };
            writeln!(
                f,
                "{}: {}{active}: {state}, {} entries checked",
                self.profile, g.generation, g.checked
            )?;
            for p in &g.problems {
                writeln!(f, "  {p}")?;
            }
        }
        for p in &self.consumers {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Verifies every generation listed in `profile`'s history and every consumer.
pub fn verify(profile: &str, t: &Targets) -> Result<VerifyReport, PublishError> {
    let layout = Layout::new(profile, t)?;
    let history = History::load(&layout.history(), profile)?;
    verify_in(&layout, &history, &mut Memo::by_inode())
}

/// [`verify`] of the generations `history` lists, hashing through `memo` (keyed by inode: a file
/// unchanged since `memo` read it is not read again).
pub(crate) fn verify_in(
    layout: &Layout,
    history: &History,
    memo: &mut Memo,
) -> Result<VerifyReport, PublishError> {
    let profile = layout.profile.as_str();
    let mut generations = Vec::new();
    for e in &history.generations {
        generations.push(check_generation(layout, e, history, memo)?);
    }
    let mut consumers = Vec::new();
    let listed: BTreeSet<&str> = history
        .generations
        .iter()
        .map(|e| e.generation.as_str())
        .collect();
    for (g, names) in references(layout, history, &[])? {
        for c in names {
            let is_current = c.ends_with(&format!("/{CURRENT}"));
            let reason = if !listed.contains(g.as_str()) {
                Some(format!("references generation {g}, which is not published"))
            } else if is_current && history.active.as_deref() != Some(g.as_str()) {
                Some(format!(
                    "points at {g}, but the active generation is {}; publish or roll back again",
                    history.active.as_deref().unwrap_or("none")
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                consumers.push(Problem {
                    path: c,
                    kind: ProblemKind::BadRecord { reason },
                });
            }
        }
    }
    Ok(VerifyReport {
        profile: profile.to_string(),
        generations,
        consumers,
    })
}

fn problem(path: &Path, kind: ProblemKind) -> Problem {
    Problem {
        path: path.display().to_string(),
        kind,
    }
}

fn check_generation(
    layout: &Layout,
    e: &HistoryEntry,
    history: &History,
    memo: &mut Memo,
) -> Result<GenerationCheck, PublishError> {
    let g = &e.generation;
    let mut out = GenerationCheck {
        generation: g.clone(),
        active: history.active.as_deref() == Some(g.as_str()),
        checked: 0,
        problems: Vec::new(),
    };
    let dir = layout.tftp_gen(g);
    let record_path = dir.join(GENERATION_RECORD);
    let record = match fs::symlink_metadata(&dir) {
        Err(_) => {
            out.problems.push(problem(&dir, ProblemKind::Missing));
            None
        }
        Ok(_) => match GenerationRecord::read(&record_path) {
            Ok(r) if r.generation == *g && r.profile == layout.profile => Some(r),
            Ok(r) => {
                out.problems.push(problem(
                    &record_path,
                    ProblemKind::BadRecord {
                        reason: format!(
                            "names {}/{}, not {}/{g}",
                            r.profile, r.generation, layout.profile
                        ),
                    },
                ));
                None
            }
            Err(err) => {
                out.problems.push(problem(
                    &record_path,
                    ProblemKind::BadRecord {
                        reason: err.to_string(),
                    },
                ));
                None
            }
        },
    };
    if let Some(r) = &record {
        check_artifacts(&dir, r, memo, &mut out)?;
        if e.root {
            check_tree(layout, g, r, memo, &mut out)?;
        }
    }
    Ok(out)
}

fn check_artifacts(
    dir: &Path,
    r: &GenerationRecord,
    memo: &mut Memo,
    out: &mut GenerationCheck,
) -> Result<(), PublishError> {
    for (name, want) in &r.files {
        out.checked += 1;
        let p = dir.join(name);
        let md = match fs::symlink_metadata(&p) {
            Ok(md) => md,
            Err(_) => {
                out.problems.push(problem(&p, ProblemKind::Missing));
                continue;
            }
        };
        if !md.is_file() {
            out.problems.push(problem(
                &p,
                ProblemKind::TypeChanged {
                    expected: "regular file".into(),
                    actual: "other".into(),
                },
            ));
            continue;
        }
        let got = memo
            .hash_nofollow(&p, &Stamp::of(&md))
            .map_err(hash_err(&p))?;
        if got != want.blake3 || md.len() != want.size {
            out.problems.push(problem(
                &p,
                ProblemKind::ContentChanged {
                    expected: want.blake3.clone(),
                    actual: got,
                },
            ));
        }
    }
    for e in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let name = e.map_err(io_err("list", dir))?.file_name();
        let name = name.to_string_lossy();
        if name != GENERATION_RECORD && !r.files.contains_key(name.as_ref()) {
            out.problems
                .push(problem(&dir.join(name.as_ref()), ProblemKind::Unexpected));
        }
    }
    Ok(())
}

fn check_tree(
    layout: &Layout,
    g: &str,
    r: &GenerationRecord,
    memo: &mut Memo,
    out: &mut GenerationCheck,
) -> Result<(), PublishError> {
    let mfile = layout.tree_manifest(g);
    let bad = |reason: String| problem(&mfile, ProblemKind::BadRecord { reason });
    let manifest = match fs::read(&mfile) {
        Ok(b) => match TreeManifest::from_bytes(&b) {
            Ok(m) => m,
            Err(e) => {
                out.problems.push(bad(e));
                return Ok(());
            }
        },
        Err(_) => {
            out.problems.push(problem(&mfile, ProblemKind::Missing));
            return Ok(());
        }
    };
    let want_digest = r.root.as_ref().map(|x| x.digest.as_str());
    if want_digest != Some(manifest.digest().as_str()) {
        out.problems.push(bad(format!(
            "digest {} does not match generation.json ({})",
            manifest.digest(),
            want_digest.unwrap_or("no root")
        )));
        return Ok(());
    }
    let root = layout.nfs_gen(g);
    out.checked += manifest.entries.len();
    if fs::symlink_metadata(&root).is_err() {
        out.problems.push(problem(&root, ProblemKind::Missing));
        return Ok(());
    }
    let actual = scan(&root, memo)?;
    out.problems.extend(diff(
        &manifest,
        &actual.manifest,
        &root.display().to_string(),
    ));
    Ok(())
}
