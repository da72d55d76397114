//! Phase `overlay`: a tmpfs (size from the config) holding `upper/` and `work/`, and an overlayfs
//! at the new root with the NFS mount as its lower layer. With the overlay disabled the NFS mount
//! already is the new root and the phase only logs that.
//!
//! With `netroot.node=NAME` the node's layer of the root tree (`.netroot/nodes/NAME`, see
//! [`NODE_LAYERS_DIR`]) becomes a second lower layer above the shared root:
//! `lowerdir=NODE:SHARED` (the leftmost lowerdir is the top, man 5 overlayfs). The layer is not
//! used through the root mount itself: overlayfs refuses lower layers nested inside each other
//! (`ELOOP`, "overlapping lowerdir path", kernel commit 146d62e5a586; xfstests overlay/065). It
//! gets its own NFS mount of `EXPORT/.netroot/nodes/NAME` with `nosharecache`, so the client gives
//! it a superblock of its own and the kernel sees two unrelated layers. A missing layer is fatal:
//! booting without the node's files would look like success. With the overlay disabled the two
//! lower layers are mounted as a read-only overlay at the new root.
//!
//! It also installs the lease's resolver in the new root's /etc/resolv.conf, but only when that
//! is writable (overlay on) and not a symlink (systemd-resolved's stub link is left alone).

use super::early::ensure_dir_all;
use super::nfs::{mount_spec, parse_root_path, NfsRoot, RootTarget};
use super::Ctx;
use crate::bootconfig::{BootConfig, OverlayConfig, TmpfsSize, NODE_LAYERS_DIR};
use crate::dhcp::lease::Lease;
use crate::failure::{Fatal, Phase};
use crate::sys::{Errno, FileKind, MountFlags, MountSpec};

/// Name of the upper directory inside the overlay tmpfs.
pub const UPPER_DIR: &str = "upper";
/// Name of the work directory inside the overlay tmpfs.
pub const WORK_DIR: &str = "work";
/// Mount point of the node layer's NFS mount, inside the state directory (`/run/netroot`).
pub const NODE_MOUNT_DIR: &str = "node";
/// NFS option giving the node layer's mount a superblock of its own (nfs(5)); without it the
/// client shares the root mount's, and overlayfs sees the layer nested in the shared root.
const NOSHARECACHE: &str = "nosharecache";

/// The tmpfs `size=` value.
pub fn tmpfs_size(size: TmpfsSize) -> String {
    match size {
        TmpfsSize::Percent(p) => format!("{p}%"),
        TmpfsSize::Bytes(b) => b.to_string(),
    }
}

/// The two mounts of the overlay: the tmpfs, then the overlayfs. `lower` is the lowerdir value
/// (one directory, or `NODE:SHARED`).
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

/// The read-only overlay of a node layer over the shared root, for a disabled writable overlay.
pub fn read_only_overlay(lower: &str, newroot: &str) -> MountSpec {
    MountSpec {
        source: "overlay".into(),
        target: newroot.to_string(),
        fstype: "overlay".into(),
        flags: MountFlags::RDONLY,
        data: format!("lowerdir={lower}"),
    }
}

