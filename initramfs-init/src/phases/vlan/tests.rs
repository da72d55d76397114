//! The `vlan` phase against the fake kernel: the calls, the line, and each refusal as a FAILED
//! line of phase `vlan`.

use super::*;
use crate::bootconfig::{VlanConfig, VlanId, VlanNaming};
use crate::paths::Paths;
use crate::sys::{Call, Errno, FakeSys, ScriptedError, Sys};
use crate::testutil::sample_config;

const BOND_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];

fn bond() -> BondReport {
    BondReport {
        name: "bond0".into(),
        mac: BOND_MAC,
        enslaved: vec!["eth0".into()],
        up: vec!["eth0".into()],
        total: 1,
    }
}

/// A machine with bond0 and, when `with_8021q`, the 8021q module loaded.
fn machine(with_8021q: bool) -> FakeSys {
    let mut sys = FakeSys::new();
    sys.add_interface("bond0", "52:54:00:00:00:01");
    if with_8021q {
        sys.add_file("/m/8021q.ko", "ELF");
        sys.finit_module("/m/8021q.ko", "").expect("loads");
        sys.calls.clear();
    }
    sys
}

fn with_vlan(id: i64, naming: VlanNaming) -> BootConfig {
    let mut cfg = sample_config();
    cfg.vlan = Some(VlanConfig::with_naming(
        VlanId::new(id).expect("id"),
        naming,
    ));
    cfg
}

fn failure(sys: &mut FakeSys, cfg: &BootConfig) -> String {
    let mut ctx = Ctx::new(sys, Paths::standard());
    run(&mut ctx, cfg, &bond()).expect_err("fails").line()
}

#[test]
fn without_a_vlan_the_bond_gets_the_address_and_the_line_says_none() {
    let mut sys = machine(false);
    let mut ctx = Ctx::new(&mut sys, Paths::standard());
    let link = run(&mut ctx, &sample_config(), &bond()).expect("no vlan");
    assert_eq!(
        link,
        Uplink {
            name: "bond0".into(),
            mac: BOND_MAC
        }
    );
    assert!(sys.calls.is_empty(), "{:?}", sys.calls);
    assert_eq!(sys.logs.len(), 1);
    assert!(sys.logs[0].ends_with(" phase=vlan none"), "{}", sys.logs[0]);
}

#[test]
fn the_vlan_is_created_on_the_bond_then_brought_up() {
    for (naming, name) in [
        (VlanNaming::DevPlusVidNoPad, "bond0.5"),
        (VlanNaming::VlanPlusVid, "vlan0005"),
    ] {
        let mut sys = machine(true);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let link = run(&mut ctx, &with_vlan(5, naming), &bond()).expect("vlan");
        assert_eq!((link.name.as_str(), link.mac), (name, BOND_MAC));
        assert_eq!(
            sys.calls,
            [
                Call::AddVlan {
                    parent: "bond0".into(),
                    name: name.into(),
                    id: 5
                },
                Call::LinkUp {
                    ifname: name.into(),
                    up: true
                },
            ]
        );
        assert!(sys.link_is_up(name));
        assert!(
            sys.logs[0].ends_with(&format!(" phase=vlan name={name} id=5 on=bond0")),
            "{}",
            sys.logs[0]
        );
    }
}

#[test]
fn a_missing_8021q_module_is_named() {
    assert_eq!(
        failure(&mut machine(false), &with_vlan(5, VlanNaming::DevPlusVidNoPad)),
        "netroot-init: FAILED phase=vlan reason=add vlan bond0.5: EOPNOTSUPP (Operation not supported, errno 95): the 8021q module is missing (not loaded), so the kernel has no vlan link type; the image must load 8021q"
    );
}

#[test]
fn kernel_refusals_fail_the_phase_naming_the_interface() {
    let cfg = with_vlan(7, VlanNaming::VlanPlusVidNoPad);
    let mut sys = machine(true);
    sys.add_interface("vlan7", "02:00:00:00:00:07");
    let line = failure(&mut sys, &cfg);
    assert!(
        line.starts_with("netroot-init: FAILED phase=vlan reason=add vlan vlan7: EEXIST"),
        "{line}"
    );
    let mut sys = machine(true);
    sys.remove("/sys/class/net/bond0/address", false)
        .expect("rm");
    let line = failure(&mut sys, &cfg);
    assert!(
        line.starts_with("netroot-init: FAILED phase=vlan reason=add vlan vlan7: ENODEV"),
        "{line}"
    );
    let mut sys = machine(true);
    sys.errors
        .push(ScriptedError::always("link up", "vlan7", Errno::NOMEM));
    let line = failure(&mut sys, &cfg);
    assert!(
        line.starts_with("netroot-init: FAILED phase=vlan reason=link up vlan7: ENOMEM"),
        "{line}"
    );
}
