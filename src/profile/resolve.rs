//! Raw merged profile → validated [`Profile`]: defaults, value parsing, cross-field checks.
//!
//! Every error points at the `file:line:col` of the offending value. Value syntax (bond modes,
//! durations, sizes, NFS versions, ...) is parsed by the boot-config module of `netroot-init`, so the
//! builder accepts exactly what the init understands.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use netroot_boot::bootconfig::{self as bc, BootSpec};

use super::error::ProfileError;
use super::model::{FirmwareSpec, KernelSpec, Profile};
use super::raw::*;
use super::source::{SourceMap, Val};
use crate::codec::Codec;
use crate::compress::Compression;

/// Defaults for values no profile sets; each is what a typical cluster node wants.
pub(super) mod defaults {
    use std::time::Duration;
    /// The conventional first bond name; the real root must not reconfigure it.
    pub const BOND_NAME: &str = "bond0";
    /// Link monitoring interval: 100 ms is the kernel docs' recommended starting point.
    pub const MIIMON_MS: u32 = 100;
    /// Whole-boot deadline: long enough for an NFSv4 grace period (~90 s) plus retries.
    pub const BOOT: Duration = Duration::from_secs(300);
    /// Ports appear within seconds after module load; carrier needs switch negotiation.
    pub const LINKS: Duration = Duration::from_secs(30);
    /// Busy DHCP servers after a cluster-wide power-on can take tens of seconds.
    pub const DHCP: Duration = Duration::from_secs(60);
    /// NFSv4 grace after a master failover stalls ~90 s; keep retrying well past it.
    pub const NFS: Duration = Duration::from_secs(180);
    /// Time to read the FAILED line on a console before the reboot.
    pub const FAILURE_DELAY: Duration = Duration::from_secs(10);
    /// tmpfs upper layer: half of RAM, the tmpfs default.
    pub const OVERLAY_PERCENT: u8 = 50;
    pub const REAL_INIT: &str = "/sbin/init";
    /// Firmware location of the host building the image.
    pub const FIRMWARE_DIR: &str = "/lib/firmware";
}

pub(super) struct Ctx<'a> {
    pub(super) sm: &'a SourceMap,
    pub(super) profile: &'a str,
    pub(super) chain: &'a [String],
    pub(super) project: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn invalid(
        &self,
        span: &std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ProfileError {
        ProfileError::Invalid {
            at: self.sm.locate(span.start),
            message: message.into(),
        }
    }

    pub(super) fn missing(&self, field: &'static str) -> ProfileError {
        ProfileError::Missing {
            profile: self.profile.into(),
            field,
            chain: self.chain.to_vec(),
        }
    }

    /// Parses a string value with `FromStr`, reporting the error at the value's position.
    pub(super) fn parse<T: FromStr>(&self, v: &Val<String>) -> Result<T, ProfileError>
    where
        T::Err: std::fmt::Display,
    {
        v.value
            .parse::<T>()
            .map_err(|e| self.invalid(&v.span, e.to_string()))
    }

    fn duration(
        &self,
        v: &Option<Val<String>>,
        default: Duration,
    ) -> Result<Duration, ProfileError> {
        match v {
            None => Ok(default),
            Some(v) => {
                bc::parse_duration(&v.value).map_err(|e| self.invalid(&v.span, e.to_string()))
            }
        }
    }

    pub(super) fn path(&self, v: &str) -> PathBuf {
        let p = Path::new(v);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.project.join(p)
        }
    }
}

