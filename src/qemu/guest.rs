//! What the guest is told: the profile's boot config adjusted to the QEMU network (NFS server
//! = the host's loopback as user networking shows it, on the local ganesha's port; DHCP from
//! user networking; NFSv4 only, as ganesha serves), rendered as kernel parameters with
//! [`BootConfig::to_cmdline`] plus the serial console; and the NIC MACs the bond expects.

use std::net::Ipv4Addr;

use netroot_init::bootconfig::{
    format_nfs_versions, BondConfig, BootConfig, IpConfig, NfsVersion, PortId,
};

use super::args::{CONSOLE_ARGS, DEFAULT_MACS};
use super::QemuError;

/// The host's loopback as the guest reaches it under QEMU user networking.
pub const HOST_FROM_GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// First bytes of the MACs made up for NICs beyond [`DEFAULT_MACS`] (QEMU's OUI, as there).
const MAC_PREFIX: [u8; 5] = [0x52, 0x54, 0x00, 0x00, 0x00];

/// The profile's boot config as the QEMU guest boots it: root from `HOST_FROM_GUEST` on
/// `nfs_port`, the profile's export path (ganesha serves the tree there), DHCP addressing.
pub fn guest_boot_config(
    profile: &str,
    boot: &BootConfig,
    nfs_port: u16,
) -> Result<BootConfig, QemuError> {
    let mut b = boot.clone();
    b.nfs.server = HOST_FROM_GUEST;
    let mut options: Vec<String> = b
        .nfs
        .options
        .split(',')
        .filter(|o| !o.is_empty() && !o.starts_with("port="))
        .map(str::to_string)
        .collect();
    options.push(format!("port={nfs_port}"));
    b.nfs.options = options.join(",");
    let v4: Vec<NfsVersion> = b
        .nfs
        .versions
        .iter()
        .copied()
        .filter(|v| *v != NfsVersion::V3)
        .collect();
    if v4.is_empty() {
        return Err(QemuError::NoNfsV4 {
            profile: profile.to_string(),
            versions: format_nfs_versions(&b.nfs.versions),
        });
    }
    b.nfs.versions = v4;
    // User networking is the only network: its DHCP server hands out 10.0.2.15.
    b.ip = IpConfig::Dhcp;
    Ok(b)
}

/// The kernel command line: the boot config's parameters, the serial console, the profile's
/// `menu.cmdline_extra`, then `append` (later words win for `netroot.*` keys). Checked by
/// applying it to `boot` the way the init will, so a bad `--append` fails here, not in the VM.
pub fn kernel_cmdline(
    boot: &BootConfig,
    extra: &str,
    append: &[String],
) -> Result<String, QemuError> {
    let mut words = vec![boot.to_cmdline(), CONSOLE_ARGS.to_string()];
    words.extend(
        std::iter::once(extra.trim())
            .chain(append.iter().map(|a| a.trim()))
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    );
    let cmdline = words.join(" ");
    boot.clone()
        .apply_cmdline(&cmdline)
        .map_err(|source| QemuError::Cmdline {
            cmdline: cmdline.clone(),
            source: Box::new(source),
        })?;
    Ok(cmdline)
}

/// One NIC per bond port (at least four): the port's MAC when the profile names it by MAC,
/// else QEMU's default (ports named `ethN` match NICs in probe order).
pub fn nic_macs(bond: &BondConfig) -> Vec<[u8; 6]> {
    let count = bond.ports.len().max(DEFAULT_MACS.len());
    (0..count)
        .map(|i| match bond.ports.get(i) {
            Some(PortId::Mac(mac)) => *mac,
            _ => DEFAULT_MACS.get(i).copied().unwrap_or_else(|| {
                let mut mac = [0u8; 6];
                mac[..5].copy_from_slice(&MAC_PREFIX);
                mac[5] = u8::try_from(i + 1).unwrap_or(u8::MAX);
                mac
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Project;
    use std::path::Path;

    fn shipped(name: &str) -> BootConfig {
        let project = Project::new(Path::new(env!("CARGO_MANIFEST_DIR")));
        project.load_profile(name).expect("shipped profile").boot
    }

    #[test]
    fn the_guest_mounts_the_hosts_ganesha_on_its_port_over_v4() {
        let mut boot = shipped("compute");
        boot.nfs.options = "nconnect=2,port=2049".into();
        boot.nfs.versions = vec![NfsVersion::V4_2, NfsVersion::V3, NfsVersion::V4_1];
        let g = guest_boot_config("compute", &boot, 41234).expect("guest");
        assert_eq!(g.nfs.server, HOST_FROM_GUEST);
        assert_eq!(g.nfs.export, boot.nfs.export);
        assert_eq!(g.nfs.options, "nconnect=2,port=41234");
        assert_eq!(g.nfs.versions, [NfsVersion::V4_2, NfsVersion::V4_1]);
        assert_eq!(g.ip, IpConfig::Dhcp);
        let cmdline = kernel_cmdline(&g, "", &[]).expect("cmdline");
        assert!(
            cmdline.starts_with("root=nfs:10.0.2.2:/srv/netroot/compute:nconnect=2,port=41234 "),
            "{cmdline}"
        );
        assert!(cmdline.ends_with(" console=ttyS0 panic=-1"), "{cmdline}");
        let mut applied = shipped("compute");
        applied.apply_cmdline(&cmdline).expect("applies");
        assert_eq!(applied.nfs, g.nfs);
    }

    #[test]
    fn a_v3_only_profile_is_refused() {
        let mut boot = shipped("qemu");
        boot.nfs.versions = vec![NfsVersion::V3];
        let e = guest_boot_config("old", &boot, 1).expect_err("v3");
        assert_eq!(
            e.to_string(),
            "profile \"old\" mounts NFS versions 3 only: the local nfs-ganesha serves NFSv4 (add 4.2 or 4.1 to [nfs] versions)"
        );
    }

    #[test]
    fn extra_words_come_last_and_bad_ones_fail_early() {
        let g = guest_boot_config("qemu", &shipped("qemu"), 2049).expect("guest");
        let c = kernel_cmdline(
            &g,
            " quiet ",
            &["netroot.debug".into(), "netroot.nfs.export=/missing".into()],
        )
        .expect("cmdline");
        assert!(
            c.ends_with("console=ttyS0 panic=-1 quiet netroot.debug netroot.nfs.export=/missing"),
            "{c}"
        );
        let e = kernel_cmdline(&g, "", &["netroot.nope=1".into()]).expect_err("unknown key");
        let text = format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        );
        assert!(text.contains("unknown key \"netroot.nope\""), "{text}");
    }

    #[test]
    fn nics_follow_the_bond_ports() {
        let qemu = shipped("qemu");
        assert_eq!(nic_macs(&qemu.bond), DEFAULT_MACS.to_vec());
        let compute = shipped("compute");
        assert_eq!(
            nic_macs(&compute.bond),
            DEFAULT_MACS.to_vec(),
            "named ports"
        );
        let mut six = compute.bond.clone();
        six.ports = (0..6).map(|i| PortId::Name(format!("eth{i}"))).collect();
        six.ports[1] = PortId::Mac([2, 0, 0, 0, 0, 9]);
        let macs = nic_macs(&six);
        assert_eq!(macs.len(), 6);
        assert_eq!(macs[1], [2, 0, 0, 0, 0, 9]);
        assert_eq!(macs[5], [0x52, 0x54, 0, 0, 0, 6]);
    }
}
