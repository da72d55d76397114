//! Parser of a module's `.modinfo` section: NUL-separated `key=value` strings.
//!
//! Only the keys the resolver needs are decoded (`name`, `depends`, `softdep`, `firmware`, `alias`,
//! `vermagic`); other keys (descriptions, signatures, parameters) are skipped without decoding, as
//! their values may be in any encoding.

use super::error::ModinfoError;

/// Normalizes a module name: `-` and `_` are equivalent, `_` is canonical (as in kmod).
pub fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The parts of a module's `.modinfo` the resolver uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `name=`, normalized; `None` for old modules that lack it.
    pub name: Option<String>,
    /// `depends=`, split at commas and normalized, in declaration order.
    pub depends: Vec<String>,
    /// Names or aliases after `pre:` in `softdep=` entries.
    pub softdep_pre: Vec<String>,
    /// Names or aliases after `post:` in `softdep=` entries.
    pub softdep_post: Vec<String>,
    /// `softdep=` tokens before any `pre:`/`post:`; modprobe ignores them, so does the resolver.
    pub softdep_ignored: Vec<String>,
    /// `firmware=` names (relative to the firmware directory; may be globs).
    pub firmware: Vec<String>,
    /// `alias=` patterns (fnmatch globs).
    pub aliases: Vec<String>,
    /// `vermagic=`, empty when missing.
    pub vermagic: String,
}

/// Softdep token that switches to pre-load dependencies.
const SOFTDEP_PRE: &str = "pre:";
/// Softdep token that switches to post-load dependencies.
const SOFTDEP_POST: &str = "post:";

impl ModInfo {
    /// Parses the raw bytes of a `.modinfo` section.
    pub fn parse(section: &[u8]) -> Result<ModInfo, ModinfoError> {
        let mut info = ModInfo::default();
        let mut vermagic_count = 0usize;
        for entry in section.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let Some(eq) = entry.iter().position(|b| *b == b'=') else {
                return Err(ModinfoError::MissingEquals {
                    entry: String::from_utf8_lossy(entry).into_owned(),
                });
            };
            let (key, value) = (&entry[..eq], &entry[eq + 1..]);
            match key {
                b"name" => info.name = Some(normalize_name(utf8(key, value)?)),
                b"depends" => info.depends.extend(
                    utf8(key, value)?
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(normalize_name),
                ),
                b"softdep" => info.add_softdep(utf8(key, value)?),
                b"firmware" => info.firmware.push(utf8(key, value)?.to_owned()),
                b"alias" => info.aliases.push(utf8(key, value)?.to_owned()),
                b"vermagic" => {
                    vermagic_count += 1;
                    info.vermagic = utf8(key, value)?.trim().to_owned();
                }
                _ => {}
            }
        }
        if vermagic_count > 1 {
            return Err(ModinfoError::DuplicateVermagic {
                count: vermagic_count,
            });
        }
        Ok(info)
    }

    /// Parses only the `alias=` and `name=` keys (for the alias index over all modules).
    pub fn parse_aliases(section: &[u8]) -> Result<(Option<String>, Vec<String>), ModinfoError> {
        let mut name = None;
        let mut aliases = Vec::new();
        for entry in section.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            if let Some(value) = entry.strip_prefix(b"alias=") {
                aliases.push(utf8(b"alias", value)?.to_owned());
            } else if let Some(value) = entry.strip_prefix(b"name=") {
                name = Some(normalize_name(utf8(b"name", value)?));
            }
        }
        Ok((name, aliases))
    }

    /// Adds one `softdep=` value: `pre: a b post: c`, as kmod's softdep parser reads it.
    fn add_softdep(&mut self, value: &str) {
        #[derive(Clone, Copy)]
        enum Mode {
            None,
            Pre,
            Post,
        }
        let mut mode = Mode::None;
        for token in value.split_whitespace() {
            match (token, mode) {
                (SOFTDEP_PRE, _) => mode = Mode::Pre,
                (SOFTDEP_POST, _) => mode = Mode::Post,
                (_, Mode::None) => self.softdep_ignored.push(token.to_owned()),
                (_, Mode::Pre) => self.softdep_pre.push(token.to_owned()),
                (_, Mode::Post) => self.softdep_post.push(token.to_owned()),
            }
        }
    }
}

