//! The initramfs image layout the builder writes and the init reads: where the init, its boot
//! config and the kernel modules live, and the directories the init mounts on.

/// Where the init lives in the image (the kernel runs `/init` from an initramfs).
pub const INIT_PATH: &str = "init";
/// Where the builder stores the rendered boot config (relative to the image root).
pub const BOOT_CONFIG_PATH: &str = "etc/netroot/boot.conf";
/// Where the new root is assembled before switch_root.
pub const SYSROOT: &str = "sysroot";
/// Mount points and scratch directories the init expects on the initramfs.
pub const BASE_DIRS: &[&str] = &["dev", "proc", "sys", "run", "tmp", SYSROOT, "etc/netroot"];

/// Path of a kernel module inside the image: `lib/modules/KVER/REL`, as `modules.dep` names it.
pub fn module_path(kver: &str, rel: &str) -> String {
    format!("lib/modules/{kver}/{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_lives_in_a_base_dir() {
        let dir = BOOT_CONFIG_PATH.rsplit_once('/').map(|(d, _)| d);
        assert!(dir.is_some_and(|d| BASE_DIRS.contains(&d)));
        assert_eq!(
            module_path("6.1.0-56-amd64", "kernel/fs/overlayfs/overlay.ko"),
            "lib/modules/6.1.0-56-amd64/kernel/fs/overlayfs/overlay.ko"
        );
    }
}
