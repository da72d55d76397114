//! End-to-end runs of [`super::boot`] on the fake machine: every phase in order, the stable log
//! lines, the OK line, and failures carrying the failed modules.

use std::time::Duration;

use super::{boot, Ctx, Handoff};
use crate::bootconfig::{BootConfig, ModuleLoad, VlanConfig, VlanId};
use crate::dhcp::fake_server::{FakeDhcpServer, ServerBehaviour};
use crate::failure::Phase;
use crate::paths::Paths;
use crate::sys::{Call, Errno, FakeSys, ScriptedError, Sys};
use crate::testutil::{fake_machine, sample_config};

/// A node ready to boot: four ports with carrier, module files, config, cmdline, an NFS root
/// with /sbin/init (the fake does not hide files under mount points, so the root's files are
/// simply present at /sysroot) and a DHCP server.
fn node(cmdline: &str) -> FakeSys {
    node_with(&sample_config(), cmdline)
}

/// [`node`] booting the image config `cfg`.
fn node_with(cfg: &BootConfig, cmdline: &str) -> FakeSys {
    let mut sys = fake_machine(4);
    for i in 0..4 {
        sys.add_file(&format!("/sys/class/net/eth{i}/carrier"), "1\n");
    }
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
            "vlan",
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

/// The example config whose image loads 8021q (after bonding), with `vlan` on the bond.
fn vlan_image(vlan: Option<i64>) -> BootConfig {
    let mut cfg = sample_config();
    cfg.modules.push(ModuleLoad {
        name: crate::bootconfig::VLAN_MODULE.into(),
        path: "lib/modules/6.1.0-56-amd64/kernel/net/8021q/8021q.ko".into(),
        params: String::new(),
    });
    cfg.vlan = vlan.map(|id| VlanConfig::new(VlanId::new(id).expect("id")));
    cfg
}

/// The calls that name an interface from the bond's last configuration step on.
fn link_calls(sys: &FakeSys) -> Vec<String> {
    let calls: Vec<String> = sys
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::LinkUp { ifname, up: true } if ifname.starts_with("bond") => {
                Some(format!("up {ifname}"))
            }
            Call::AddVlan { parent, name, id } => Some(format!("vlan {name} on {parent} id {id}")),
            Call::PacketOpen(i) => Some(format!("dhcp on {i}")),
            Call::AddAddress { ifname, addr, .. } => Some(format!("address {addr} on {ifname}")),
            Call::AddRoute { ifname, .. } => Some(format!("route via {ifname}")),
            Call::Write { path, .. } if path.ends_with("/slaves") => Some("enslave".into()),
            _ => None,
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for c in calls {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_vlan_in_the_image_gets_the_address_dhcp_and_the_lease_record() {
    let mut sys = node_with(&vlan_image(Some(5)), "console=ttyS0\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    boot(&mut ctx, &[]).expect("boots");
    assert!(sys.module_loaded("8021q"));
    assert_eq!(
        link_calls(&sys),
        [
            "up bond0",
            "enslave",
            "vlan bond0.5 on bond0 id 5",
            "up bond0.5",
            "dhcp on bond0.5",
            "address 10.0.2.15 on bond0.5",
            "route via bond0.5",
        ]
    );
    assert!(sys
        .logs
        .iter()
        .any(|l| l.ends_with(" phase=vlan name=bond0.5 id=5 on=bond0")));
    let json = sys.file("/run/netroot/net.json").expect("net.json");
    assert!(json.contains("\"interface\": \"bond0.5\""), "{json}");
}

#[test]
fn a_dracut_vlan_on_the_command_line_names_the_interface() {
    let mut sys = node_with(&vlan_image(None), "vlan=vlan0042:bond0 ip=vlan0042:dhcp\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    boot(&mut ctx, &[]).expect("boots");
    let calls = link_calls(&sys);
    assert!(
        calls.contains(&"vlan vlan0042 on bond0 id 42".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"address 10.0.2.15 on vlan0042".to_string()),
        "{calls:?}"
    );
}

#[test]
fn a_vlan_without_8021q_in_the_image_fails_in_phase_vlan() {
    // The image config has the VLAN but not the module (as a hand-edited config could).
    let mut cfg = sample_config();
    cfg.vlan = Some(VlanConfig::new(VlanId::new(5).expect("id")));
    let mut sys = node_with(&cfg, "\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("no 8021q");
    assert_eq!(fatal.phase, Phase::Vlan);
    assert!(
        fatal.reason.contains("the 8021q module is missing"),
        "{}",
        fatal.reason
    );
    // A module that failed to load is quoted as the likely cause.
    let mut sys = node_with(&vlan_image(Some(5)), "\n");
    sys.errors.push(ScriptedError::always(
        "finit_module",
        "8021q",
        Errno::NOEXEC,
    ));
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("8021q fails");
    assert_eq!(fatal.phase, Phase::Vlan);
    assert!(
        fatal
            .reason
            .ends_with("(modules that failed to load: 8021q ENOEXEC)"),
        "{}",
        fatal.reason
    );
}

#[test]
fn an_ip_naming_the_bare_bond_under_a_vlan_fails_in_phase_config() {
    let mut sys = node_with(&vlan_image(Some(5)), "ip=bond0:dhcp\n");
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let fatal = boot(&mut ctx, &[]).expect_err("bond named");
    assert_eq!(fatal.phase, Phase::Config);
    assert!(
        fatal
            .reason
            .contains("with a VLAN the address goes on its interface \"bond0.5\""),
        "{}",
        fatal.reason
    );
}
