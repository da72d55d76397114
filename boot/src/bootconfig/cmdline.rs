//! Kernel command line: quote-aware splitting with the kernel's rules, overrides of the boot
//! config from `netroot.*` keys and the dracut-compatible keys, and rendering of the boot-relevant
//! subset for boot menus.
//!
//! Precedence: dracut-compatible keys apply first, in command-line order; then `netroot.*` keys
//! apply in key-table order (the last value of a key wins; all `netroot.module` values together
//! replace the module list). So the specific `netroot.*` spelling beats the dracut one.

use thiserror::Error;

use super::dracut::{
    apply_bond, apply_nfsroot, apply_root, parse_ip, render_bond, render_ip, render_root,
    IP_ARG_MAX_DNS,
};
use super::fields::parse_bool;
use super::keys::{check_consistency, find_key, KeyDef, KEYS};
use super::model::{BootConfig, FailureAction, IpConfig};
use super::values::{invalid, ValueError, DEFAULT_REBOOT_DELAY};

/// Prefix of the keys netroot owns; an unknown key with it is an error, not a kernel parameter.
const NETROOT_PREFIX: &str = "netroot.";

/// dracut keys that are another spelling of a table key (same parser, same flag handling).
const ALIASES: [(&str, &str); 4] = [
    ("init", "netroot.init"),
    ("rd.debug", "netroot.debug"),
    ("rd.overlay", "netroot.overlay.enabled"),
    ("rd.timeout", "netroot.timeout.boot"),
];

/// A kernel command line that cannot be applied; every message names the key and value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CmdlineError {
    #[error("kernel command line: {key}={value:?}: {error}")]
    Value {
        key: String,
        value: String,
        error: ValueError,
    },
    #[error("kernel command line: {key}: missing value (expected {key}=<value>)")]
    MissingValue { key: String },
    #[error("kernel command line: unknown key {key:?} (netroot.* keys are reserved for netroot)")]
    UnknownKey { key: String },
    #[error("kernel command line: {key}: {error}")]
    Inconsistent {
        key: &'static str,
        error: ValueError,
    },
}

/// The kernel's `isspace` (lib/ctype.c): space, \t, \n, \v, \f, \r.
fn is_kernel_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The kernel's part of a command line as `(key, value)` pairs: [`split_params`] up to a bare
/// `--`, which ends it (what follows goes to init).
pub fn split_cmdline(s: &str) -> Vec<(String, Option<String>)> {
    let mut params = split_params(s);
    if let Some(end) = params.iter().position(|(k, v)| k == "--" && v.is_none()) {
        params.truncate(end);
    }
    params
}

/// Splits a whole command line into `(key, value)` pairs as the kernel's `next_arg`
/// (lib/cmdline.c) does: double quotes group spaces (`key="a b"`, `"key=a b"`) and are dropped
/// around the value; a key without `=` has no value. The one tokenizer of command lines: the
/// init reads its parameters with it and the menus check what they carry with it.
pub fn split_params(s: &str) -> Vec<(String, Option<String>)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while bytes.get(i).copied().is_some_and(is_kernel_space) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let quoted = bytes.get(i) == Some(&b'"');
        if quoted {
            i += 1;
        }
        let start = i;
        let mut in_quote = quoted;
        let mut equals = None;
        while let Some(&b) = bytes.get(i) {
            if is_kernel_space(b) && !in_quote {
                break;
            }
            // As in the kernel, an `=` at the very start does not separate a value.
            if equals.is_none() && b == b'=' && i > start {
                equals = Some(i);
            }
            if b == b'"' {
                in_quote = !in_quote;
            }
            i += 1;
        }
        let end = i;
        // Quotes, spaces and `=` are ASCII, so every index below is a char boundary.
        let ends_in_quote = end > start && bytes.get(end - 1) == Some(&b'"');
        let (key, value) = match equals {
            None => {
                let key_end = if quoted && ends_in_quote {
                    end - 1
                } else {
                    end
                };
                (s.get(start..key_end).unwrap_or(""), None)
            }
            Some(eq) => {
                let mut v_start = eq + 1;
                let value_quoted = bytes.get(v_start) == Some(&b'"');
                if value_quoted {
                    v_start += 1;
                }
                let v_end = if (quoted || value_quoted) && ends_in_quote {
                    end - 1
                } else {
                    end
                };
                (
                    s.get(start..eq).unwrap_or(""),
                    Some(s.get(v_start..v_end.max(v_start)).unwrap_or("")),
                )
            }
        };
        if !key.is_empty() {
            out.push((key.to_string(), value.map(str::to_string)));
        }
    }
    out
}

fn value_error(key: &str, value: &str) -> impl FnOnce(ValueError) -> CmdlineError {
    let (key, value) = (key.to_string(), value.to_string());
    move |error| CmdlineError::Value { key, value, error }
}

/// The value of a table key, `"1"` for a bare flag.
fn table_value<'a>(
    def: &KeyDef,
    key: &str,
    value: Option<&'a str>,
) -> Result<&'a str, CmdlineError> {
    match value {
        Some(v) => Ok(v),
        None if def.is_flag() => Ok("1"),
        None => Err(CmdlineError::MissingValue {
            key: key.to_string(),
        }),
    }
}

fn apply_values(
    cfg: &mut BootConfig,
    def: &KeyDef,
    key: &str,
    values: &[&str],
) -> Result<(), CmdlineError> {
    def.apply(cfg, values).map_err(|(i, error)| {
        let value = values.get(i).copied().unwrap_or("");
        value_error(key, value)(error)
    })
}

