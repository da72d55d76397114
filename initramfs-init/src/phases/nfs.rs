//! Phase `nfs`: mount the root read-only, `hard`, over TCP, trying the configured versions in
//! order with kernel text options (there is no mount.nfs in the image), retrying with backoff and
//! jitter until `timeouts.nfs` or the boot deadline. A DHCP root-path replaces the configured
//! server/export only with `allow_dhcp_root_path` (DHCP is unauthenticated).
//!
//! Errors are classified per attempt: "wait" errors (server down or restarting, NFSv4 grace:
//! `EAGAIN`/`ETIMEDOUT`, refused/unreachable, export not there yet) are retried; "unsupported"
//! errors (`EPROTONOSUPPORT`, `ENODEV`, `EINVAL`, ...) drop that version; when every version is
//! unsupported the phase fails at once instead of waiting out the timeout. The failure reason
//! quotes, per version, the most telling error of all rounds (`errors::ErrorTally`).

mod errors;

use std::net::Ipv4Addr;
use std::time::Duration;

use rustix::io::Errno;

use super::early::ensure_dir_all;
use super::Ctx;
use crate::backoff::Backoff;
use crate::bootconfig::{self, BootConfig, NfsVersion};
use crate::dhcp::lease::Lease;
use crate::failure::{Fatal, Phase};
use crate::sys::{errno_name, MountFlags, MountSpec};
use errors::ErrorTally;

/// First pause between mount rounds.
pub const NFS_FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between rounds: NFSv4 grace lasts ~90 s, polling it every 15 s is enough.
pub const NFS_MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Jitter of each pause, so nodes rebooted together spread their mounts.
pub const NFS_BACKOFF_JITTER: Duration = Duration::from_millis(500);

/// The root as mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsRoot {
    /// `server:/export`.
    pub source: String,
    pub version: NfsVersion,
    pub target: String,
}

/// Server and export to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootTarget {
    pub server: Ipv4Addr,
    pub export: String,
}

/// Parses a DHCP root-path (option 17), or the `server:/export` of a mounted root, with the boot
/// crate's grammar (`bootconfig::parse_root_path`: dracut's `root=` forms). Only the server and
/// the export are taken: options in a root-path are ignored, as a DHCP server must not pick
/// versions or mount options. A root-path without a server names a path on the DHCP server
/// (the lease's server identifier), as the kernel's `root_server_addr` and dracut's
/// `nfsroot_from_dhcp` default it; without a lease (a mounted root's source) the server is
/// required. `%s` in a root-path is replaced by the lease's host name, else its address
/// (dracut's rule), when `lease` is given.
pub fn parse_root_path(text: &str) -> Result<RootTarget, String> {
    root_path_target(text, None)
}

fn root_path_target(text: &str, lease: Option<&Lease>) -> Result<RootTarget, String> {
    let spec = bootconfig::parse_root_path(text).map_err(|e| e.to_string())?;
    let server = spec
        .server
        .or(lease.and_then(|l| l.server_id))
        .ok_or_else(|| format!("no server in {:?}", text.trim()))?;
    let export = match (spec.node, lease) {
        (None, _) => spec.path,
        (Some(style), Some(l)) => {
            let node = bootconfig::node_name(style, l.hostname.as_deref(), l.address);
            bootconfig::substitute_node(&spec.path, &node)
        }
        (Some(_), None) => return Err(format!("{:?} holds %s", text.trim())),
    };
    Ok(RootTarget { server, export })
}

/// The server/export to mount: the config's, or a DHCP root-path when allowed and valid.
pub fn choose_target(ctx: &mut Ctx, cfg: &BootConfig, lease: &Lease) -> RootTarget {
    let configured = RootTarget {
        server: cfg.nfs.server,
        export: cfg.nfs.export.clone(),
    };
    let Some(rp) = &lease.root_path else {
        return configured;
    };
    if !cfg.nfs.allow_dhcp_root_path {
        ctx.log(
            Phase::Nfs,
            &format!("ignoring DHCP root-path {rp:?} (netroot.nfs.allow_dhcp_root_path is off)"),
        );
        return configured;
    }
    match root_path_target(rp, Some(lease)) {
        Ok(target) => {
            ctx.log(Phase::Nfs, &format!("using DHCP root-path {rp:?}"));
            target
        }
        Err(e) => {
            ctx.warn(
                Phase::Nfs,
                &format!("DHCP root-path {rp:?} not usable ({e}), using the configured root"),
            );
            configured
        }
    }
}

