//! The boot configuration shared by builder and init: the data model (`model`), the one table
//! that renders and parses every `netroot.*` key (`keys`, `fields`), the value spellings
//! (`values`, `net`, `units`), the boot-config file (`text`) and the kernel command line
//! (`tokenize`: the kernel's tokenizer on bytes; `cmdline`; `dracut`, `ipconf`, `nfsroot`,
//! `vlan`, `rd_timeouts`: the dracut and kernel grammars; `vlan` also owns the VLAN on the bond).

mod cmdline;
mod dracut;
#[cfg(feature = "testing")]
mod example;
mod fields;
mod ipconf;
mod keys;
mod model;
mod net;
mod nfsroot;
mod rd_timeouts;
mod text;
mod tokenize;
mod units;
mod values;
mod vlan;

pub use cmdline::{split_cmdline, split_params, CmdlineError};
#[cfg(feature = "testing")]
pub use example::{example_port_mac, EXAMPLE_KERNEL_VERSION};
pub use fields::{bond_mac, parse_cidr};
pub use keys::{find_key, KeyDef, KEYS};
pub use model::*;
pub use net::{
    format_mac, format_ports, parse_host_ipv4, parse_ipv4_network, parse_mac, parse_netmask,
    parse_ports, prefix_to_netmask, validate_hostname, validate_ifname, validate_node_name,
    IFNAME_MAX_LEN,
};
pub use nfsroot::{node_name, parse_root_path, substitute_node, NfsSpec, NodeName, NODE_TOKEN};
pub use text::{decode_value, encode_value, ConfigError, FORMAT_KEY};
pub use tokenize::{is_kernel_space, kernel_cmdline, kernel_params, Param};
pub use units::{format_byte_size, format_duration, parse_byte_size, parse_duration};
pub use values::{format_nfs_versions, parse_nfs_versions, ValueError, DEFAULT_REBOOT_DELAY};
pub use vlan::VLAN_MODULE;
