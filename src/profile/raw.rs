//! The raw, human-written profile layer: exactly what a `profiles/NAME.toml` may contain.
//!
//! Every section is `deny_unknown_fields`; every leaf is optional and carries its position, so that
//! merging (later file wins, tables merge) keeps track of where each value came from.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::source::Val;

/// Declares a raw section struct whose fields are all `Option<Val<T>>` (or nested sections), and its
/// `merge` (fields set in `other` win).
macro_rules! raw_section {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: Option<Val<$ty>>,)* }

        impl $name {
            /// Overlays `other` on `self`: every field `other` sets replaces ours.
            pub fn merge(&mut self, other: Self) {
                $(if other.$field.is_some() { self.$field = other.$field; })*
            }
        }
    };
}

/// One profile file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// Profiles merged before this one, in order (later wins).
    pub inherits: Option<Val<Vec<Val<String>>>>,
    /// `abstract = true`: the profile only exists to be inherited (it cannot be built and
    /// `netroot profiles` lists it as such). Not inherited itself.
    #[serde(rename = "abstract")]
    pub is_abstract: Option<Val<bool>>,
    pub description: Option<Val<String>>,
    pub kernel: Option<RawKernel>,
    pub modules: Option<RawModules>,
    pub firmware: Option<RawFirmware>,
    pub initramfs: Option<RawInitramfs>,
    pub extra: Option<RawExtra>,
    pub bond: Option<RawBond>,
    pub vlan: Option<RawVlan>,
    pub ip: Option<RawIp>,
    pub nfs: Option<RawNfs>,
    pub overlay: Option<RawOverlay>,
    pub timeouts: Option<RawTimeouts>,
    pub boot: Option<RawBoot>,
    pub root: Option<RawRoot>,
    pub overlays: Option<RawOverlays>,
    /// Template variables for `.j2` overlay files; merged key by key.
    pub vars: Option<BTreeMap<String, Val<toml::Value>>>,
    pub publish: Option<RawPublish>,
    pub menu: Option<RawMenu>,
}

/// `[modules]`: `load` replaces the inherited list, `add` appends to it, `remove` drops entries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModules {
    pub load: Option<Val<Vec<Val<String>>>>,
    pub add: Option<Val<Vec<Val<String>>>>,
    pub remove: Option<Val<Vec<Val<String>>>>,
    /// Parameters per module name; merged key by key.
    pub params: Option<BTreeMap<String, Val<String>>>,
}

/// `[kernel]`: exactly one of `path` (a directory), `deb` (a package file) or `host = true`.
/// The three are one choice: a later profile setting any of them replaces the inherited choice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKernel {
    pub path: Option<Val<String>>,
    pub deb: Option<Val<String>>,
    /// The package's sha256 (with `deb`): the build refuses any other content.
    pub sha256: Option<Val<String>>,
    pub host: Option<Val<bool>>,
}

raw_section! {
    /// `[firmware]`
    pub struct RawFirmware {
        dirs: Vec<Val<String>>,
        strict: bool,
    }
}

raw_section! {
    /// `[initramfs]`
    pub struct RawInitramfs {
        compression: String,
        level: i32,
    }
}

raw_section! {
    /// `[extra]`: binaries copied into the initramfs with their libraries and ELF interpreter.
    pub struct RawExtra {
        binaries: Vec<Val<String>>,
    }
}

raw_section! {
    /// `[vlan]`: an 802.1Q VLAN on the bond, which then gets the address (interface
    /// `<bond>.<id>`). A child profile may change the id, not drop the VLAN.
    pub struct RawVlan {
        id: i64,
    }
}

raw_section! {
    /// `[bond]`
    pub struct RawBond {
        name: String,
        mode: String,
        miimon: u32,
        lacp_rate: String,
        xmit_hash_policy: String,
        mac: String,
        ports: Vec<Val<String>>,
        min_ports: u32,
    }
}

raw_section! {
    /// `[ip]`: `method = "dhcp"` or `"static"` with `address = "A.B.C.D/N"`.
    pub struct RawIp {
        method: String,
        address: String,
        gateway: String,
        dns: Vec<Val<String>>,
        hostname: String,
    }
}

