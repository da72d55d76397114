//! Phase `bond`: create the bond through sysfs (the bonding module is loaded with `max_bonds=0`),
//! set its mode before any port is added, then miimon, lacp_rate (802.3ad only) and
//! xmit_hash_policy (modes that hash), an optional fixed MAC, bring the bond up, enslave every
//! port (each brought down first: the kernel refuses to enslave a port that is up), and wait
//! (bounded by `timeouts.links`) for carrier. Booting on fewer ports works when at least
//! `min_ports` have carrier.

use std::time::Duration;

use super::{Ctx, SYSFS_POLL_INTERVAL};
use crate::bootconfig::{format_mac, BondConfig, BondMode};
use crate::failure::{Fatal, Phase};
use crate::parse::{parse_flag, parse_sysfs_mac};
use crate::phases::links::Port;

/// The bond as built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondReport {
    pub name: String,
    /// The bond's MAC (the DHCP client's chaddr).
    pub mac: [u8; 6],
    /// Ports enslaved, in config order.
    pub enslaved: Vec<String>,
    /// Enslaved ports with carrier when the phase ended.
    pub up: Vec<String>,
    /// Ports in the config (the denominator of `bond=n/total`).
    pub total: usize,
}

/// Modes whose transmit path hashes, where `xmit_hash_policy` means something.
fn uses_hash_policy(mode: BondMode) -> bool {
    matches!(
        mode,
        BondMode::BalanceXor | BondMode::Ieee8023ad | BondMode::BalanceTlb
    )
}

/// The sysfs attribute writes that configure the bond, in kernel-required order (mode first).
pub fn attribute_writes(cfg: &BondConfig) -> Vec<(&'static str, String)> {
    let mut writes = vec![
        ("mode", cfg.mode.as_str().to_string()),
        ("miimon", cfg.miimon_ms.to_string()),
    ];
    if cfg.mode == BondMode::Ieee8023ad {
        writes.push(("lacp_rate", cfg.lacp_rate.as_str().to_string()));
    }
    if uses_hash_policy(cfg.mode) {
        writes.push((
            "xmit_hash_policy",
            cfg.xmit_hash_policy.as_str().to_string(),
        ));
    }
    writes
}

fn fatal(e: impl std::fmt::Display) -> Fatal {
    Fatal::new(Phase::Bond, e)
}

/// Creates the bond device unless it already exists (bonding loaded with `max_bonds=1`).
fn create(ctx: &mut Ctx, name: &str) -> Result<(), Fatal> {
    let net = ctx.paths.net_dir();
    if ctx.sys.lstat(&format!("{net}/{name}/bonding")).is_ok() {
        ctx.debug(
            Phase::Bond,
            &format!("{name} already exists, configuring it"),
        );
        return Ok(());
    }
    let masters = format!("{net}/bonding_masters");
    if ctx.sys.lstat(&masters).is_err() {
        return Err(fatal(format!(
            "bonding driver not loaded: {masters} does not exist"
        )));
    }
    ctx.sys
        .write_existing(&masters, format!("+{name}").as_bytes())
        .map_err(fatal)
}

fn carrier(ctx: &mut Ctx, port: &str) -> bool {
    let path = format!("{}/{port}/carrier", ctx.paths.net_dir());
    ctx.sys
        .read_file(&path)
        .ok()
        .and_then(|v| parse_flag(&String::from_utf8_lossy(&v)))
        .unwrap_or(false)
}

