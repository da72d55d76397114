//! Shared test fixtures: a complete boot config and a fake machine with four ports.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::bootconfig::{
    BondConfig, BondMode, BootConfig, FailureAction, IpConfig, LacpRate, ModuleLoad, NfsConfig,
    NfsVersion, OverlayConfig, PortId, Timeouts, TmpfsSize, XmitHashPolicy,
};
use crate::dhcp::lease::{Lease, LeaseSource};
use crate::sys::FakeSys;

/// MAC of port `i` (0-based) on the fake machine.
pub fn port_mac(i: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0, 0, i + 1]
}

pub fn port_mac_text(i: u8) -> String {
    crate::bootconfig::format_mac(&port_mac(i))
}

/// A config like the compute profile's: 802.3ad over four ports pinned by MAC, DHCP, NFS 4.2/4.1.
pub fn sample_config() -> BootConfig {
    BootConfig {
        profile: "compute".into(),
        kernel_version: "6.1.0-56-amd64".into(),
        modules: vec![
            ModuleLoad {
                name: "virtio_net".into(),
                path: "lib/modules/6.1.0-56-amd64/kernel/drivers/net/virtio_net.ko".into(),
                params: String::new(),
            },
            ModuleLoad {
                name: "bonding".into(),
                path: "lib/modules/6.1.0-56-amd64/kernel/drivers/net/bonding/bonding.ko".into(),
                params: "max_bonds=0".into(),
            },
        ],
        bond: BondConfig {
            name: "bond0".into(),
            mode: BondMode::Ieee8023ad,
            miimon_ms: 100,
            lacp_rate: LacpRate::Fast,
            xmit_hash_policy: XmitHashPolicy::Layer3_4,
            mac: None,
            ports: (0..4).map(|i| PortId::Mac(port_mac(i))).collect(),
            min_ports: 1,
        },
        ip: IpConfig::Dhcp,
        nfs: NfsConfig {
            server: Ipv4Addr::new(10, 0, 2, 2),
            export: "/export".into(),
            versions: vec![NfsVersion::V4_2, NfsVersion::V4_1],
            options: String::new(),
            allow_dhcp_root_path: false,
        },
        overlay: OverlayConfig {
            enabled: true,
            size: TmpfsSize::Percent(50),
        },
        node: None,
        timeouts: Timeouts {
            boot_deadline: Duration::from_secs(300),
            links: Duration::from_secs(30),
            dhcp: Duration::from_secs(60),
            nfs: Duration::from_secs(120),
        },
        failure: FailureAction::Reboot {
            delay: Duration::from_secs(10),
        },
        real_init: "/sbin/init".into(),
        debug: false,
    }
}

/// A fake machine with `/sys/class/net/bonding_masters` and ports eth0..eth{n-1}, named in the
/// reverse of their MAC order (kernel naming order is not stable: MAC matching must work).
pub fn fake_machine(ports: u8) -> FakeSys {
    let mut sys = FakeSys::new();
    sys.add_dir("/sys/class/net/lo");
    sys.add_file("/sys/class/net/lo/address", "00:00:00:00:00:00\n");
    sys.add_file("/sys/class/net/bonding_masters", "");
    for i in 0..ports {
        let name = format!("eth{}", ports - 1 - i);
        sys.add_interface(&name, &port_mac_text(i));
    }
    sys
}

/// The lease QEMU's user network hands out, with optional DHCP root-path.
pub fn sample_lease(root_path: Option<&str>) -> Lease {
    Lease {
        source: LeaseSource::Dhcp,
        interface: "bond0".into(),
        mac: port_mac(0),
        address: Ipv4Addr::new(10, 0, 2, 15),
        prefix_len: 24,
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
        server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
        lease_secs: Some(86400),
        obtained_at: Duration::from_secs(6),
        obtained_unix: None,
        hostname: None,
        domain: None,
        root_path: root_path.map(str::to_string),
    }
}
