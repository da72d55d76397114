//! Overlay trees for the build: the profile's `[overlays]` names resolved to `overlays/NAME/`,
//! planned with the profile's variables, and recorded as build inputs.

use std::path::Path;

use rustix::fs::FileType;

use super::stage::Input;
use super::BuildError;
use crate::fsx::walk::{self, Item, Options, OtherFs};
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
            owner: profile.overlays.owner,
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

/// Every directory and file of the named overlays, the inputs of a stage that applies them
/// (walked as `overlay::plan` reads them: symlinks not followed, other filesystems entered).
pub fn overlay_inputs(project: &Path, names: &[String]) -> Result<Vec<Input>, BuildError> {
    let opts = Options {
        other_fs: OtherFs::Enter,
        follow_root: true,
    };
    let mut inputs = Vec::new();
    for n in names {
        let dir = project.join(OVERLAYS_DIR).join(n);
        walk::walk(&dir, opts, &mut |item: &Item<'_>| {
            if matches!(
                item.file_type(),
                FileType::Directory | FileType::RegularFile
            ) {
                inputs.push(Input::Path(item.host_path()));
            }
            Ok::<(), BuildError>(())
        })
        .map_err(|stop| {
            stop.into_err(|e| BuildError::io("cannot read overlay", e.host_path())(e.into_io()))
        })?;
    }
    Ok(inputs)
}