raw_section! {
    /// `[nfs]`
    pub struct RawNfs {
        server: String,
        export: String,
        versions: Vec<Val<String>>,
        options: String,
        allow_dhcp_root_path: bool,
    }
}

raw_section! {
    /// `[overlay]`
    pub struct RawOverlay {
        enabled: bool,
        size: String,
    }
}

raw_section! {
    /// `[timeouts]`: durations such as "30s", "500ms", "3m".
    pub struct RawTimeouts {
        boot: String,
        links: String,
        dhcp: String,
        nfs: String,
    }
}

raw_section! {
    /// `[boot]`: the real root's init, failure action, debug logging.
    pub struct RawBoot {
        init: String,
        failure: String,
        debug: bool,
    }
}

/// `[root]`: where the read-only root tree comes from. Merged key by key like every table, except
/// that a later profile naming another `source` drops the inherited source's own keys (a recipe's
/// packages from one profile and a tarball from another make no sense); `[root.allow]` merges
/// per category.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoot {
    /// "dir", "tarball" or "mmdebstrap".
    pub source: Option<Val<String>>,
    /// Directory or tarball path (dir/tarball).
    pub path: Option<Val<String>>,
    /// mmdebstrap recipe.
    pub suite: Option<Val<String>>,
    pub variant: Option<Val<String>>,
    pub packages: Option<Val<Vec<Val<String>>>>,
    pub mirror: Option<Val<String>>,
    pub components: Option<Val<Vec<Val<String>>>>,
    pub hooks: Option<Val<Vec<Val<String>>>>,
    /// Allowed special files: globs per category.
    pub allow: Option<RawAllow>,
}

/// `[root.allow]`: paths (globs) allowed to be setuid, setgid, have file capabilities, be
/// device nodes or be world-writable; anything else found fails the build.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllow {
    pub setuid: Option<Val<Vec<Val<String>>>>,
    pub setgid: Option<Val<Vec<Val<String>>>>,
    pub capabilities: Option<Val<Vec<Val<String>>>>,
    pub devices: Option<Val<Vec<Val<String>>>>,
    pub world_writable: Option<Val<Vec<Val<String>>>>,
    pub sticky_dirs: Option<Val<Vec<Val<String>>>>,
}

/// `[overlays]`: overlay trees (`overlays/NAME/`) applied in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverlays {
    /// Applied on top of the root tree.
    pub root: Option<Val<Vec<Val<String>>>>,
    /// Applied into the initramfs.
    pub initramfs: Option<Val<Vec<Val<String>>>>,
    /// Paths a later overlay may override without a conflict error.
    pub allow_override: Option<Val<Vec<Val<String>>>>,
    /// Owner of every overlay entry, `"UID:GID"` (numbers or `root`), before `owners`.
    pub owner: Option<Val<String>>,
    /// Per-path mode/owner overrides (`[overlays.owners."etc/shadow"] mode = "0640"`).
    pub owners: Option<BTreeMap<String, Val<RawOwner>>>,
}

/// One `[overlays.owners."PATH"]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOwner {
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

raw_section! {
    /// `[publish]`: where `netroot publish` puts generations, and how the masters serve them.
    pub struct RawPublish {
        tftp: String,
        nfs: String,
        http_base: String,
        client_network: String,
        hook: String,
        keep: u32,
    }
}

raw_section! {
    /// `[menu]`: boot menu settings.
    pub struct RawMenu {
        title: String,
        timeout: u32,
        serial: String,
        cmdline_extra: String,
    }
}

/// Merges an optional section: both present → field-wise merge; otherwise whichever exists.
macro_rules! merge_opt {
    ($dst:expr, $src:expr) => {
        match (&mut $dst, $src) {
            (Some(d), Some(s)) => d.merge(s),
            (d @ None, Some(s)) => *d = Some(s),
            (_, None) => {}
        }
    };
}