/// Checks that the root has a layer for `node` and mounts it; returns its mount point.
fn mount_node_layer(
    ctx: &mut Ctx,
    cfg: &BootConfig,
    node: &str,
    root: &NfsRoot,
    lease: &Lease,
) -> Result<String, Fatal> {
    let fatal = |e| Fatal::new(Phase::Overlay, e);
    let dir = format!("{}/{NODE_LAYERS_DIR}/{node}", root.target);
    let missing = |what: &str| {
        Fatal::new(
            Phase::Overlay,
            format!(
                "node {node:?}: its layer {dir} {what} (publish the profile with the node in nodes.toml)"
            ),
        )
    };
    match ctx.sys.lstat(&dir) {
        Ok(st) if st.kind == FileKind::Dir => {}
        Ok(_) => return Err(missing("is not a directory")),
        Err(e) if e.errno == Errno::NOENT || e.errno == Errno::NOTDIR => {
            return Err(missing("does not exist"))
        }
        Err(e) => return Err(fatal(e)),
    }
    let shared: RootTarget = parse_root_path(&root.source).map_err(|e| {
        Fatal::new(
            Phase::Overlay,
            format!("root {:?} names no server and export: {e}", root.source),
        )
    })?;
    let target = RootTarget {
        server: shared.server,
        export: format!(
            "{}/{NODE_LAYERS_DIR}/{node}",
            shared.export.trim_end_matches('/')
        ),
    };
    let mountpoint = format!("{}/{NODE_MOUNT_DIR}", ctx.paths.state_dir());
    let options = format!("{},{NOSHARECACHE}", cfg.nfs.options);
    let spec = mount_spec(root.version, &target, lease.address, &options, &mountpoint);
    ensure_dir_all(ctx, &mountpoint).map_err(fatal)?;
    ctx.sys
        .mount_bounded(&spec, cfg.timeouts.nfs)
        .map_err(fatal)?;
    ctx.log(
        Phase::Overlay,
        &format!(
            "node {node}: mounted its layer {} at {mountpoint}",
            spec.source
        ),
    );
    Ok(mountpoint)
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

pub fn run(ctx: &mut Ctx, cfg: &BootConfig, root: &NfsRoot, lease: &Lease) -> Result<(), Fatal> {
    let fatal = |e| Fatal::new(Phase::Overlay, e);
    let node_layer = match &cfg.node {
        Some(node) => Some(mount_node_layer(ctx, cfg, node, root, lease)?),
        None => None,
    };
    let lower = match &node_layer {
        Some(layer) => format!("{layer}:{}", root.target),
        None => root.target.clone(),
    };
    let newroot = ctx.paths.sysroot.clone();
    if !cfg.overlay.enabled {
        if node_layer.is_some() {
            // The NFS root is mounted at the new root: the read-only overlay goes on top of it.
            ctx.sys
                .mount(&read_only_overlay(&lower, &newroot))
                .map_err(fatal)?;
            ctx.log(
                Phase::Overlay,
                &format!("disabled: read-only overlay at {newroot} lower={lower}"),
            );
        } else {
            ctx.log(
                Phase::Overlay,
                "disabled: the NFS root is mounted read-only as /",
            );
        }
        install_resolv_conf(ctx, lease, false);
        return Ok(());
    }
    let rw = ctx.paths.overlay_rw();
    let [tmpfs, overlay] = overlay_mounts(&cfg.overlay, &lower, &rw, &newroot);
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
            tmpfs_size(cfg.overlay.size)
        ),
    );
    install_resolv_conf(ctx, lease, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootconfig::NfsVersion;
    use crate::paths::Paths;
    use crate::sys::{Call, Errno, FakeSys, ScriptedError};
    use crate::testutil::{sample_config, sample_lease as lease};

    fn cfg(size: TmpfsSize) -> BootConfig {
        let mut c = sample_config();
        c.overlay = OverlayConfig {
            enabled: true,
            size,
        };
        c
    }

    fn with_node(mut c: BootConfig, node: &str) -> BootConfig {
        c.node = Some(node.to_string());
        c.nfs.options = "timeo=600".to_string();
        c
    }

    /// The root as the NFS phase mounted it (at the overlay's lower mount point).
    fn root() -> NfsRoot {
        NfsRoot {
            source: "10.0.2.2:/export/compute/1a2b".into(),
            version: NfsVersion::V4_2,
            target: "/run/netroot/nfs".into(),
        }
    }

    fn mount_lines(sys: &FakeSys) -> Vec<String> {
        sys.mounts()
            .iter()
            .map(|m| format!("{} {} {} {}", m.fstype, m.source, m.target, m.data))
            .collect()
    }

    #[test]
    fn tmpfs_then_overlay_with_the_nfs_lower() {
        let mut sys = FakeSys::new();
        sys.add_dir("/run/netroot/nfs");
        sys.add_file("/sysroot/etc/hostname", "x");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(
            &mut ctx,
            &cfg(TmpfsSize::Percent(50)),
            &root(),
            &lease(None),
        )
        .expect("overlay");
        assert_eq!(
            mount_lines(&sys),
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
    fn a_node_layer_is_its_own_nfs_mount_above_the_shared_root() {
        let mut sys = FakeSys::new();
        sys.add_dir("/run/netroot/nfs/.netroot/nodes/c001");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let c = with_node(cfg(TmpfsSize::Percent(50)), "c001");
        run(&mut ctx, &c, &root(), &lease(None)).expect("overlay");
        assert_eq!(
            mount_lines(&sys),
            [
                "nfs4 10.0.2.2:/export/compute/1a2b/.netroot/nodes/c001 /run/netroot/node \
                 vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15,proto=tcp,hard,ro,timeo=600,nosharecache",
                "tmpfs netroot-rw /run/netroot/rw mode=0755,size=50%",
                "overlay overlay /sysroot lowerdir=/run/netroot/node:/run/netroot/nfs,\
                 upperdir=/run/netroot/rw/upper,workdir=/run/netroot/rw/work",
            ]
        );
        assert!(sys.logs[0].ends_with(
            "phase=overlay node c001: mounted its layer \
             10.0.2.2:/export/compute/1a2b/.netroot/nodes/c001 at /run/netroot/node"
        ));
        assert!(sys.logs[1].ends_with(
            "phase=overlay mounted overlay at /sysroot lower=/run/netroot/node:/run/netroot/nfs \
             upper=tmpfs size=50%"
        ));
    }

    #[test]
    fn a_missing_node_layer_is_fatal_and_mounts_nothing() {
        let mut sys = FakeSys::new();
        sys.add_dir("/run/netroot/nfs/.netroot/nodes/c001");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let c = with_node(cfg(TmpfsSize::Percent(50)), "c002");
        let fatal = run(&mut ctx, &c, &root(), &lease(None)).expect_err("no layer");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=overlay reason=node \"c002\": its layer \
             /run/netroot/nfs/.netroot/nodes/c002 does not exist (publish the profile with the \
             node in nodes.toml)"
        );
        assert!(sys.mounts().is_empty());

        let mut sys = FakeSys::new();
        sys.add_file("/run/netroot/nfs/.netroot/nodes/c002", "not a dir");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &c, &root(), &lease(None)).expect_err("not a dir");
        assert!(
            fatal
                .reason
                .contains("/run/netroot/nfs/.netroot/nodes/c002 is not a directory"),
            "{}",
            fatal.reason
        );
    }

    #[test]
    fn a_failed_node_layer_mount_is_fatal() {
        let mut sys = FakeSys::new();
        sys.add_dir("/run/netroot/nfs/.netroot/nodes/c001");
        sys.errors.push(ScriptedError::always(
            "mount",
            "/run/netroot/node",
            Errno::ACCESS,
        ));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let c = with_node(cfg(TmpfsSize::Percent(50)), "c001");
        let fatal = run(&mut ctx, &c, &root(), &lease(None)).expect_err("denied");
        assert!(
            fatal.line().starts_with(
                "netroot-init: FAILED phase=overlay reason=mount /run/netroot/node: EACCES"
            ),
            "{}",
            fatal.line()
        );
    }

    #[test]
    fn a_node_layer_without_the_writable_overlay_is_a_read_only_overlay() {
        let mut sys = FakeSys::new();
        sys.add_dir("/sysroot/.netroot/nodes/c001");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let mut c = with_node(cfg(TmpfsSize::Percent(50)), "c001");
        c.overlay.enabled = false;
        c.nfs.options = String::new();
        let mut r = root();
        r.target = "/sysroot".into();
        r.version = NfsVersion::V3;
        run(&mut ctx, &c, &r, &lease(None)).expect("overlay");
        assert_eq!(
            mount_lines(&sys),
            [
                "nfs 10.0.2.2:/export/compute/1a2b/.netroot/nodes/c001 /run/netroot/node \
                 vers=3,addr=10.0.2.2,mountaddr=10.0.2.2,mountproto=tcp,nolock,proto=tcp,hard,ro,nosharecache",
                "overlay overlay /sysroot lowerdir=/run/netroot/node:/sysroot",
            ]
        );
        assert!(sys.mounts()[1].flags.contains(MountFlags::RDONLY));
        assert!(sys.logs[1].ends_with(
            "phase=overlay disabled: read-only overlay at /sysroot lower=/run/netroot/node:/sysroot"
        ));
    }

    #[test]
    fn byte_sizes_and_symlinked_resolv_conf() {
        assert_eq!(tmpfs_size(TmpfsSize::Bytes(2 << 30)), "2147483648");
        let mut sys = FakeSys::new();
        sys.add_symlink("/sysroot/etc/resolv.conf");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(
            &mut ctx,
            &cfg(TmpfsSize::Bytes(1 << 20)),
            &root(),
            &lease(None),
        )
        .expect("overlay");
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
        let mut off = cfg(TmpfsSize::Percent(50));
        off.overlay.enabled = false;
        run(&mut ctx, &off, &root(), &lease(None)).expect("nothing to do");
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
        let fatal = run(
            &mut ctx,
            &cfg(TmpfsSize::Percent(50)),
            &root(),
            &lease(None),
        )
        .expect_err("no overlayfs");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=overlay reason=mount /sysroot: ENODEV (No such device, errno 19)"
        );
    }
}
