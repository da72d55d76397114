//! Everything a publish or rollback makes live besides the generation, rendered from published
//! records only: the shared menus and per-MAC files ([`crate::menus::render_published`]), the
//! kernel-nfsd and nfs-ganesha export snippets, the dnsmasq and ISC dhcpd host reservations and
//! the published site settings. The candidate generation (being published or rolled back to)
//! stands in for its profile's active one; every other profile contributes the record of its
//! active generation as the targets hold it.

use std::path::Path;

use super::DeployError;
use crate::menus::IPXE_SCRIPT;
use crate::menus::{render_published, PublishedProfile};
use crate::nodes::{
    check_config_path, dhcpd_hosts, dhcpd_pxe, dnsmasq_hosts, dnsmasq_pxe, PxeWiring,
};
use crate::publish::exports::{self, ExportSpec, ExportsConfig};
use crate::publish::layout::TFTP_SUBDIR;
use crate::publish::{active_generations, GenerationPaths, MenuFiles, Targets};
use crate::site::{PublishedSite, SiteSettings, PUBLISHED_SITE_FILE};

/// Export snippets written at the top of the NFS target, for the admin or the hook to install.
pub const KERNEL_EXPORTS_FILE: &str = "netroot.exports";
pub const GANESHA_EXPORTS_FILE: &str = "netroot.ganesha.conf";
/// DHCP configuration for dnsmasq and ISC dhcpd: the PXE wiring (TFTP root, the iPXE menu
/// script, the iPXE chain for other PXE ROMs) and the host reservations of the nodes the active
/// generations list.
pub const DNSMASQ_FILE: &str = "netroot.dnsmasq.conf";
pub const DHCPD_FILE: &str = "netroot.dhcpd.conf";

/// Where the shared menus' settings come from.
#[derive(Debug, Clone)]
pub enum SiteSource {
    /// The project's `netroot.toml` (a publish).
    Project(SiteSettings),
    /// What was last published (a rollback: nothing is read from the project).
    Published,
}

/// Renders every shared file with `candidate` as its profile's active generation.
pub fn render(
    site: &SiteSource,
    t: &Targets,
    candidate: &GenerationPaths,
) -> Result<MenuFiles, DeployError> {
    let mut active = active_generations(t)?;
    active.retain(|a| a.paths.profile != candidate.profile);
    let boot_of = |g: &GenerationPaths| {
        g.boot
            .clone()
            .ok_or_else(|| DeployError::NoBootRecord(g.profile.clone(), g.generation.clone()))
    };
    let candidate_boot = boot_of(candidate)?;
    let mut boots = vec![(candidate, candidate_boot, u64::MAX)];
    for a in &active {
        boots.push((&a.paths, boot_of(&a.paths)?, a.activated_ns));
    }
    let profiles: Vec<PublishedProfile<'_>> = boots
        .iter()
        .map(|(g, boot, at)| PublishedProfile {
            profile: &g.profile,
            kernel: &g.vmlinuz,
            initrd: &g.initramfs,
            nfs_rel: g.nfs_rel.as_deref(),
            boot,
            activated_ns: *at,
        })
        .collect();
    let site_path = t.tftp.join(TFTP_SUBDIR).join(PUBLISHED_SITE_FILE);
    let before = PublishedSite::load(&site_path)?;
    let settings = match site {
        SiteSource::Project(s) => s.clone(),
        SiteSource::Published => before
            .as_ref()
            .map(|b| b.settings.clone())
            .unwrap_or_default(),
    };
    let names: Vec<&str> = profiles.iter().map(|p| p.profile).collect();
    let (site, default_warning) =
        PublishedSite::resolve(settings, before.as_ref(), &names, &candidate.profile);
    let published = render_published(&site, &profiles)?;
    let mut warnings = published.warnings;
    warnings.extend(default_warning);
    let exports = export_config(&t.nfs, &profiles);
    let (dnsmasq, dhcpd) = dhcp_files(t, &site.default, &profiles, &published.nodes)?;
    Ok(MenuFiles {
        files: published
            .files
            .into_iter()
            .map(|f| (f.path, f.contents.into_bytes()))
            .collect(),
        nfs_files: vec![
            (
                KERNEL_EXPORTS_FILE.into(),
                exports::kernel_exports(&exports)?.into_bytes(),
            ),
            (
                GANESHA_EXPORTS_FILE.into(),
                exports::ganesha_config(&exports)?.into_bytes(),
            ),
            (DNSMASQ_FILE.into(), dnsmasq.into_bytes()),
            (DHCPD_FILE.into(), dhcpd.into_bytes()),
        ],
        site_files: vec![(PUBLISHED_SITE_FILE.into(), site.to_bytes()?)],
        cmdline: published.cmdlines.get(&candidate.profile).cloned(),
        warnings,
    })
}

/// The dnsmasq and dhcpd files: the PXE wiring, then the reservations. dhcpd's `next-server` is
/// the default profile's NFS server (on a master pair, the service address that also serves
/// TFTP), from its published record.
fn dhcp_files(
    t: &Targets,
    default: &str,
    profiles: &[PublishedProfile<'_>],
    nodes: &[crate::nodes::Node],
) -> Result<(String, String), DeployError> {
    check_config_path(&t.tftp).map_err(|bad| DeployError::TargetPath {
        what: "tftp",
        path: t.tftp.clone(),
        source: std::io::Error::other(format!(
            "{bad:?} cannot be written into a dnsmasq or dhcpd configuration"
        )),
    })?;
    let next_server = match profiles.iter().find(|p| p.profile == default) {
        Some(p) => Some(
            p.boot
                .boot_config()
                .map_err(|reason| DeployError::BadRecord {
                    profile: p.profile.to_string(),
                    reason,
                })?
                .nfs
                .server,
        ),
        None => None,
    };
    let wiring = PxeWiring {
        tftp_root: &t.tftp,
        next_server,
        ipxe_script: IPXE_SCRIPT,
    };
    Ok((
        format!("{}\n{}", dnsmasq_pxe(&wiring), dnsmasq_hosts(nodes)),
        format!("{}\n{}", dhcpd_pxe(&wiring), dhcpd_hosts(nodes)),
    ))
}

/// One export per published profile with a root tree, to the clients its record names.
fn export_config(nfs: &Path, profiles: &[PublishedProfile<'_>]) -> ExportsConfig {
    let mut specs: Vec<ExportSpec> = profiles
        .iter()
        .filter(|p| p.nfs_rel.is_some())
        .map(|p| ExportSpec {
            profile: p.profile.to_string(),
            clients: p.boot.export_clients.clone(),
            fsid: None,
            export_id: None,
        })
        .collect();
    specs.sort_by(|a, b| a.profile.cmp(&b.profile));
    ExportsConfig {
        nfs_dir: nfs.to_path_buf(),
        pseudo_root: exports::DEFAULT_PSEUDO_ROOT.to_string(),
        exports: specs,
    }
}
