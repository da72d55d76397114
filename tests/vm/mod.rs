//! Support code for the QEMU boot tests (`tests/vm_boot.rs`, `tests/qemu_cli.rs`, later the PXE
//! end-to-end suite): what a test needs from the machine ([`env`]), a busybox root tree whose
//! `/sbin/init` checks what the initramfs handed over ([`rootfs`]) and the parser of its result
//! lines ([`console`]), a per-test project with a generated profile built by the `netroot`
//! binary ([`project`]), the bed of one direct-boot test with the assertions boot tests share
//! ([`bed`]), the NFS read-loop guest of the link-loss test ([`ioloop`]) and a summary row per
//! test ([`report`]). The VM machinery itself
//! (nfs-ganesha, the QEMU runner, QMP, the init's console lines) is the library's
//! `netroot::qemu`, which `netroot qemu` uses too.
//!
//! Test binaries include it with `#[path = "vm/mod.rs"] mod vm;` and use a subset of it.

pub mod bed;
pub mod console;
pub mod env;
pub mod error;
pub mod ioloop;
pub mod project;
pub mod report;
pub mod rootfs;

pub use error::VmError;
