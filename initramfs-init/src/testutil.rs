//! Shared test fixtures: a complete boot config and a fake machine with four ports.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::bootconfig::BootConfig;
use crate::dhcp::lease::{Lease, LeaseSource};
use crate::sys::FakeSys;

/// MAC of port `i` (0-based) on the fake machine (the example config's ports).
pub fn port_mac(i: u8) -> [u8; 6] {
    crate::bootconfig::example_port_mac(i)
}

pub fn port_mac_text(i: u8) -> String {
    crate::bootconfig::format_mac(&port_mac(i))
}

/// A config like the compute profile's: 802.3ad over four ports pinned by MAC, DHCP, NFS 4.2/4.1.
pub fn sample_config() -> BootConfig {
    BootConfig::example()
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
