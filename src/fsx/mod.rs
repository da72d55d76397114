//! The filesystem ground floor every wing builds on: crash-safe writes and the names and modes
//! of temporaries ([`atomic`]), the one writer of inode metadata, which creates nodes and gives
//! them owner, mode, xattrs and mtimes without following links ([`inode`]), paths resolved
//! inside a root with its symlinks ([`inroot`]: the image root rootfs extracts into, the sysroot
//! elfdeps searches), and the stat fingerprint with its racy-timestamp rule both content-hash
//! memos key on ([`stamp`]). The build writes through it directly; publish wraps the same
//! primitives in its recording, crash-injecting `Fs` (src/publish/fsops.rs).

pub mod atomic;
pub mod inode;
pub mod inroot;
pub mod stamp;
