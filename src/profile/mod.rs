//! Profiles: raw human-written TOML files (`profiles/NAME.toml`, with `inherits`) resolved into one
//! validated [`Profile`].
//!
//! Layers: `raw` is exactly the file schema (`deny_unknown_fields`, positions kept), `load`
//! linearizes inheritance, `raw::RawProfile::merge` overlays layers (later wins, tables merge, lists
//! replace except `modules.add`/`modules.remove`), and `resolve` validates into [`Profile`].

mod error;
mod load;
mod model;
mod raw;
mod render;
mod resolve;
mod resolve_boot;
mod resolve_net;
mod resolve_site;
mod source;

use std::path::{Path, PathBuf};

pub use error::ProfileError;
pub use model::{
    AllowList, FirmwareSpec, KernelSpec, MenuSpec, OverlaysSpec, Ownership, Profile, PublishSpec,
    RootSource,
};
pub use render::to_toml;
pub(crate) use resolve_net::bond_port;
pub use source::Location;

/// Directory of profile files inside a project.
pub const PROFILES_DIR: &str = "profiles";
/// Directory of overlay trees inside a project.
pub const OVERLAYS_DIR: &str = "overlays";

/// A profile name and its description, or why it does not load.
pub type ProfileListing = (String, Result<String, ProfileError>);

/// A netroot project: the directory holding `profiles/` and `overlays/`.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Project { root: root.into() }
    }

    pub fn profiles_dir(&self) -> PathBuf {
        self.root.join(PROFILES_DIR)
    }

    /// The names of the project's profiles, from the file names alone (no profile is read).
    pub fn profile_names(&self) -> Result<Vec<String>, ProfileError> {
        load::list(&self.profiles_dir())
    }

    /// All profile names with their descriptions (a profile that fails to load shows its error).
    pub fn list_profiles(&self) -> Result<Vec<ProfileListing>, ProfileError> {
        let names = load::list(&self.profiles_dir())?;
        Ok(names
            .into_iter()
            .map(|n| {
                let d = self.load_profile(&n).map(|p| p.description);
                (n, d)
            })
            .collect())
    }

    /// Loads, merges and validates the profile `name`.
    pub fn load_profile(&self, name: &str) -> Result<Profile, ProfileError> {
        let mut sm = source::SourceMap::default();
        let layers =
            load::load_chain(&self.profiles_dir(), Path::new(PROFILES_DIR), name, &mut sm)?;
        let chain: Vec<String> = layers.iter().map(|(n, _)| n.clone()).collect();
        let merged = load::merge_layers(layers);
        resolve::resolve(name, merged, &sm, &chain, &self.root)
    }
}

#[cfg(test)]
mod tests;
