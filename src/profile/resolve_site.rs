//! Validation of the site sections: `[root]`, `[overlays]`, `[vars]`, `[publish]`, `[menu]`.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ProfileError;
use super::model::{AllowList, MenuSpec, OverlaysSpec, Ownership, PublishSpec, RootSource};
use super::raw::{RawMenu, RawOverlays, RawPublish, RawRoot};
use super::resolve::Ctx;
use super::source::Val;

/// Generations `netroot gc` keeps by default: the active one, the rollback target, one spare.
const DEFAULT_KEEP: u32 = 3;

fn strings(v: &Option<Val<Vec<Val<String>>>>) -> Vec<String> {
    v.iter()
        .flat_map(|l| l.value.iter())
        .map(|s| s.value.clone())
        .collect()
}

/// `[root]` → [`RootSource`].
pub(super) fn root(
    cx: &Ctx<'_>,
    r: Option<&RawRoot>,
) -> Result<(Option<RootSource>, AllowList), ProfileError> {
    let Some(r) = r else {
        return Ok((None, AllowList::default()));
    };
    let allow = r
        .allow
        .as_ref()
        .map(|a| AllowList {
            setuid: strings(&a.setuid),
            setgid: strings(&a.setgid),
            capabilities: strings(&a.capabilities),
            devices: strings(&a.devices),
            world_writable: strings(&a.world_writable),
            sticky_dirs: strings(&a.sticky_dirs),
        })
        .unwrap_or_default();
    let source = r.source.as_ref().ok_or_else(|| cx.missing("root.source"))?;
    let recipe_keys = [
        ("suite", r.suite.is_some()),
        ("variant", r.variant.is_some()),
        ("packages", r.packages.is_some()),
        ("mirror", r.mirror.is_some()),
        ("components", r.components.is_some()),
        ("hooks", r.hooks.is_some()),
    ];
    let spec = match source.value.as_str() {
        "dir" | "tarball" => {
            if let Some((k, _)) = recipe_keys.iter().find(|(_, set)| *set) {
                return Err(cx.invalid(
                    &source.span,
                    format!("root.{k} is only valid with root.source = \"mmdebstrap\""),
                ));
            }
            let path = r.path.as_ref().ok_or_else(|| cx.missing("root.path"))?;
            let p = cx.path(&path.value);
            if source.value == "dir" {
                RootSource::Dir(p)
            } else {
                RootSource::Tarball(p)
            }
        }
        "mmdebstrap" => {
            if let Some(p) = &r.path {
                return Err(cx.invalid(&p.span, "root.path is not used with root.source = \"mmdebstrap\" (the recipe builds the tree)"));
            }
            let suite = r.suite.as_ref().ok_or_else(|| cx.missing("root.suite"))?;
            for word in [Some(suite), r.variant.as_ref(), r.mirror.as_ref()]
                .into_iter()
                .flatten()
            {
                if word.value.is_empty() || word.value.chars().any(char::is_whitespace) {
                    return Err(cx.invalid(
                        &word.span,
                        format!("invalid value \"{}\" (one word expected)", word.value),
                    ));
                }
            }
            for p in r.packages.iter().flat_map(|l| l.value.iter()) {
                let ok = !p.value.is_empty()
                    && p.value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.:=_".contains(c));
                if !ok {
                    return Err(cx.invalid(
                        &p.span,
                        format!("root.packages: invalid package name \"{}\"", p.value),
                    ));
                }
            }
            RootSource::Mmdebstrap(crate::rootfs::Recipe {
                suite: suite.value.clone(),
                variant: r
                    .variant
                    .as_ref()
                    .map(|v| v.value.clone())
                    .unwrap_or_else(|| "minbase".into()),
                packages: strings(&r.packages),
                mirror: r.mirror.as_ref().map(|m| m.value.clone()),
                components: strings(&r.components),
                hooks: r
                    .hooks
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .map(|h| cx.path(&h.value))
                    .collect(),
            })
        }
        other => {
            return Err(cx.invalid(
                &source.span,
                format!(
                    "unknown root source \"{other}\" (expected one of: dir, tarball, mmdebstrap)"
                ),
            ))
        }
    };
    Ok((Some(spec), allow))
}

