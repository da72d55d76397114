//! netroot-profile(5): the profile file format (`profiles/NAME.toml`) as a man page, rendered with
//! the `roff` crate from one table of sections and keys written here ([`TABLES`]).
//!
//! The table is checked against `src/profile/raw.rs` by a unit test: every table and key a
//! profile may contain must be documented here, and nothing else, so the page cannot drift.

use std::io;

use roff::{bold, italic, roman, Roff};

/// The page's name: `man 5 netroot-profile`.
pub const PAGE_NAME: &str = "netroot-profile";
/// The manual every netroot page belongs to (the centre of the page header).
pub const MANUAL: &str = "netroot manual";

/// One documented key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The TOML key.
    pub name: &'static str,
    /// Its TOML type, as a profile spells it.
    pub ty: &'static str,
    /// What applies when no profile in the chain sets it.
    pub default: &'static str,
    /// What it does.
    pub about: &'static str,
}

/// One documented TOML table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Dotted name (`root.allow`, `overlays.owners."PATH"`); empty for the top level.
    pub name: &'static str,
    /// What the table is for and how it merges on inheritance.
    pub about: &'static str,
    /// Its fixed keys.
    pub keys: &'static [Key],
    /// For a table whose keys the user chooses (`[vars]`, `[modules.params]`): how one reads.
    pub free_form: Option<&'static str>,
}

const fn key(
    name: &'static str,
    ty: &'static str,
    default: &'static str,
    about: &'static str,
) -> Key {
    Key {
        name,
        ty,
        default,
        about,
    }
}

