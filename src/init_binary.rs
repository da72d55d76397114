//! The static `netroot-init` binary embedded into the `netroot` executable by build.rs.

/// Bytes of the static PID-1 binary that goes into every image as `/init`.
pub static INIT_BINARY: &[u8] = include_bytes!(env!("NETROOT_INIT_BIN"));
