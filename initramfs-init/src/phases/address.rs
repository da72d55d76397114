//! Phase `dhcp`: give the bond (or its VLAN, see `vlan.rs`) its IPv4 address, by DHCP or from
//! the static config (both log and fail as phase `dhcp`), set address, prefix and default route
//! over netlink on that interface, bring up `lo`, and write the handover files
//! `/run/netroot/net.json` (naming the interface) and `/run/netroot/resolv.conf`.

use super::early::ensure_dir_all;
use super::Ctx;
use crate::bootconfig::{BootConfig, IpConfig};
use crate::dhcp::client;
use crate::dhcp::lease::{Lease, LeaseSource};
use crate::failure::{Fatal, Phase};
use crate::phases::vlan::Uplink;

/// Name of the lease handover file in the state directory.
pub const NET_JSON: &str = "net.json";
/// Name of the resolver file in the state directory.
pub const RESOLV_CONF: &str = "resolv.conf";

fn obtain(ctx: &mut Ctx, cfg: &BootConfig, link: &Uplink) -> Result<Lease, Fatal> {
    let base = |ctx: &mut Ctx, source| Lease {
        source,
        interface: link.name.clone(),
        mac: link.mac,
        address: std::net::Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
        gateway: None,
        dns: Vec::new(),
        server_id: None,
        lease_secs: None,
        obtained_at: ctx.now(),
        obtained_unix: ctx.sys.unix_time(),
        hostname: None,
        domain: None,
        root_path: None,
    };
    match &cfg.ip {
        IpConfig::Dhcp => {
            let until = ctx.until(cfg.timeouts.dhcp);
            let (ack, stats) = client::acquire(ctx, &link.name, link.mac, until)
                .map_err(|e| Fatal::new(Phase::Dhcp, e))?;
            ctx.debug(Phase::Dhcp, &format!("exchange: {stats}"));
            Ok(Lease {
                address: ack.address,
                prefix_len: ack.prefix_len,
                gateway: ack.gateway,
                dns: ack.dns,
                server_id: Some(ack.server_id),
                lease_secs: ack.lease_secs,
                hostname: ack.hostname,
                domain: ack.domain,
                root_path: ack.root_path,
                ..base(ctx, LeaseSource::Dhcp)
            })
        }
        IpConfig::Static(s) => Ok(Lease {
            address: s.address,
            prefix_len: s.prefix_len,
            gateway: s.gateway,
            dns: s.dns.clone(),
            hostname: s.hostname.clone(),
            ..base(ctx, LeaseSource::Static)
        }),
    }
}

/// Writes net.json and resolv.conf; a failure is a warning (the boot itself does not need them).
fn write_handover(ctx: &mut Ctx, lease: &Lease) {
    let dir = ctx.paths.state_dir();
    let result = ensure_dir_all(ctx, &dir).and_then(|()| {
        ctx.sys.create_file(
            &format!("{dir}/{NET_JSON}"),
            lease.to_json().as_bytes(),
            0o644,
        )?;
        ctx.sys.create_file(
            &format!("{dir}/{RESOLV_CONF}"),
            lease.resolv_conf().as_bytes(),
            0o644,
        )
    });
    if let Err(e) = result {
        ctx.warn(
            Phase::Dhcp,
            &format!("lease handover files not written: {e}"),
        );
    }
}

