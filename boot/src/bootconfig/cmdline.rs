//! Kernel command line: quote-aware splitting with the kernel's rules, overrides of the boot
//! config from `netroot.*` keys and the dracut-compatible keys, and rendering of the boot-relevant
//! subset for boot menus.
//!
//! Precedence: dracut-compatible keys apply first, in command-line order (`ip=` and the root
//! together after the whole line, see `dracut.rs`); then `netroot.*` keys
//! apply in key-table order (the last value of a key wins; all `netroot.module` values together
//! replace the module list). So the specific `netroot.*` spelling beats the dracut one.

use thiserror::Error;

use super::dracut::{apply_bond, render_bond, render_ip, render_root, Dracut, KeyError};
use super::ipconf::IP_ARG_MAX_DNS;
use super::keys::{check_consistency, find_key, KeyDef, KEYS};
use super::model::{BootConfig, FailureAction, IpConfig};
use super::rd_timeouts::rd_timeout;
use super::tokenize::{is_kernel_space, kernel_cmdline, kernel_params, Param};
use super::values::{ValueError, DEFAULT_REBOOT_DELAY};
use super::vlan::render_vlan_arg;

/// Prefix of the keys netroot owns; an unknown key with it is an error, not a kernel parameter.
const NETROOT_PREFIX: &str = "netroot.";

/// dracut keys that are another spelling of a table key (same parser, same flag handling);
/// the timeout keys are in `rd_timeouts.rs`.
const ALIASES: [(&str, &str); 3] = [
    ("init", "netroot.init"),
    ("rd.debug", "netroot.debug"),
    ("rd.overlay", "netroot.overlay.enabled"),
];

