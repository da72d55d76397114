//! Phase `overlay`: a tmpfs (size from the config) holding `upper/` and `work/`, and an overlayfs
//! at the new root with the NFS mount as its lower layer. With the overlay disabled the NFS mount
//! already is the new root and the phase only logs that.
//!
//! It also installs the lease's resolver in the new root's /etc/resolv.conf, but only when that
//! is writable (overlay on) and not a symlink (systemd-resolved's stub link is left alone).

use super::early::ensure_dir_all;
use super::Ctx;
use crate::bootconfig::{OverlayConfig, TmpfsSize};
use crate::dhcp::lease::Lease;
use crate::failure::{Fatal, Phase};
use crate::sys::{FileKind, MountFlags, MountSpec};

/// Name of the upper directory inside the overlay tmpfs.
pub const UPPER_DIR: &str = "upper";
/// Name of the work directory inside the overlay tmpfs.
pub const WORK_DIR: &str = "work";

/// The tmpfs `size=` value.
pub fn tmpfs_size(size: TmpfsSize) -> String {
    match size {
        TmpfsSize::Percent(p) => format!("{p}%"),
        TmpfsSize::Bytes(b) => b.to_string(),
    }
}

/// The two mounts of the overlay: the tmpfs, then the overlayfs.
pub fn overlay_mounts(cfg: &OverlayConfig, lower: &str, rw: &str, newroot: &str) -> [MountSpec; 2] {
    [
        MountSpec {
            source: "netroot-rw".into(),
            target: rw.to_string(),
            fstype: "tmpfs".into(),
            flags: MountFlags::NOSUID | MountFlags::NODEV,
            data: format!("mode=0755,size={}", tmpfs_size(cfg.size)),
        },
        MountSpec {
            source: "overlay".into(),
            target: newroot.to_string(),
            fstype: "overlay".into(),
            flags: MountFlags::empty(),
            data: format!("lowerdir={lower},upperdir={rw}/{UPPER_DIR},workdir={rw}/{WORK_DIR}"),
        },
    ]
}

/// Writes the lease's resolv.conf into the new root when possible; logs what it did.
fn install_resolv_conf(ctx: &mut Ctx, lease: &Lease, writable: bool) {
    let path = format!("{}/etc/resolv.conf", ctx.paths.sysroot);
    if !writable {
        ctx.log(
            Phase::Overlay,
            "read-only root: /etc/resolv.conf left as is (lease resolver in /run/netroot/resolv.conf)",
        );
        return;
    }
    match ctx.sys.lstat(&path) {
        Ok(st) if st.kind == FileKind::Symlink => {
            ctx.log(Phase::Overlay, "/etc/resolv.conf is a symlink, left as is");
            return;
        }
        Ok(st) if st.kind != FileKind::File => {
            ctx.warn(
                Phase::Overlay,
                "/etc/resolv.conf is not a regular file, left as is",
            );
            return;
        }
        _ => {}
    }
    if let Err(e) = ctx
        .sys
        .create_file(&path, lease.resolv_conf().as_bytes(), 0o644)
    {
        ctx.warn(
            Phase::Overlay,
            &format!("/etc/resolv.conf not written: {e}"),
        );
    }
}

