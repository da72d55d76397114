//! TODO-OWNER: compress