/// The kernel mount for one version: fstype and text options.
pub fn mount_spec(
    version: NfsVersion,
    target: &RootTarget,
    client: Ipv4Addr,
    extra: &str,
    mountpoint: &str,
) -> MountSpec {
    let server = target.server;
    let mut data = format!("vers={},addr={server}", version.as_str());
    if version.is_v4() {
        data.push_str(&format!(",clientaddr={client}"));
    } else {
        // The kernel's own MOUNT client: no statd in the image (nolock), mountd over TCP.
        data.push_str(&format!(",mountaddr={server},mountproto=tcp,nolock"));
    }
    data.push_str(",proto=tcp,hard,ro");
    let extra = extra.trim().trim_matches(',');
    if !extra.is_empty() {
        data.push(',');
        data.push_str(extra);
    }
    MountSpec {
        source: format!("{server}:{}", target.export),
        target: mountpoint.to_string(),
        fstype: if version.is_v4() { "nfs4" } else { "nfs" }.to_string(),
        flags: MountFlags::RDONLY,
        data,
    }
}

/// Whether `errno` means "this version cannot work here" rather than "try again later".
fn unsupported(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::PROTONOSUPPORT | Errno::NODEV | Errno::INVAL | Errno::OPNOTSUPP | Errno::NOSYS
    )
}