/// Every table and key of a profile file. Keep in step with `src/profile/raw.rs` (a test does).
pub const TABLES: &[Table] = &[
    Table {
        name: "",
        about: "Keys at the top of the file.",
        keys: &[
            key("inherits", "array of strings", "[]", "Profiles merged before this one, in order; later ones win."),
            key("abstract", "boolean", "false", "The profile only exists to be inherited: netroot profiles lists it as (abstract) and it cannot be built. Not inherited itself."),
            key("description", "string", "\"\"", "One line shown by netroot profiles."),
        ],
        free_form: None,
    },
    Table {
        name: "kernel",
        about: "Where the kernel and its modules come from: exactly one of path, deb or host. The three are one choice: a later profile setting any of them replaces the inherited one. Without it, netroot build needs --kernel.",
        keys: &[
            key("path", "string (directory)", "none", "A directory with vmlinuz* or boot/vmlinuz* and lib/modules/KVER/."),
            key("deb", "string (file)", "none", "A Debian linux-image-*.deb, read in-process."),
            key("sha256", "string (64 hex digits)", "none", "With deb: the package's sha256; any other package is refused (the kernel pin: updating it is a commit)."),
            key("host", "boolean", "false", "The running host's kernel."),
        ],
        free_form: None,
    },
    Table {
        name: "modules",
        about: "Kernel modules in the initramfs, with their dependencies, soft dependencies and firmware.",
        keys: &[
            key("load", "array of strings", "[]", "Module names, aliases or path globs; replaces the inherited list and resets inherited add/remove."),
            key("add", "array of strings", "[]", "Appended to the inherited list."),
            key("remove", "array of strings", "[]", "Dropped from the list; naming a module not in it is an error."),
        ],
        free_form: None,
    },
    Table {
        name: "modules.params",
        about: "Module parameters, merged key by key on inheritance (a - in a module name reads as _).",
        keys: &[],
        free_form: Some("MODULE = \"PARAM=VALUE ...\", e.g. bonding = \"max_bonds=0\""),
    },
    Table {
        name: "firmware",
        about: "Firmware files the modules declare.",
        keys: &[
            key("dirs", "array of strings", "[\"/lib/firmware\"]", "Directories searched, in order."),
            key("strict", "boolean", "false", "A missing firmware file fails the build instead of warning."),
        ],
        free_form: None,
    },
    Table {
        name: "initramfs",
        about: "How the image is compressed.",
        keys: &[
            key("compression", "string", "\"zstd\"", "\"zstd\", \"gzip\", \"xz\" or \"none\"."),
            key("level", "integer", "the codec's (zstd 3, gzip 9, xz 6)", "Compression level."),
        ],
        free_form: None,
    },
    Table {
        name: "extra",
        about: "Extra programs in the initramfs.",
        keys: &[key("binaries", "array of strings", "[]", "Absolute paths, copied with their libraries and ELF interpreter.")],
        free_form: None,
    },
    Table {
        name: "bond",
        about: "The boot bond the init creates over the node's Ethernet ports.",
        keys: &[
            key("name", "string", "\"bond0\"", "Interface name; the real root must leave it alone."),
            key("mode", "string", "required", "\"balance-rr\", \"active-backup\", \"balance-xor\", \"broadcast\", \"802.3ad\", \"balance-tlb\" or \"balance-alb\"."),
            key("miimon", "integer (ms)", "100", "Link monitoring interval."),
            key("lacp_rate", "string", "\"slow\"", "\"slow\" or \"fast\" (802.3ad)."),
            key("xmit_hash_policy", "string", "\"layer2\"", "\"layer2\", \"layer2+3\", \"layer3+4\", \"encap2+3\", \"encap3+4\" or \"vlan+srcmac\"."),
            key("mac", "string", "the kernel's choice", "MAC address of the bond."),
            key("ports", "array of strings", "required", "Ports by MAC address or interface name."),
            key("min_ports", "integer", "1", "Ports that must have carrier before the init goes on."),
        ],
        free_form: None,
    },
    Table {
        name: "vlan",
        about: "An IEEE 802.1Q VLAN on the bond: the init creates it (interface BOND.ID, e.g. bond0.5) and the address, DHCP and the NFS root use it instead of the bond; the image then loads 8021q. Without the table the bond carries the address untagged.",
        keys: &[key("id", "integer", "required in [vlan]", "VLAN id, 1-4094 (0 means no VLAN in 802.1Q, 4095 is reserved). A child profile may change it, not drop the table.")],
        free_form: None,
    },
    Table {
        name: "ip",
        about: "The node's address on the bond, or on its VLAN with [vlan].",
        keys: &[
            key("method", "string", "\"dhcp\"", "\"dhcp\" or \"static\"; the other keys are only valid with \"static\"."),
            key("address", "string", "required with static", "\"A.B.C.D/N\"."),
            key("gateway", "string", "none", "IPv4 address."),
            key("dns", "array of strings", "[]", "IPv4 addresses of name servers."),
            key("hostname", "string", "none", "The node's host name."),
        ],
        free_form: None,
    },
    Table {
        name: "nfs",
        about: "The read-only NFS root.",
        keys: &[
            key("server", "string", "required", "IPv4 address of the NFS server."),
            key("export", "string", "required", "Exported path; the published generation is mounted from below it."),
            key("versions", "array of strings", "[\"4.2\", \"4.1\"]", "NFS versions tried in order: \"4.2\", \"4.1\", \"4.0\" (or \"4\"), \"3\"."),
            key("options", "string", "\"\"", "Extra mount options."),
            key("allow_dhcp_root_path", "boolean", "false", "Lets a DHCP root-path option choose the NFS root (off: a rogue DHCP server must not choose it)."),
        ],
        free_form: None,
    },
    Table {
        name: "overlay",
        about: "The tmpfs-backed overlayfs laid on the read-only root.",
        keys: &[
            key("enabled", "boolean", "true", "Whether the overlay is mounted."),
            key("size", "string", "\"50%\"", "tmpfs size: a percentage of RAM or bytes with K, M, G or T (\"2G\")."),
        ],
        free_form: None,
    },
    Table {
        name: "timeouts",
        about: "Boot deadlines, as durations (\"30s\", \"500ms\", \"3m\"; units h, m, s, ms, us, ns). None may exceed boot.",
        keys: &[
            key("boot", "string (duration)", "\"300s\"", "The whole boot."),
            key("links", "string (duration)", "\"30s\"", "Ports appearing and getting carrier."),
            key("dhcp", "string (duration)", "\"60s\"", "Getting a lease."),
            key("nfs", "string (duration)", "\"180s\"", "Mounting the root (an NFSv4 grace period after a failover is about 90 s)."),
        ],
        free_form: None,
    },
    Table {
        name: "boot",
        about: "The switch into the real root.",
        keys: &[
            key("init", "string", "\"/sbin/init\"", "The real root's init."),
            key("failure", "string", "\"reboot:10s\"", "What a failed boot does: \"reboot:DURATION\", \"poweroff\" or \"shell\"."),
            key("debug", "boolean", "false", "Verbose init logging on the console."),
        ],
        free_form: None,
    },
    Table {
        name: "root",
        about: "The read-only root tree the nodes mount over NFS (optional). Merged key by key, but a later profile naming another source drops the inherited source's keys.",
        keys: &[
            key("source", "string", "required with [root]", "\"dir\", \"tarball\" or \"mmdebstrap\"."),
            key("path", "string", "required with dir and tarball", "The directory, or the tarball (.tar, .tar.gz, .tar.zst, .tar.xz)."),
            key("suite", "string", "required with mmdebstrap", "Debian suite, e.g. \"bookworm\"."),
            key("variant", "string", "\"minbase\"", "mmdebstrap variant."),
            key("packages", "array of strings", "[]", "Packages mmdebstrap installs."),
            key("mirror", "string", "mmdebstrap's default", "Debian mirror URL."),
            key("components", "array of strings", "[]", "Archive components, e.g. [\"main\"]."),
            key("hooks", "array of strings", "[]", "mmdebstrap hook scripts (paths relative to the project)."),
        ],
        free_form: None,
    },
    Table {
        name: "root.allow",
        about: "Special files the root tree may hold, as path globs per category (merged per category); anything else found fails the build.",
        keys: &[
            key("setuid", "array of strings", "[]", "Setuid files."),
            key("setgid", "array of strings", "[]", "Setgid files."),
            key("capabilities", "array of strings", "[]", "Files with capabilities (NFS does not carry them)."),
            key("devices", "array of strings", "[]", "Device nodes."),
            key("world_writable", "array of strings", "[]", "World-writable paths."),
            key("sticky_dirs", "array of strings", "[]", "Sticky world-writable directories."),
        ],
        free_form: None,
    },
    Table {
        name: "overlays",
        about: "Overlay trees (overlays/NAME/) applied in order; *.j2 files are rendered with [vars]. The lists replace inherited ones; owners merge path by path.",
        keys: &[
            key("root", "array of strings", "[]", "Overlays applied on the root tree."),
            key("initramfs", "array of strings", "[]", "Overlays applied into the initramfs."),
            key("allow_override", "array of strings", "[]", "Paths a later overlay may override without a conflict error."),
            key("owner", "string \"UID:GID\"", "the files' (as root), else root", "Owner of every overlay entry before overlays.owners, numbers or root, e.g. \"root:root\"."),
        ],
        free_form: None,
    },
    Table {
        name: "overlays.owners.\"PATH\"",
        about: "Mode and owner of one overlay path (relative to the image root).",
        keys: &[
            key("mode", "string (octal)", "the file's", "Permission bits, e.g. \"0640\"."),
            key("uid", "integer", "0", "Owner."),
            key("gid", "integer", "0", "Group."),
        ],
        free_form: None,
    },
    Table {
        name: "vars",
        about: "Template variables for *.j2 overlay files, merged key by key.",
        keys: &[],
        free_form: Some("NAME = any TOML value"),
    },
    Table {
        name: "publish",
        about: "Where netroot publish puts generations and how the masters serve them.",
        keys: &[
            key("tftp", "string (directory)", "--tftp", "TFTP root the generations go under."),
            key("nfs", "string (directory)", "--nfs", "NFS export directory the root trees go under."),
            key("http_base", "string", "refused", "A setting of the shared menus: set http_base in netroot.toml's [menu]."),
            key("client_network", "string", "required with [root]", "\"A.B.C.D/N\" the NFS root is exported to."),
            key("hook", "string", "none", "Command run after each activation and rollback (e.g. exportfs -ra)."),
            key("keep", "integer", "3", "Generations kept after each publish (at least 2)."),
        ],
        free_form: None,
    },
    Table {
        name: "menu",
        about: "This profile's boot menu entries.",
        keys: &[
            key("title", "string", "refused", "A setting of the shared menus: set title in netroot.toml's [menu]."),
            key("timeout", "integer", "refused", "A setting of the shared menus: set timeout in netroot.toml's [menu]."),
            key("serial", "string", "none", "\"ttySN,BAUD\" (e.g. \"ttyS0,115200\"): the kernel console."),
            key("cmdline_extra", "string", "\"\"", "Appended to the kernel command line."),
        ],
        free_form: None,
    },
];

