//! Phase `switch_root`: hand the machine to the real root, as util-linux switch_root and booster
//! do (pivot_root does not work from the initramfs): check the guards, move /dev /proc /sys /run
//! into the new root, delete the initramfs contents without crossing into any other filesystem,
//! `mount --move newroot /`, `chroot .`, and leave the exec to the caller.
//!
//! Guards before anything is deleted: we are PID 1; `/` is a ramfs/tmpfs (statfs); the new root
//! is a different device and a mount point (/proc/mounts); the real init exists in it.

use rustix::io::Errno;

use super::Ctx;
use crate::bootconfig::BootConfig;
use crate::failure::{self, Fatal, Phase};
use crate::parse::parse_mounts;
use crate::sys::FileKind;

/// `RAMFS_MAGIC` from <linux/magic.h>: the initramfs rootfs without tmpfs support.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
/// `TMPFS_MAGIC`: the initramfs rootfs on kernels that back it with tmpfs.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// What deleting the initramfs did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteStats {
    pub removed: usize,
    /// Entries on another filesystem (mount points), left alone.
    pub skipped: usize,
    pub errors: usize,
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Deletes everything under `dir` that lives on `root_dev`, except `keep` (the new root);
/// never descends into another filesystem, never follows symlinks (lstat + unlinkat).
pub fn delete_tree(ctx: &mut Ctx, dir: &str, root_dev: u64, keep: &str, stats: &mut DeleteStats) {
    let names = match ctx.sys.read_dir(dir) {
        Ok(names) => names,
        Err(e) => {
            ctx.debug(Phase::SwitchRoot, &format!("{e}"));
            stats.errors += 1;
            return;
        }
    };
    for name in names {
        let path = join(dir, &name);
        if path == keep {
            continue;
        }
        let st = match ctx.sys.lstat(&path) {
            Ok(st) => st,
            Err(e) => {
                ctx.debug(Phase::SwitchRoot, &format!("{e}"));
                stats.errors += 1;
                continue;
            }
        };
        if st.dev != root_dev {
            stats.skipped += 1;
            continue;
        }
        let is_dir = st.kind == FileKind::Dir;
        if is_dir {
            delete_tree(ctx, &path, root_dev, keep, stats);
        }
        match ctx.sys.remove(&path, is_dir) {
            Ok(()) => stats.removed += 1,
            Err(e) => {
                ctx.debug(Phase::SwitchRoot, &format!("{e}"));
                stats.errors += 1;
            }
        }
    }
}

fn fatal(e: impl std::fmt::Display) -> Fatal {
    Fatal::new(Phase::SwitchRoot, e)
}

fn check_guards(ctx: &mut Ctx, cfg: &BootConfig) -> Result<u64, Fatal> {
    let root = ctx.paths.root_dir();
    let sysroot = ctx.paths.sysroot.clone();
    let pid = ctx.sys.getpid();
    if pid != 1 {
        return Err(fatal(format!(
            "not PID 1 (pid {pid}): refusing to delete the initramfs"
        )));
    }
    let fs_type = ctx.sys.statfs_type(&root).map_err(fatal)?;
    if fs_type != RAMFS_MAGIC && fs_type != TMPFS_MAGIC {
        return Err(fatal(format!(
            "{root} is not a ramfs/tmpfs initramfs (statfs type {fs_type:#x}): refusing to delete it"
        )));
    }
    let root_dev = ctx.sys.lstat(&root).map_err(fatal)?.dev;
    let new_dev = ctx.sys.lstat(&sysroot).map_err(fatal)?.dev;
    if new_dev == root_dev {
        return Err(fatal(format!(
            "{sysroot} is on the initramfs device: no root is mounted there"
        )));
    }
    let mounts_path = format!("{}/mounts", ctx.paths.proc);
    let mounts = ctx.sys.read_file(&mounts_path).map_err(fatal)?;
    if !parse_mounts(&String::from_utf8_lossy(&mounts))
        .iter()
        .any(|m| m.target == sysroot)
    {
        return Err(fatal(format!(
            "{sysroot} is not a mount point per {mounts_path}"
        )));
    }
    let init = format!("{sysroot}{}", cfg.real_init);
    match ctx.sys.lstat(&init) {
        Ok(st) if st.kind != FileKind::Dir => Ok(root_dev),
        Ok(_) => Err(fatal(format!(
            "init {} in the new root is a directory",
            cfg.real_init
        ))),
        Err(e) => Err(fatal(format!(
            "init {} not found in the new root: {e}",
            cfg.real_init
        ))),
    }
}