pub fn run(ctx: &mut Ctx, cfg: &BootConfig, lease: &Lease) -> Result<NfsRoot, Fatal> {
    let target = choose_target(ctx, cfg, lease);
    let mountpoint = if cfg.overlay.enabled {
        ctx.paths.nfs_lower()
    } else {
        ctx.paths.sysroot.clone()
    };
    ensure_dir_all(ctx, &mountpoint).map_err(|e| Fatal::new(Phase::Nfs, e))?;
    let source = format!("{}:{}", target.server, target.export);
    if cfg.nfs.versions.is_empty() {
        return Err(Fatal::new(Phase::Nfs, "no NFS versions configured"));
    }
    let start = ctx.now();
    let until = ctx.until(cfg.timeouts.nfs);
    let mut usable: Vec<NfsVersion> = cfg.nfs.versions.clone();
    let mut tally = ErrorTally::new(&cfg.nfs.versions);
    let mut backoff = Backoff::new(NFS_FIRST_BACKOFF, NFS_MAX_BACKOFF, NFS_BACKOFF_JITTER);
    let mut round = 0u32;
    loop {
        // A round counts once it has tried a mount (the last pause may end at the deadline).
        let mut attempted = false;
        for version in usable.clone() {
            let spec = mount_spec(
                version,
                &target,
                lease.address,
                &cfg.nfs.options,
                &mountpoint,
            );
            let left = until.saturating_sub(ctx.now());
            if left.is_zero() {
                break;
            }
            if !attempted {
                round += 1;
                attempted = true;
            }
            ctx.debug(
                Phase::Nfs,
                &format!(
                    "mount -t {} {} {} -o {}",
                    spec.fstype, spec.source, spec.target, spec.data
                ),
            );
            match ctx.sys.mount_bounded(&spec, left) {
                Ok(()) => {
                    ctx.log(
                        Phase::Nfs,
                        &format!(
                            "mounted {source} vers={} at {mountpoint} rounds={round}",
                            version.as_str()
                        ),
                    );
                    return Ok(NfsRoot {
                        source,
                        version,
                        target: mountpoint,
                    });
                }
                Err(e) => {
                    tally.record(version, e.errno);
                    if unsupported(e.errno) {
                        usable.retain(|v| *v != version);
                    } else if matches!(e.errno, Errno::AGAIN | Errno::TIMEDOUT) {
                        ctx.log(
                            Phase::Nfs,
                            &format!(
                                "server busy or in grace (vers={} {}), waiting",
                                version.as_str(),
                                errno_name(e.errno)
                            ),
                        );
                    }
                    ctx.debug(Phase::Nfs, &format!("{e}"));
                }
            }
        }
        if usable.is_empty() {
            return Err(Fatal::new(
                Phase::Nfs,
                format!(
                    "{source}: no configured NFS version is usable: {}",
                    tally.summary()
                ),
            ));
        }
        let now = ctx.now();
        if now >= until {
            let waited = now.saturating_sub(start);
            return Err(Fatal::new(
                Phase::Nfs,
                format!(
                    "{source}: not mounted after {}s ({} reached, {round} rounds): {}",
                    waited.as_secs(),
                    ctx.limit_name(until),
                    tally.summary()
                ),
            ));
        }
        let pause = backoff.next_delay(&mut ctx.jitter);
        ctx.log(
            Phase::Nfs,
            &format!(
                "round {round} failed ({}), retrying in {}.{:03}s",
                tally.latest(),
                pause.as_secs(),
                pause.subsec_millis()
            ),
        );
        ctx.sleep_until(pause, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::sys::{FakeSys, ScriptedError};
    use crate::testutil::{sample_config, sample_lease as lease};

    #[test]
    fn mount_options_per_version() {
        let t = RootTarget {
            server: Ipv4Addr::new(10, 0, 2, 2),
            export: "/export".into(),
        };
        let c = Ipv4Addr::new(10, 0, 2, 15);
        let v42 = mount_spec(NfsVersion::V4_2, &t, c, "", "/sysroot");
        assert_eq!(v42.fstype, "nfs4");
        assert_eq!(v42.source, "10.0.2.2:/export");
        assert_eq!(v42.flags, MountFlags::RDONLY);
        assert_eq!(
            v42.data,
            "vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15,proto=tcp,hard,ro"
        );
        let v40 = mount_spec(NfsVersion::V4_0, &t, c, ",port=20490,", "/x");
        assert_eq!(
            v40.data,
            "vers=4.0,addr=10.0.2.2,clientaddr=10.0.2.15,proto=tcp,hard,ro,port=20490"
        );
        let v3 = mount_spec(NfsVersion::V3, &t, c, "mountport=635", "/x");
        assert_eq!(v3.fstype, "nfs");
        assert_eq!(
            v3.data,
            "vers=3,addr=10.0.2.2,mountaddr=10.0.2.2,mountproto=tcp,nolock,proto=tcp,hard,ro,mountport=635"
        );
    }

    #[test]
    fn root_path_formats() {
        let ok = |s: &str, server: [u8; 4], export: &str| {
            assert_eq!(
                parse_root_path(s),
                Ok(RootTarget {
                    server: Ipv4Addr::from(server),
                    export: export.into()
                }),
                "{s}"
            );
        };
        ok("10.0.0.1:/srv/root", [10, 0, 0, 1], "/srv/root");
        ok("nfs:10.0.0.1:/srv/root:vers=3", [10, 0, 0, 1], "/srv/root");
        ok("nfs4:10.0.0.1:/srv/root", [10, 0, 0, 1], "/srv/root");
        ok("nfs://10.0.0.1/srv/root", [10, 0, 0, 1], "/srv/root");
        ok("10.0.0.1:/srv/root,nolock", [10, 0, 0, 1], "/srv/root");
        // Unlike `root=` (bootconfig/dracut.rs), options are cut at `,` or `:` in every form and
        // ignored, never validated: a DHCP server cannot pick versions or mount options.
        ok("10.0.0.1:/srv/root:vers=3", [10, 0, 0, 1], "/srv/root");
        ok("nfs:10.0.0.1:/srv/root,nolock", [10, 0, 0, 1], "/srv/root");
        ok("nfs4:10.0.0.1:/srv/root:vers=3", [10, 0, 0, 1], "/srv/root");
        ok("nfs:10.0.0.1:/srv/root:vers=9", [10, 0, 0, 1], "/srv/root");
        // RFC 2224: the path is everything after the server (dracut keeps a ',' in it).
        ok("nfs://10.0.0.1/srv/root,ro", [10, 0, 0, 1], "/srv/root,ro");
        ok("nfs://10.0.0.1:2049/srv/root", [10, 0, 0, 1], "/srv/root");
        ok("  10.0.0.1:/srv/root\n", [10, 0, 0, 1], "/srv/root");
        ok("10.0.0.1:/srv/root\0", [10, 0, 0, 1], "/srv/root");
        let err =
            |s: &str, want: &str| assert_eq!(parse_root_path(s), Err(want.to_string()), "{s}");
        err(
            "server.example:/srv",
            "invalid IPv4 address \"server.example\": expected a dotted quad like 10.0.2.2",
        );
        err(
            "10.0.0.1:srv",
            "invalid nfs export \"10.0.0.1\": must be an absolute path",
        );
        err(
            "nfs://10.0.0.1",
            "invalid root-path \"nfs://10.0.0.1\": nfs:// URL without a path",
        );
        // Without a lease the server is required (`root=nfs:/path` would take the configured one).
        err("/srv/root", "no server in \"/srv/root\"");
        err("nfs:/srv/root", "no server in \"nfs:/srv/root\"");
        err("nfs:/srv/root:ro", "no server in \"nfs:/srv/root:ro\"");
        err(
            "",
            "invalid root-path \"\": no path (dracut would take it from DHCP): name the export",
        );
        err("10.0.0.1:/srv/%s", "\"10.0.0.1:/srv/%s\" holds %s");
    }

    #[test]
    fn root_path_percent_s_is_the_lease_name() {
        let mut l = lease(None);
        l.hostname = Some("node7.cluster".into());
        let t = root_path_target("10.0.0.1:/srv/%s", Some(&l)).expect("substituted");
        assert_eq!(t.export, "/srv/node7.cluster");
        l.hostname = None;
        let t = root_path_target("10.0.0.1:/srv/%s", Some(&l)).expect("substituted");
        assert_eq!(t.export, format!("/srv/{}", l.address));
    }

    #[test]
    fn a_root_path_without_a_server_is_on_the_dhcp_server() {
        let mut l = lease(None);
        l.server_id = Some(Ipv4Addr::new(10, 0, 5, 1));
        for rp in ["/srv/root", "nfs:/srv/root:vers=3", "nfs4:/srv/root"] {
            assert_eq!(
                root_path_target(rp, Some(&l)),
                Ok(RootTarget {
                    server: Ipv4Addr::new(10, 0, 5, 1),
                    export: "/srv/root".into()
                }),
                "{rp}"
            );
        }
        // A server in the root-path wins over the lease's.
        let t = root_path_target("10.0.0.9:/srv/root", Some(&l)).expect("server given");
        assert_eq!(t.server, Ipv4Addr::new(10, 0, 0, 9));
        // Without a server identifier (a static address's lease) the server is required.
        l.server_id = None;
        assert_eq!(
            root_path_target("/srv/root", Some(&l)),
            Err("no server in \"/srv/root\"".to_string())
        );
    }

    #[test]
    fn dhcp_root_path_only_when_allowed() {
        let mut sys = FakeSys::new();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let mut cfg = sample_config();
        let l = lease(Some("10.9.9.9:/evil"));
        assert_eq!(
            choose_target(&mut ctx, &cfg, &l).server,
            Ipv4Addr::new(10, 0, 2, 2)
        );
        cfg.nfs.allow_dhcp_root_path = true;
        assert_eq!(
            choose_target(&mut ctx, &cfg, &l),
            RootTarget {
                server: Ipv4Addr::new(10, 9, 9, 9),
                export: "/evil".into()
            }
        );
        let bad = lease(Some("somehost:/x"));
        assert_eq!(choose_target(&mut ctx, &cfg, &bad).export, "/export");
        assert!(sys.logs[0].ends_with("phase=nfs ignoring DHCP root-path \"10.9.9.9:/evil\" (netroot.nfs.allow_dhcp_root_path is off)"));
        assert!(sys.logs[1].ends_with("phase=nfs using DHCP root-path \"10.9.9.9:/evil\""));
        assert!(sys.logs[2].contains("warning: DHCP root-path \"somehost:/x\" not usable"));
    }

    #[test]
    fn mounts_the_first_working_version_at_the_overlay_lower() {
        let mut sys = FakeSys::new();
        sys.errors.push(ScriptedError::always(
            "mount",
            "vers=4.2",
            Errno::PROTONOSUPPORT,
        ));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let root = run(&mut ctx, &sample_config(), &lease(None)).expect("4.1 works");
        assert_eq!(root.version, NfsVersion::V4_1);
        assert_eq!(root.target, "/run/netroot/nfs");
        let tried: Vec<&str> = sys
            .mounts()
            .iter()
            .map(|m| m.data.split(',').next().unwrap_or(""))
            .collect();
        assert_eq!(tried, ["vers=4.2", "vers=4.1"]);
        assert!(sys.logs.last().is_some_and(|l| l.ends_with(
            "phase=nfs mounted 10.0.2.2:/export vers=4.1 at /run/netroot/nfs rounds=1"
        )));
    }

    #[test]
    fn grace_and_refusals_are_waited_out_with_backoff() {
        let mut sys = FakeSys::new();
        sys.errors
            .push(ScriptedError::times("mount", "vers=4.2", Errno::AGAIN, 3));
        sys.errors.push(ScriptedError::always(
            "mount",
            "vers=4.1",
            Errno::CONNREFUSED,
        ));
        let mut cfg = sample_config();
        cfg.overlay.enabled = false;
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let root = run(&mut ctx, &cfg, &lease(None)).expect("grace ends");
        assert_eq!(root.version, NfsVersion::V4_2);
        assert_eq!(root.target, "/sysroot");
        assert_eq!(
            sys.mounts().len(),
            7,
            "3 rounds of 2 versions, then 4.2 works"
        );
        let sleeps: Vec<Duration> = sys
            .calls
            .iter()
            .filter_map(|c| match c {
                crate::sys::Call::Sleep(d) => Some(*d),
                _ => None,
            })
            .collect();
        assert_eq!(sleeps.len(), 3);
        assert!(
            sleeps[1] > sleeps[0] && sleeps[2] > sleeps[1],
            "backoff grows: {sleeps:?}"
        );
        assert!(sys
            .logs
            .iter()
            .any(|l| l.contains("server busy or in grace (vers=4.2 EAGAIN), waiting")));
        assert!(sys
            .logs
            .iter()
            .any(|l| l
                .contains("round 1 failed (vers=4.2 EAGAIN, vers=4.1 ECONNREFUSED), retrying in")));
    }

    #[test]
    fn retries_until_the_timeout_then_fails() {
        let mut sys = FakeSys::new();
        sys.errors
            .push(ScriptedError::always("mount", "nfs", Errno::HOSTUNREACH));
        let mut cfg = sample_config();
        cfg.timeouts.nfs = Duration::from_secs(20);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &lease(None)).expect_err("unreachable");
        assert_eq!(sys.clock, Duration::from_secs(21));
        assert!(
            fatal
                .reason
                .starts_with("10.0.2.2:/export: not mounted after 20s (timeout reached, "),
            "{}",
            fatal.reason
        );
        assert!(fatal
            .reason
            .ends_with("rounds): vers=4.2 EHOSTUNREACH, vers=4.1 EHOSTUNREACH"));
    }

    #[test]
    fn the_reason_names_a_wrong_export_seen_before_the_timeouts() {
        let mut sys = FakeSys::new();
        sys.errors.push(ScriptedError::always(
            "mount",
            "vers=4.2",
            Errno::PROTONOSUPPORT,
        ));
        sys.errors
            .push(ScriptedError::times("mount", "vers=4.1", Errno::NOENT, 2));
        sys.errors
            .push(ScriptedError::always("mount", "vers=4.1", Errno::TIMEDOUT));
        let mut cfg = sample_config();
        cfg.timeouts.nfs = Duration::from_secs(8);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &lease(None)).expect_err("no such export");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=nfs reason=10.0.2.2:/export: not mounted after 8s \
             (timeout reached, 4 rounds): vers=4.2 EPROTONOSUPPORT, \
             vers=4.1 ENOENT (2 of 4 rounds; last ETIMEDOUT)"
        );
        // Each round's line quotes that round's errors.
        let rounds: Vec<&str> = sys
            .logs
            .iter()
            .filter_map(|l| l.split_once("phase=nfs round ")?.1.split_once(", retrying"))
            .map(|(round, _)| round)
            .collect();
        assert_eq!(
            rounds,
            [
                "1 failed (vers=4.2 EPROTONOSUPPORT, vers=4.1 ENOENT)",
                "2 failed (vers=4.2 EPROTONOSUPPORT, vers=4.1 ENOENT)",
                "3 failed (vers=4.2 EPROTONOSUPPORT, vers=4.1 ETIMEDOUT)",
                "4 failed (vers=4.2 EPROTONOSUPPORT, vers=4.1 ETIMEDOUT)",
            ]
        );
    }

    #[test]
    fn a_version_dropped_late_keeps_its_earlier_answers_in_the_reason() {
        let mut sys = FakeSys::new();
        sys.errors
            .push(ScriptedError::times("mount", "vers=4.2", Errno::NOENT, 1));
        sys.errors
            .push(ScriptedError::always("mount", "vers=4.2", Errno::INVAL));
        sys.errors.push(ScriptedError::times(
            "mount",
            "vers=4.1",
            Errno::TIMEDOUT,
            1,
        ));
        sys.errors
            .push(ScriptedError::always("mount", "vers=4.1", Errno::NODEV));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &sample_config(), &lease(None)).expect_err("nothing usable");
        assert_eq!(
            fatal.reason,
            "10.0.2.2:/export: no configured NFS version is usable: \
             vers=4.2 EINVAL (1 of 2 rounds), vers=4.1 ENODEV (1 of 2 rounds)"
        );
    }

    #[test]
    fn all_versions_unsupported_fails_fast() {
        let mut sys = FakeSys::new();
        sys.errors.push(ScriptedError::always(
            "mount",
            "vers=4.2",
            Errno::PROTONOSUPPORT,
        ));
        sys.errors
            .push(ScriptedError::always("mount", "vers=4.1", Errno::NODEV));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &sample_config(), &lease(None)).expect_err("nothing usable");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=nfs reason=10.0.2.2:/export: no configured NFS version is usable: vers=4.2 EPROTONOSUPPORT, vers=4.1 ENODEV"
        );
        assert_eq!(sys.clock, Duration::from_secs(1), "no waiting");
    }
}
