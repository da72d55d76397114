//! The LACP partner: a second, small VM standing in for the switch the node's four ports are
//! cabled to. The host kernel of a build machine may have no bonding or VLAN support (these
//! machines have neither), so the partner is the test kernel itself: its busybox init bonds its
//! four node-facing NICs (`802.3ad` with `lacp_rate fast`, or a static `balance-xor` LAG), puts
//! the bond (or its VLAN `bond0.ID`, so the partner tags the node's traffic) on a bridge with its
//! uplink tap, where dnsmasq and nfs-ganesha listen, and prints its `/proc/net/bonding/bond0`
//! report (framed by [`lacp::report_shell`]) whenever it changes.
//!
//! The cables are QEMU UDP sockets on the bed namespace's loopback ([`node_links`] and
//! [`partner_links`] are the two ends); a cable pull is `set_link` on both ends
//! ([`Partner::set_link`](super::lacpbed::Partner::set_link) for the partner's). Console lines:
//! `partner: ready mode=M`, `partner: FAILED <what>`, and the framed reports.

use std::path::{Path, PathBuf};

use super::args::{Accel, Boot, Link, Uplink, VmSpec, CONSOLE_ARGS};
use super::lacp;
use super::QemuError;
use crate::image::ImageBuilder;
use crate::kernel::Kernel;
use crate::kmod::{self, ResolveOptions};

/// Prefix of every partner console line.
pub const PREFIX: &str = "partner:";
/// The partner's node-facing NICs, in cable order (cable `i` joins node `nic<i>` to partner
/// `nic<i>`); locally administered, apart from the node's 52:54:00:00:00:0N.
pub const PORT_MACS: [[u8; 6]; 4] = [
    [0x52, 0x54, 0x00, 0xaa, 0x00, 0x01],
    [0x52, 0x54, 0x00, 0xaa, 0x00, 0x02],
    [0x52, 0x54, 0x00, 0xaa, 0x00, 0x03],
    [0x52, 0x54, 0x00, 0xaa, 0x00, 0x04],
];
/// The partner's uplink NIC (its fifth, `nic4`), on the servers' tap.
pub const UPLINK_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0x00, 0xff];
/// The partner bond's MAC, hence its LACP system MAC: what the node must see as its partner.
pub const SYSTEM_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0x00, 0x00];
/// First UDP port of the cables on the namespace's loopback: node NIC `i` receives on
/// `BASE + i`, partner NIC `i` on `BASE + PARTNER_OFFSET + i`. The namespace is the bed's own,
/// so fixed ports cannot collide with another run.
const LINK_BASE_PORT: u16 = 30_000;
const PARTNER_OFFSET: u16 = 100;
/// What the partner's init needs from the kernel: the NIC driver, the bond, the bridge to the
/// uplink and 802.1Q for a tagged bed (their dependencies come with the closure).
const MODULES: [&str; 5] = ["virtio_pci", "virtio_net", "bonding", "bridge", "8021q"];
/// A switch needs little memory: the initramfs (busybox and a few modules) and the bridge.
const MEMORY_MB: u32 = 256;
/// busybox's place in the partner's initramfs.
const BUSYBOX: &str = "bin/busybox";

/// How the partner aggregates the node's four ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// IEEE 802.3ad with LACP, fast rate: a real LACP partner.
    Lacp,
    /// A static LAG (`balance-xor`), as a switch port-channel without LACP.
    Xor,
}

impl Aggregation {
    /// The bonding driver's sysfs spelling.
    pub fn mode(self) -> &'static str {
        match self {
            Aggregation::Lacp => "802.3ad",
            Aggregation::Xor => "balance-xor",
        }
    }
}

/// The partner of one bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSpec {
    pub aggregation: Aggregation,
    /// The partner's own transmit hash (`layer3+4`).
    pub hash: String,
    /// Tag the node's traffic: bridge `bond0.ID` instead of `bond0` to the untagged uplink.
    pub vlan: Option<u16>,
    /// With a VLAN, also bridge untagged frames (a native VLAN, as a switch port for PXE has:
    /// the firmware and iPXE do not tag); without, only the VLAN reaches the servers.
    pub native: bool,
}

/// The node's four cables, NIC order.
pub fn node_links() -> Vec<Link> {
    (0..PORT_MACS.len() as u16)
        .map(|i| Link::Socket {
            local: LINK_BASE_PORT + i,
            remote: LINK_BASE_PORT + PARTNER_OFFSET + i,
        })
        .collect()
}

/// The partner's ends of the same cables, then its uplink on `tap`.
pub fn partner_links(tap: &str) -> Vec<Link> {
    let mut links: Vec<Link> = (0..PORT_MACS.len() as u16)
        .map(|i| Link::Socket {
            local: LINK_BASE_PORT + PARTNER_OFFSET + i,
            remote: LINK_BASE_PORT + i,
        })
        .collect();
    links.push(Link::Tap(tap.to_string()));
    links
}

