//! Phase `links`: wait (bounded by `timeouts.links`) for the configured ports to appear in
//! /sys/class/net, identifying each by MAC (preferred: kernel naming order is not stable) or by
//! name. All ports found → continue; fewer but at least `min_ports` when the wait ends → continue
//! with a warning; fewer than `min_ports` → fatal.

use super::{Ctx, SYSFS_POLL_INTERVAL};
use crate::bootconfig::{format_mac, BootConfig, PortId};
use crate::failure::{Fatal, Phase};
use crate::parse::parse_sysfs_mac;

/// An Ethernet interface present in sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub mac: [u8; 6],
}

fn describe(id: &PortId) -> String {
    match id {
        PortId::Mac(mac) => format_mac(mac),
        PortId::Name(name) => name.clone(),
    }
}

/// Lists the interfaces that could be ports: those with a parseable `address`, except loopback,
/// the bond itself and any other bonding master.
pub fn scan(ctx: &mut Ctx, bond_name: &str) -> Vec<Port> {
    let net = ctx.paths.net_dir();
    let names = match ctx.sys.read_dir(&net) {
        Ok(names) => names,
        Err(e) => {
            ctx.debug(Phase::Links, &format!("{e}"));
            return Vec::new();
        }
    };
    let mut ports = Vec::new();
    for name in names {
        if name == "lo" || name == bond_name {
            continue;
        }
        if ctx.sys.lstat(&format!("{net}/{name}/bonding")).is_ok() {
            continue;
        }
        let Ok(address) = ctx.sys.read_file(&format!("{net}/{name}/address")) else {
            continue;
        };
        if let Some(mac) = parse_sysfs_mac(&String::from_utf8_lossy(&address)) {
            ports.push(Port { name, mac });
        }
    }
    ports
}

/// Matches the wanted ports against the present ones, in config order; `None` = not present.
/// A port is never matched twice.
pub fn match_ports(wanted: &[PortId], present: &[Port]) -> Vec<Option<Port>> {
    let mut taken: Vec<&str> = Vec::new();
    wanted
        .iter()
        .map(|id| {
            let found = present.iter().find(|p| {
                !taken.contains(&p.name.as_str())
                    && match id {
                        PortId::Mac(mac) => p.mac == *mac,
                        PortId::Name(name) => p.name == *name,
                    }
            });
            if let Some(p) = found {
                taken.push(&p.name);
            }
            found.cloned()
        })
        .collect()
}

