//! Root trees: scanning a source tree into a manifest, staging it with hardlinks to the previous
//! generation, and comparing a published tree with its manifest.

pub mod diff;
pub mod manifest;
pub mod meta;
pub mod scan;
pub mod stage;

pub use diff::{diff, Problem, ProblemKind};
pub use manifest::{EntryKind, TreeEntry, TreeManifest};
pub use scan::{scan, ScannedTree};
pub use stage::{Action, Previous, TreeStats};