/// Moves /dev /proc /sys /run under the new root; one that cannot move is detached instead.
fn move_api_mounts(ctx: &mut Ctx) -> usize {
    let sysroot = ctx.paths.sysroot.clone();
    let root = ctx.paths.root.clone();
    let mut moved = 0;
    let api = [
        ctx.paths.dev.clone(),
        ctx.paths.proc.clone(),
        ctx.paths.sys.clone(),
        ctx.paths.run.clone(),
    ];
    for old in api {
        let relative = old.strip_prefix(&root).unwrap_or(&old);
        let new = format!("{sysroot}{relative}");
        if ctx.sys.lstat(&new).is_err() {
            if let Err(e) = ctx.sys.mkdir(&new, 0o755) {
                ctx.debug(Phase::SwitchRoot, &format!("{e}"));
            }
        }
        match ctx.sys.move_mount(&old, &new) {
            Ok(()) => moved += 1,
            Err(e) => {
                ctx.warn(Phase::SwitchRoot, &format!("{e}; detaching {old} instead"));
                if let Err(e) = ctx.sys.unmount_detach(&old) {
                    ctx.warn(Phase::SwitchRoot, &format!("{e}"));
                }
            }
        }
    }
    moved
}

pub fn prepare(ctx: &mut Ctx, cfg: &BootConfig) -> Result<(), Fatal> {
    let root_dev = check_guards(ctx, cfg)?;
    let sysroot = ctx.paths.sysroot.clone();
    let root = ctx.paths.root_dir();
    let moved = move_api_mounts(ctx);
    let mut stats = DeleteStats::default();
    delete_tree(ctx, &root, root_dev, &sysroot, &mut stats);
    ctx.sys.chdir(&sysroot).map_err(fatal)?;
    ctx.sys.move_mount(&sysroot, &root).map_err(fatal)?;
    ctx.sys.chroot(".").map_err(fatal)?;
    ctx.sys.chdir("/").map_err(fatal)?;
    failure::reap(ctx.sys);
    match ctx.sys.reap_children() {
        Ok(s) if s.children_left => ctx.warn(
            Phase::SwitchRoot,
            "child processes still running; the real init inherits them",
        ),
        Ok(_) => {}
        Err(e) if e.errno == Errno::CHILD => {}
        Err(e) => ctx.warn(Phase::SwitchRoot, &format!("{e}")),
    }
    ctx.log(
        Phase::SwitchRoot,
        &format!(
            "init={} moved={moved}/4 freed={} kept={} errors={}",
            cfg.real_init, stats.removed, stats.skipped, stats.errors
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::sys::{Call, FakeSys, MountFlags, MountSpec, ScriptedError, Sys};
    use crate::testutil::sample_config;

    fn mount(sys: &mut FakeSys, target: &str) {
        sys.add_dir(target);
        sys.mount(&MountSpec {
            source: "x".into(),
            target: target.into(),
            fstype: "x".into(),
            flags: MountFlags::empty(),
            data: String::new(),
        })
        .expect("mount");
    }

    /// An initramfs after the overlay phase: API mounts, a new root with /sbin/init.
    fn machine() -> FakeSys {
        let mut sys = FakeSys::new();
        sys.add_file("/init", "ELF");
        sys.add_file("/lib/modules/k/bonding.ko", "ELF");
        sys.add_symlink("/bin/sh");
        for m in ["/dev", "/proc", "/sys", "/run"] {
            mount(&mut sys, m);
        }
        sys.add_file("/proc/mounts", "overlay /sysroot overlay rw 0 0\n");
        sys.add_file("/run/netroot/net.json", "{}");
        mount(&mut sys, "/sysroot");
        sys.add_file("/sysroot/sbin/init", "ELF");
        sys.add_dir("/sysroot/dev");
        sys.calls.clear();
        sys
    }

    #[test]
    fn moves_api_mounts_deletes_the_ramfs_and_enters_the_new_root() {
        let mut sys = machine();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        prepare(&mut ctx, &sample_config()).expect("switch_root");
        let effects: Vec<String> = sys
            .effects()
            .iter()
            .map(|c| match c {
                Call::MoveMount { from, to } => format!("move {from} {to}"),
                Call::Remove { path, dir } => format!("rm{} {path}", if *dir { "dir" } else { "" }),
                Call::Mkdir(p) => format!("mkdir {p}"),
                Call::Chdir(p) => format!("chdir {p}"),
                Call::Chroot(p) => format!("chroot {p}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            effects,
            [
                "move /dev /sysroot/dev",
                "mkdir /sysroot/proc",
                "move /proc /sysroot/proc",
                "mkdir /sysroot/sys",
                "move /sys /sysroot/sys",
                "mkdir /sysroot/run",
                "move /run /sysroot/run",
                "rm /bin/sh",
                "rmdir /bin",
                "rmdir /dev",
                "rm /init",
                "rm /lib/modules/k/bonding.ko",
                "rmdir /lib/modules/k",
                "rmdir /lib/modules",
                "rmdir /lib",
                "rmdir /proc",
                "rmdir /run",
                "rmdir /sys",
                "chdir /sysroot",
                "move /sysroot /",
                "chroot .",
                "chdir /",
            ]
        );
        assert!(
            sys.exists("/run/netroot/net.json"),
            "the lease moved with /run"
        );
        assert!(sys.exists("/sbin/init"));
        assert!(
            sys.logs[0]
                .ends_with("phase=switch_root init=/sbin/init moved=4/4 freed=11 kept=0 errors=0"),
            "{}",
            sys.logs[0]
        );
    }

    #[test]
    fn never_deletes_across_a_mount_point() {
        let mut sys = machine();
        mount(&mut sys, "/mnt/data");
        sys.add_file("/mnt/data/precious", "x");
        sys.calls.clear();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        prepare(&mut ctx, &sample_config()).expect("switch_root");
        assert!(sys.exists("/mnt/data/precious"));
        assert!(!sys
            .calls
            .iter()
            .any(|c| matches!(c, Call::Remove { path, .. } if path.starts_with("/mnt/data"))));
        assert!(sys.logs[0].contains("kept=1"), "{}", sys.logs[0]);
    }

    /// Breaks one guard of a prepared machine.
    type Setup = Box<dyn Fn(&mut FakeSys)>;

    #[test]
    fn guards_refuse_before_touching_anything() {
        let cases: Vec<(Setup, &str)> = vec![
            (Box::new(|s| s.pid = 4242), "not PID 1 (pid 4242): refusing to delete the initramfs"),
            (
                Box::new(|s| { s.fs_types.insert("/".into(), 0xef53); }),
                "/ is not a ramfs/tmpfs initramfs (statfs type 0xef53): refusing to delete it",
            ),
            (
                Box::new(|s| { s.unmount_detach("/sysroot").expect("umount"); }),
                "/sysroot is on the initramfs device: no root is mounted there",
            ),
            (
                Box::new(|s| s.add_file("/proc/mounts", "proc /proc proc rw 0 0\n")),
                "/sysroot is not a mount point per /proc/mounts",
            ),
            (
                Box::new(|s| { s.remove("/sysroot/sbin/init", false).expect("rm"); }),
                "init /sbin/init not found in the new root: lstat /sysroot/sbin/init: ENOENT (No such file or directory, errno 2)",
            ),
        ];
        for (setup, want) in cases {
            let mut sys = machine();
            setup(&mut sys);
            sys.calls.clear();
            let mut ctx = Ctx::new(&mut sys, Paths::standard());
            let fatal = prepare(&mut ctx, &sample_config()).expect_err(want);
            assert_eq!(fatal.phase, Phase::SwitchRoot);
            assert_eq!(fatal.reason, want);
            assert!(sys.effects().is_empty(), "{want}: nothing changed");
        }
    }

    #[test]
    fn a_mount_that_cannot_move_is_detached() {
        let mut sys = machine();
        // Once: the key is the source path, and "/sysroot" contains "/sys" too.
        sys.errors.push(ScriptedError::times(
            "mount --move",
            "/sys",
            Errno::INVAL,
            1,
        ));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        prepare(&mut ctx, &sample_config()).expect("switch_root");
        assert!(sys.calls.contains(&Call::UnmountDetach("/sys".into())));
        assert!(sys
            .logs
            .iter()
            .any(|l| l.contains("warning: mount --move /sys: EINVAL")));
        assert!(sys.logs.last().is_some_and(|l| l.contains("moved=3/4")));
    }
}
