//! The boot-config check of a profile: the resolved [`BootSpec`] goes through exactly the
//! validation the build applies before writing `boot.conf` ([`BootSpec::validate`], which runs
//! every key parser of the init), and a refusal is reported at the profile key that set the
//! value (`profiles/x.toml:LINE:COL: nfs.server: ...`) instead of a line of the generated file.

use std::ops::Range;

use netroot_boot::bootconfig::{BootSpec, ConfigError};

use super::error::ProfileError;
use super::raw::RawProfile;
use super::resolve::Ctx;
use super::source::Val;

/// Runs the build's boot-config validation on `boot`.
///
/// The module lines (`netroot.module`) and the kernel release come from the kernel's module
/// closure, so their checks can only run at build time; every other key is checked as the
/// build checks it.
pub(super) fn check(cx: &Ctx<'_>, raw: &RawProfile, boot: &BootSpec) -> Result<(), ProfileError> {
    boot.validate().map_err(|e| at_profile_key(cx, raw, e))
}

/// Maps a boot-config error to the profile key (and its position) that set the refused value.
fn at_profile_key(cx: &Ctx<'_>, raw: &RawProfile, error: ConfigError) -> ProfileError {
    let netroot_key = error.key().unwrap_or_default();
    let (key, span) = match source_of(raw, netroot_key) {
        Some((key, span)) => (key.to_string(), span),
        // Keys no profile sets (the profile name, the module lines): name the boot-config key.
        None => (netroot_key.to_string(), None),
    };
    let at = cx.sm.locate(span.map_or(0, |s| s.start));
    match error {
        ConfigError::Value { error, .. } | ConfigError::Inconsistent { error, .. } => {
            ProfileError::BootValue {
                at,
                key,
                error: Box::new(error),
            }
        }
        other => ProfileError::BootConfig {
            at,
            key,
            error: Box::new(other),
        },
    }
}

fn span<T>(v: Option<&Val<T>>) -> Option<Range<usize>> {
    v.map(|v| v.span.clone())
}

/// The profile key that sets the boot-config key `netroot_key`, and where it is set (`None`
/// when the value is a default).
fn source_of(raw: &RawProfile, netroot_key: &str) -> Option<(&'static str, Option<Range<usize>>)> {
    let bond = raw.bond.as_ref();
    let ip = raw.ip.as_ref();
    let nfs = raw.nfs.as_ref();
    let overlay = raw.overlay.as_ref();
    let t = raw.timeouts.as_ref();
    let boot = raw.boot.as_ref();
    Some(match netroot_key {
        "netroot.bond.name" => ("bond.name", span(bond.and_then(|b| b.name.as_ref()))),
        "netroot.bond.mode" => ("bond.mode", span(bond.and_then(|b| b.mode.as_ref()))),
        "netroot.bond.miimon" => ("bond.miimon", span(bond.and_then(|b| b.miimon.as_ref()))),
        "netroot.bond.lacp_rate" => (
            "bond.lacp_rate",
            span(bond.and_then(|b| b.lacp_rate.as_ref())),
        ),
        "netroot.bond.xmit_hash_policy" => (
            "bond.xmit_hash_policy",
            span(bond.and_then(|b| b.xmit_hash_policy.as_ref())),
        ),
        "netroot.bond.mac" => ("bond.mac", span(bond.and_then(|b| b.mac.as_ref()))),
        "netroot.bond.ports" => ("bond.ports", span(bond.and_then(|b| b.ports.as_ref()))),
        "netroot.bond.min_ports" => (
            "bond.min_ports",
            span(bond.and_then(|b| b.min_ports.as_ref())),
        ),
        "netroot.vlan" => (
            "vlan.id",
            span(raw.vlan.as_ref().and_then(|v| v.id.as_ref())),
        ),
        "netroot.ip" => (
            "ip.address",
            span(ip.and_then(|i| i.address.as_ref().or(i.method.as_ref()))),
        ),
        "netroot.ip.gateway" => ("ip.gateway", span(ip.and_then(|i| i.gateway.as_ref()))),
        "netroot.ip.dns" => ("ip.dns", span(ip.and_then(|i| i.dns.as_ref()))),
        "netroot.ip.hostname" => ("ip.hostname", span(ip.and_then(|i| i.hostname.as_ref()))),
        "netroot.nfs.server" => ("nfs.server", span(nfs.and_then(|n| n.server.as_ref()))),
        "netroot.nfs.export" => ("nfs.export", span(nfs.and_then(|n| n.export.as_ref()))),
        "netroot.nfs.versions" => ("nfs.versions", span(nfs.and_then(|n| n.versions.as_ref()))),
        "netroot.nfs.options" => ("nfs.options", span(nfs.and_then(|n| n.options.as_ref()))),
        "netroot.nfs.allow_dhcp_root_path" => (
            "nfs.allow_dhcp_root_path",
            span(nfs.and_then(|n| n.allow_dhcp_root_path.as_ref())),
        ),
        "netroot.overlay.enabled" => (
            "overlay.enabled",
            span(overlay.and_then(|o| o.enabled.as_ref())),
        ),
        "netroot.overlay.size" => ("overlay.size", span(overlay.and_then(|o| o.size.as_ref()))),
        "netroot.timeout.boot" => ("timeouts.boot", span(t.and_then(|t| t.boot.as_ref()))),
        "netroot.timeout.links" => ("timeouts.links", span(t.and_then(|t| t.links.as_ref()))),
        "netroot.timeout.dhcp" => ("timeouts.dhcp", span(t.and_then(|t| t.dhcp.as_ref()))),
        "netroot.timeout.nfs" => ("timeouts.nfs", span(t.and_then(|t| t.nfs.as_ref()))),
        "netroot.failure" => ("boot.failure", span(boot.and_then(|b| b.failure.as_ref()))),
        "netroot.init" => ("boot.init", span(boot.and_then(|b| b.init.as_ref()))),
        "netroot.debug" => ("boot.debug", span(boot.and_then(|b| b.debug.as_ref()))),
        _ => return None,
    })
}
