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
                let listing = match self.merged(&n) {
                    // An abstract profile may leave required keys to its children: not validated.
                    Ok(m) if m.is_abstract() => {
                        Listing::Abstract(m.raw.description.map(|d| d.value).unwrap_or_default())
                    }
                    Ok(m) => match m.resolve(&n, &self.root) {
                        Ok(p) => Listing::Concrete(p.description),
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
        let m = self.merged(name)?;
        if m.is_abstract() {
            return Err(ProfileError::Abstract(name.to_string()));
        }
        m.resolve(name, &self.root)
    }

    /// The profile `name`'s inheritance chain, parsed and merged.
    fn merged(&self, name: &str) -> Result<Merged, ProfileError> {
        let mut sm = source::SourceMap::default();
        let layers =
            load::load_chain(&self.profiles_dir(), Path::new(PROFILES_DIR), name, &mut sm)?;
        let chain = layers.iter().map(|(n, _)| n.clone()).collect();
        Ok(Merged {
            raw: load::merge_layers(layers),
            sm,
            chain,
        })
    }
}

/// A merged, not yet validated profile with the sources its positions refer to.
struct Merged {
    raw: raw::RawProfile,
    sm: source::SourceMap,
    chain: Vec<String>,
}

impl Merged {
    fn is_abstract(&self) -> bool {
        self.raw.is_abstract.as_ref().is_some_and(|a| a.value)
    }

    fn resolve(self, name: &str, project: &Path) -> Result<Profile, ProfileError> {
        resolve::resolve(name, self.raw, &self.sm, &self.chain, project)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_vlan;