/// The dracut and kernel keys netroot owns besides [`ALIASES`] (a value of one that is not
/// UTF-8 is an error; any other key is ignored).
const DRACUT_KEYS: [&str; 14] = [
    "init",
    "rd.debug",
    "rd.overlay",
    "rd.timeout",
    "rd.net.timeout.carrier",
    "rd.net.timeout.dhcp",
    "rd.shell",
    "rd.neednet",
    "ip",
    "nfsaddrs",
    "bond",
    "root",
    "nfsroot",
    "vlan",
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
    #[error("kernel command line: {key}: value is not UTF-8 (byte {byte})")]
    NotUtf8 { key: String, byte: usize },
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

/// The kernel's part of a command line as `(key, value)` pairs: [`split_params`] up to a bare
/// `--`, which ends it (what follows goes to init).
pub fn split_cmdline(s: &str) -> Vec<(String, Option<String>)> {
    owned_pairs(kernel_cmdline(s.as_bytes()))
}

/// Splits a whole command line into `(key, value)` pairs as the kernel's `next_arg`
/// (lib/cmdline.c) does ([`kernel_params`] on its bytes): double quotes group spaces
/// (`key="a b"`, `"key=a b"`) and are dropped around the value; a key without `=` has no
/// value; parameters with an empty key are left out. The menus check what they carry with it.
pub fn split_params(s: &str) -> Vec<(String, Option<String>)> {
    owned_pairs(kernel_params(s.as_bytes()))
}

fn owned_pairs(params: Vec<Param<'_>>) -> Vec<(String, Option<String>)> {
    params
        .into_iter()
        .filter(|p| !p.key.is_empty())
        .map(|p| {
            (
                String::from_utf8_lossy(p.key).into_owned(),
                p.value.map(|v| String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect()
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
    /// Applies the overrides of a kernel command line given as text; see
    /// [`BootConfig::apply_cmdline_bytes`].
    pub fn apply_cmdline(&mut self, cmdline: &str) -> Result<Vec<String>, CmdlineError> {
        self.apply_cmdline_bytes(cmdline.as_bytes())
    }

    /// Applies the overrides of a kernel command line (the bytes of `/proc/cmdline`) and
    /// returns the keys applied, in command-line order for the dracut keys, then the
    /// `netroot.*` ones. Kernel parameters netroot does not own are ignored, whatever their
    /// bytes; unknown `netroot.*` keys, values of owned keys that are not UTF-8 and malformed
    /// values are errors, and on error `self` is unchanged.
    pub fn apply_cmdline_bytes(&mut self, cmdline: &[u8]) -> Result<Vec<String>, CmdlineError> {
        let mut cfg = self.clone();
        let mut applied = Vec::new();
        let mut netroot: Vec<(&'static KeyDef, String)> = Vec::new();
        let mut dracut = Dracut::default();
        for param in kernel_cmdline(cmdline) {
            let Ok(key) = std::str::from_utf8(param.key) else {
                if param.key.starts_with(NETROOT_PREFIX.as_bytes()) {
                    let key = String::from_utf8_lossy(param.key).into_owned();
                    return Err(CmdlineError::UnknownKey { key });
                }
                continue;
            };
            let def = find_key(key);
            let dracut_key = DRACUT_KEYS.iter().find(|k| **k == key).copied();
            if def.is_none() && dracut_key.is_none() {
                if key.starts_with(NETROOT_PREFIX) {
                    return Err(CmdlineError::UnknownKey {
                        key: key.to_string(),
                    });
                }
                continue;
            }
            let value = match param.value {
                None => None,
                Some(v) => Some(std::str::from_utf8(v).map_err(|e| CmdlineError::NotUtf8 {
                    key: key.to_string(),
                    byte: e.valid_up_to(),
                })?),
            };
            if let Some(def) = def {
                let v = table_value(def, key, value)?;
                netroot.push((def, v.to_string()));
                continue;
            }
            if let Some(key) = dracut_key {
                apply_dracut(&mut cfg, key, value, &mut dracut)?;
                applied.push(key.to_string());
            }
        }
        let ifaces = dracut.ifaces();
        let vlans = dracut.vlan_parents();
        let pending = dracut.finish(&mut cfg).map_err(key_error)?;
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
        Dracut::check_ifaces(&ifaces, &vlans, &cfg).map_err(key_error)?;
        if let Some(pending) = pending {
            pending.substitute(&mut cfg).map_err(key_error)?;
        }
        check_consistency(&cfg)
            .map_err(|(key, error)| CmdlineError::Inconsistent { key, error })?;
        *self = cfg;
        Ok(applied)
    }

    /// Renders the boot-relevant subset (root, bond, VLAN, addressing, node) as kernel command-line
    /// parameters; applying the result to this same config changes nothing. Meaningful for a
    /// config that passes [`BootConfig::validate`].
    pub fn to_cmdline(&self) -> String {
        let mut out = match render_root(&self.nfs) {
            Some(root) => vec![param("root", &root)],
            None => [
                "netroot.nfs.server",
                "netroot.nfs.export",
                "netroot.nfs.options",
            ]
            .iter()
            .filter_map(|k| table_param(self, k))
            .collect(),
        };
        out.extend(table_param(self, "netroot.nfs.versions"));
        out.push(param("bond", &render_bond(&self.bond)));
        out.extend(table_param(self, "netroot.bond.mac"));
        out.extend(table_param(self, "netroot.bond.min_ports"));
        if let Some(vlan) = &self.vlan {
            out.push(param("vlan", &render_vlan_arg(vlan, &self.bond.name)));
        }
        out.push(param("ip", &render_ip(&self.ip, &self.address_iface())));
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

/// Applies one dracut-compatible key now, or records it in `dracut` for after the line.
fn apply_dracut(
    cfg: &mut BootConfig,
    key: &'static str,
    value: Option<&str>,
    dracut: &mut Dracut,
) -> Result<(), CmdlineError> {
    if let Some(t) = rd_timeout(key) {
        let def = find_key(t.table_key).ok_or_else(|| CmdlineError::UnknownKey {
            key: t.table_key.to_string(),
        })?;
        let v = table_value(def, key, value)?;
        t.check(v).map_err(value_error(key, v))?;
        return apply_values(cfg, def, key, &[v]);
    }
    if let Some(def) = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .and_then(|(_, name)| find_key(name))
    {
        let v = table_value(def, key, value)?;
        let v = if def.is_flag() {
            dracut_bool(v).map_err(value_error(key, v))?
        } else {
            v
        };
        return apply_values(cfg, def, key, &[v]);
    }
    if key == "rd.shell" || key == "rd.neednet" {
        let v = value.unwrap_or("1");
        let on = dracut_bool(v).map_err(value_error(key, v))? == "1";
        // rd.neednet: netroot always brings the network up (its root is NFS), so either value
        // means what dracut would do here.
        if key == "rd.shell" {
            if on {
                cfg.failure = FailureAction::Shell;
            } else if cfg.failure == FailureAction::Shell {
                cfg.failure = FailureAction::Reboot {
                    delay: DEFAULT_REBOOT_DELAY,
                };
            }
        }
        return Ok(());
    }
    let v = value.ok_or_else(|| CmdlineError::MissingValue {
        key: key.to_string(),
    })?;
    if key == "bond" {
        return apply_bond(&mut cfg.bond, v).map_err(value_error(key, v));
    }
    dracut.record(key, v).map_err(key_error)
}

/// A dracut boolean (`getargbool`: `0`, `no`, `off` are false; `1`, `yes`, `on` and an empty
/// value true) as `"1"`/`"0"`; any other word, which dracut would take as true, is refused.
fn dracut_bool(v: &str) -> Result<&'static str, ValueError> {
    match v {
        "0" | "no" | "off" => Ok("0"),
        "1" | "yes" | "on" | "" => Ok("1"),
        _ => Err(ValueError::Unknown {
            kind: "boolean",
            value: v.to_string(),
            expected: "1, 0, yes, no, on, off".to_string(),
        }),
    }
}

fn key_error((key, value, error): KeyError) -> CmdlineError {
    CmdlineError::Value {
        key: key.to_string(),
        value,
        error,
    }
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
