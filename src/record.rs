//! The build's output record of what publish needs: the `boot` section of `manifest.json`
//! (the exact `boot.conf` text the init parses, the complete generation-independent kernel
//! command line and its parts, the profile's nodes as built and the per-node layers rendered,
//! the export clients). The build writes it once; publish copies it verbatim into each
//! generation's `generation.json`; menus, exports and DHCP snippets are rendered only from
//! copies of it. One owner: this module writes and reads the format.

use std::path::{Path, PathBuf};

use netroot_boot::bootconfig::BootConfig;
use serde::{Deserialize, Serialize};

/// File beside `manifest.json` in `OUT/PROFILE/` holding the boot config's exact text.
pub const BOOT_CONF_FILE: &str = "boot.conf";

/// A serial console: `ttyS{unit}` at `baud`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    pub unit: u8,
    pub baud: u32,
}

impl Console {
    pub fn pair(self) -> (u8, u32) {
        (self.unit, self.baud)
    }
}

/// One node of the profile as the build saw it in `nodes.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRecord {
    pub name: String,
    /// `52:54:00:00:10:01`.
    pub mac: String,
    /// `10.0.1.1/16`; `None` for DHCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Per-node bond ports (MACs or interface names); empty: the profile's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Per-node 802.1Q VLAN id; `None`: the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// `nodes.toml` line of the node's table, for messages.
    pub line: usize,
}

/// What a generation boots, as the build made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootRecord {
    pub kernel_version: String,
    /// The exact `boot.conf` text embedded in the initramfs.
    pub conf: String,
    /// The profile entry's complete kernel command line without the generation's paths: the
    /// boot config's parameters, `console=` and `cmdline_extra` ([`BootConfig::entry_cmdline`]).
    pub cmdline: String,
    /// The kernel's serial console (`menu.serial`).
    pub console: Option<Console>,
    /// `menu.cmdline_extra`.
    pub cmdline_extra: String,
    /// The menu entry's title (the profile's description, else its name).
    pub title: String,
    /// The profile's nodes (file order).
    pub nodes: Vec<NodeRecord>,
    /// Nodes with a layer `.netroot/nodes/NAME` in the generation's root tree (sorted).
    pub node_layers: Vec<String>,
    /// Networks allowed to mount the root export (`publish.client_network`).
    pub export_clients: Vec<String>,
}

/// A build record that cannot be read or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read build record {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build record {path} is not valid: {reason} (rebuild with netroot build)")]
    Invalid { path: PathBuf, reason: String },
}

/// Just the parts of `manifest.json` publish reads.
#[derive(Debug, Deserialize)]
struct ManifestView {
    boot: Option<BootRecord>,
    boot_config: ShaView,
    /// Present when the build made a root tree (`OUT/PROFILE/rootfs` must then resolve).
    root: Option<serde::de::IgnoredAny>,
}

/// Whether the build whose `manifest.json` is `manifest` made a root tree.
pub fn build_has_root(manifest: &Path) -> Result<bool, RecordError> {
    let bytes = std::fs::read(manifest).map_err(|source| RecordError::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    let view: ManifestView = serde_json::from_slice(&bytes).map_err(|e| RecordError::Invalid {
        path: manifest.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(view.root.is_some())
}

#[derive(Debug, Deserialize)]
struct ShaView {
    sha256: String,
}

impl BootRecord {
    /// Reads the record of the build in `dir` (`OUT/PROFILE`) and checks that it holds together:
    /// `boot.conf` matches the manifest's digest and the record's text, the text parses with the
    /// init's parser, and the command line is what the parts render.
    pub fn read(dir: &Path, manifest: &Path) -> Result<BootRecord, RecordError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RecordError::Io { path, source }
        };
        let invalid = |reason: String| RecordError::Invalid {
            path: manifest.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(manifest).map_err(io(manifest))?;
        let view: ManifestView =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let rec = view
            .boot
            .ok_or_else(|| invalid("no boot section (built by an older netroot)".into()))?;
        let conf_path = dir.join(BOOT_CONF_FILE);
        let conf = std::fs::read(&conf_path).map_err(io(&conf_path))?;
        if crate::manifest::sha256_hex(&conf) != view.boot_config.sha256 {
            return Err(invalid(format!(
                "{} does not match the manifest's boot_config digest",
                conf_path.display()
            )));
        }
        if conf != rec.conf.as_bytes() {
            return Err(invalid(format!(
                "{} differs from the record's boot config",
                conf_path.display()
            )));
        }
        rec.check().map_err(invalid)?;
        Ok(rec)
    }

    /// The record with `extra` as the extra kernel parameters (`netroot qemu`'s scratch
    /// publication adds its console and `panic=-1` this way).
    pub fn with_extra(&self, extra: &str) -> Result<BootRecord, String> {
        let boot = self.boot_config()?;
        let extra = extra.trim().to_string();
        Ok(BootRecord {
            cmdline: boot.entry_cmdline(self.console.map(Console::pair), &extra),
            cmdline_extra: extra,
            ..self.clone()
        })
    }

    /// The boot config, parsed by the init's own parser.
    pub fn boot_config(&self) -> Result<BootConfig, String> {
        BootConfig::parse(&self.conf).map_err(|e| format!("boot config: {e}"))
    }

    /// Checks the record's own consistency (also run on records read back from a generation).
    pub fn check(&self) -> Result<(), String> {
        let boot = self.boot_config()?;
        if boot.kernel_version != self.kernel_version {
            return Err(format!(
                "kernel version {:?} differs from the boot config's {:?}",
                self.kernel_version, boot.kernel_version
            ));
        }
        let cmdline = boot.entry_cmdline(self.console.map(Console::pair), &self.cmdline_extra);
        if cmdline != self.cmdline {
            return Err(format!(
                "command line {:?} is not what its parts render ({cmdline:?})",
                self.cmdline
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BootRecord {
        let project = crate::profile::Project::new(Path::new(env!("CARGO_MANIFEST_DIR")));
        let spec = project.load_profile("qemu-base").unwrap().boot;
        let boot = netroot_boot::bootconfig::BootConfig::new(spec, "6.1.0-test".into(), Vec::new());
        let conf = boot.render();
        BootRecord {
            kernel_version: "6.1.0-test".into(),
            cmdline: boot.entry_cmdline(Some((0, 115200)), "quiet"),
            conf,
            console: Some(Console {
                unit: 0,
                baud: 115200,
            }),
            cmdline_extra: "quiet".into(),
            title: "t".into(),
            nodes: Vec::new(),
            node_layers: Vec::new(),
            export_clients: vec!["10.0.0.0/16".into()],
        }
    }

    #[test]
    fn a_consistent_record_checks() {
        assert_eq!(sample().check(), Ok(()));
    }

    #[test]
    fn every_inconsistency_is_named() {
        let mut r = sample();
        r.cmdline.push_str(" extra");
        assert!(r.check().unwrap_err().contains("command line"));
        let mut r = sample();
        r.kernel_version = "other".into();
        assert!(r.check().unwrap_err().contains("kernel version"));
        let mut r = sample();
        r.conf = "garbage".into();
        assert!(r.check().unwrap_err().contains("boot config"));
    }
}
