//! End-to-end runs of [`super::boot`] on the fake machine: every phase in order, the stable log
//! lines, the OK line, and failures carrying the failed modules.

use std::time::Duration;

use super::{boot, Ctx, Handoff};
use crate::dhcp::fake_server::{FakeDhcpServer, ServerBehaviour};
use crate::failure::Phase;
use crate::paths::Paths;
use crate::sys::{Call, Errno, FakeSys, ScriptedError, Sys};
use crate::testutil::{fake_machine, sample_config};

/// A node ready to boot: four ports with carrier, module files, config, cmdline, an NFS root
/// with /sbin/init (the fake does not hide files under mount points, so the root's files are
/// simply present at /sysroot) and a DHCP server.
fn node(cmdline: &str) -> FakeSys {
    let mut sys = fake_machine(4);
    for i in 0..4 {
        sys.add_file(&format!("/sys/class/net/eth{i}/carrier"), "1\n");
    }
    let cfg = sample_config();
    for m in &cfg.modules {
        sys.add_file(&format!("/{}", m.path), "ELF");
    }
    sys.add_file("/etc/netroot/boot.conf", cfg.render());
    sys.add_file("/proc/cmdline", cmdline);
    sys.add_file("/proc/mounts", "overlay /sysroot overlay rw 0 0\n");
    sys.add_file("/sysroot/sbin/init", "ELF");
    sys.add_file("/sysroot/etc/hostname", "node\n");
    sys.add_file("/init", "ELF");
    FakeDhcpServer::new(ServerBehaviour::Normal).install(&mut sys);
    sys
}

fn phase_of(line: &str) -> Option<&str> {
    line.split(" phase=").nth(1)?.split(' ').next()
}

#[test]
fn boots_through_every_phase_and_prints_one_ok_line() {
    let mut sys = node("console=ttyS0 panic=-1\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let handoff = boot(&mut ctx, &["single".to_string()]).expect("boots");
    assert_eq!(
        handoff,
        Handoff {
            init: "/sbin/init".into(),
            args: vec!["single".into()]
        }
    );
    let mut phases: Vec<&str> = sys.logs.iter().filter_map(|l| phase_of(l)).collect();
    phases.dedup();
    assert_eq!(
        phases,
        [
            "early",
            "config",
            "modules",
            "links",
            "bond",
            "dhcp",
            "nfs",
            "overlay",
            "switch_root"
        ]
    );
    let ok: Vec<&String> = sys.logs.iter().filter(|l| l.contains(" OK ")).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0], sys.logs.last().expect("lines"));
    assert!(
        ok[0].starts_with("netroot-init: OK root=10.0.2.2:/export bond=4/4 t=1."),
        "{}",
        ok[0]
    );
    assert!(!sys
        .logs
        .iter()
        .any(|l| l.contains("FAILED") || l.contains("warning")));
    // The real root sees the lease (moved with /run) and the resolver.
    assert!(sys.exists("/run/netroot/net.json"));
    assert!(sys
        .file("/etc/resolv.conf")
        .is_some_and(|r| r.contains("nameserver 10.0.2.3")));
    assert_eq!(
        sys.calls
            .iter()
            .filter(|c| matches!(c, Call::Exec { .. }))
            .count(),
        0,
        "boot() leaves the exec to the caller"
    );
}

#[test]
fn kernel_cmdline_overrides_reach_the_phases() {
    let mut sys = node("netroot.nfs.versions=3 netroot.overlay.enabled=0\n");
    sys.add_file("/proc/mounts", "10.0.2.2:/export /sysroot nfs ro 0 0\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    boot(&mut ctx, &[]).expect("boots");
    let nfs: Vec<String> = sys
        .mounts()
        .iter()
        .filter(|m| m.fstype.starts_with("nfs"))
        .map(|m| format!("{} {} {}", m.fstype, m.target, m.data))
        .collect();
    assert_eq!(
        nfs,
        ["nfs /sysroot vers=3,addr=10.0.2.2,mountaddr=10.0.2.2,mountproto=tcp,nolock,proto=tcp,hard,ro"]
    );
    assert!(!sys.mounts().iter().any(|m| m.fstype == "overlay"));
}

#[test]
fn a_failed_module_is_quoted_in_the_later_failure() {
    let mut sys = node("netroot.timeout.links=2s\n");
    sys.errors.push(ScriptedError::always(
        "finit_module",
        "virtio_net",
        Errno::NOEXEC,
    ));
    // Without the driver no port appears.
    for i in 0..4 {
        sys.remove(&format!("/sys/class/net/eth{i}/address"), false)
            .expect("rm");
    }
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("no ports");
    assert_eq!(fatal.phase, Phase::Links);
    assert!(
        fatal
            .reason
            .ends_with("(modules that failed to load: virtio_net ENOEXEC)"),
        "{}",
        fatal.reason
    );
}

#[test]
fn dhcp_failure_ends_in_phase_dhcp_with_the_configured_action() {
    let mut sys = node("netroot.timeout.dhcp=4s netroot.failure=poweroff\n");
    FakeDhcpServer::new(ServerBehaviour::Silent).install(&mut sys);
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("no lease");
    assert_eq!(fatal.phase, Phase::Dhcp);
    assert_eq!(
        ctx.failure_action,
        crate::bootconfig::FailureAction::Poweroff
    );
    assert!(fatal
        .line()
        .starts_with("netroot-init: FAILED phase=dhcp reason=no lease after 4s (timeout reached)"));
}

#[test]
fn the_boot_deadline_bounds_all_phases() {
    let mut sys = node("netroot.timeout.boot=20s\n");
    sys.errors
        .push(ScriptedError::always("mount", "nfs", Errno::CONNREFUSED));
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("server down");
    assert_eq!(fatal.phase, Phase::Nfs);
    assert!(
        fatal.reason.contains("(boot deadline reached"),
        "{}",
        fatal.reason
    );
    assert_eq!(sys.clock, Duration::from_secs(20));
}