/// The partner VM: the kernel, its initramfs, the links and the namespace it runs in.
pub fn vm_spec(kernel: &Path, initrd: &Path, tap: &str, netns: &str, accel: Accel) -> VmSpec {
    let mut spec = VmSpec::new(
        Boot::Direct {
            kernel: kernel.to_path_buf(),
            initrd: initrd.to_path_buf(),
            cmdline: format!("{CONSOLE_ARGS} quiet"),
        },
        Uplink::Links(partner_links(tap)),
        accel,
    );
    spec.macs = PORT_MACS.to_vec();
    spec.macs.push(UPLINK_MAC);
    spec.memory_mb = MEMORY_MB;
    spec.netns = Some(netns.to_string());
    spec
}

/// Builds the partner's initramfs (an uncompressed newc archive) at `out` from `kernel`'s
/// modules and a static `busybox`.
pub fn build_initramfs(
    kernel: &Kernel,
    busybox: &Path,
    spec: &PartnerSpec,
    out: &Path,
) -> Result<PathBuf, QemuError> {
    // The partner's initramfs has no libc: a dynamic busybox would die as its /init.
    let bad_busybox = |reason: String| QemuError::BadSetting {
        what: "busybox",
        value: busybox.display().to_string(),
        reason: format!("{reason} (install busybox-static)"),
    };
    match crate::elfdeps::interpreter(busybox) {
        Ok(None) => {}
        Ok(Some(interp)) => {
            return Err(bad_busybox(format!(
                "dynamically linked (interpreter {interp}), the partner VM has no libc"
            )))
        }
        Err(e) => return Err(bad_busybox(e.to_string())),
    }
    let requests: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
    let opts = ResolveOptions {
        kernel_version: kernel.version.clone(),
        ..ResolveOptions::default()
    };
    let closure = kmod::resolve(&kernel.modules_dir, &requests, &opts).map_err(|e| {
        QemuError::BadSetting {
            what: "partner kernel modules",
            value: kernel.modules_dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let bad = |e: crate::image::ImageError| QemuError::BadSetting {
        what: "partner initramfs",
        value: out.display().to_string(),
        reason: e.to_string(),
    };
    let mut image = ImageBuilder::new();
    for dir in ["proc", "sys", "dev", "bin", "lib/modules"] {
        image.add_dir(dir, 0o755).map_err(bad)?;
    }
    let bb = std::fs::read(busybox).map_err(QemuError::io("read", busybox))?;
    image.add_file(BUSYBOX, 0o755, bb).map_err(bad)?;
    let mut names = Vec::new();
    for m in closure.modules {
        image
            .add_file(&format!("lib/modules/{}.ko", m.name), 0o644, m.data)
            .map_err(bad)?;
        names.push(m.name);
    }
    image
        .add_file("init", 0o755, init_script(spec, &names).into_bytes())
        .map_err(bad)?;
    let mut bytes = Vec::new();
    image.write_cpio(&mut bytes, 0).map_err(bad)?;
    crate::fsx::atomic::write_atomic(out, &bytes).map_err(QemuError::io("write", out))?;
    Ok(out.to_path_buf())
}

/// The partner's `/init` (busybox sh), loading `modules` in order.
pub fn init_script(spec: &PartnerSpec, modules: &[String]) -> String {
    let mac = super::args::mac_text;
    let mut s = format!(
        r#"#!/bin/busybox sh
# /init of the netroot LACP partner (src/qemu/partner.rs): a switch for the node's four ports.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo 1 > /proc/sys/kernel/printk
say() {{ echo "{PREFIX} $*"; }}
fail() {{ say "FAILED $*"; sleep 1; poweroff -f; }}
name_of() {{
  for d in /sys/class/net/*; do [ "$(cat $d/address)" = "$1" ] && {{ echo "${{d##*/}}"; return; }}; done
  fail "no interface with MAC $1"
}}
"#
    );
    for m in modules {
        let params = if m == "bonding" { " max_bonds=0" } else { "" };
        s.push_str(&format!(
            "insmod /lib/modules/{m}.ko{params} || fail \"insmod {m}\"\n"
        ));
    }
    let mode = spec.aggregation.mode();
    s.push_str(&format!(
        r#"B=/sys/class/net/bond0/bonding
echo +bond0 > /sys/class/net/bonding_masters || fail "create bond0"
echo {mode} > $B/mode || fail "mode {mode}"
echo 100 > $B/miimon
echo {hash} > $B/xmit_hash_policy || fail "xmit_hash_policy {hash}"
ip link set bond0 address {system}
"#,
        hash = spec.hash,
        system = mac(&SYSTEM_MAC),
    ));
    if spec.aggregation == Aggregation::Lacp {
        s.push_str("echo fast > $B/lacp_rate || fail \"lacp_rate fast\"\n");
    }
    for port in PORT_MACS {
        s.push_str(&format!(
            "p=$(name_of {}); ip link set $p down; echo +$p > $B/slaves || fail \"enslave $p\"\n",
            mac(&port)
        ));
    }
    s.push_str(&format!(
        "UP=$(name_of {})\nip link set bond0 up\nLAN=bond0\n",
        mac(&UPLINK_MAC)
    ));
    if let Some(id) = spec.vlan {
        s.push_str(&format!(
            "ip link add link bond0 name bond0.{id} type vlan id {id} || fail \"vlan {id}\"\nip link set bond0.{id} up\nLAN=bond0.{id}\n"
        ));
        if spec.native {
            s.push_str("NATIVE=1\n");
        }
    }
    s.push_str(&lacp::report_shell(PREFIX, "bond0"));
    s.push_str(&format!(
        r#"# No STP (a new bridge's default): its ports forward at once, no listening/learning delay.
brctl addbr br0 || fail "brctl addbr br0"
[ "$(cat /sys/class/net/br0/bridge/stp_state)" = 0 ] || fail "stp on br0"
brctl addif br0 $LAN || fail "brctl addif br0 $LAN"
[ -n "$NATIVE" ] && {{ brctl addif br0 bond0 || fail "brctl addif br0 bond0"; }}
brctl addif br0 $UP || fail "brctl addif br0 $UP"
ip link set $UP up; ip link set br0 up
say "ready mode={mode} lan=$LAN"
prev=""
while true; do
  cur=$(cat /proc/net/bonding/bond0)
  [ "$cur" != "$prev" ] && bond_report
  prev="$cur"
  sleep 0.5
done
"#
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cables_pair_each_node_nic_with_the_same_partner_nic() {
        let node = node_links();
        let partner = partner_links("up0");
        assert_eq!(node.len(), 4);
        assert_eq!(partner.len(), 5);
        for (n, p) in node.iter().zip(&partner) {
            let (
                Link::Socket { local, remote },
                Link::Socket {
                    local: pl,
                    remote: pr,
                },
            ) = (n, p)
            else {
                panic!("{n:?} {p:?}");
            };
            assert_eq!((local, remote), (pr, pl));
        }
        assert_eq!(partner[4], Link::Tap("up0".into()));
        let spec = vm_spec(Path::new("/k"), Path::new("/i"), "up0", "ns1", Accel::Tcg);
        assert_eq!(spec.macs.len(), 5);
        assert_eq!(spec.netns.as_deref(), Some("ns1"));
    }

    #[test]
    fn a_busybox_that_needs_libc_is_refused_before_anything_is_built() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = Kernel {
            version: "6.1.0-test".into(),
            image: dir.path().join("vmlinuz"),
            modules_dir: dir.path().join("lib/modules/6.1.0-test"),
            firmware_dir: None,
            inputs: Vec::new(),
        };
        let spec = PartnerSpec {
            aggregation: Aggregation::Lacp,
            hash: "layer3+4".into(),
            vlan: None,
            native: false,
        };
        let out = dir.path().join("partner.cpio");
        // The test binary itself is dynamically linked.
        let me = std::env::current_exe().expect("current exe");
        let e = build_initramfs(&kernel, &me, &spec, &out).expect_err("dynamic");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "invalid busybox {:?}: dynamically linked (interpreter /",
                me.display().to_string()
            )),
            "{text}"
        );
        assert!(
            text.ends_with("the partner VM has no libc (install busybox-static)"),
            "{text}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn the_init_bonds_bridges_and_tags_as_asked() {
        let modules = vec!["virtio_net".to_string(), "bonding".to_string()];
        let lacp = PartnerSpec {
            aggregation: Aggregation::Lacp,
            hash: "layer3+4".into(),
            vlan: None,
            native: false,
        };
        let s = init_script(&lacp, &modules);
        assert!(
            s.contains("insmod /lib/modules/bonding.ko max_bonds=0 ||"),
            "{s}"
        );
        assert!(s.contains("echo 802.3ad > $B/mode"), "{s}");
        assert!(s.contains("echo fast > $B/lacp_rate"), "{s}");
        assert!(
            s.contains("ip link set bond0 address 52:54:00:aa:00:00"),
            "{s}"
        );
        assert_eq!(s.matches("echo +$p > $B/slaves").count(), 4);
        assert!(!s.contains("type vlan"), "{s}");
        let xor = PartnerSpec {
            aggregation: Aggregation::Xor,
            vlan: Some(42),
            ..lacp
        };
        let s = init_script(&xor, &modules);
        assert!(s.contains("echo balance-xor > $B/mode"), "{s}");
        assert!(!s.contains("lacp_rate"), "{s}");
        assert!(
            s.contains("ip link add link bond0 name bond0.42 type vlan id 42"),
            "{s}"
        );
        assert!(s.contains("LAN=bond0.42"), "{s}");
        assert!(!s.contains("NATIVE=1"), "{s}");
        let native = PartnerSpec {
            native: true,
            ..xor.clone()
        };
        assert!(init_script(&native, &modules).contains("\nNATIVE=1\n"));
    }
}