pub fn run(
    ctx: &mut Ctx,
    cfg: &BondConfig,
    ports: &[Port],
    links_timeout: Duration,
) -> Result<BondReport, Fatal> {
    let name = cfg.name.as_str();
    let dir = format!("{}/{name}", ctx.paths.net_dir());
    create(ctx, name)?;
    // The mode can only change while the bond is down and has no ports.
    ctx.sys.set_link_up(name, false).map_err(fatal)?;
    for (attr, value) in attribute_writes(cfg) {
        ctx.sys
            .write_existing(&format!("{dir}/bonding/{attr}"), value.as_bytes())
            .map_err(fatal)?;
    }
    if let Some(mac) = cfg.mac {
        ctx.sys.set_link_mac(name, mac).map_err(fatal)?;
    }
    // Up before the first port: the carrier changes of enslaving then reach an up device, so
    // the kernel's link watch sets its operstate (RFC 2863) to `up`. A bond brought up after
    // its ports already gave it carrier stays `unknown` in active-backup and balance-alb on
    // 6.1.y, which confuses the real system's wait-online (seen on 6.1.192).
    ctx.sys.set_link_up(name, true).map_err(fatal)?;
    let mut enslaved = Vec::new();
    let mut errors = Vec::new();
    for port in ports {
        let result = ctx.sys.set_link_up(&port.name, false).and_then(|()| {
            ctx.sys.write_existing(
                &format!("{dir}/bonding/slaves"),
                format!("+{}", port.name).as_bytes(),
            )
        });
        match result {
            Ok(()) => enslaved.push(port.name.clone()),
            Err(e) => {
                ctx.warn(
                    Phase::Bond,
                    &format!("port {} not enslaved: {e}", port.name),
                );
                errors.push(e.to_string());
            }
        }
    }
    let total = cfg.ports.len();
    let need = (cfg.min_ports as usize).max(1);
    if enslaved.len() < need {
        return Err(fatal(format!(
            "enslaved {}/{total} ports, need {need}: {}",
            enslaved.len(),
            errors.join("; ")
        )));
    }
    let mac = ctx
        .sys
        .read_file(&format!("{dir}/address"))
        .ok()
        .and_then(|v| parse_sysfs_mac(&String::from_utf8_lossy(&v)))
        .ok_or_else(|| fatal(format!("{dir}/address: no MAC address")))?;

    let start = ctx.now();
    let until = ctx.until(links_timeout);
    let up = loop {
        let mut up = Vec::new();
        for port in &enslaved {
            if carrier(ctx, port) {
                up.push(port.clone());
            }
        }
        if up.len() == enslaved.len() || ctx.now() >= until {
            break up;
        }
        ctx.sleep_until(SYSFS_POLL_INTERVAL, until);
    };
    let down: Vec<&String> = enslaved.iter().filter(|p| !up.contains(p)).collect();
    let down_text = down
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if up.len() < need {
        let waited = ctx.now().saturating_sub(start);
        return Err(fatal(format!(
            "carrier on {}/{total} ports after {}s ({} reached), need {need}; no carrier: {down_text}",
            up.len(),
            waited.as_secs(),
            ctx.limit_name(until)
        )));
    }
    let mut line = format!(
        "name={name} mode={} ports={}/{total} up={} mac={}",
        cfg.mode,
        up.len(),
        up.join(","),
        format_mac(&mac)
    );
    if !down.is_empty() {
        line.push_str(&format!(" down={down_text}"));
    }
    ctx.log(Phase::Bond, &line);
    Ok(BondReport {
        name: name.to_string(),
        mac,
        enslaved,
        up,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootconfig::{LacpRate, XmitHashPolicy};
    use crate::paths::Paths;
    use crate::sys::{Call, Errno, FakeSys, ScriptedError, Sys};
    use crate::testutil::{fake_machine, port_mac, sample_config};

    fn ports(n: u8) -> Vec<Port> {
        (0..n)
            .map(|i| Port {
                name: format!("eth{i}"),
                mac: port_mac(i),
            })
            .collect()
    }

    /// A machine whose ports eth0..eth{n-1} have MAC i and carrier as given.
    fn machine(carrier: &[bool]) -> FakeSys {
        let mut sys = fake_machine(0);
        for (i, c) in carrier.iter().enumerate() {
            let i = i as u8;
            sys.add_interface(&format!("eth{i}"), &crate::testutil::port_mac_text(i));
            sys.add_file(
                &format!("/sys/class/net/eth{i}/carrier"),
                if *c { "1\n" } else { "0\n" },
            );
        }
        sys
    }

    fn effect_text(c: &Call) -> String {
        match c {
            Call::Write { path, data } => format!("{path}={data}"),
            Call::LinkUp { ifname, up } => format!("{ifname} {}", if *up { "up" } else { "down" }),
            Call::LinkMac { ifname, mac } => format!("{ifname} address {}", format_mac(mac)),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn writes_mode_first_brings_the_bond_up_and_downs_each_port_before_enslaving() {
        let mut sys = machine(&[true, true, true, true]);
        let cfg = sample_config().bond;
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg, &ports(4), Duration::from_secs(30)).expect("bond");
        let effects: Vec<String> = sys.effects().into_iter().map(effect_text).collect();
        let b = "/sys/class/net/bond0/bonding";
        let mut want = vec![
            "/sys/class/net/bonding_masters=+bond0".to_string(),
            "bond0 down".into(),
            format!("{b}/mode=802.3ad"),
            format!("{b}/miimon=100"),
            format!("{b}/lacp_rate=fast"),
            format!("{b}/xmit_hash_policy=layer3+4"),
            "bond0 up".into(),
        ];
        for i in 0..4 {
            want.push(format!("eth{i} down"));
            want.push(format!("{b}/slaves=+eth{i}"));
        }
        assert_eq!(effects, want);
        assert_eq!(report.up.len(), 4);
        assert_eq!(report.mac, port_mac(0), "bond took the first port's MAC");
        assert!(sys.logs[0].ends_with(
            "phase=bond name=bond0 mode=802.3ad ports=4/4 up=eth0,eth1,eth2,eth3 mac=52:54:00:00:00:01"
        ));
    }

    #[test]
    fn non_lacp_modes_skip_lacp_rate_and_hash_policy_where_meaningless() {
        let mut cfg = sample_config().bond;
        cfg.mode = BondMode::BalanceAlb;
        cfg.lacp_rate = LacpRate::Slow;
        let writes: Vec<&str> = attribute_writes(&cfg).iter().map(|w| w.0).collect();
        assert_eq!(writes, ["mode", "miimon"]);
        cfg.mode = BondMode::BalanceXor;
        cfg.xmit_hash_policy = XmitHashPolicy::Layer2_3;
        assert_eq!(
            attribute_writes(&cfg),
            [
                ("mode", "balance-xor".to_string()),
                ("miimon", "100".to_string()),
                ("xmit_hash_policy", "layer2+3".to_string())
            ]
        );
        // The fake rejects lacp_rate outside 802.3ad, like the kernel: a full run must pass.
        let mut sys = machine(&[true, true]);
        cfg.mode = BondMode::ActiveBackup;
        cfg.ports.truncate(2);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx, &cfg, &ports(2), Duration::from_secs(1)).expect("active-backup");
    }

    #[test]
    fn fixed_mac_is_set_before_ports() {
        let mut sys = machine(&[true]);
        let mut cfg = sample_config().bond;
        cfg.mac = Some([2, 0, 0, 0, 0, 0x42]);
        cfg.ports.truncate(1);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg, &ports(1), Duration::from_secs(1)).expect("bond");
        assert_eq!(report.mac, [2, 0, 0, 0, 0, 0x42]);
        let effects: Vec<String> = sys.effects().into_iter().map(effect_text).collect();
        let mac_at = effects
            .iter()
            .position(|e| e == "bond0 address 02:00:00:00:00:42");
        let slave_at = effects.iter().position(|e| e.ends_with("slaves=+eth0"));
        assert!(mac_at.is_some() && mac_at < slave_at, "{effects:?}");
    }

    #[test]
    fn boots_with_fewer_ports_when_min_ports_have_carrier() {
        let mut sys = machine(&[true, false, true]);
        let mut cfg = sample_config().bond;
        cfg.min_ports = 2;
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg, &ports(3), Duration::from_secs(10)).expect("2 of 4");
        assert_eq!(report.up, ["eth0", "eth2"]);
        assert_eq!(report.total, 4);
        assert_eq!(
            sys.clock,
            Duration::from_secs(11),
            "waited for eth1's carrier"
        );
        assert!(sys.logs[0].ends_with("ports=2/4 up=eth0,eth2 mac=52:54:00:00:00:01 down=eth1"));
    }

    #[test]
    fn carrier_arriving_late_ends_the_wait_early() {
        let mut sys = machine(&[true, false]);
        sys.add_file_at(Duration::from_secs(3), "/sys/class/net/eth1/carrier", "1\n");
        let mut cfg = sample_config().bond;
        cfg.ports.truncate(2);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg, &ports(2), Duration::from_secs(30)).expect("bond");
        assert_eq!(report.up.len(), 2);
        assert_eq!(sys.clock, Duration::from_secs(3));
    }

    #[test]
    fn no_carrier_is_fatal() {
        let mut sys = machine(&[false, false]);
        let cfg = sample_config().bond;
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &ports(2), Duration::from_secs(5)).expect_err("no carrier");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=bond reason=carrier on 0/4 ports after 5s (timeout reached), need 1; no carrier: eth0,eth1"
        );
    }

    #[test]
    fn enslave_failures_are_reported_and_skipped() {
        let mut sys = machine(&[true, true]);
        sys.errors
            .push(ScriptedError::always("link down", "eth0", Errno::NODEV));
        let mut cfg = sample_config().bond;
        cfg.ports.truncate(2);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg, &ports(2), Duration::from_secs(1)).expect("eth1 only");
        assert_eq!(report.enslaved, ["eth1"]);
        assert!(sys.logs[0].contains("warning: port eth0 not enslaved: link down eth0: ENODEV"));

        let mut sys = machine(&[true]);
        sys.errors
            .push(ScriptedError::always("write", "slaves", Errno::PERM));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &ports(1), Duration::from_secs(1)).expect_err("none");
        assert!(
            fatal.reason.starts_with(
                "enslaved 0/2 ports, need 1: write /sys/class/net/bond0/bonding/slaves: EPERM"
            ),
            "{}",
            fatal.reason
        );
    }

    #[test]
    fn missing_bonding_driver_is_fatal() {
        let mut sys = FakeSys::new();
        let cfg = sample_config().bond;
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &ports(1), Duration::from_secs(1)).expect_err("no driver");
        assert_eq!(
            fatal.reason,
            "bonding driver not loaded: /sys/class/net/bonding_masters does not exist"
        );
    }

    #[test]
    fn an_existing_bond_is_reused() {
        let mut sys = machine(&[true]);
        sys.write_existing("/sys/class/net/bonding_masters", b"+bond0")
            .expect("pre-create");
        sys.calls.clear();
        let mut cfg = sample_config().bond;
        cfg.ports.truncate(1);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx, &cfg, &ports(1), Duration::from_secs(1)).expect("bond");
        assert!(!sys.writes().iter().any(|w| w.contains("bonding_masters")));
    }
}
