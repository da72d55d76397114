//! TODO-OWNER: image