impl RawOverlays {
    /// Lists replace (the overlay order is a whole decision); owners merge path by path.
    pub fn merge(&mut self, other: Self) {
        if other.root.is_some() {
            self.root = other.root;
        }
        if other.initramfs.is_some() {
            self.initramfs = other.initramfs;
        }
        if other.allow_override.is_some() {
            self.allow_override = other.allow_override;
        }
        if other.owner.is_some() {
            self.owner = other.owner;
        }
        if let Some(o) = other.owners {
            self.owners.get_or_insert_with(BTreeMap::new).extend(o);
        }
    }
}

impl RawKernel {
    /// `path`, `deb` and `host` are alternatives of one choice: the later one replaces them all.
    /// A new choice drops the inherited one's pin; a pin alone pins the inherited package.
    pub fn merge(&mut self, other: Self) {
        if other.path.is_some() || other.deb.is_some() || other.host.is_some() {
            *self = other;
        } else if other.sha256.is_some() {
            self.sha256 = other.sha256;
        }
    }
}

impl RawRoot {
    /// Key by key; a different `source` first drops the inherited source's keys.
    pub fn merge(&mut self, other: Self) {
        let switches = match (&self.source, &other.source) {
            (Some(old), Some(new)) => old.value != new.value,
            _ => false,
        };
        if switches {
            *self = RawRoot {
                allow: self.allow.take(),
                ..RawRoot::default()
            };
        }
        macro_rules! take {
            ($($f:ident),*) => { $(if other.$f.is_some() { self.$f = other.$f; })* };
        }
        take!(source, path, suite, variant, packages, mirror, components, hooks);
        merge_opt!(self.allow, other.allow);
    }
}

impl RawAllow {
    /// Category by category: a later profile's list for a category replaces the inherited one.
    pub fn merge(&mut self, other: Self) {
        macro_rules! take {
            ($($f:ident),*) => { $(if other.$f.is_some() { self.$f = other.$f; })* };
        }
        take!(
            setuid,
            setgid,
            capabilities,
            devices,
            world_writable,
            sticky_dirs
        );
    }
}

impl RawModules {
    /// `load` replaces and resets earlier `add`/`remove`; `add`/`remove` accumulate.
    pub fn merge(&mut self, other: Self) {
        if other.load.is_some() {
            self.load = other.load;
            self.add = None;
            self.remove = None;
        }
        append(&mut self.add, other.add);
        append(&mut self.remove, other.remove);
        if let Some(params) = other.params {
            self.params.get_or_insert_with(BTreeMap::new).extend(params);
        }
    }
}

fn append(dst: &mut Option<Val<Vec<Val<String>>>>, src: Option<Val<Vec<Val<String>>>>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => d.value.extend(s.value),
        (None, Some(s)) => *dst = Some(s),
        (_, None) => {}
    }
}

impl RawProfile {
    /// Overlays `other` (a later profile in the inheritance order) on `self`.
    pub fn merge(&mut self, other: Self) {
        // Only the profile itself says whether it is abstract: its children are not.
        self.is_abstract = other.is_abstract;
        if other.description.is_some() {
            self.description = other.description;
        }
        merge_opt!(self.kernel, other.kernel);
        merge_opt!(self.modules, other.modules);
        merge_opt!(self.firmware, other.firmware);
        merge_opt!(self.initramfs, other.initramfs);
        merge_opt!(self.extra, other.extra);
        merge_opt!(self.bond, other.bond);
        merge_opt!(self.vlan, other.vlan);
        merge_opt!(self.ip, other.ip);
        merge_opt!(self.nfs, other.nfs);
        merge_opt!(self.overlay, other.overlay);
        merge_opt!(self.timeouts, other.timeouts);
        merge_opt!(self.boot, other.boot);
        merge_opt!(self.root, other.root);
        merge_opt!(self.overlays, other.overlays);
        if let Some(vars) = other.vars {
            self.vars.get_or_insert_with(BTreeMap::new).extend(vars);
        }
        merge_opt!(self.publish, other.publish);
        merge_opt!(self.menu, other.menu);
    }
}
