//! The filesystem ground floor every wing builds on: crash-safe writes and the names and modes
//! of temporaries ([`atomic`]), the one writer of inode metadata, which creates nodes and gives
//! them owner, mode, xattrs and mtimes without following links ([`inode`]), paths resolved
//! inside a root with its symlinks ([`inroot`]: the image root rootfs extracts into, the sysroot
//! elfdeps searches), the stat fingerprint with its racy-timestamp rule ([`stamp`]), the one
//! content-hash memo keyed on it ([`memo`]: the build's hash cache, publish's memos) and the one
//! link-safe tree walker ([`walk`]: root trees, publish's source scan, overlays, the build's
//! directory inputs) and the mounts below a directory ([`mounts`]: what must be detached before a
//! temporary chroot is removed). The build writes through it directly; publish wraps the same primitives
//! in its recording, crash-injecting `Fs` (src/publish/fsops.rs).

pub mod atomic;
pub mod inode;
pub mod inroot;
pub mod memo;
pub mod mounts;
pub mod stamp;
pub mod walk;