/// Decodes a value of a key the resolver uses, which must be UTF-8.
fn utf8<'a>(key: &[u8], value: &'a [u8]) -> Result<&'a str, ModinfoError> {
    std::str::from_utf8(value).map_err(|_| ModinfoError::NotUtf8 {
        key: String::from_utf8_lossy(key).into_owned(),
        value: String::from_utf8_lossy(value).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(entries: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            out.extend_from_slice(e.as_bytes());
            out.push(0);
        }
        // Sections are padded with NULs for alignment.
        out.extend_from_slice(&[0, 0, 0]);
        out
    }

    #[test]
    fn parses_used_keys_and_skips_others() {
        let bytes = section(&[
            "license=GPL",
            "description=Caf\u{e9}",
            "alias=fs-nfs4",
            "alias=pci:v00008086d000010D3sv*sd*bc*sc*i*",
            "depends=sunrpc,nfs,dns-resolver",
            "softdep=pre: crypto-crc32c",
            "firmware=bnx2x/bnx2x-e1h-7.13.21.0.fw",
            "name=nfsv4",
            "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
        ]);
        let info = ModInfo::parse(&bytes).unwrap();
        assert_eq!(info.name.as_deref(), Some("nfsv4"));
        assert_eq!(info.depends, ["sunrpc", "nfs", "dns_resolver"]);
        assert_eq!(info.softdep_pre, ["crypto-crc32c"]);
        assert!(info.softdep_post.is_empty());
        assert_eq!(info.firmware, ["bnx2x/bnx2x-e1h-7.13.21.0.fw"]);
        assert_eq!(
            info.aliases,
            ["fs-nfs4", "pci:v00008086d000010D3sv*sd*bc*sc*i*"]
        );
        assert_eq!(
            info.vermagic,
            "6.1.0-56-amd64 SMP preempt mod_unload modversions"
        );
    }

    #[test]
    fn empty_depends_and_missing_keys() {
        let info = ModInfo::parse(&section(&["depends=", "name=e1000e"])).unwrap();
        assert!(info.depends.is_empty());
        assert_eq!(info.vermagic, "");
        assert_eq!(ModInfo::parse(&[]).unwrap(), ModInfo::default());
    }

    #[test]
    fn softdep_modes_and_ignored_tokens() {
        let bytes = section(&[
            "softdep=pre: a b post: c",
            "softdep=post: d pre: e",
            "softdep=gcm ccm",
        ]);
        let info = ModInfo::parse(&bytes).unwrap();
        assert_eq!(info.softdep_pre, ["a", "b", "e"]);
        assert_eq!(info.softdep_post, ["c", "d"]);
        assert_eq!(info.softdep_ignored, ["gcm", "ccm"]);
    }

    #[test]
    fn entry_without_equals_is_an_error() {
        let err = ModInfo::parse(&section(&["license=GPL", "garbage"])).unwrap_err();
        assert_eq!(err.to_string(), "modinfo entry \"garbage\" has no '='");
    }

    #[test]
    fn non_utf8_used_key_is_an_error_unused_key_is_not() {
        let mut bytes = b"author=\xff\xfe\0".to_vec();
        assert!(ModInfo::parse(&bytes).is_ok());
        bytes.extend_from_slice(b"depends=a\xff\0");
        let err = ModInfo::parse(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "modinfo key \"depends\" has a value that is not utf-8: \"a\u{fffd}\""
        );
    }

    #[test]
    fn duplicate_vermagic_is_an_error() {
        let err = ModInfo::parse(&section(&["vermagic=a", "vermagic=b"])).unwrap_err();
        assert_eq!(err.to_string(), "modinfo has 2 vermagic entries");
    }

    #[test]
    fn parse_aliases_reads_only_alias_and_name() {
        let bytes = section(&["alias=net-pf-16", "name=af-x", "depends=\u{0}x", "alias=b"]);
        let (name, aliases) = ModInfo::parse_aliases(&bytes).unwrap();
        assert_eq!(name.as_deref(), Some("af_x"));
        assert_eq!(aliases, ["net-pf-16", "b"]);
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("virtio-net"), "virtio_net");
        assert_eq!(normalize_name("crc32c_generic"), "crc32c_generic");
    }
}
