//! Finding profile files and linearizing `inherits` into one merge order.
//!
//! The order is a depth-first post-order over `inherits` with each profile visited once, so a
//! diamond (two parents sharing `base`) merges `base` once and before both parents.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::error::ProfileError;
use super::raw::RawProfile;
use super::source::{Location, SourceMap};

/// File extension of profile files.
pub const PROFILE_EXT: &str = "toml";

/// Names of all profiles in `dir`, sorted.
pub fn list(dir: &Path) -> Result<Vec<String>, ProfileError> {
    let rd = fs::read_dir(dir).map_err(|source| ProfileError::Io {
        path: dir.into(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| ProfileError::Io {
            path: dir.into(),
            source,
        })?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some(PROFILE_EXT) {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// A profile name must be a plain file stem: no path separators, no dot files.
pub fn check_name(name: &str) -> Result<(), ProfileError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::BadName(name.to_string()))
    }
}

/// Loads `name` and everything it inherits; returns the raw layers in merge order with their names.
pub fn load_chain(
    dir: &Path,
    display_dir: &Path,
    name: &str,
    sm: &mut SourceMap,
) -> Result<Vec<(String, RawProfile)>, ProfileError> {
    check_name(name)?;
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    let mut stack = Vec::new();
    visit(
        dir,
        display_dir,
        name,
        None,
        sm,
        &mut stack,
        &mut done,
        &mut out,
    )?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn visit(
    dir: &Path,
    display_dir: &Path,
    name: &str,
    referenced_at: Option<Location>,
    sm: &mut SourceMap,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    out: &mut Vec<(String, RawProfile)>,
) -> Result<(), ProfileError> {
    if done.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) {
        let mut chain = stack.clone();
        chain.push(name.to_string());
        let at = referenced_at.unwrap_or_else(|| sm.locate(0));
        return Err(ProfileError::Cycle { at, chain });
    }
    let file = format!("{name}.{PROFILE_EXT}");
    let path = dir.join(&file);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let available = list(dir)?;
            return Err(match referenced_at {
                Some(at) => ProfileError::InheritNotFound {
                    at,
                    name: name.into(),
                    available,
                },
                None => ProfileError::NotFound {
                    name: name.into(),
                    dir: dir.into(),
                    available,
                },
            });
        }
        Err(source) => return Err(ProfileError::Io { path, source }),
    };
    let raw: RawProfile = sm
        .parse(display_dir.join(&file), text)
        .map_err(|(at, message)| ProfileError::Syntax { at, message })?;
    stack.push(name.to_string());
    if let Some(parents) = &raw.inherits {
        for parent in &parent_names(parents, sm)? {
            visit(
                dir,
                display_dir,
                &parent.0,
                Some(parent.1.clone()),
                sm,
                stack,
                done,
                out,
            )?;
        }
    }
    stack.pop();
    done.insert(name.to_string());
    out.push((name.to_string(), raw));
    Ok(())
}

fn parent_names(
    parents: &super::source::Val<Vec<super::source::Val<String>>>,
    sm: &SourceMap,
) -> Result<Vec<(String, Location)>, ProfileError> {
    parents
        .value
        .iter()
        .map(|p| {
            let at = sm.locate(p.span.start);
            check_name(&p.value).map_err(|e| ProfileError::Invalid {
                at: at.clone(),
                message: e.to_string(),
            })?;
            Ok((p.value.clone(), at))
        })
        .collect()
}

/// Merges the layers in order into one raw profile (later wins).
pub fn merge_layers(layers: Vec<(String, RawProfile)>) -> RawProfile {
    let mut merged = RawProfile::default();
    for (_, layer) in layers {
        merged.merge(layer);
    }
    merged
}