/// Validates a merged raw profile.
pub fn resolve(
    name: &str,
    raw: RawProfile,
    sm: &SourceMap,
    chain: &[String],
    project: &Path,
) -> Result<Profile, ProfileError> {
    let cx = Ctx {
        sm,
        profile: name,
        chain,
        project,
    };
    let boot = boot_spec(&cx, &raw)?;
    super::resolve_boot::check(&cx, &raw, &boot)?;
    let kernel = kernel(&cx, raw.kernel.as_ref())?;
    let (mut modules, module_params) = modules(&cx, raw.modules.unwrap_or_default())?;
    // The init creates the VLAN through the `vlan` link kind, which only 8021q registers; the
    // build's module closure then adds what 8021q depends on (garp, mrp, stp, llc).
    if boot.vlan.is_some() && !modules.iter().any(|m| m == bc::VLAN_MODULE) {
        modules.push(bc::VLAN_MODULE.to_string());
    }
    let fw = raw.firmware.unwrap_or_default();
    let firmware = FirmwareSpec {
        dirs: match fw.dirs {
            Some(d) => d.value.iter().map(|v| cx.path(&v.value)).collect(),
            None => vec![PathBuf::from(defaults::FIRMWARE_DIR)],
        },
        strict: fw.strict.map(|v| v.value).unwrap_or(false),
    };
    let compression = compression(&cx, raw.initramfs.unwrap_or_default())?;
    let extra_binaries = raw
        .extra
        .and_then(|e| e.binaries)
        .map(|b| b.value.iter().map(|v| cx.path(&v.value)).collect())
        .unwrap_or_default();
    let (root, root_allow) = super::resolve_site::root(&cx, raw.root.as_ref())?;
    let overlays = super::resolve_site::overlays(&cx, raw.overlays.as_ref())?;
    let publish = super::resolve_site::publish(&cx, raw.publish.as_ref())?;
    let menu = super::resolve_site::menu(&cx, raw.menu.as_ref())?;
    let vars = raw
        .vars
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    Ok(Profile {
        name: name.to_string(),
        description: raw.description.map(|d| d.value).unwrap_or_default(),
        files: chain
            .iter()
            .map(|n| {
                Path::new(super::PROFILES_DIR).join(format!("{n}.{}", super::load::PROFILE_EXT))
            })
            .collect(),
        kernel,
        modules,
        module_params,
        firmware,
        compression,
        extra_binaries,
        boot,
        root,
        root_allow,
        overlays,
        vars,
        publish,
        menu,
    })
}

fn kernel(cx: &Ctx<'_>, k: Option<&RawKernel>) -> Result<Option<KernelSpec>, ProfileError> {
    let Some(k) = k else { return Ok(None) };
    let mut chosen = Vec::new();
    if let Some(p) = &k.path {
        chosen.push((p.span.clone(), KernelSpec::Dir(cx.path(&p.value))));
    }
    let sha256 = match &k.sha256 {
        Some(v) if k.deb.is_none() => {
            return Err(cx.invalid(
                &v.span,
                "kernel.sha256 pins a package: set it with kernel.deb",
            ))
        }
        Some(v) if crate::manifest::is_sha256_hex(&v.value) => Some(v.value.to_ascii_lowercase()),
        Some(v) => {
            return Err(cx.invalid(
                &v.span,
                format!(
                    "kernel.sha256: expected {} hex digits, got \"{}\"",
                    crate::manifest::SHA256_HEX_LEN,
                    v.value
                ),
            ))
        }
        None => None,
    };
    if let Some(d) = &k.deb {
        chosen.push((
            d.span.clone(),
            KernelSpec::Deb {
                path: cx.path(&d.value),
                sha256,
            },
        ));
    }
    if let Some(h) = &k.host {
        if h.value {
            chosen.push((h.span.clone(), KernelSpec::Host));
        }
    }
    match chosen.len() {
        0 => Ok(None),
        1 => Ok(chosen.pop().map(|c| c.1)),
        _ => Err(cx.invalid(&chosen[1].0, "kernel: set only one of path, deb, host")),
    }
}

fn modules(
    cx: &Ctx<'_>,
    m: RawModules,
) -> Result<(Vec<String>, BTreeMap<String, String>), ProfileError> {
    let mut list: Vec<String> = Vec::new();
    for v in m
        .load
        .iter()
        .chain(m.add.iter())
        .flat_map(|l| l.value.iter())
    {
        if v.value.trim().is_empty() {
            return Err(cx.invalid(&v.span, "empty module name"));
        }
        if !list.contains(&v.value) {
            list.push(v.value.clone());
        }
    }
    for v in m.remove.iter().flat_map(|l| l.value.iter()) {
        let before = list.len();
        list.retain(|x| x != &v.value);
        if list.len() == before {
            return Err(cx.invalid(
                &v.span,
                format!("modules.remove: \"{}\" is not in the module list", v.value),
            ));
        }
    }
    let params = m
        .params
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.replace('-', "_"), v.value))
        .collect();
    Ok((list, params))
}

fn compression(cx: &Ctx<'_>, i: RawInitramfs) -> Result<Compression, ProfileError> {
    let kind = match &i.compression {
        Some(v) => cx.parse::<Codec>(v)?,
        None => Codec::Zstd,
    };
    let c = Compression {
        kind,
        level: i.level.as_ref().map(|l| l.value),
    };
    if let Some(l) = &i.level {
        c.check_level()
            .map_err(|e| cx.invalid(&l.span, e.to_string()))?;
    }
    Ok(c)
}

