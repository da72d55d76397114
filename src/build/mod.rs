//! TODO-OWNER: build
