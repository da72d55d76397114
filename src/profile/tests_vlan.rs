//! Profile `[vlan]`: resolved into the boot spec, merged on inherit, the 8021q module added to
//! the load list, and every bad value named with file, line, column, key and value.

use std::fs;

use netroot_boot::bootconfig::{VlanConfig, VlanId, VLAN_MODULE};

use super::*;

/// A minimal valid concrete profile body (the one of `tests.rs`).
const VALID: &str = r#"
[modules]
load = ["bonding"]

[bond]
mode = "active-backup"
ports = ["eth0"]

[nfs]
server = "10.0.0.1"
export = "/srv/root"
"#;

fn load(files: &[(&str, &str)], name: &str) -> Result<Profile, String> {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(PROFILES_DIR)).unwrap();
    for (n, text) in files {
        let path = dir.path().join(PROFILES_DIR).join(format!("{n}.toml"));
        fs::write(path, text).unwrap();
    }
    Project::new(dir.path())
        .load_profile(name)
        .map_err(|e| e.to_string())
}

fn vlan(id: i64) -> Option<VlanConfig> {
    Some(VlanConfig::new(VlanId::new(id).unwrap()))
}

#[test]
fn a_vlan_table_sets_the_vlan_and_loads_8021q() {
    let plain = load(&[("a", VALID)], "a").unwrap();
    assert_eq!(plain.boot.vlan, None);
    assert!(!plain.modules.iter().any(|m| m == VLAN_MODULE));
    let p = load(&[("a", &format!("{VALID}[vlan]\nid = 5\n"))], "a").unwrap();
    assert_eq!(p.boot.vlan, vlan(5));
    assert_eq!(p.modules, ["bonding", VLAN_MODULE]);
    assert_ne!(
        p.cache_key_bytes().unwrap(),
        plain.cache_key_bytes().unwrap()
    );
    // Listed already: not twice.
    let listed =
        format!("{VALID}[vlan]\nid = 5\n").replace("[\"bonding\"]", "[\"8021q\", \"bonding\"]");
    let p = load(&[("a", &listed)], "a").unwrap();
    assert_eq!(p.modules, [VLAN_MODULE, "bonding"]);
}

#[test]
fn vlan_merges_on_inherit() {
    let base = format!("{VALID}[vlan]\nid = 5\n");
    let child = "inherits = [\"b\"]\n[vlan]\nid = 7\n";
    let p = load(&[("b", &base), ("c", child)], "c").unwrap();
    assert_eq!(p.boot.vlan, vlan(7));
    let p = load(&[("b", &base), ("c", "inherits = [\"b\"]\n")], "c").unwrap();
    assert_eq!(p.boot.vlan, vlan(5));
}

#[test]
fn bad_vlans_name_file_position_key_and_value() {
    let why = "802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)";
    let cases = [
        (
            "[vlan]\nid = 0\n",
            format!("profiles/p.toml:13:6: vlan.id: invalid vlan id \"0\": {why}"),
        ),
        (
            "[vlan]\nid = 4095\n",
            format!("profiles/p.toml:13:6: vlan.id: invalid vlan id \"4095\": {why}"),
        ),
        (
            "[vlan]\nid = -5\n",
            format!("profiles/p.toml:13:6: vlan.id: invalid vlan id \"-5\": {why}"),
        ),
        (
            "[vlan]\nid = \"5\"\n",
            "profiles/p.toml:13:6: invalid type: string \"5\", expected i64".to_string(),
        ),
        (
            "[vlan]\nname = \"v5\"\n",
            "profiles/p.toml:13:1: unknown field `name`, expected `id`".to_string(),
        ),
        (
            "[vlan]\n",
            "profile \"p\": vlan.id is required but no profile in its chain (p) sets it"
                .to_string(),
        ),
    ];
    for (extra, want) in cases {
        let got = load(&[("p", &format!("{VALID}{extra}"))], "p").unwrap_err();
        assert!(got.starts_with(&want), "{extra}\nwant: {want}\ngot:  {got}");
    }
    // The interface name is checked with the bond's: bond0123456789.4000 is too long.
    let long = format!("{VALID}[vlan]\nid = 4000\n")
        .replace("[bond]\n", "[bond]\nname = \"bond0123456789\"\n");
    let got = load(&[("p", &long)], "p").unwrap_err();
    assert_eq!(
        got,
        "profiles/p.toml:14:6: vlan.id: invalid interface name \"bond0123456789.4000\": longer than 15 bytes"
    );
}
