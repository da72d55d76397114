//! Reports of publish, rollback and gc, printable as text (`Display`) or JSON (serde).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::activate::{ConsumerChange, ConsumerPlan};
use super::hook::HookReport;
use super::plan::{Plan, PlanState};
use super::tree::TreeStats;

/// What a publish did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub profile: String,
    pub generation: String,
    /// `new`, or `published` when identical content was already there.
    pub state: PlanState,
    /// The active generation before.
    pub previous: Option<String>,
    pub link_dest: Option<String>,
    pub tree: Option<TreeStats>,
    pub consumers: Vec<ConsumerPlan>,
    /// Temporaries of interrupted runs and orphaned parts that were removed.
    pub cleaned: Vec<PathBuf>,
    pub hook: Option<HookReport>,
    pub warnings: Vec<String>,
    /// Mutating filesystem steps taken.
    pub fs_ops: u64,
    /// Source files read for hashing (the rest came from the hash memo).
    pub files_hashed: usize,
    /// (phase, seconds): lock, load memo, scan, stage tree, syncfs (when needed), stage boot
    /// files, activate, hook.
    pub phases: Vec<(String, f64)>,
    pub seconds: f64,
}

impl PublishReport {
    /// False when the hook failed (the CLI exits non-zero; activation stays).
    pub fn success(&self) -> bool {
        self.hook.as_ref().is_none_or(|h| h.success)
    }
    /// True when the targets were not changed.
    pub fn already_published(&self) -> bool {
        self.state == (PlanState::Published { active: true })
            && self
                .consumers
                .iter()
                .all(|c| c.change == ConsumerChange::Unchanged)
    }
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub profile: String,
    pub from: String,
    pub to: String,
    pub consumers: Vec<ConsumerPlan>,
    pub hook: Option<HookReport>,
    pub fs_ops: u64,
}

impl RollbackReport {
    pub fn success(&self) -> bool {
        self.hook.as_ref().is_none_or(|h| h.success)
    }
}

/// What gc did, or with `dry_run` what it would do.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub profile: String,
    /// Nothing was removed: the report lists what `gc` would remove.
    pub dry_run: bool,
    /// Generations deleted, oldest first.
    pub removed: Vec<String>,
    /// The parts (TFTP directory, root tree, tree manifest) of each deleted generation that
    /// existed.
    pub removed_parts: BTreeMap<String, Vec<PathBuf>>,
    /// Generations kept, oldest first.
    pub kept: Vec<String>,
    /// Unlisted generation parts and temporaries deleted.
    pub cleaned: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub fs_ops: u64,
}

fn consumers(f: &mut fmt::Formatter<'_>, cs: &[ConsumerPlan], verb: &str) -> fmt::Result {
    for c in cs {
        let what = match c.change {
            ConsumerChange::Create => format!("{verb} (new)"),
            ConsumerChange::Update => verb.to_string(),
            ConsumerChange::Unchanged => "unchanged".to_string(),
            ConsumerChange::Remove if verb.starts_with("would") => {
                "would remove (no longer rendered)".to_string()
            }
            ConsumerChange::Remove => "removed (no longer rendered)".to_string(),
        };
        writeln!(f, "  {}: {what}", c.consumer)?;
    }
    Ok(())
}

fn tree(f: &mut fmt::Formatter<'_>, t: &TreeStats, copy: &str, link: &str) -> fmt::Result {
    writeln!(
        f,
        "root tree: {} files {copy} ({} bytes), {} {link} from the previous generation ({} bytes), \
         {} directories, {} symlinks, {} hardlinks, {} special files ({} of the symlinks and \
         special files {link})",
        t.copied,
        t.bytes_copied,
        t.linked,
        t.bytes_linked,
        t.dirs,
        t.symlinks,
        t.hardlinks,
        t.specials,
        t.linked_other
    )
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            PlanState::New => writeln!(
                f,
                "{}: would publish new generation {}",
                self.profile, self.generation
            )?,
            PlanState::Published { active: true } if self.is_noop() => {
                return writeln!(
                    f,
                    "{}: {} already published and active; nothing to do",
                    self.profile, self.generation
                )
            }
            PlanState::Published { active } => writeln!(
                f,
                "{}: {} already published{}; would flip consumers",
                self.profile,
                self.generation,
                if active { "" } else { " (not active)" }
            )?,
        }
        for o in &self.orphans {
            writeln!(f, "would remove leftover {}", o.display())?;
        }
        if let Some(t) = &self.tree {
            tree(f, t, "to copy", "to hardlink")?;
        }
        consumers(f, &self.consumers, "would flip")?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PublishReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already_published() {
            writeln!(f, "{}: {} already published", self.profile, self.generation)?;
        } else if self.state == PlanState::New {
            writeln!(
                f,
                "{}: published {} in {:.2} s",
                self.profile, self.generation, self.seconds
            )?;
        } else {
            writeln!(
                f,
                "{}: activated already published {}",
                self.profile, self.generation
            )?;
        }
        if let Some(t) = &self.tree {
            tree(f, t, "copied", "hardlinked")?;
        }
        if !self.already_published() {
            consumers(f, &self.consumers, "flipped")?;
        }
        for c in &self.cleaned {
            writeln!(f, "removed leftover {}", c.display())?;
        }
        hook(f, &self.hook)?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

fn hook(f: &mut fmt::Formatter<'_>, h: &Option<HookReport>) -> fmt::Result {
    let Some(h) = h else { return Ok(()) };
    if h.success {
        return writeln!(f, "hook ok: {}", h.command);
    }
    let why = match (&h.error, h.timed_out, h.exit_code) {
        (Some(e), _, _) => e.clone(),
        (None, true, _) => "timed out".into(),
        (None, false, Some(c)) => format!("exit code {c}"),
        (None, false, None) => "killed by a signal".into(),
    };
    writeln!(f, "hook FAILED ({why}): {}", h.command)?;
    for line in h.output.lines() {
        writeln!(f, "  | {line}")?;
    }
    Ok(())
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: rolled back from {} to {}",
            self.profile, self.from, self.to
        )?;
        consumers(f, &self.consumers, "flipped")?;
        hook(f, &self.hook)
    }
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, kept) = if self.dry_run {
            ("would remove", "would keep")
        } else {
            ("removed", "kept")
        };
        writeln!(
            f,
            "{}: {verb} {} generation(s), {kept} {}",
            self.profile,
            self.removed.len(),
            self.kept.join(" ")
        )?;
        for g in &self.removed {
            writeln!(f, "  {verb} {g}")?;
            for p in self.removed_parts.get(g).into_iter().flatten() {
                writeln!(f, "    {}", p.display())?;
            }
        }
        for c in &self.cleaned {
            writeln!(f, "  {verb} leftover {}", c.display())?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree(TreeStats);

    impl fmt::Display for Tree {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            tree(f, &self.0, "copied", "hardlinked")
        }
    }

    #[test]
    fn tree_line_counts_linked_symlinks_and_special_files() {
        let t = TreeStats {
            copied: 1,
            linked: 20,
            bytes_copied: 5,
            bytes_linked: 300,
            dirs: 4,
            symlinks: 7,
            hardlinks: 2,
            specials: 1,
            linked_other: 6,
            rehashed: 0,
        };
        assert_eq!(
            Tree(t).to_string(),
            "root tree: 1 files copied (5 bytes), 20 hardlinked from the previous generation \
             (300 bytes), 4 directories, 7 symlinks, 2 hardlinks, 1 special files (6 of the \
             symlinks and special files hardlinked)\n"
        );
    }
}
