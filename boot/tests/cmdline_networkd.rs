//! Differential test of the `ip=` and `vlan=` grammars against systemd-network-generator (Debian's systemd
//! package), which reads the same dracut/kernel forms into systemd-networkd files: for every
//! generated value both accept, the addressing (DHCP or the static address, prefix, gateway,
//! DNS servers, host name) and the MAC must agree. Values only one of them accepts are allowed
//! when the reason is a known, documented difference (see the README's grammar table):
//! - netroot refuses forms it cannot do (MTU, ...);
//! - systemd refuses the kernel's empty `<dns0>` before a `<dns1>` and an empty tenth field;
//! - with no `<netmask>` systemd uses /32, the kernel (and netroot) the address's class;
//! - for `vlan=`, netroot takes only dracut's four names on the bond and ids 1-4094, systemd any
//!   name with a trailing number on any device, and id 0; both must agree on name, id, device,
//!   except that systemd 252 reads a padded id (`vlan0010`) as octal (dracut: decimal).
//!
//! Without the generator the test is skipped with a message, or fails when
//! `NETROOT_REQUIRE_VM=1` or `NETROOT_REQUIRE_KERNEL=1` is set.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use common::Rng;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use netroot_boot::bootconfig::{BootConfig, IpConfig};

const GENERATOR: &str = "/usr/lib/systemd/systemd-network-generator";

const FIXTURE: &str = include_str!("fixtures/boot.conf");

fn required() -> bool {
    ["NETROOT_REQUIRE_VM", "NETROOT_REQUIRE_KERNEL"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| v == "1"))
}

/// Key=value lines of one generated file.
type Keys = BTreeMap<String, Vec<String>>;

/// The files systemd writes for the command line `args` (file name → its `Key=value` lines),
/// `None` when it refuses the line.
fn generated(root: &Path, args: &[String]) -> Option<BTreeMap<String, Keys>> {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).expect("generator root");
    let out = Command::new(GENERATOR)
        .arg(format!("--root={}", root.display()))
        .arg("--")
        .args(args)
        .output()
        .expect("generator runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("Failed to parse") {
        return None;
    }
    let mut files = BTreeMap::new();
    let dir = root.join("run/systemd/network");
    for entry in std::fs::read_dir(&dir).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("generated file");
        let mut keys = Keys::new();
        for line in text.lines() {
            if let Some((k, val)) = line.split_once('=') {
                keys.entry(k.to_string()).or_default().push(val.to_string());
            }
        }
        files.insert(entry.file_name().to_string_lossy().into_owned(), keys);
    }
    Some(files)
}

/// The `Key=value` lines of the `.network` files systemd writes for `ip=<v>`, `None` when it
/// refuses the value.
fn networkd(root: &Path, v: &str) -> Option<Keys> {
    let files = generated(root, &[format!("ip={v}")])?;
    let mut keys = Keys::new();
    let mut found = false;
    for (name, file) in files {
        if name.ends_with(".network") {
            found = true;
            for (k, vals) in file {
                keys.entry(k).or_default().extend(vals);
            }
        }
    }
    found.then_some(keys)
}

fn generate(rng: &mut Rng) -> String {
    match rng.next() % 5 {
        0 => rng
            .pick(&["dhcp", "on", "any", "off", "none", "dhcp6", "single-dhcp"])
            .to_string(),
        1 => format!(
            "{}:{}{}",
            rng.pick(&["bond0", ""]),
            rng.pick(&["dhcp", "on", "any", "auto6"]),
            rng.pick(&["", "::52:54:00:12:34:56", ":9000", "::52-54-00-00-00-07"])
        ),
        _ => format!(
            "{}:{}:{}:{}:{}:{}:{}{}",
            rng.pick(&["10.1.0.5", "172.16.3.4", "192.168.1.20", ""]),
            rng.pick(&["", "10.1.0.9", "0.0.0.0"]),
            rng.pick(&["", "10.1.0.1"]),
            rng.pick(&["", "24", "255.255.0.0", "16"]),
            rng.pick(&["", "node5", "n.example"]),
            rng.pick(&["", "bond0"]),
            rng.pick(&["none", "off", "dhcp", "on", "any"]),
            rng.pick(&[
                "",
                ":10.1.0.2",
                ":10.1.0.2:10.1.0.3",
                "::10.1.0.3",
                ":10.1.0.2:10.1.0.3:",
                "::52:54:00:12:34:56",
                ":9000",
            ])
        ),
    }
}

