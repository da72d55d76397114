//! Support code for the QEMU boot tests (`tests/vm_boot.rs`, later the PXE end-to-end suite):
//! a busybox root tree whose `/sbin/init` checks what the initramfs handed over, a per-test
//! nfs-ganesha, a per-test project with a generated profile built by the `netroot` binary, a QEMU
//! runner with four virtio NICs on one hub, a QMP client, console parsing and a summary row.
//!
//! Test binaries include it with `#[path = "vm/mod.rs"] mod vm;` and use a subset of it.

pub mod console;
pub mod env;
pub mod error;
pub mod ganesha;
pub mod project;
pub mod qemu;
pub mod qmp;
pub mod report;
pub mod rootfs;

pub use error::VmError;
