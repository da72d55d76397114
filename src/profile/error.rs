//! Errors of profile loading and validation; each names the file, line and column, or the profile.

use std::path::PathBuf;

use netroot_boot::bootconfig::{ConfigError, ValueError};

use super::source::Location;

/// Anything wrong with a profile: unreadable, unparsable, or invalid.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile \"{name}\" not found in {dir} (available: {})", .available.join(", "))]
    NotFound {
        name: String,
        dir: PathBuf,
        available: Vec<String>,
    },
    #[error("{at}: inherited profile \"{name}\" not found (available: {})", .available.join(", "))]
    InheritNotFound {
        at: Location,
        name: String,
        available: Vec<String>,
    },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("{at}: inheritance cycle: {}", .chain.join(" -> "))]
    Cycle { at: Location, chain: Vec<String> },
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    /// A value the init's boot-config parsers refuse, at the profile key that set it.
    #[error("{at}: {key}: {error}")]
    BootValue {
        at: Location,
        key: String,
        /// Boxed: the error of every profile load must stay small.
        error: Box<ValueError>,
    },
    /// Any other boot-config refusal (a value the boot-config file cannot carry).
    #[error("{at}: {key}: {error}")]
    BootConfig {
        at: Location,
        key: String,
        error: Box<ConfigError>,
    },
    #[error("profile \"{profile}\": {field} is required but no profile in its chain ({}) sets it", .chain.join(", "))]
    Missing {
        profile: String,
        field: &'static str,
        chain: Vec<String>,
    },
    #[error(
        "profile \"{0}\" is abstract (`abstract = true`): it is meant to be inherited; build a \
         profile that inherits it"
    )]
    Abstract(String),
    #[error("invalid profile name \"{0}\" (use letters, digits, '-', '_')")]
    BadName(String),
}
