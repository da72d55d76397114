//! What the guest is told besides the published boot files: the words `netroot qemu` adds to
//! the menus' kernel command line of its scratch publication (the serial console, an immediate
//! reboot on panic, then `--append`), checked against the boot config the way the init will
//! apply them; the check that the profile mounts NFSv4 (what nfs-ganesha serves here); and the
//! NIC MACs the bond expects.

use netroot_boot::bootconfig::{
    format_nfs_versions, BondConfig, BootConfig, BootSpec, NfsVersion, PortId,
};

use super::args::{CONSOLE_ARGS, DEFAULT_MACS};
use super::QemuError;

/// First bytes of the MACs made up for NICs beyond [`DEFAULT_MACS`] (QEMU's OUI, as there).
const MAC_PREFIX: [u8; 5] = [0x52, 0x54, 0x00, 0x00, 0x00];

/// Fails unless the profile mounts some NFSv4 version: the local nfs-ganesha serves only v4
/// (v3 needs rpcbind and mountd ports the guest network does not forward).
pub fn require_v4(profile: &str, boot: &BootSpec) -> Result<(), QemuError> {
    if boot.nfs.versions.iter().any(|v| *v != NfsVersion::V3) {
        return Ok(());
    }
    Err(QemuError::NoNfsV4 {
        profile: profile.to_string(),
        versions: format_nfs_versions(&boot.nfs.versions),
    })
}

/// The menus' extra kernel parameters for the scratch publication: the profile's
/// `menu.cmdline_extra`, the serial console and `panic=-1`, then `append` (later words win for
/// `netroot.*` keys). Checked by applying the whole command line to `boot` the way the init
/// will, so a bad `--append` fails here, not in the VM.
pub fn cmdline_extra(
    boot: &BootSpec,
    profile_extra: &str,
    append: &[String],
) -> Result<String, QemuError> {
    let words: Vec<String> = std::iter::once(profile_extra.trim())
        .chain(std::iter::once(CONSOLE_ARGS))
        .chain(append.iter().map(|a| a.trim()))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let extra = words.join(" ");
    // The command line carries no kernel release or module keys: the profile's part suffices.
    let mut boot = BootConfig::new(boot.clone(), String::new(), Vec::new());
    let cmdline = format!("{} {extra}", boot.to_cmdline());
    boot.apply_cmdline(&cmdline)
        .map_err(|source| QemuError::Cmdline {
            cmdline: cmdline.clone(),
            source: Box::new(source),
        })?;
    Ok(extra)
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

    fn shipped(name: &str) -> BootSpec {
        let project = Project::new(Path::new(env!("CARGO_MANIFEST_DIR")));
        project.load_profile(name).expect("shipped profile").boot
    }

    #[test]
    fn a_v3_only_profile_is_refused() {
        let mut boot = shipped("qemu-base");
        require_v4("qemu-base", &boot).expect("v4.1");
        boot.nfs.versions = vec![NfsVersion::V3, NfsVersion::V4_2];
        require_v4("mixed", &boot).expect("v4.2 too");
        boot.nfs.versions = vec![NfsVersion::V3];
        let e = require_v4("old", &boot).expect_err("v3");
        assert_eq!(
            e.to_string(),
            "profile \"old\" mounts NFS versions 3 only: the local nfs-ganesha serves NFSv4 (add 4.2 or 4.1 to [nfs] versions)"
        );
    }

    #[test]
    fn extra_words_come_last_and_bad_ones_fail_early() {
        let boot = shipped("qemu-base");
        let c = cmdline_extra(
            &boot,
            " quiet ",
            &["netroot.debug".into(), "netroot.nfs.export=/missing".into()],
        )
        .expect("cmdline");
        assert_eq!(
            c,
            "quiet console=ttyS0 panic=-1 netroot.debug netroot.nfs.export=/missing"
        );
        assert_eq!(
            cmdline_extra(&boot, "", &[]).expect("plain"),
            "console=ttyS0 panic=-1"
        );
        let e = cmdline_extra(&boot, "", &["netroot.nope=1".into()]).expect_err("unknown key");
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
        let qemu = shipped("qemu-base");
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
