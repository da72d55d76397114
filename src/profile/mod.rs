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

/// A profile name and what `netroot profiles` says of it.
pub type ProfileListing = (String, Listing);

/// One listed profile.
#[derive(Debug)]
pub enum Listing {
    /// A profile that builds, with its description.
    Concrete(String),
    /// A profile only meant to be inherited (`abstract = true`), with its description.
    Abstract(String),
    /// Why the profile does not load.
    Invalid(ProfileError),
}

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
                let listing = match self.load_profile(&n) {
                    Ok(p) => Listing::Concrete(p.description),
                    Err(ProfileError::Abstract(_)) => match self.abstract_description(&n) {
                        Ok(d) => Listing::Abstract(d),
                        Err(e) => Listing::Invalid(e),
                    },
                    Err(e) => Listing::Invalid(e),
                };
                (n, listing)
            })
            .collect())
    }

    /// Loads, merges and validates the profile `name` (an abstract one is refused).
    pub fn load_profile(&self, name: &str) -> Result<Profile, ProfileError> {
        let mut sm = source::SourceMap::default();
        let layers =
            load::load_chain(&self.profiles_dir(), Path::new(PROFILES_DIR), name, &mut sm)?;
        let chain: Vec<String> = layers.iter().map(|(n, _)| n.clone()).collect();
        let merged = load::merge_layers(layers);
        if merged.is_abstract.as_ref().is_some_and(|a| a.value) {
            return Err(ProfileError::Abstract(name.to_string()));
        }
        resolve::resolve(name, merged, &sm, &chain, &self.root)
    }

    /// The merged description of the abstract profile `name` (its chain parsed and merged, not
    /// validated: an abstract profile is allowed to leave required keys to its children).
    fn abstract_description(&self, name: &str) -> Result<String, ProfileError> {
        let mut sm = source::SourceMap::default();
        let layers =
            load::load_chain(&self.profiles_dir(), Path::new(PROFILES_DIR), name, &mut sm)?;
        let merged = load::merge_layers(layers);
        Ok(merged.description.map(|d| d.value).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
