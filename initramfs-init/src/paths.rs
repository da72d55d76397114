//! Where the init finds and puts things. Injectable so tests can root everything elsewhere.

use netroot_boot::layout::{BOOT_CONFIG_PATH, SYSROOT};

/// Absolute paths of the API filesystems, the config and the mount points the init creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Prefix of the initramfs root (empty for the real `/`).
    pub root: String,
    pub proc: String,
    pub sys: String,
    pub dev: String,
    pub run: String,
    /// The boot config the builder wrote into the image.
    pub config: String,
    /// Where the new root is assembled before switch_root.
    pub sysroot: String,
}

impl Paths {
    /// The real layout of a netroot initramfs.
    pub fn standard() -> Self {
        Self::under("")
    }

    /// Every path below `prefix` (empty for the real system).
    pub fn under(prefix: &str) -> Self {
        Self {
            root: prefix.to_string(),
            proc: format!("{prefix}/proc"),
            sys: format!("{prefix}/sys"),
            dev: format!("{prefix}/dev"),
            run: format!("{prefix}/run"),
            config: format!("{prefix}/{BOOT_CONFIG_PATH}"),
            sysroot: format!("{prefix}/{SYSROOT}"),
        }
    }

    /// A path inside the initramfs given relative to its root (`lib/modules/...`).
    pub fn in_root(&self, relative: &str) -> String {
        format!("{}/{}", self.root, relative.trim_start_matches('/'))
    }

    /// The initramfs root directory itself.
    pub fn root_dir(&self) -> String {
        if self.root.is_empty() {
            "/".to_string()
        } else {
            self.root.clone()
        }
    }

    /// `/sys/class/net`.
    pub fn net_dir(&self) -> String {
        format!("{}/class/net", self.sys)
    }

    /// `/run/netroot`: the lease handover directory, kept across switch_root (moved with /run).
    pub fn state_dir(&self) -> String {
        format!("{}/netroot", self.run)
    }

    /// Mount point of the NFS root when it is the overlay's lower layer.
    pub fn nfs_lower(&self) -> String {
        format!("{}/netroot/nfs", self.run)
    }

    /// Mount point of the tmpfs holding the overlay's upper and work directories.
    pub fn overlay_rw(&self) -> String {
        format!("{}/netroot/rw", self.run)
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> String {
        format!("{}/cmdline", self.proc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_layout() {
        let p = Paths::standard();
        assert_eq!(p.config, "/etc/netroot/boot.conf");
        assert_eq!(p.net_dir(), "/sys/class/net");
        assert_eq!(p.nfs_lower(), "/run/netroot/nfs");
        assert_eq!(Paths::under("/tmp/x").cmdline(), "/tmp/x/proc/cmdline");
        assert_eq!(p.in_root("lib/m.ko"), "/lib/m.ko");
        assert_eq!(p.in_root("/lib/m.ko"), "/lib/m.ko");
        assert_eq!(p.root_dir(), "/");
        assert_eq!(Paths::under("/t").root_dir(), "/t");
    }
}
