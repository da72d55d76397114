//! A complete boot config for tests (the `testing` feature): what the compute profile resolves
//! to on a QEMU node, every field set, so tests start from one valid config and change a field.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::model::{
    BondConfig, BondMode, BootConfig, FailureAction, IpConfig, LacpRate, ModuleLoad, NfsConfig,
    NfsVersion, OverlayConfig, PortId, Timeouts, TmpfsSize, XmitHashPolicy,
};

/// Kernel release of the example (the Debian 12 kernel the tests use).
pub const EXAMPLE_KERNEL_VERSION: &str = "6.1.0-56-amd64";

/// MAC of port `i` (0-based) of the example's bond: QEMU's `52:54:00:00:00:0N` (N = i + 1).
pub fn example_port_mac(i: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0, 0, i.saturating_add(1)]
}

impl BootConfig {
    /// 802.3ad over four ports pinned by MAC, DHCP, NFS 4.2/4.1 from 10.0.2.2:/export, a 50 %
    /// tmpfs overlay, virtio_net and bonding modules; passes [`BootConfig::validate`].
    pub fn example() -> BootConfig {
        let module = |name: &str, rel: &str, params: &str| ModuleLoad {
            name: name.into(),
            path: format!("lib/modules/{EXAMPLE_KERNEL_VERSION}/kernel/drivers/net/{rel}"),
            params: params.into(),
        };
        BootConfig {
            profile: "compute".into(),
            kernel_version: EXAMPLE_KERNEL_VERSION.into(),
            modules: vec![
                module("virtio_net", "virtio_net.ko", ""),
                module("bonding", "bonding/bonding.ko", "max_bonds=0"),
            ],
            bond: BondConfig {
                name: "bond0".into(),
                mode: BondMode::Ieee8023ad,
                miimon_ms: 100,
                lacp_rate: LacpRate::Fast,
                xmit_hash_policy: XmitHashPolicy::Layer3_4,
                mac: None,
                ports: (0..4).map(|i| PortId::Mac(example_port_mac(i))).collect(),
                min_ports: 1,
            },
            vlan: None,
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
}