pub fn run(ctx: &mut Ctx, cfg: &OverlayConfig, lease: &Lease) -> Result<(), Fatal> {
    if !cfg.enabled {
        ctx.log(
            Phase::Overlay,
            "disabled: the NFS root is mounted read-only as /",
        );
        install_resolv_conf(ctx, lease, false);
        return Ok(());
    }
    let fatal = |e| Fatal::new(Phase::Overlay, e);
    let lower = ctx.paths.nfs_lower();
    let rw = ctx.paths.overlay_rw();
    let newroot = ctx.paths.sysroot.clone();
    let [tmpfs, overlay] = overlay_mounts(cfg, &lower, &rw, &newroot);
    ensure_dir_all(ctx, &rw).map_err(fatal)?;
    ctx.sys.mount(&tmpfs).map_err(fatal)?;
    for dir in [UPPER_DIR, WORK_DIR] {
        ctx.sys
            .mkdir(&format!("{rw}/{dir}"), 0o755)
            .map_err(fatal)?;
    }
    ensure_dir_all(ctx, &newroot).map_err(fatal)?;
    ctx.sys.mount(&overlay).map_err(fatal)?;
    ctx.log(
        Phase::Overlay,
        &format!(
            "mounted overlay at {newroot} lower={lower} upper=tmpfs size={}",
            tmpfs_size(cfg.size)
        ),
    );
    install_resolv_conf(ctx, lease, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::sys::{Call, Errno, FakeSys, ScriptedError};
    use crate::testutil::sample_lease as lease;

    fn cfg(size: TmpfsSize) -> OverlayConfig {
        OverlayConfig {
            enabled: true,
            size,
        }
    }

    #[test]
    fn tmpfs_then_overlay_with_the_nfs_lower() {
        let mut sys = FakeSys::new();
        sys.add_dir("/run/netroot/nfs");
        sys.add_file("/sysroot/etc/hostname", "x");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx, &cfg(TmpfsSize::Percent(50)), &lease(None)).expect("overlay");
        let mounts: Vec<String> = sys
            .mounts()
            .iter()
            .map(|m| format!("{} {} {} {}", m.fstype, m.source, m.target, m.data))
            .collect();
        assert_eq!(
            mounts,
            [
                "tmpfs netroot-rw /run/netroot/rw mode=0755,size=50%",
                "overlay overlay /sysroot lowerdir=/run/netroot/nfs,upperdir=/run/netroot/rw/upper,workdir=/run/netroot/rw/work",
            ]
        );
        let mkdirs: Vec<&Call> = sys
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Mkdir(_)))
            .collect();
        assert!(mkdirs.contains(&&Call::Mkdir("/run/netroot/rw/upper".into())));
        assert!(mkdirs.contains(&&Call::Mkdir("/run/netroot/rw/work".into())));
        assert!(sys
            .file("/sysroot/etc/resolv.conf")
            .is_some_and(|r| r.contains("nameserver 10.0.2.3")));
        assert!(sys.logs[0].ends_with(
            "phase=overlay mounted overlay at /sysroot lower=/run/netroot/nfs upper=tmpfs size=50%"
        ));
    }

    #[test]
    fn byte_sizes_and_symlinked_resolv_conf() {
        assert_eq!(tmpfs_size(TmpfsSize::Bytes(2 << 30)), "2147483648");
        let mut sys = FakeSys::new();
        sys.add_symlink("/sysroot/etc/resolv.conf");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx, &cfg(TmpfsSize::Bytes(1 << 20)), &lease(None)).expect("overlay");
        assert!(!sys
            .calls
            .iter()
            .any(|c| matches!(c, Call::Create { path, .. } if path.ends_with("resolv.conf"))));
        assert!(sys.logs[1].ends_with("phase=overlay /etc/resolv.conf is a symlink, left as is"));
    }

    #[test]
    fn disabled_overlay_mounts_nothing() {
        let mut sys = FakeSys::new();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let off = OverlayConfig {
            enabled: false,
            size: TmpfsSize::Percent(50),
        };
        run(&mut ctx, &off, &lease(None)).expect("nothing to do");
        assert!(sys.mounts().is_empty());
        assert!(
            sys.logs[0].ends_with("phase=overlay disabled: the NFS root is mounted read-only as /")
        );
    }

    #[test]
    fn overlay_mount_failure_is_fatal() {
        let mut sys = FakeSys::new();
        sys.errors
            .push(ScriptedError::always("mount", "overlay", Errno::NODEV));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal =
            run(&mut ctx, &cfg(TmpfsSize::Percent(50)), &lease(None)).expect_err("no overlayfs");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=overlay reason=mount /sysroot: ENODEV (No such device, errno 19)"
        );
    }
}