/// `[overlays]` → [`OverlaysSpec`]; every named overlay must exist under `overlays/`.
pub(super) fn overlays(
    cx: &Ctx<'_>,
    o: Option<&RawOverlays>,
) -> Result<OverlaysSpec, ProfileError> {
    let Some(o) = o else {
        return Ok(OverlaysSpec::default());
    };
    let dir = cx.project.join(super::OVERLAYS_DIR);
    for name in o
        .root
        .iter()
        .chain(o.initramfs.iter())
        .flat_map(|l| l.value.iter())
    {
        let ok = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok || !dir.join(&name.value).is_dir() {
            return Err(cx.invalid(
                &name.span,
                format!(
                    "overlay \"{}\" not found (no directory {}/{})",
                    name.value,
                    super::OVERLAYS_DIR,
                    name.value
                ),
            ));
        }
    }
    let mut owners = BTreeMap::new();
    for (path, v) in o.owners.iter().flatten() {
        let mode = match &v.value.mode {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        cx.invalid(
                            &v.span,
                            format!("overlays.owners.\"{path}\".mode: invalid octal mode \"{m}\""),
                        )
                    })?,
            ),
            None => None,
        };
        if Path::new(path).is_absolute() || path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(cx.invalid(
                &v.span,
                format!("overlays.owners: \"{path}\" must be a relative path inside the image"),
            ));
        }
        owners.insert(
            path.clone(),
            Ownership {
                mode,
                uid: v.value.uid,
                gid: v.value.gid,
            },
        );
    }
    let owner = match &o.owner {
        Some(v) => Some(owner_ids(&v.value).ok_or_else(|| {
            cx.invalid(
                &v.span,
                format!(
                    "overlays.owner: expected \"UID:GID\" (numbers, or root), got \"{}\" \
                     (names other than root depend on the root tree's /etc/passwd)",
                    v.value
                ),
            )
        })?),
        None => None,
    };
    Ok(OverlaysSpec {
        root: strings(&o.root),
        initramfs: strings(&o.initramfs),
        allow_override: strings(&o.allow_override),
        owner,
        owners,
    })
}

/// `"UID:GID"` with numbers or `root` (0 on every system) → (uid, gid); -1 is not an owner.
fn owner_ids(s: &str) -> Option<(u32, u32)> {
    let id = |part: &str| match part {
        "root" => Some(0),
        n => n.parse::<u32>().ok().filter(|n| *n != u32::MAX),
    };
    let (u, g) = s.split_once(':')?;
    Some((id(u)?, id(g)?))
}

/// `[publish]` → [`PublishSpec`].
pub(super) fn publish(cx: &Ctx<'_>, p: Option<&RawPublish>) -> Result<PublishSpec, ProfileError> {
    let Some(p) = p else {
        return Ok(PublishSpec {
            keep: DEFAULT_KEEP,
            ..Default::default()
        });
    };
    if let Some(net) = &p.client_network {
        match netroot_boot::bootconfig::parse_ipv4_network(&net.value) {
            None => {
                return Err(cx.invalid(
                    &net.span,
                    format!(
                        "publish.client_network: expected A.B.C.D/N, got \"{}\"",
                        net.value
                    ),
                ))
            }
            // The export would be refused when it is rendered: say so at the key.
            Some((_, 0)) => {
                return Err(cx.invalid(
                    &net.span,
                    format!(
                        "publish.client_network: refusing to export the root to the world (\"{}\")",
                        net.value
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(url) = &p.http_base {
        return Err(moved_to_site(
            cx,
            &url.span,
            "publish.http_base",
            "http_base",
        ));
    }
    if let Some(k) = &p.keep {
        if k.value < 2 {
            return Err(cx.invalid(
                &k.span,
                "publish.keep must be at least 2 (the active generation and the rollback target)",
            ));
        }
    }
    Ok(PublishSpec {
        tftp: p.tftp.as_ref().map(|v| cx.path(&v.value)),
        nfs: p.nfs.as_ref().map(|v| cx.path(&v.value)),
        client_network: p.client_network.as_ref().map(|v| v.value.clone()),
        hook: p.hook.as_ref().map(|v| v.value.clone()),
        keep: p.keep.as_ref().map(|v| v.value).unwrap_or(DEFAULT_KEEP),
    })
}

/// A key that governs the menus every profile shares, which no profile may set: its one home is
/// the project's `netroot.toml` ([`crate::site`]).
fn moved_to_site(
    cx: &Ctx<'_>,
    span: &std::ops::Range<usize>,
    key: &str,
    site_key: &str,
) -> ProfileError {
    cx.invalid(
        span,
        format!(
            "{key} is a setting of the shared boot menus, not of one profile: set {site_key} in \
             [menu] of the project's {} (docs/publish.md)",
            crate::site::SITE_FILE
        ),
    )
}

/// `[menu]` → [`MenuSpec`]; `serial = "ttyS0,115200"`.
pub(super) fn menu(cx: &Ctx<'_>, m: Option<&RawMenu>) -> Result<MenuSpec, ProfileError> {
    let Some(m) = m else {
        return Ok(MenuSpec::default());
    };
    let serial = match &m.serial {
        None => None,
        Some(v) => {
            let parsed = v
                .value
                .strip_prefix("ttyS")
                .and_then(|rest| rest.split_once(','))
                .and_then(|(u, b)| Some((u.parse::<u8>().ok()?, b.parse::<u32>().ok()?)));
            Some(parsed.ok_or_else(|| {
                cx.invalid(
                    &v.span,
                    format!(
                        "menu.serial: expected ttySN,BAUD (e.g. ttyS0,115200), got \"{}\"",
                        v.value
                    ),
                )
            })?)
        }
    };
    if let Some(t) = &m.title {
        return Err(moved_to_site(cx, &t.span, "menu.title", "title"));
    }
    if let Some(t) = &m.timeout {
        return Err(moved_to_site(cx, &t.span, "menu.timeout", "timeout"));
    }
    Ok(MenuSpec {
        serial,
        cmdline_extra: m
            .cmdline_extra
            .as_ref()
            .map(|v| v.value.clone())
            .unwrap_or_default(),
    })
}