pub fn run(ctx: &mut Ctx, cfg: &BootConfig, link: &Uplink) -> Result<Lease, Fatal> {
    let lease = obtain(ctx, cfg, link)?;
    if let Err(e) = ctx.sys.set_link_up("lo", true) {
        ctx.warn(Phase::Dhcp, &format!("loopback not up: {e}"));
    }
    let fatal = |e| Fatal::new(Phase::Dhcp, e);
    ctx.sys
        .add_address(&link.name, lease.address, lease.prefix_len)
        .map_err(fatal)?;
    if let Some(gw) = lease.gateway {
        ctx.sys.add_default_route(&link.name, gw).map_err(fatal)?;
    }
    write_handover(ctx, &lease);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_string());
    let dns: Vec<String> = lease.dns.iter().map(ToString::to_string).collect();
    let mut line = format!(
        "source={} address={}/{} gateway={} dns={}",
        match lease.source {
            LeaseSource::Dhcp => "dhcp",
            LeaseSource::Static => "static",
        },
        lease.address,
        lease.prefix_len,
        opt(lease.gateway.map(|g| g.to_string())),
        if dns.is_empty() {
            "none".to_string()
        } else {
            dns.join(",")
        },
    );
    if lease.source == LeaseSource::Dhcp {
        line.push_str(&format!(
            " server={} lease={}",
            opt(lease.server_id.map(|s| s.to_string())),
            lease
                .lease_secs
                .map_or_else(|| "infinite".to_string(), |s| format!("{s}s"))
        ));
    }
    ctx.log(Phase::Dhcp, &line);
    Ok(lease)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootconfig::StaticIp;
    use crate::dhcp::fake_server::{FakeDhcpServer, ServerBehaviour};
    use crate::paths::Paths;
    use crate::sys::{Call, Errno, FakeSys, ScriptedError};
    use crate::testutil::sample_config;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn bond() -> Uplink {
        Uplink {
            name: "bond0".into(),
            mac: [0x52, 0x54, 0, 0, 0, 1],
        }
    }

    fn machine() -> FakeSys {
        let mut sys = FakeSys::new();
        sys.add_interface("bond0", "52:54:00:00:00:01");
        sys.add_dir("/run");
        sys
    }

    #[test]
    fn dhcp_lease_is_applied_and_handed_over() {
        let mut sys = machine();
        FakeDhcpServer::new(ServerBehaviour::Normal).install(&mut sys);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let lease = run(&mut ctx, &sample_config(), &bond()).expect("lease");
        assert_eq!(lease.root_path.as_deref(), Some("10.0.2.9:/srv/root"));
        let effects: Vec<&Call> = sys
            .effects()
            .into_iter()
            .filter(|c| {
                matches!(
                    c,
                    Call::LinkUp { .. } | Call::AddAddress { .. } | Call::AddRoute { .. }
                )
            })
            .collect();
        assert_eq!(
            effects,
            [
                &Call::LinkUp {
                    ifname: "lo".into(),
                    up: true
                },
                &Call::AddAddress {
                    ifname: "bond0".into(),
                    addr: Ipv4Addr::new(10, 0, 2, 15),
                    prefix_len: 24
                },
                &Call::AddRoute {
                    ifname: "bond0".into(),
                    gateway: Ipv4Addr::new(10, 0, 2, 2)
                },
            ]
        );
        let json = sys.file("/run/netroot/net.json").expect("net.json");
        assert!(json.contains("\"lease_time_secs\": 86400"), "{json}");
        assert!(json.contains("\"server_id\": \"10.0.2.2\""));
        assert_eq!(
            sys.file("/run/netroot/resolv.conf").as_deref(),
            Some("# written by netroot-init from the boot lease\nnameserver 10.0.2.3\n")
        );
        assert!(sys.logs.last().is_some_and(|l| l.ends_with(
            "phase=dhcp source=dhcp address=10.0.2.15/24 gateway=10.0.2.2 dns=10.0.2.3 server=10.0.2.2 lease=86400s"
        )));
    }

    #[test]
    fn static_address_needs_no_server() {
        let mut sys = machine();
        let mut cfg = sample_config();
        cfg.ip = IpConfig::Static(StaticIp {
            address: Ipv4Addr::new(192, 168, 7, 20),
            prefix_len: 16,
            gateway: None,
            dns: vec![],
            hostname: Some("n20".into()),
        });
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let lease = run(&mut ctx, &cfg, &bond()).expect("static");
        assert_eq!(lease.source, LeaseSource::Static);
        assert!(!sys
            .calls
            .iter()
            .any(|c| matches!(c, Call::PacketOpen(_) | Call::AddRoute { .. })));
        assert!(sys.logs.last().is_some_and(|l| l
            .ends_with("phase=dhcp source=static address=192.168.7.20/16 gateway=none dns=none")));
        assert!(sys
            .file("/run/netroot/net.json")
            .is_some_and(|j| j.contains("\"hostname\": \"n20\"")));
    }

    #[test]
    fn dhcp_timeout_is_fatal_phase_dhcp() {
        let mut sys = machine();
        FakeDhcpServer::new(ServerBehaviour::Silent).install(&mut sys);
        let mut cfg = sample_config();
        cfg.timeouts.dhcp = Duration::from_secs(5);
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &cfg, &bond()).expect_err("silent server");
        assert!(
            fatal.line().starts_with(
                "netroot-init: FAILED phase=dhcp reason=no lease after 5s (timeout reached): "
            ),
            "{}",
            fatal.line()
        );
    }

    #[test]
    fn netlink_failure_is_fatal_and_file_failure_is_a_warning() {
        let mut sys = machine();
        FakeDhcpServer::new(ServerBehaviour::Normal).install(&mut sys);
        sys.errors.push(ScriptedError::always(
            "add route",
            "bond0",
            Errno::NETUNREACH,
        ));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = run(&mut ctx, &sample_config(), &bond()).expect_err("route");
        assert_eq!(
            fatal.reason,
            "add route bond0: ENETUNREACH (Network is unreachable, errno 101)"
        );

        let mut sys = machine();
        FakeDhcpServer::new(ServerBehaviour::Normal).install(&mut sys);
        sys.errors
            .push(ScriptedError::always("write", "net.json", Errno::NOSPC));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        run(&mut ctx, &sample_config(), &bond()).expect("boot continues");
        assert!(sys.logs.iter().any(|l| l.contains(
            "warning: lease handover files not written: write /run/netroot/net.json: ENOSPC"
        )));
    }
}
