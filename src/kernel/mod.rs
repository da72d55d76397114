//! TODO-OWNER: kernel
