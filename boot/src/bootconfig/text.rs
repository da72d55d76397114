//! The boot-config file: `key=value` lines driven by the key table, first line
//! `netroot.format=1`, full-line `#` comments, blank lines ignored.
//!
//! Values are written raw unless they are empty-looking or ambiguous: a value with leading or
//! trailing whitespace, a leading `"`, or any control character is written in double quotes with
//! backslash escapes (`\\`, `\"`, `\n`, `\t`, `\r`, `\xHH`). A raw value is the rest of the line
//! after `=`, trimmed; there are no inline comments, so `#` inside a value is literal.

use thiserror::Error;

use super::keys::{check_consistency, find_key, KEYS};
use super::model::{
    BondConfig, BondMode, BootConfig, FailureAction, IpConfig, LacpRate, NfsConfig, OverlayConfig,
    Timeouts, TmpfsSize, XmitHashPolicy, FORMAT_VERSION,
};
use super::values::ValueError;

/// Key of the first line, which carries [`FORMAT_VERSION`].
pub const FORMAT_KEY: &str = "netroot.format";

/// A boot-config file that cannot be read; every message names the line and key involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error(
        "line 1: expected \"{FORMAT_KEY}={FORMAT_VERSION}\" as the first line, found {found:?}"
    )]
    MissingFormat { found: String },
    #[error("line 1: {FORMAT_KEY}: unsupported boot config format version {found:?} (this init reads version {FORMAT_VERSION})")]
    UnsupportedFormat { found: String },
    #[error("line {line}: expected key=value, found {text:?}")]
    Syntax { line: usize, text: String },
    #[error("line {line}: unknown key {key:?}")]
    UnknownKey { line: usize, key: String },
    #[error("line {line}: {key}: set again (first set on line {first})")]
    Duplicate {
        line: usize,
        first: usize,
        key: String,
    },
    #[error("line {line}: {key}: bad quoted value: {reason}")]
    Quoting {
        line: usize,
        key: String,
        reason: String,
    },
    #[error("line {line}: {key}: {error}")]
    Value {
        line: usize,
        key: &'static str,
        error: ValueError,
    },
    #[error("missing required key {key}")]
    Missing { key: &'static str },
    #[error("{key}: {error}")]
    Inconsistent {
        key: &'static str,
        error: ValueError,
    },
    #[error("{key}: value changes when rendered and parsed back (it holds text the format cannot carry)")]
    NotRoundTrip { key: &'static str },
}

impl ConfigError {
    /// The `netroot.*` key the error is about, when there is one (the builder maps it back to
    /// the profile key that set the value).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::MissingFormat { .. } | ConfigError::UnsupportedFormat { .. } => {
                Some(FORMAT_KEY)
            }
            ConfigError::Syntax { .. } => None,
            ConfigError::UnknownKey { key, .. }
            | ConfigError::Duplicate { key, .. }
            | ConfigError::Quoting { key, .. } => Some(key),
            ConfigError::Value { key, .. }
            | ConfigError::Missing { key }
            | ConfigError::Inconsistent { key, .. }
            | ConfigError::NotRoundTrip { key } => Some(key),
        }
    }
}

impl BootConfig {
    /// Renders the config as the boot-config file: keys in table order, each preceded by its doc
    /// as a comment. The output depends only on `self` (byte-stable for reproducible images).
    pub fn render(&self) -> String {
        let mut out = format!("{FORMAT_KEY}={FORMAT_VERSION}\n");
        for key in KEYS {
            let values = key.render(self);
            if values.is_empty() {
                continue;
            }
            out.push_str("# ");
            out.push_str(key.doc);
            out.push('\n');
            for v in values {
                out.push_str(key.name);
                out.push('=');
                out.push_str(&encode_value(&v));
                out.push('\n');
            }
        }
        out
    }

    /// Parses a boot-config file. Unknown and repeated keys are errors, as is any required key
    /// that is missing.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        check_format_line(lines.next().map(|(_, l)| l))?;
        let mut entries: Vec<(usize, &'static str, String)> = Vec::new();
        for (line, raw) in lines {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (key, value) = trimmed.split_once('=').ok_or_else(|| ConfigError::Syntax {
                line,
                text: raw.to_string(),
            })?;
            let key = key.trim();
            if key == FORMAT_KEY {
                return Err(ConfigError::Duplicate {
                    line,
                    first: 1,
                    key: key.to_string(),
                });
            }
            let def = find_key(key).ok_or_else(|| ConfigError::UnknownKey {
                line,
                key: key.to_string(),
            })?;
            if !def.is_list() {
                if let Some((first, _, _)) = entries.iter().find(|(_, k, _)| *k == def.name) {
                    return Err(ConfigError::Duplicate {
                        line,
                        first: *first,
                        key: key.to_string(),
                    });
                }
            }
            let value = decode_value(value.trim()).map_err(|reason| ConfigError::Quoting {
                line,
                key: key.to_string(),
                reason,
            })?;
            entries.push((line, def.name, value));
        }
        let mut cfg = placeholder();
        for key in KEYS {
            let found: Vec<&(usize, &str, String)> =
                entries.iter().filter(|(_, k, _)| *k == key.name).collect();
            if key.required() && found.is_empty() {
                return Err(ConfigError::Missing { key: key.name });
            }
            let values: Vec<&str> = found.iter().map(|(_, _, v)| v.as_str()).collect();
            key.apply(&mut cfg, &values)
                .map_err(|(i, error)| ConfigError::Value {
                    line: found.get(i).map_or(0, |(line, _, _)| *line),
                    key: key.name,
                    error,
                })?;
        }
        check_consistency(&cfg).map_err(|(key, error)| ConfigError::Inconsistent { key, error })?;
        Ok(cfg)
    }

