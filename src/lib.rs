//! netroot: builds initramfs and netboot images for diskless cluster nodes.
//!
//! The library holds all logic; the `netroot` binary is a shim over [`cli::main`].

// Unit tests write fixtures directly; the crate itself writes through `fsx` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod child;
pub mod cli;
pub mod codec;
pub mod compress;
pub mod deploy;
pub mod elfdeps;
pub mod fsx;
pub mod image;
pub mod init_binary;
pub mod interrupt;
pub mod kernel;
pub mod kmod;
pub mod manifest;
pub mod menus;
pub mod meter;
pub mod nodes;
pub mod overlay;
pub mod pipeline;
pub mod profile;
pub mod publish;
pub mod qemu;
pub mod record;
pub mod rootfs;
pub mod site;
