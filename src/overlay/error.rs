//! Errors of overlay planning and application; each names the overlay and path involved.

use std::io;
use std::path::PathBuf;

/// Why a set of overlays cannot be planned or written. Sources are rendered as
/// `overlay "NAME" (PATH)` (see [`super::Source`]).
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlay \"{overlay}\": cannot read {path}")]
    Read {
        overlay: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("overlay \"{overlay}\": {dir} is not a directory")]
    NotADirectory { overlay: String, dir: PathBuf },
    #[error("overlay \"{0}\" is listed twice")]
    DuplicateOverlay(String),
    #[error("overlay \"{overlay}\": {path}: {kind}s are not allowed in overlays")]
    SpecialFile {
        overlay: String,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("overlay \"{overlay}\": {path}: {what} is not valid UTF-8")]
    NotUtf8 {
        overlay: String,
        path: PathBuf,
        what: &'static str,
    },
    #[error("overlay \"{overlay}\": {path}: {reason}")]
    BadPath {
        overlay: String,
        path: String,
        reason: String,
    },
    /// A template that does not render; `location` is `path[:line[:col]]` inside the overlay.
    #[error("overlay \"{overlay}\": {location}: {message}")]
    Template {
        overlay: String,
        location: String,
        message: String,
    },
    /// A template that does not render for one node of the inventory.
    #[error("node {node:?}: {error}")]
    Node {
        node: String,
        error: Box<OverlayError>,
    },
    #[error("{path}: provided by {first} and by {second}; list it in allow_override to let the later overlay win")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("{path}: {first} provides a {first_kind} but {second} a {second_kind}; a path cannot change kind")]
    KindConflict {
        path: String,
        first: String,
        first_kind: &'static str,
        second: String,
        second_kind: &'static str,
    },
    #[error("{path}: provided twice by overlay \"{overlay}\" ({first} and {second})")]
    Ambiguous {
        path: String,
        overlay: String,
        first: String,
        second: String,
    },
    #[error("{what} {path:?}: {reason}")]
    BadSetting {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{path}: owner {uid}:{gid} cannot be stored in an initramfs (its entries are all owned by root)")]
    OwnerNotRepresentable { path: String, uid: u32, gid: u32 },
    /// The image builder refused an entry; `entry` names the overlay and path it came from.
    #[error("{entry}")]
    Image {
        entry: String,
        #[source]
        source: Box<crate::image::ImageError>,
    },
    #[error("cannot open destination {path}")]
    DestRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot {action} in the destination")]
    Write {
        path: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {component} in the destination is a symlink; refusing to follow it")]
    SymlinkInDest { path: String, component: String },
    #[error("{path}: {component} exists in the destination as a {found}, not a {wanted}")]
    KindInDest {
        path: String,
        component: String,
        found: &'static str,
        wanted: &'static str,
    },
}
