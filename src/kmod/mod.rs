//! TODO-OWNER: kmod