/// Values systemd refuses for a documented reason while netroot (with the kernel) accepts.
fn known_systemd_refusal(v: &str) -> bool {
    let f: Vec<&str> = v.split(':').collect();
    let dns1_without_dns0 = f.len() == 9 && f[7].is_empty() && !f[8].is_empty();
    let empty_tenth = f.len() == 10 && f[9].is_empty();
    dns1_without_dns0 || empty_tenth || v == "single-dhcp"
}

#[test]
fn ip_grammar_agrees_with_systemd_network_generator() {
    if !Path::new(GENERATOR).exists() {
        assert!(
            !required(),
            "{GENERATOR} is missing (install systemd) and NETROOT_REQUIRE_* is set"
        );
        eprintln!("skipping: {GENERATOR} is missing (install systemd)");
        return;
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("network-generator");
    // The generated ip= values name the bond: the fixture without its VLAN.
    let mut fixture = BootConfig::parse(FIXTURE).expect("fixture");
    fixture.vlan = None;
    let mut rng = Rng(0x6e65_7477_6f72_6b64);
    let mut values: Vec<String> = (0..600).map(|_| generate(&mut rng)).collect();
    values.sort();
    values.dedup();
    let mut compared = 0;
    for v in &values {
        let mut cfg = fixture.clone();
        let ours = cfg.apply_cmdline(&format!("ip={v}")).map(|_| cfg);
        let theirs = networkd(&root, v);
        let (ours, theirs) = match (ours, theirs) {
            (Ok(c), Some(t)) => (c, t),
            (Ok(_), None) => {
                assert!(
                    known_systemd_refusal(v),
                    "ip={v}: netroot accepts, systemd refuses"
                );
                continue;
            }
            (Err(_), _) => continue,
        };
        compared += 1;
        let get = |k: &str| theirs.get(k).cloned().unwrap_or_default();
        match &ours.ip {
            IpConfig::Dhcp => {
                let dhcp = get("DHCP");
                assert!(
                    dhcp == ["ipv4"] || dhcp == ["yes"],
                    "ip={v}: systemd DHCP={dhcp:?}"
                );
            }
            IpConfig::Static(s) => {
                assert_eq!(get("DHCP"), ["no"], "ip={v}");
                let mask = v.split(':').nth(3).unwrap_or("");
                let prefix = if mask.is_empty() { 32 } else { s.prefix_len };
                assert_eq!(
                    get("Address"),
                    [format!("{}/{prefix}", s.address)],
                    "ip={v}"
                );
                let gw: Vec<String> = s.gateway.iter().map(|g| g.to_string()).collect();
                assert_eq!(get("Gateway"), gw, "ip={v}");
                let dns: Vec<String> = s.dns.iter().map(|d| d.to_string()).collect();
                assert_eq!(get("DNS"), dns, "ip={v}");
                let host: Vec<String> = s.hostname.iter().cloned().collect();
                assert_eq!(get("Hostname"), host, "ip={v}");
            }
        }
        if let [mac] = get("MACAddress").as_slice() {
            let ours_mac = ours
                .bond
                .mac
                .map(|m| netroot_boot::bootconfig::format_mac(&m));
            assert_eq!(ours_mac.as_deref(), Some(mac.as_str()), "ip={v}");
        } else {
            assert_eq!(ours.bond.mac, fixture.bond.mac, "ip={v}");
        }
    }
    eprintln!("{compared} of {} generated values compared", values.len());
    // Most generated values hold a field netroot refuses by name; enough must remain.
    assert!(compared >= 50, "only {compared} compared");
}

/// Every `vlan=` value `<vlanname>:<phydevice>` built from pieces of every form, valid or not.
fn vlan_values() -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["vlan", "bond0.", "eth0.", "x.", ""] {
        for digits in [
            "5", "0005", "005", "00005", "0", "0000", "4094", "4095", "0100", "100", "+5",
        ] {
            for parent in [":bond0", ":eth0", ":", ""] {
                for extra in ["", ":x"] {
                    out.push(format!("{prefix}{digits}{parent}{extra}"));
                }
            }
        }
    }
    out
}

