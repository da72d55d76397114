//! TODO-OWNER: elfdeps
