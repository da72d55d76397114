//! Settings of the shared boot menus, which belong to no profile: the menu title, the timeout,
//! the loaders' serial line, the default entry and iPXE's HTTP base. Their one home is the
//! project's `netroot.toml`:
//!
//! ```toml
//! [menu]
//! title = "cluster boot menu"
//! timeout = 5                # seconds; 0 boots the default at once
//! serial = "ttyS0,115200"    # GRUB/PXELINUX/iPXE on the serial line
//! default = "compute"        # the entry a machine without a per-MAC menu boots
//! http_base = "http://10.0.0.1:8080/"
//! ```
//!
//! `netroot publish` reads it and publishes the settings as `TFTP/netroot/site.json`, with the
//! default entry resolved; rollback and gc render from that published copy, never from the
//! project. The default entry is `menu.default` once that profile is published; until then, and
//! without `menu.default`, it stays what was published before (the first profile ever published
//! into the TFTP root), so publishing a profile never moves machines to another class.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::profile::Location;

/// File name of the project's site settings.
pub const SITE_FILE: &str = "netroot.toml";
/// File name of the published settings in `TFTP/netroot/`.
pub const PUBLISHED_SITE_FILE: &str = "site.json";
/// Menu timeout without a setting: long enough to pick an entry at a console, short enough that
/// a rack of nodes is not held up at boot.
pub const DEFAULT_TIMEOUT_SECS: u32 = 5;
/// Version of the `site.json` schema.
const SITE_VERSION: u32 = 1;

/// The shared menus' settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    pub title: Option<String>,
    pub timeout_secs: u32,
    /// The loaders' serial line (unit, baud).
    pub serial: Option<(u8, u32)>,
    /// The default entry asked for (`menu.default`).
    pub default: Option<String>,
    pub http_base: Option<String>,
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            title: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            serial: None,
            default: None,
            http_base: None,
        }
    }
}

/// `TFTP/netroot/site.json`: the settings as last published and the default entry in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedSite {
    pub version: u32,
    pub settings: SiteSettings,
    /// The profile whose entry is the shared menus' default.
    pub default: String,
}

/// A `netroot.toml` or `site.json` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    #[error("{path}: {reason}")]
    Published { path: PathBuf, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    menu: Option<toml::Spanned<RawMenu>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMenu {
    title: Option<toml::Spanned<String>>,
    timeout: Option<toml::Spanned<i64>>,
    serial: Option<toml::Spanned<String>>,
    default: Option<toml::Spanned<String>>,
    http_base: Option<toml::Spanned<String>>,
}

/// `ttyS0,115200` → (0, 115200).
pub fn parse_serial(s: &str) -> Option<(u8, u32)> {
    let (unit, baud) = s.strip_prefix("ttyS")?.split_once(',')?;
    let baud = baud.parse::<u32>().ok().filter(|b| *b > 0)?;
    Some((unit.parse::<u8>().ok()?, baud))
}

impl SiteSettings {
    /// Reads `project/netroot.toml`; a project without one has the defaults.
    pub fn load(project: &Path) -> Result<SiteSettings, SiteError> {
        let path = project.join(SITE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => SiteSettings::parse(Path::new(SITE_FILE), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SiteSettings::default()),
            Err(source) => Err(SiteError::Io { path, source }),
        }
    }

    /// Parses the text of a `netroot.toml` shown as `display` in messages.
    pub fn parse(display: &Path, text: &str) -> Result<SiteSettings, SiteError> {
        let at = |span: std::ops::Range<usize>| Location::of(display, text, span.start);
        let invalid = |span, message: String| SiteError::Invalid {
            at: at(span),
            message,
        };
        let raw: RawSite = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().unwrap_or(0..0),
                e.message().trim_end_matches('.').to_string(),
            )
        })?;
        let mut out = SiteSettings::default();
        let Some(menu) = raw.menu.map(toml::Spanned::into_inner) else {
            return Ok(out);
        };
        if let Some(t) = menu.title {
            let bad = t.get_ref().trim().is_empty() || t.get_ref().chars().any(char::is_control);
            if bad {
                return Err(invalid(
                    t.span(),
                    "menu.title must be non-empty without control characters".into(),
                ));
            }
            out.title = Some(t.into_inner());
        }
        if let Some(t) = menu.timeout {
            let max = crate::menus::MAX_TIMEOUT_SECS;
            out.timeout_secs = u32::try_from(*t.get_ref())
                .ok()
                .filter(|s| *s <= max)
                .ok_or_else(|| {
                    invalid(
                        t.span(),
                        format!(
                            "menu.timeout must be 0 to {max} seconds, got {}",
                            t.get_ref()
                        ),
                    )
                })?;
        }
        if let Some(s) = menu.serial {
            out.serial = Some(parse_serial(s.get_ref()).ok_or_else(|| {
                invalid(
                    s.span(),
                    format!(
                        "menu.serial: expected ttySN,BAUD (e.g. ttyS0,115200), got {:?}",
                        s.get_ref()
                    ),
                )
            })?);
        }
        if let Some(d) = menu.default {
            crate::publish::layout::validate_profile(d.get_ref())
                .map_err(|e| invalid(d.span(), format!("menu.default: {e}")))?;
            out.default = Some(d.into_inner());
        }
        if let Some(h) = menu.http_base {
            crate::menus::check_http_base(h.get_ref())
                .map_err(|e| invalid(h.span(), format!("menu.http_base: {e}")))?;
            out.http_base = Some(h.into_inner());
        }
        Ok(out)
    }
}

