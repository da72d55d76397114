//! netroot: builds initramfs and netboot images for diskless cluster nodes.
//!
//! The library holds all logic; the `netroot` binary is a shim over [`cli::main`].

pub mod cli;
pub mod codec;
pub mod compress;
pub mod deploy;
pub mod elfdeps;
pub mod fsx;
pub mod image;
pub mod init_binary;
pub mod kernel;
pub mod kmod;
pub mod manifest;
pub mod menus;
pub mod nodes;
pub mod overlay;
pub mod pipeline;
pub mod profile;
pub mod publish;
pub mod qemu;
pub mod record;
pub mod rootfs;
pub mod site;