impl BootConfig {
    /// Applies the overrides of a kernel command line (the contents of `/proc/cmdline`) and
    /// returns the keys applied, in order. Kernel parameters netroot does not know are ignored;
    /// unknown `netroot.*` keys and malformed values are errors, and on error `self` is unchanged.
    pub fn apply_cmdline(&mut self, cmdline: &str) -> Result<Vec<String>, CmdlineError> {
        let mut cfg = self.clone();
        let mut applied = Vec::new();
        let mut netroot: Vec<(&'static KeyDef, String)> = Vec::new();
        let mut ip_ifaces: Vec<(String, String)> = Vec::new();
        for (key, value) in split_cmdline(cmdline) {
            if let Some(def) = find_key(&key) {
                let v = table_value(def, &key, value.as_deref())?;
                netroot.push((def, v.to_string()));
                continue;
            }
            if key.starts_with(NETROOT_PREFIX) {
                return Err(CmdlineError::UnknownKey { key });
            }
            if apply_dracut(&mut cfg, &key, value.as_deref(), &mut ip_ifaces)? {
                applied.push(key);
            }
        }
        for def in KEYS {
            let values: Vec<&str> = netroot
                .iter()
                .filter(|(d, _)| d.name == def.name)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                continue;
            }
            apply_values(&mut cfg, def, def.name, &values)?;
            applied.push(def.name.to_string());
        }
        for (value, iface) in ip_ifaces {
            if iface != cfg.bond.name {
                let reason = format!(
                    "netroot configures addresses only on the bond {:?}",
                    cfg.bond.name
                );
                return Err(value_error("ip", &value)(invalid(
                    "interface",
                    &iface,
                    reason,
                )));
            }
        }
        check_consistency(&cfg)
            .map_err(|(key, error)| CmdlineError::Inconsistent { key, error })?;
        *self = cfg;
        Ok(applied)
    }

    /// Renders the boot-relevant subset (root, bond, addressing, node) as kernel command-line
    /// parameters; applying the result to this same config changes nothing. Meaningful for a
    /// config that passes [`BootConfig::validate`].
    pub fn to_cmdline(&self) -> String {
        let mut out = vec![param("root", &render_root(&self.nfs))];
        out.extend(table_param(self, "netroot.nfs.versions"));
        out.push(param("bond", &render_bond(&self.bond)));
        out.extend(table_param(self, "netroot.bond.mac"));
        out.extend(table_param(self, "netroot.bond.min_ports"));
        out.push(param("ip", &render_ip(&self.ip, &self.bond.name)));
        if matches!(&self.ip, IpConfig::Static(s) if s.dns.len() > IP_ARG_MAX_DNS) {
            out.extend(table_param(self, "netroot.ip.dns"));
        }
        out.extend(table_param(self, "netroot.node"));
        out.join(" ")
    }

    /// The command line of a boot entry: [`Self::to_cmdline`], then `console=` for a serial
    /// console (`tty0` too, so the screen keeps its messages; the last one is `/dev/console`),
    /// then `extra` (the profile's extra words), trimmed.
    pub fn entry_cmdline(&self, serial: Option<(u8, u32)>, extra: &str) -> String {
        let mut out = self.to_cmdline();
        if let Some((unit, baud)) = serial {
            out.push_str(&format!(" console=tty0 console=ttyS{unit},{baud}n8"));
        }
        let extra = extra.trim();
        if !extra.is_empty() {
            out.push(' ');
            out.push_str(extra);
        }
        out
    }
}

/// Applies one dracut-compatible key; `Ok(false)` for a key netroot does not handle.
fn apply_dracut(
    cfg: &mut BootConfig,
    key: &str,
    value: Option<&str>,
    ip_ifaces: &mut Vec<(String, String)>,
) -> Result<bool, CmdlineError> {
    if let Some(def) = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .and_then(|(_, name)| find_key(name))
    {
        let v = table_value(def, key, value)?;
        apply_values(cfg, def, key, &[v])?;
        return Ok(true);
    }
    if key == "rd.shell" {
        let v = value.unwrap_or("1");
        if parse_bool(v).map_err(value_error(key, v))? {
            cfg.failure = FailureAction::Shell;
        } else if cfg.failure == FailureAction::Shell {
            cfg.failure = FailureAction::Reboot {
                delay: DEFAULT_REBOOT_DELAY,
            };
        }
        return Ok(true);
    }
    let handled = ["ip", "bond", "root", "nfsroot"];
    if !handled.contains(&key) {
        return Ok(false);
    }
    let v = value.ok_or_else(|| CmdlineError::MissingValue {
        key: key.to_string(),
    })?;
    let result = match key {
        "ip" => parse_ip(v).map(|arg| {
            cfg.ip = arg.ip;
            // Only the last `ip=` counts, so only its interface is checked.
            ip_ifaces.clear();
            if let Some(iface) = arg.iface {
                ip_ifaces.push((v.to_string(), iface));
            }
        }),
        "bond" => apply_bond(&mut cfg.bond, v),
        "root" => apply_root(&mut cfg.nfs, v),
        _ => apply_nfsroot(&mut cfg.nfs, v),
    };
    result.map_err(value_error(key, v))?;
    Ok(true)
}

/// `key=value`, quoting a value with spaces as the kernel expects.
fn param(key: &str, value: &str) -> String {
    if value.is_empty() || value.bytes().any(is_kernel_space) {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    }
}

/// A table key as a parameter, when the key renders a value for `cfg`.
fn table_param(cfg: &BootConfig, name: &str) -> Option<String> {
    let value = find_key(name)?.render(cfg).pop()?;
    Some(param(name, &value))
}
