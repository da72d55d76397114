//! Overlay trees for the build: the profile's `[overlays]` names resolved to `overlays/NAME/`,
//! planned with the profile's variables, and recorded as build inputs.

use std::path::Path;

use super::stage::Input;
use super::BuildError;
use crate::overlay::{self, OverlaySpec, Plan, Vars};
use crate::profile::{Profile, OVERLAYS_DIR};

/// Variable every template gets: the profile name.
const PROFILE_VAR: &str = "profile";

/// The template variables of a profile: its `[vars]`, and `profile` (its name) unless set.
pub fn profile_vars(profile: &Profile) -> Vars {
    let mut vars: Vars = profile.vars.clone();
    vars.entry(PROFILE_VAR.to_string())
        .or_insert_with(|| toml::Value::String(profile.name.clone()));
    vars
}

/// Plans the overlays `names` (in order) with the profile's owners, variables and overrides.
pub fn plan_overlays(
    project: &Path,
    profile: &Profile,
    names: &[String],
) -> Result<Plan, BuildError> {
    plan_overlays_for_nodes(project, profile, names, &[])
}

/// [`plan_overlays`] for a root tree shared by `nodes`: their templates also rendered into
/// per-node layers ([`overlay::plan_with_nodes`]).
pub fn plan_overlays_for_nodes(
    project: &Path,
    profile: &Profile,
    names: &[String],
    nodes: &[overlay::NodeVars],
) -> Result<Plan, BuildError> {
    let specs: Vec<OverlaySpec> = names
        .iter()
        .map(|n| OverlaySpec {
            name: n.clone(),
            dir: project.join(OVERLAYS_DIR).join(n),
        })
        .collect();
    Ok(overlay::plan_with_nodes(
        &specs,
        &profile.overlays.owners,
        &profile_vars(profile),
        &profile.overlays.allow_override,
        nodes,
    )?)
}

/// Every directory and file of the named overlays: the inputs of a stage that applies them.
pub fn overlay_inputs(project: &Path, names: &[String]) -> Result<Vec<Input>, BuildError> {
    let mut inputs = Vec::new();
    for n in names {
        let mut stack = vec![project.join(OVERLAYS_DIR).join(n)];
        while let Some(dir) = stack.pop() {
            let rd =
                std::fs::read_dir(&dir).map_err(BuildError::io("cannot read overlay", &dir))?;
            inputs.push(Input::Path(dir.clone()));
            for e in rd {
                let e = e.map_err(BuildError::io("cannot read overlay", &dir))?;
                let ft = e
                    .file_type()
                    .map_err(BuildError::io("cannot read overlay", e.path()))?;
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_file() {
                    inputs.push(Input::Path(e.path()));
                }
            }
        }
    }
    Ok(inputs)
}