/// A host address (not 0.0.0.0, broadcast or multicast), checked by the init's own parser.
pub(super) fn ipv4(cx: &Ctx<'_>, v: &Val<String>, what: &str) -> Result<Ipv4Addr, ProfileError> {
    bc::parse_host_ipv4(&v.value).map_err(|e| cx.invalid(&v.span, format!("{what}: {e}")))
}

/// The boot config a profile sets (everything but the kernel release and modules), every
/// default filled in; [`super::resolve_boot::check`] then applies the build's validation to it.
fn boot_spec(cx: &Ctx<'_>, raw: &RawProfile) -> Result<BootSpec, ProfileError> {
    let bond = super::resolve_net::bond(cx, raw.bond.clone().unwrap_or_default())?;
    let vlan = super::resolve_net::vlan(cx, raw.vlan.as_ref())?;
    let ip = super::resolve_net::ip(cx, raw.ip.clone().unwrap_or_default())?;
    let nfs = nfs_config(cx, raw.nfs.clone().unwrap_or_default())?;
    let o = raw.overlay.clone().unwrap_or_default();
    let overlay = bc::OverlayConfig {
        enabled: o.enabled.map(|v| v.value).unwrap_or(true),
        size: match &o.size {
            Some(v) => cx.parse::<bc::TmpfsSize>(v)?,
            None => bc::TmpfsSize::Percent(defaults::OVERLAY_PERCENT),
        },
    };
    let t = raw.timeouts.clone().unwrap_or_default();
    let timeouts = bc::Timeouts {
        boot_deadline: cx.duration(&t.boot, defaults::BOOT)?,
        links: cx.duration(&t.links, defaults::LINKS)?,
        dhcp: cx.duration(&t.dhcp, defaults::DHCP)?,
        nfs: cx.duration(&t.nfs, defaults::NFS)?,
    };
    for (v, d, name) in [
        (&t.links, timeouts.links, "links"),
        (&t.dhcp, timeouts.dhcp, "dhcp"),
        (&t.nfs, timeouts.nfs, "nfs"),
    ] {
        if d > timeouts.boot_deadline {
            let span = v
                .as_ref()
                .or(t.boot.as_ref())
                .map(|v| v.span.clone())
                .unwrap_or(0..0);
            return Err(cx.invalid(
                &span,
                format!(
                    "timeouts.{name} ({d:?}) exceeds timeouts.boot ({:?})",
                    timeouts.boot_deadline
                ),
            ));
        }
    }
    let b = raw.boot.clone().unwrap_or_default();
    let failure = match &b.failure {
        Some(v) => cx.parse::<bc::FailureAction>(v)?,
        None => bc::FailureAction::Reboot {
            delay: defaults::FAILURE_DELAY,
        },
    };
    // The path itself is checked with every other boot-config value by `resolve_boot::check`.
    let real_init = match &b.init {
        Some(v) => v.value.clone(),
        None => defaults::REAL_INIT.to_string(),
    };
    Ok(BootSpec {
        profile: cx.profile.to_string(),
        bond,
        vlan,
        ip,
        nfs,
        overlay,
        // Set per node by the per-MAC menus, never by a profile.
        node: None,
        timeouts,
        failure,
        real_init,
        debug: b.debug.map(|v| v.value).unwrap_or(false),
    })
}

fn nfs_config(cx: &Ctx<'_>, n: RawNfs) -> Result<bc::NfsConfig, ProfileError> {
    let server = n.server.as_ref().ok_or_else(|| cx.missing("nfs.server"))?;
    let export = n.export.as_ref().ok_or_else(|| cx.missing("nfs.export"))?;
    // The export path, the options and an empty or repeated version list are checked with
    // every other boot-config value by `resolve_boot::check`.
    let versions = match &n.versions {
        Some(list) => list
            .value
            .iter()
            .map(|v| cx.parse::<bc::NfsVersion>(v))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![bc::NfsVersion::V4_2, bc::NfsVersion::V4_1],
    };
    Ok(bc::NfsConfig {
        server: ipv4(cx, server, "nfs.server")?,
        export: export.value.clone(),
        versions,
        options: n.options.map(|v| v.value).unwrap_or_default(),
        allow_dhcp_root_path: n.allow_dhcp_root_path.map(|v| v.value).unwrap_or(false),
    })
}
