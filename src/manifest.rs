//! TODO-OWNER: manifest