impl PublishedSite {
    /// Reads `TFTP/netroot/site.json`; `None` when nothing was published yet.
    pub fn load(path: &Path) -> Result<Option<PublishedSite>, SiteError> {
        let bad = |reason: String| SiteError::Published {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SiteError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let site: PublishedSite = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if site.version != SITE_VERSION {
            return Err(bad(format!(
                "site settings version {} is not supported (expected {SITE_VERSION})",
                site.version
            )));
        }
        Ok(Some(site))
    }

    /// The settings in force after a publish or rollback: `settings`, with the default entry
    /// chosen among the `active` profiles (sorted) by the rule in the module doc; `publishing` is
    /// the profile being published (the first default of a new TFTP root).
    pub fn resolve(
        settings: SiteSettings,
        before: Option<&PublishedSite>,
        active: &[&str],
        publishing: &str,
    ) -> (PublishedSite, Option<String>) {
        let is_active = |p: &str| active.contains(&p);
        let mut warning = None;
        let wanted = settings.default.clone();
        let default = match wanted.as_deref() {
            Some(w) if is_active(w) => w.to_string(),
            other => {
                let kept = before
                    .map(|b| b.default.as_str())
                    .filter(|d| is_active(d))
                    .unwrap_or(publishing)
                    .to_string();
                if let Some(w) = other {
                    warning = Some(format!(
                        "menu.default = {w:?} is not published here yet: the default entry stays {kept:?}"
                    ));
                }
                kept
            }
        };
        let site = PublishedSite {
            version: SITE_VERSION,
            settings,
            default,
        };
        (site, warning)
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SiteError> {
        let mut b = serde_json::to_vec_pretty(self).map_err(|e| SiteError::Published {
            path: PathBuf::from(PUBLISHED_SITE_FILE),
            reason: format!("cannot serialize: {e}"),
        })?;
        b.push(b'\n');
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SiteSettings, SiteError> {
        SiteSettings::parse(Path::new("netroot.toml"), text)
    }

    #[test]
    fn every_setting_parses() {
        let s = parse(
            "[menu]\ntitle = \"t\"\ntimeout = 0\nserial = \"ttyS1,9600\"\ndefault = \"gpu\"\n\
             http_base = \"http://10.0.0.1:8080/\"\n",
        )
        .unwrap();
        assert_eq!(s.title.as_deref(), Some("t"));
        assert_eq!(s.timeout_secs, 0);
        assert_eq!(s.serial, Some((1, 9600)));
        assert_eq!(s.default.as_deref(), Some("gpu"));
        assert_eq!(s.http_base.as_deref(), Some("http://10.0.0.1:8080/"));
        assert_eq!(parse("").unwrap(), SiteSettings::default());
    }

    #[test]
    fn errors_name_the_line_and_key() {
        for (text, line, key) in [
            ("[menu]\ntimeout = 99999\n", 2, "menu.timeout"),
            ("[menu]\n\nserial = \"com1\"\n", 3, "menu.serial"),
            ("[menu]\ndefault = \"../x\"\n", 2, "menu.default"),
            ("[menu]\nhttp_base = \"ftp://x\"\n", 2, "menu.http_base"),
            ("[menu]\ntitle = \"\"\n", 2, "menu.title"),
            ("[menu]\ncolour = 1\n", 2, "colour"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("netroot.toml:{line}:")), "{e}");
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn the_shipped_example_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let text = std::fs::read_to_string(dir.join(SITE_FILE)).unwrap();
        let s = parse(&text).unwrap();
        assert_eq!(s.default.as_deref(), Some("compute"));
        assert_eq!((s.timeout_secs, s.serial), (5, Some((0, 115200))));
    }

    #[test]
    fn the_default_never_moves_as_a_side_effect() {
        let s = SiteSettings::default();
        let (first, w) = PublishedSite::resolve(s.clone(), None, &["beta"], "beta");
        assert_eq!((first.default.as_str(), w), ("beta", None));
        // Publishing alpha later keeps beta the default.
        let (next, _) =
            PublishedSite::resolve(s.clone(), Some(&first), &["alpha", "beta"], "alpha");
        assert_eq!(next.default, "beta");
        // An explicit default wins once published; before that it is a warning.
        let want = SiteSettings {
            default: Some("gamma".into()),
            ..s
        };
        let (kept, w) =
            PublishedSite::resolve(want.clone(), Some(&next), &["alpha", "beta"], "alpha");
        assert_eq!(kept.default, "beta");
        assert!(w.unwrap().contains("gamma"));
        let (moved, w) =
            PublishedSite::resolve(want, Some(&kept), &["alpha", "beta", "gamma"], "gamma");
        assert_eq!((moved.default.as_str(), w), ("gamma", None));
    }
}