    /// Checks that the config survives the trip through the file format unchanged: the builder
    /// calls this before writing an image, so a value the init would refuse fails the build.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let parsed = BootConfig::parse(&self.render())?;
        if parsed == *self {
            return Ok(());
        }
        // Every key's parser accepts what its renderer writes for valid values; a difference
        // means a field holds something the text cannot carry (a module name with a space).
        // Find the key by re-applying each key's rendered values to a copy of `self`.
        let changed = KEYS.iter().find(|key| {
            let mut probe = self.clone();
            key.apply(&mut probe, &key.render(self)).is_err() || probe != *self
        });
        Err(ConfigError::NotRoundTrip {
            key: changed.map_or(FORMAT_KEY, |k| k.name),
        })
    }
}

fn check_format_line(first: Option<&str>) -> Result<(), ConfigError> {
    let first = first.unwrap_or("");
    let value = first
        .strip_prefix(FORMAT_KEY)
        .and_then(|rest| rest.strip_prefix('='));
    match value {
        None => Err(ConfigError::MissingFormat {
            found: first.to_string(),
        }),
        Some(v) if v.trim().parse::<u32>() == Ok(FORMAT_VERSION) => Ok(()),
        Some(v) => Err(ConfigError::UnsupportedFormat {
            found: v.trim().to_string(),
        }),
    }
}

/// The starting point of a parse; every field is overwritten by a required key, so none of
/// these values can reach a parsed config.
fn placeholder() -> BootConfig {
    BootConfig {
        profile: String::new(),
        kernel_version: String::new(),
        modules: Vec::new(),
        bond: BondConfig {
            name: String::new(),
            mode: BondMode::ActiveBackup,
            miimon_ms: 0,
            lacp_rate: LacpRate::Slow,
            xmit_hash_policy: XmitHashPolicy::Layer2,
            mac: None,
            ports: Vec::new(),
            min_ports: 0,
        },
        vlan: None,
        ip: IpConfig::Dhcp,
        nfs: NfsConfig {
            server: std::net::Ipv4Addr::UNSPECIFIED,
            export: String::new(),
            versions: Vec::new(),
            options: String::new(),
            allow_dhcp_root_path: false,
        },
        overlay: OverlayConfig {
            enabled: false,
            size: TmpfsSize::Percent(0),
        },
        node: None,
        timeouts: Timeouts {
            boot_deadline: Default::default(),
            links: Default::default(),
            dhcp: Default::default(),
            nfs: Default::default(),
        },
        failure: FailureAction::Poweroff,
        real_init: String::new(),
        debug: false,
    }
}

/// Whether a value must be quoted to survive a trip through a line.
fn needs_quotes(v: &str) -> bool {
    v.starts_with('"')
        || v.starts_with(char::is_whitespace)
        || v.ends_with(char::is_whitespace)
        || v.chars().any(char::is_control)
}

/// Writes a value for a `key=value` line (see the module doc for the quoting rules).
pub fn encode_value(v: &str) -> String {
    if !needs_quotes(v) {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a value written by [`encode_value`] (already trimmed); an unquoted value is verbatim.
pub fn decode_value(v: &str) -> Result<String, String> {
    let Some(body) = v.strip_prefix('"') else {
        return Ok(v.to_string());
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    loop {
        match chars.next() {
            None => return Err("missing closing quote".to_string()),
            Some('"') => break,
            Some('\\') => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    let c = u8::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|b| hex.len() == 2 && b.is_ascii())
                        .ok_or_else(|| {
                            format!("bad escape \\x{hex} (expected two hex digits, 00-7f)")
                        })?;
                    out.push(char::from(c));
                }
                Some(c) => return Err(format!("unknown escape \\{c}")),
                None => return Err("missing closing quote".to_string()),
            },
            Some(c) => out.push(c),
        }
    }
    let rest = chars.as_str();
    if !rest.is_empty() {
        return Err(format!("unexpected text after closing quote: {rest:?}"));
    }
    Ok(out)
}