pub fn run(ctx: &mut Ctx, cfg: &BootConfig) -> Result<Vec<Port>, Fatal> {
    let wanted = &cfg.bond.ports;
    if wanted.is_empty() {
        return Err(Fatal::new(Phase::Links, "no bond ports configured"));
    }
    let start = ctx.now();
    let until = ctx.until(cfg.timeouts.links);
    let (matched, present) = loop {
        let present = scan(ctx, &cfg.bond.name);
        let matched = match_ports(wanted, &present);
        if matched.iter().all(Option::is_some) || ctx.now() >= until {
            break (matched, present);
        }
        ctx.sleep_until(SYSFS_POLL_INTERVAL, until);
    };
    let found: Vec<Port> = matched.iter().flatten().cloned().collect();
    let missing: Vec<String> = wanted
        .iter()
        .zip(&matched)
        .filter(|(_, m)| m.is_none())
        .map(|(id, _)| describe(id))
        .collect();
    let waited = ctx.now().saturating_sub(start);
    let total = wanted.len();
    let names: Vec<String> = found
        .iter()
        .map(|p| format!("{}={}", p.name, format_mac(&p.mac)))
        .collect();
    if found.len() < cfg.bond.min_ports as usize || found.is_empty() {
        let present: Vec<String> = present
            .iter()
            .map(|p| format!("{}={}", p.name, format_mac(&p.mac)))
            .collect();
        return Err(Fatal::new(
            Phase::Links,
            format!(
                "found {}/{total} ports after {}.{:01}s ({} reached), need {}: missing {}; present: {}",
                found.len(),
                waited.as_secs(),
                waited.subsec_millis() / 100,
                ctx.limit_name(until),
                cfg.bond.min_ports.max(1),
                missing.join(","),
                if present.is_empty() { "none".to_string() } else { present.join(",") }
            ),
        ));
    }
    if !missing.is_empty() {
        ctx.warn(
            Phase::Links,
            &format!(
                "continuing with {}/{total} ports, missing {}",
                found.len(),
                missing.join(",")
            ),
        );
    }
    ctx.log(
        Phase::Links,
        &format!("found={}/{total} ports={}", found.len(), names.join(",")),
    );
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::testutil::{fake_machine, port_mac, port_mac_text, sample_config};
    use std::time::Duration;

    #[test]
    fn matches_by_mac_whatever_the_kernel_names_are() {
        let mut sys = fake_machine(4);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let ports = run(&mut ctx, &sample_config()).expect("links");
        let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["eth3", "eth2", "eth1", "eth0"],
            "config (MAC) order"
        );
        assert_eq!(ports[0].mac, port_mac(0));
        assert!(sys.logs[0].ends_with(&format!(
            "phase=links found=4/4 ports=eth3={},eth2={},eth1={},eth0={}",
            port_mac_text(0),
            port_mac_text(1),
            port_mac_text(2),
            port_mac_text(3)
        )));
    }

    #[test]
    fn matches_by_name_and_mixed() {
        let present = vec![
            Port {
                name: "eth0".into(),
                mac: port_mac(5),
            },
            Port {
                name: "eth1".into(),
                mac: port_mac(0),
            },
        ];
        let wanted = vec![
            PortId::Mac(port_mac(0)),
            PortId::Name("eth0".into()),
            PortId::Name("eth1".into()),
        ];
        let m = match_ports(&wanted, &present);
        assert_eq!(m[0].as_ref().map(|p| p.name.as_str()), Some("eth1"));
        assert_eq!(m[1].as_ref().map(|p| p.name.as_str()), Some("eth0"));
        assert_eq!(m[2], None, "eth1 is already taken by its MAC");
    }

    #[test]
    fn waits_for_ports_that_appear_late() {
        let mut sys = fake_machine(2);
        sys.add_file_at(
            Duration::from_secs(4),
            "/sys/class/net/eth9/address",
            port_mac_text(2),
        );
        sys.add_file_at(
            Duration::from_secs(5),
            "/sys/class/net/eth8/address",
            port_mac_text(3),
        );
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let ports = run(&mut ctx, &sample_config()).expect("links");
        assert_eq!(ports.len(), 4);
        assert_eq!(sys.clock, Duration::from_secs(5));
    }

    #[test]
    fn partial_boot_with_at_least_min_ports() {
        let mut sys = fake_machine(3);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let ports = run(&mut ctx, &sample_config()).expect("3 of 4 is enough");
        assert_eq!(ports.len(), 3);
        assert_eq!(
            sys.clock,
            Duration::from_secs(31),
            "waited the whole links timeout"
        );
        assert!(sys.logs[0].contains(&format!(
            "warning: continuing with 3/4 ports, missing {}",
            port_mac_text(3)
        )));
        assert!(sys.logs[1].contains("phase=links found=3/4"));
    }

    #[test]
    fn too_few_ports_is_fatal_and_lists_what_is_present() {
        let mut sys = fake_machine(1);
        sys.add_interface("enp9s0", "02:00:00:00:00:09");
        let mut cfg = sample_config();
        cfg.bond.min_ports = 2;
        cfg.timeouts.links = Duration::from_secs(5);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg).expect_err("1 < 2");
        assert_eq!(
            fatal.line(),
            format!(
                "netroot-init: FAILED phase=links reason=found 1/4 ports after 5.0s (timeout reached), need 2: missing {},{},{}; present: enp9s0=02:00:00:00:00:09,eth0={}",
                port_mac_text(1),
                port_mac_text(2),
                port_mac_text(3),
                port_mac_text(0)
            )
        );
    }

    #[test]
    fn the_boot_deadline_caps_the_wait() {
        let mut sys = fake_machine(0);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        ctx.deadline = Duration::from_secs(3);
        let fatal = run(&mut ctx, &sample_config()).expect_err("no ports");
        assert!(
            fatal.reason.contains("after 2.0s (boot deadline reached)"),
            "{}",
            fatal.reason
        );
        assert!(fatal.reason.ends_with("present: none"));
    }

    #[test]
    fn bonds_and_loopback_are_not_ports() {
        let mut sys = fake_machine(1);
        sys.add_file("/sys/class/net/bond7/bonding/mode", "");
        sys.add_file("/sys/class/net/bond7/address", port_mac_text(0));
        sys.add_file("/sys/class/net/broken/address", "garbage");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let ports = scan(&mut ctx, "bond0");
        assert_eq!(
            ports,
            [Port {
                name: "eth0".into(),
                mac: port_mac(0)
            }]
        );
    }
}
