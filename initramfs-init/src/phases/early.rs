//! Phase `early`: mount the API filesystems (/dev first, so the console works for every later
//! line), put stdio on /dev/console and open /dev/kmsg.

use rustix::io::Errno;

use super::Ctx;
use crate::failure::{Fatal, Phase};
use crate::sys::{MountFlags, MountSpec};

/// Options of the /run tmpfs. It survives switch_root (moved into the real root, where systemd
/// keeps an existing /run), so it gets systemd's own default size.
pub const RUN_TMPFS_OPTIONS: &str = "mode=0755,size=20%";
/// Options of devtmpfs on /dev.
pub const DEV_OPTIONS: &str = "mode=0755";

/// The early mounts, in order: /dev, /proc, /sys, /run.
pub fn early_mounts(ctx: &Ctx) -> [MountSpec; 4] {
    let p = &ctx.paths;
    let spec = |source: &str, target: &str, flags: MountFlags, data: &str| MountSpec {
        source: source.to_string(),
        target: target.to_string(),
        fstype: source.to_string(),
        flags,
        data: data.to_string(),
    };
    let nosuid_nodev_noexec = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    [
        spec("devtmpfs", &p.dev, MountFlags::NOSUID, DEV_OPTIONS),
        spec("proc", &p.proc, nosuid_nodev_noexec, ""),
        spec("sysfs", &p.sys, nosuid_nodev_noexec, ""),
        spec(
            "tmpfs",
            &p.run,
            MountFlags::NOSUID | MountFlags::NODEV,
            RUN_TMPFS_OPTIONS,
        ),
    ]
}

/// Creates `path` if missing (an existing directory is fine).
pub fn ensure_dir(ctx: &mut Ctx, path: &str) -> Result<(), crate::sys::SysError> {
    match ctx.sys.mkdir(path, 0o755) {
        Err(e) if e.errno == Errno::EXIST => Ok(()),
        other => other,
    }
}

/// Creates `path` and its missing parents.
pub fn ensure_dir_all(ctx: &mut Ctx, path: &str) -> Result<(), crate::sys::SysError> {
    let mut acc = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        acc.push('/');
        acc.push_str(part);
        ensure_dir(ctx, &acc)?;
    }
    Ok(())
}

pub fn run(ctx: &mut Ctx) -> Result<(), Fatal> {
    let mut mounted = Vec::new();
    for (i, spec) in early_mounts(ctx).iter().enumerate() {
        ensure_dir(ctx, &spec.target).map_err(|e| Fatal::new(Phase::Early, e))?;
        match ctx.sys.mount(spec) {
            Ok(()) => mounted.push(spec.target.clone()),
            // Already mounted (a kernel with devtmpfs automount, or a restarted init).
            Err(e) if e.errno == Errno::BUSY => {}
            Err(e) => return Err(Fatal::new(Phase::Early, e)),
        }
        if i == 0 {
            let dev = ctx.paths.dev.clone();
            ctx.sys
                .setup_console(&dev)
                .map_err(|e| Fatal::new(Phase::Early, e))?;
        }
    }
    ctx.log(
        Phase::Early,
        &format!(
            "netroot-init {} mounted={}",
            env!("CARGO_PKG_VERSION"),
            mounted.join(",")
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::sys::{Call, FakeSys, ScriptedError};

    #[test]
    fn mounts_dev_first_then_console_then_the_rest() {
        let mut sys = FakeSys::new();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx).expect("early");
        let effects: Vec<String> = sys
            .effects()
            .iter()
            .map(|c| match c {
                Call::Mount(m) => {
                    format!("mount {} {} {} {:?}", m.fstype, m.target, m.data, m.flags)
                }
                Call::Mkdir(p) => format!("mkdir {p}"),
                Call::SetupConsole => "console".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            effects,
            [
                "mkdir /dev",
                "mount devtmpfs /dev mode=0755 MountFlags(NOSUID)",
                "console",
                "mkdir /proc",
                "mount proc /proc  MountFlags(NODEV | NOEXEC | NOSUID)",
                "mkdir /sys",
                "mount sysfs /sys  MountFlags(NODEV | NOEXEC | NOSUID)",
                "mkdir /run",
                "mount tmpfs /run mode=0755,size=20% MountFlags(NODEV | NOSUID)",
            ]
        );
        assert_eq!(
            sys.logs,
            [format!(
                "netroot-init: [  1.000] phase=early netroot-init {} mounted=/dev,/proc,/sys,/run",
                env!("CARGO_PKG_VERSION")
            )]
        );
    }

    #[test]
    fn already_mounted_is_fine_and_other_errors_are_fatal() {
        let mut sys = FakeSys::new();
        sys.errors
            .push(ScriptedError::always("mount", "devtmpfs", Errno::BUSY));
        sys.errors
            .push(ScriptedError::always("mount", "sysfs", Errno::NODEV));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx).expect_err("sysfs fails");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=early reason=mount /sys: ENODEV (No such device, errno 19)"
        );
    }
}
