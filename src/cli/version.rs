//! The `netroot --version` text: the crate version plus the build facts build.rs records, so a
//! bug report names exactly which netroot (and which embedded PID 1) it is about.

/// `0.1.0 (commit abc1234, init sha256 0123456789ab, x86_64-unknown-linux-gnu)`: the git commit
/// ("unknown" when built outside a git checkout), the first hex digits of the embedded init's
/// sha256 ([`crate::init_binary::INIT_BINARY`]) and the target triple.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NETROOT_GIT_COMMIT"),
    ", init sha256 ",
    env!("NETROOT_INIT_SHA256"),
    ", ",
    env!("NETROOT_TARGET"),
    ")"
);

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_init_hash_is_the_embedded_binarys() {
        let full = hex::encode(Sha256::digest(crate::init_binary::INIT_BINARY));
        assert!(
            full.starts_with(env!("NETROOT_INIT_SHA256")),
            "{} vs {full}",
            super::VERSION
        );
        assert!(super::VERSION.starts_with(concat!(env!("CARGO_PKG_VERSION"), " (commit ")));
    }
}
