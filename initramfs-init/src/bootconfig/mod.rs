//! The boot configuration shared by builder and init: the data model (`model`), and the one table
//! that renders and parses every field and kernel-cmdline key.

mod model;

pub use model::*;
