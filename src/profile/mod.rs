//! TODO-OWNER: profile
