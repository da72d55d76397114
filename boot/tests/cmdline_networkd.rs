//! Differential test of the `ip=` grammar against systemd-network-generator (Debian's systemd
//! package), which reads the same dracut/kernel forms into systemd-networkd files: for every
//! generated value both accept, the addressing (DHCP or the static address, prefix, gateway,
//! DNS servers, host name) and the MAC must agree. Values only one of them accepts are allowed
//! when the reason is a known, documented difference (see the README's grammar table):
//! - netroot refuses forms it cannot do (MTU, ...);
//! - systemd refuses the kernel's empty `<dns0>` before a `<dns1>` and an empty tenth field;
//! - with no `<netmask>` systemd uses /32, the kernel (and netroot) the address's class.
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

/// The `Key=value` lines of the `.network` files systemd writes for `ip=<v>`, `None` when it
/// refuses the value.
fn networkd(root: &Path, v: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).expect("generator root");
    let out = Command::new(GENERATOR)
        .arg(format!("--root={}", root.display()))
        .arg("--")
        .arg(format!("ip={v}"))
        .output()
        .expect("generator runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("Failed to parse") {
        return None;
    }
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let dir = root.join("run/systemd/network");
    let mut found = false;
    for entry in std::fs::read_dir(&dir).ok()?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "network") {
            found = true;
            let text = std::fs::read_to_string(entry.path()).expect("network file");
            for line in text.lines() {
                if let Some((k, val)) = line.split_once('=') {
                    keys.entry(k.to_string()).or_default().push(val.to_string());
                }
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
    let fixture = BootConfig::parse(FIXTURE).expect("fixture");
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
