//! `netroot generations`: the published generations of a profile, read from its history and
//! each generation's own record (nothing from the project): when each was published, which is
//! active and which a rollback would take, its size, and what changed from the one before.

use std::fmt;

use serde::Serialize;

use super::error::PublishError;
use super::generation::GenerationRecord;
use super::history::History;
use super::layout::{Layout, GENERATION_RECORD};
use super::Targets;

/// One published generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerationInfo {
    pub generation: String,
    /// Seconds since the epoch of its (last) publication.
    pub published_unix: u64,
    pub active: bool,
    /// What `netroot rollback` (without `--to`) would activate.
    pub rollback_target: bool,
    /// Boot files plus the root tree's file bytes, from the record.
    pub bytes: u64,
    /// What differs from the generation published before it (`kernel`, `initramfs`,
    /// `command line`, `root tree`, ...); empty for the first.
    pub changed: Vec<String>,
    /// Why its record could not be read (the generation is listed by the history anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The generations of one profile, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerationList {
    pub profile: String,
    pub generations: Vec<GenerationInfo>,
}

/// Lists the published generations of `profile` on `t`.
pub fn generations(profile: &str, t: &Targets) -> Result<GenerationList, PublishError> {
    let layout = Layout::new(profile, t)?;
    let history = History::load(&layout.history(), profile)?;
    let rollback = history.rollback_target().map(str::to_string);
    let mut previous: Option<GenerationRecord> = None;
    let mut out = Vec::new();
    for e in &history.generations {
        let record =
            GenerationRecord::read(&layout.tftp_gen(&e.generation).join(GENERATION_RECORD));
        let (bytes, changed, problem) = match &record {
            Ok(r) => (size_of(r), changes(previous.as_ref(), r), None),
            Err(err) => (0, Vec::new(), Some(err.to_string())),
        };
        out.push(GenerationInfo {
            generation: e.generation.clone(),
            published_unix: e.published_unix,
            active: history.active.as_deref() == Some(e.generation.as_str()),
            rollback_target: rollback.as_deref() == Some(e.generation.as_str()),
            bytes,
            changed,
            problem,
        });
        previous = record.ok();
    }
    Ok(GenerationList {
        profile: profile.to_string(),
        generations: out,
    })
}

fn size_of(r: &GenerationRecord) -> u64 {
    r.files.values().map(|f| f.size).sum::<u64>() + r.root.as_ref().map_or(0, |t| t.bytes)
}

/// What differs from `before` to `now`, in the record's own terms.
fn changes(before: Option<&GenerationRecord>, now: &GenerationRecord) -> Vec<String> {
    let Some(before) = before else {
        return Vec::new();
    };
    let mut out: Vec<String> = now
        .files
        .iter()
        .filter(|(name, d)| before.files.get(*name) != Some(*d))
        .map(|(name, _)| name.clone())
        .collect();
    out.extend(
        before
            .files
            .keys()
            .filter(|name| !now.files.contains_key(*name))
            .map(|name| format!("{name} removed")),
    );
    if before.cmdline != now.cmdline {
        out.push("command line".to_string());
    }
    match (&before.root, &now.root) {
        (Some(a), Some(b)) if a.digest != b.digest => out.push(format!(
            "root tree ({:+} files, {:+} bytes)",
            b.files as i64 - a.files as i64,
            b.bytes as i64 - a.bytes as i64
        )),
        (None, Some(_)) => out.push("root tree added".to_string()),
        (Some(_), None) => out.push("root tree removed".to_string()),
        _ => {}
    }
    let nodes = |r: &GenerationRecord| r.boot.as_ref().map(|b| b.nodes.clone());
    if nodes(before) != nodes(now) {
        out.push("nodes".to_string());
    }
    out
}

impl fmt::Display for GenerationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.generations.is_empty() {
            return writeln!(f, "{}: no published generation", self.profile);
        }
        for g in &self.generations {
            let mark = match (g.active, g.rollback_target) {
                (true, _) => "active",
                (_, true) => "rollback",
                _ => "",
            };
            let what = match (&g.problem, g.changed.is_empty()) {
                (Some(p), _) => format!("unreadable record: {p}"),
                (None, true) => "-".to_string(),
                (None, false) => g.changed.join(", "),
            };
            writeln!(
                f,
                "{:<20} {} {:<8} {:>12} {what}",
                g.generation,
                utc(g.published_unix),
                mark,
                g.bytes,
            )?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC) for seconds since the epoch.
fn utc(secs: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_the_calendar_ones() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_601_599), "2026-12-06T23:59:59Z");
    }
}