/// A short example profile: the shipped `compute`, abridged.
const EXAMPLE: &str = r#"inherits = ["base"]
description = "compute node: 4-port 802.3ad bond, NFS root"

[modules]
add = ["e1000e", "igb", "ixgbe", "mlx5_core"]

[bond]
mode = "802.3ad"
lacp_rate = "fast"
ports = ["eth0", "eth1", "eth2", "eth3"]

[nfs]
server = "10.0.0.1"
export = "/srv/netroot/compute"

[publish]
client_network = "10.0.0.0/16""#;

/// The page as roff.
pub fn render() -> io::Result<Vec<u8>> {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            PAGE_NAME,
            "5",
            "",
            &format!("netroot {}", env!("CARGO_PKG_VERSION")),
            MANUAL,
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman(format!(
        "{PAGE_NAME} - netroot profile files (profiles/NAME.toml)"
    ))]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([
        italic("PROJECT"),
        roman("/profiles/"),
        italic("NAME"),
        roman(".toml"),
    ]);
    r.control("SH", ["DESCRIPTION"]);
    r.text([roman(
        "A profile describes one kind of diskless node: the kernel and modules of its initramfs, \
         the boot network (bond, address, NFS root, overlay, timeouts), an optional read-only \
         root tree with its overlays, and how netroot publish serves it. netroot build, publish \
         and qemu take a profile name; netroot profiles show NAME prints one merged and validated.",
    )]);
    r.control("PP", []);
    r.text([
        bold("inherits"),
        roman(
            " merges profiles in order, later ones winning: every table merges key by key \
             ([root.allow] and [modules.params] too), lists replace, modules.add and \
             modules.remove extend or trim the inherited modules.load, [kernel]'s path, deb and \
             host are one choice, and a [root] naming another source drops the inherited \
             source's keys. Unknown keys are errors; every error names file:line:col and the value. \
             Settings the shared boot menus own (title, timeout, default entry, http_base) live \
             in the project's netroot.toml instead.",
        ),
    ]);
    r.control("SH", ["TABLES"]);
    for table in TABLES {
        let heading = if table.name.is_empty() {
            "top level".to_string()
        } else {
            format!("[{}]", table.name)
        };
        r.control("SS", [heading.as_str()]);
        r.text([roman(table.about)]);
        if let Some(form) = table.free_form {
            r.control("PP", []);
            r.text([roman("Keys: "), italic(form)]);
        }
        for k in table.keys {
            r.control("TP", []);
            r.text([bold(k.name), roman(" = "), italic(k.ty)]);
            // "required", "required with [root]", "refused": said as they are.
            let default = match k.default.strip_prefix('r') {
                Some(rest) if rest.starts_with("equired") || rest == "efused" => {
                    format!("R{rest}.")
                }
                _ => format!("Default: {}.", k.default),
            };
            r.text([roman(format!("{} {default}", k.about))]);
        }
    }
    r.control("SH", ["EXAMPLE"]);
    r.control("nf", []);
    r.control("RS", ["4"]);
    for line in EXAMPLE.lines() {
        r.text([roman(line)]);
    }
    r.control("RE", []);
    r.control("fi", []);
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "netroot(1), netroot-build(1), netroot-profiles(1), netroot-publish(1)",
    )]);
    let mut out = Vec::new();
    r.to_writer(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The struct definitions of raw.rs: name → fields as (TOML key, Rust type). Reads both plain
    /// `pub struct RawX { pub key: T, }` and the `raw_section!` form `key: T,`; honours
    /// `#[serde(rename = "...")]`.
    fn raw_structs(src: &str) -> BTreeMap<String, Vec<(String, String)>> {
        let mut structs = BTreeMap::new();
        let mut current: Option<(String, Vec<(String, String)>)> = None;
        let mut rename: Option<String> = None;
        for line in src.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("pub struct Raw") {
                if let Some(name) = rest.strip_suffix('{') {
                    current = Some((format!("Raw{}", name.trim()), Vec::new()));
                }
                continue;
            }
            let Some((_, fields)) = current.as_mut() else {
                continue;
            };
            if line == "}" {
                let (name, fields) = current.take().unwrap();
                structs.insert(name, fields);
                continue;
            }
            if let Some(r) = line.strip_prefix("#[serde(rename = \"") {
                rename = r.split('"').next().map(str::to_string);
                continue;
            }
            if line.starts_with("//") || line.starts_with('#') {
                continue;
            }
            let field = line.strip_prefix("pub ").unwrap_or(line);
            let Some((name, ty)) = field.split_once(':') else {
                continue;
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let key = rename.take().unwrap_or_else(|| name.to_string());
            fields.push((key, ty.trim().trim_end_matches(',').to_string()));
        }
        structs
    }

    /// The `Raw…` struct a type names (`Option<RawKernel>`, `BTreeMap<String, Val<RawOwner>>`).
    fn raw_type(ty: &str) -> Option<String> {
        let at = ty.find("Raw")?;
        let name: String = ty[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        Some(name)
    }

    /// Tables (name → free-form?) and (table, key) pairs reachable from `RawProfile`.
    fn walk(
        structs: &BTreeMap<String, Vec<(String, String)>>,
        name: &str,
        table: &str,
        tables: &mut BTreeMap<String, bool>,
        keys: &mut BTreeSet<(String, String)>,
    ) {
        let fields = structs
            .get(name)
            .unwrap_or_else(|| panic!("raw.rs: struct {name} not found"));
        tables.insert(table.to_string(), false);
        let join = |k: &str| {
            if table.is_empty() {
                k.to_string()
            } else {
                format!("{table}.{k}")
            }
        };
        for (key, ty) in fields {
            match (ty.contains("BTreeMap"), raw_type(ty)) {
                (true, Some(inner)) => walk(
                    structs,
                    &inner,
                    &format!("{}.\"PATH\"", join(key)),
                    tables,
                    keys,
                ),
                (true, None) => {
                    tables.insert(join(key), true);
                }
                (false, Some(inner)) => walk(structs, &inner, &join(key), tables, keys),
                (false, None) => {
                    keys.insert((table.to_string(), key.clone()));
                }
            }
        }
    }

    #[test]
    fn every_raw_key_is_documented_and_nothing_else() {
        let structs = raw_structs(include_str!("../profile/raw.rs"));
        let mut code_tables = BTreeMap::new();
        let mut code_keys = BTreeSet::new();
        walk(&structs, "RawProfile", "", &mut code_tables, &mut code_keys);
        // The parser found the whole file, not a fragment of it.
        assert!(code_tables.len() >= 15, "{code_tables:?}");
        assert!(code_keys.contains(&("".to_string(), "abstract".to_string())));

        let doc_tables: BTreeMap<String, bool> = TABLES
            .iter()
            .map(|t| (t.name.to_string(), t.free_form.is_some()))
            .collect();
        let doc_keys: BTreeSet<(String, String)> = TABLES
            .iter()
            .flat_map(|t| {
                t.keys
                    .iter()
                    .map(|k| (t.name.to_string(), k.name.to_string()))
            })
            .collect();
        let undocumented: Vec<_> = code_keys.difference(&doc_keys).collect();
        let stale: Vec<_> = doc_keys.difference(&code_keys).collect();
        assert!(
            undocumented.is_empty() && stale.is_empty(),
            "netroot-profile(5) (src/cli/profile_page.rs) and src/profile/raw.rs disagree: \
             undocumented keys {undocumented:?}, documented keys raw.rs lacks {stale:?}"
        );
        assert_eq!(
            code_tables, doc_tables,
            "tables (name → free-form) of raw.rs vs netroot-profile(5)"
        );
        assert_eq!(
            TABLES.len(),
            doc_tables.len(),
            "a table is documented twice"
        );
    }

    #[test]
    fn the_parser_sees_a_new_key() {
        let src = include_str!("../profile/raw.rs").replace(
            "        strict: bool,\n",
            "        strict: bool,\n        newkey: u32,\n",
        );
        let structs = raw_structs(&src);
        let firmware = &structs["RawFirmware"];
        assert!(firmware.iter().any(|(k, _)| k == "newkey"), "{firmware:?}");
    }

    #[test]
    fn renders_every_table() {
        let page = String::from_utf8(render().unwrap()).unwrap();
        assert!(page.contains("\n.TH netroot-profile 5 "), "{page}");
        for t in TABLES.iter().filter(|t| !t.name.is_empty()) {
            let heading = format!(".SS [{}]\n", t.name);
            assert!(page.contains(&heading), "{heading} missing");
        }
    }
}