/// `vlan=` values systemd accepts and netroot refuses by design (the README's grammar table):
/// a device other than the bond, VLAN id 0 (802.1Q: no VLAN), and names outside dracut's four
/// forms (other prefixes, `+`, padding other than four digits).
fn known_netroot_vlan_refusal(v: &str) -> bool {
    let Some((name, parent)) = v.split_once(':') else {
        return false;
    };
    let digits = name
        .strip_prefix("vlan")
        .or_else(|| name.strip_prefix("bond0."))
        .unwrap_or("");
    let dracut_form = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!digits.starts_with('0') || digits.len() == 4);
    parent != "bond0" || !dracut_form || digits.bytes().all(|b| b == b'0')
}

/// The digits at the end of a VLAN name.
fn name_digits(name: &str) -> &str {
    name.rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("")
}

/// The id systemd 252 gives a name: it reads a number with a leading zero as octal (`vlan0010`
/// is id 8 there, `vlan0009` an error), where dracut (`get_vid` strips the zeros) and the
/// kernel's `%.4i` names mean decimal, as netroot does.
fn systemd_id(name: &str) -> Result<String, std::num::ParseIntError> {
    let digits = name_digits(name);
    let radix = if digits.len() > 1 && digits.starts_with('0') {
        8
    } else {
        10
    };
    u16::from_str_radix(digits, radix).map(|id| id.to_string())
}

#[test]
fn vlan_grammar_agrees_with_systemd_network_generator() {
    if !Path::new(GENERATOR).exists() {
        assert!(
            !required(),
            "{GENERATOR} is missing and NETROOT_REQUIRE_* is set"
        );
        eprintln!("skipping: {GENERATOR} is missing (install systemd)");
        return;
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("network-generator-vlan");
    let mut fixture = BootConfig::parse(FIXTURE).expect("fixture");
    fixture.vlan = None;
    let values = vlan_values();
    let (mut compared, mut refused) = (0, 0);
    for v in &values {
        let mut cfg = fixture.clone();
        let ours = cfg.apply_cmdline(&format!("vlan={v}")).map(|_| cfg);
        let theirs = generated(&root, &[format!("vlan={v}")]);
        match (ours, theirs) {
            (Ok(c), Some(files)) => {
                compared += 1;
                let name = c.vlan_ifname().expect("a vlan");
                let netdev = files
                    .get(&format!("90-{name}.netdev"))
                    .unwrap_or_else(|| panic!("vlan={v}: systemd has no {name} netdev: {files:?}"));
                assert_eq!(
                    netdev.get("Kind"),
                    Some(&vec!["vlan".to_string()]),
                    "vlan={v}"
                );
                let id = c.vlan.map(|x| x.id().get());
                let theirs = netdev.get("Id").and_then(|i| i.first()).map(String::as_str);
                assert_eq!(theirs, systemd_id(&name).ok().as_deref(), "vlan={v}");
                assert_eq!(
                    name_digits(&name).parse().ok(),
                    id,
                    "vlan={v}: netroot's id"
                );
                let parent = files.get("90-bond0.network").expect("bond0 network");
                assert_eq!(parent.get("VLAN"), Some(&vec![name.clone()]), "vlan={v}");
            }
            (Ok(c), None) => {
                let name = c.vlan_ifname().expect("a vlan");
                assert!(
                    systemd_id(&name).is_err(),
                    "vlan={v}: netroot accepts, systemd refuses"
                );
            }
            (Err(e), Some(_)) => {
                refused += 1;
                assert!(
                    known_netroot_vlan_refusal(v),
                    "vlan={v}: systemd accepts, netroot: {e}"
                );
            }
            (Err(_), None) => {}
        }
    }
    eprintln!(
        "vlan=: {compared} compared, {refused} refused by netroot only, of {}",
        values.len()
    );
    assert!(compared >= 10, "only {compared} compared");
}
