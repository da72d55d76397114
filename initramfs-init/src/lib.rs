//! netroot-init: the PID 1 of netroot initramfs images. The boot config it parses, the console
//! lines it prints and its phases are the `netroot-boot` crate's, shared with the builder and
//! re-exported here as [`bootconfig`] and [`log`].
//!
//! The init runs the phases in [`phases`] against the [`sys::Sys`] seam: [`sys::RealSys`] on a
//! node, `sys::FakeSys` in tests (compiled only for tests or with the `testing` feature, like the
//! fake DHCP server). Line formats the QEMU tests grep are in [`log`].

// Unit tests write fixtures directly (clippy.toml keeps raw writes out of the rest).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod backoff;
pub use netroot_boot::bootconfig;
pub mod cli;
pub mod dhcp;
pub mod failure;
pub use netroot_boot::console as log;
pub mod netlink;
pub mod parse;
pub mod paths;
pub mod phases;
pub mod pid1;
pub mod sys;

#[cfg(test)]
mod testutil;
