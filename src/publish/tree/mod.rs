//! Root trees: scanning a source tree into a manifest, deciding what to link from the previous
//! generation, staging it, and comparing a published tree with its manifest.

mod create;
pub mod diff;
pub mod linkplan;
pub mod manifest;
pub mod meta;
mod place;
pub mod relink;
pub mod restore;
pub mod scan;
pub mod stage;

pub use diff::{diff, diff_entries, Problem, ProblemKind};
pub use linkplan::{Action, Previous, TreeStats};
pub use manifest::{EntryKind, TreeEntry, TreeManifest};
pub use scan::{scan, Known, Memo, ScannedTree, TreeFacts};
