//! The reference of the project's files, written once here: every table and key of a profile
//! (`profiles/NAME.toml`, [`TABLES`]) and of `nodes.toml` ([`NODE_TABLE`]), with type, default,
//! who reads it and what it does. Rendered as netroot-profile(5) ([`render`], roff) and as
//! `docs/profiles.md` ([`markdown`]).
//!
//! Tests check the tables against `src/profile/raw.rs` and `src/nodes/parse.rs` (every key a
//! file may contain is documented, and nothing else) and `docs/profiles.md` against
//! [`markdown`], so neither the page nor the document can drift.

mod markdown;
mod roff_page;
#[cfg(test)]
mod tests;

pub use markdown::{markdown, DOC_PATH};
pub use roff_page::render;

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
    /// Who reads it: `build` (the image and root tree), `init` (the boot config the PID 1
    /// applies), `publish` (menus, exports).
    pub side: &'static str,
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

/// What a profile is (the page's DESCRIPTION, the document's introduction).
pub(crate) const DESCRIPTION: &str =
    "A profile describes one kind of diskless node: the kernel and modules of its initramfs, \
     the boot network (bond, VLAN, address, NFS root, overlay, timeouts), an optional read-only \
     root tree with its overlays, and how netroot publish serves it. netroot build, publish \
     and qemu take a profile name; netroot profiles show NAME prints one merged and validated.";

/// How `inherits` merges (after the word itself).
pub(crate) const INHERITANCE: &str =
    " merges profiles in order, later ones winning: every table merges key by key \
     ([root.allow] and [modules.params] too), lists replace, modules.add and \
     modules.remove extend or trim the inherited modules.load, [kernel]'s path, deb and \
     host are one choice, and a [root] naming another source drops the inherited \
     source's keys. Unknown keys are errors; every error names file:line:col and the value. \
     Settings the shared boot menus own (title, timeout, default entry, http_base) live \
     in the project's netroot.toml instead.";

/// A table's heading: `[name]`, or `top level`.
pub(crate) fn heading(table: &Table) -> String {
    if table.name.is_empty() {
        "top level".to_string()
    } else {
        format!("[{}]", table.name)
    }
}

/// A key's default as a sentence: "Default: X.", or "Required."/"Refused." as they are.
pub(crate) fn default_text(k: &Key) -> String {
    match k.default.strip_prefix('r') {
        Some(rest) if rest.starts_with("equired") || rest == "efused" => format!("R{rest}."),
        _ => format!("Default: {}.", k.default),
    }
}

/// Every table and key of a profile file. Keep in step with `src/profile/raw.rs` (a test does).
pub const TABLES: &[Table] = &[
    Table {
        name: "",
        side: "build",
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
        side: "build",
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
        side: "build",
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
        side: "init (finit_module)",
        about: "Module parameters, merged key by key on inheritance (a - in a module name reads as _).",
        keys: &[],
        free_form: Some("MODULE = \"PARAM=VALUE ...\", e.g. bonding = \"max_bonds=0\""),
    },
    Table {
        name: "firmware",
        side: "build",
        about: "Firmware files the modules declare.",
        keys: &[
            key("dirs", "array of strings", "[\"/lib/firmware\"]", "Directories searched, in order."),
            key("strict", "boolean", "false", "A missing firmware file fails the build instead of warning."),
        ],
        free_form: None,
    },
    Table {
        name: "initramfs",
        side: "build",
        about: "How the image is compressed.",
        keys: &[
            key("compression", "string", "\"zstd\"", "\"zstd\", \"gzip\", \"xz\" or \"none\"."),
            key("level", "integer", "the codec's (zstd 3, gzip 9, xz 6)", "Compression level."),
        ],
        free_form: None,
    },
    Table {
        name: "extra",
        side: "build",
        about: "Extra programs in the initramfs.",
        keys: &[key("binaries", "array of strings", "[]", "Absolute paths, copied with their libraries and ELF interpreter.")],
        free_form: None,
    },
    Table {
        name: "bond",
        side: "init",
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
        side: "init",
        about: "An IEEE 802.1Q VLAN on the bond: the init creates it (interface BOND.ID, e.g. bond0.5) and the address, DHCP and the NFS root use it instead of the bond; the image then loads 8021q. Without the table the bond carries the address untagged.",
        keys: &[key("id", "integer", "required in [vlan]", "VLAN id, 1-4094 (0 means no VLAN in 802.1Q, 4095 is reserved). A child profile may change it, not drop the table.")],
        free_form: None,
    },
    Table {
        name: "ip",
        side: "init",
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
        side: "init",
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
        side: "init",
        about: "The tmpfs-backed overlayfs laid on the read-only root.",
        keys: &[
            key("enabled", "boolean", "true", "Whether the overlay is mounted."),
            key("size", "string", "\"50%\"", "tmpfs size: a percentage of RAM or bytes with K, M, G or T (\"2G\")."),
        ],
        free_form: None,
    },
    Table {
        name: "timeouts",
        side: "init",
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
        side: "init",
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
        side: "build",
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
        side: "build",
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
        side: "build",
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
        side: "build",
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
        side: "build (templates)",
        about: "Template variables for *.j2 overlay files, merged key by key.",
        keys: &[],
        free_form: Some("NAME = any TOML value"),
    },
    Table {
        name: "publish",
        side: "publish",
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
        side: "publish (menus)",
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
pub(crate) const EXAMPLE: &str = r#"inherits = ["base"]
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

/// `nodes.toml`: one `[[node]]` table per diskless node. Keep in step with `src/nodes/parse.rs`
/// (a test does).
pub const NODE_TABLE: Table = Table {
    name: "[node]",
    side: "build, publish",
    about: "One diskless node of the inventory (nodes.toml at the project's top): its per-MAC boot menu entry, its DHCP reservation and its layer of the root tree. Names, MACs (a node's mac and its ports are one namespace) and addresses are unique; errors name file:line:col.",
    keys: &[
        key("name", "string", "required", "One host-name label (letters, digits, '-'): the DHCP host name and the node's layer .netroot/nodes/NAME/."),
        key("mac", "string", "required", "aa:bb:cc:dd:ee:ff: the MAC its firmware boots from (per-MAC menu files, the DHCP reservation)."),
        key("profile", "string", "required", "The profile it boots."),
        key("address", "string", "none (DHCP)", "\"A.B.C.D/N\": a static address instead of DHCP (also the DHCP reservation's fixed address); inside the profile's client_network."),
        key("ports", "array of strings", "the profile's bond.ports", "Its bond ports (MACs or names) instead of the profile's, rendered as bond= in its entry."),
        key("vlan", "integer", "the profile's [vlan] id", "802.1Q id 1-4094: its VLAN on the bond instead of the profile's, rendered as vlan= in its entry; its image must load 8021q."),
    ],
    free_form: None,
};

/// `[node.vars]`: the node's template variables, above the profile's `[vars]`.
pub const NODE_VARS: &str = "NAME = VALUE (any TOML value), rendered into the node's layer from the root overlays' *.j2 files.";
