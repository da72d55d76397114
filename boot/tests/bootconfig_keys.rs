//! Every `netroot.*` key of the table, through both the boot-config file and the kernel command
//! line: good values and their canonical rendering, malformed values and their exact messages.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use netroot_boot::bootconfig::{encode_value, find_key, BootConfig, KEYS};

const FIXTURE: &str = include_str!("fixtures/boot.conf");

/// One key: `(value, canonical rendering or None when the value unsets the key)` pairs, and
/// `(malformed value, message of its ValueError)` pairs.
type Row = (
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
    &'static [(&'static str, &'static str)],
);

const ROWS: &[Row] = &[
    ("netroot.profile", &[("compute a", Some("compute a"))], &[("", "invalid profile \"\": must not be empty")]),
    (
        "netroot.kernel.version",
        &[("6.12.0-1-arm64", Some("6.12.0-1-arm64"))],
        &[("6.1 x", "invalid kernel version \"6.1 x\": expected one word without spaces, quotes or '/'")],
    ),
    (
        "netroot.module",
        &[
            ("bonding kernel/bonding.ko max_bonds=0 miimon=100", Some("bonding kernel/bonding.ko max_bonds=0 miimon=100")),
            ("virtio_net kernel/virtio_net.ko", Some("virtio_net kernel/virtio_net.ko")),
        ],
        &[
            ("bonding", "invalid module \"bonding\": expected <name> <path in image> [<params>]"),
            ("bo.nd x.ko", "invalid module \"bo.nd x.ko\": module name must be letters, digits, '_' or '-'"),
            ("b /lib/b.ko", "invalid module \"b /lib/b.ko\": module path must be relative to the image root, without '..'"),
            ("b a/../b.ko", "invalid module \"b a/../b.ko\": module path must be relative to the image root, without '..'"),
        ],
    ),
    ("netroot.bond.name", &[("bond1", Some("bond1"))], &[("bond:0", "invalid interface name \"bond:0\": must not contain '/', ':', ',', '\"', spaces or control characters")]),
    (
        "netroot.bond.mode",
        &[("4", Some("802.3ad")), ("balance-alb", Some("balance-alb"))],
        &[("8023ad", "unknown bond mode \"8023ad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)")],
    ),
    (
        "netroot.bond.miimon",
        &[("250", Some("250"))],
        &[
            ("0", "invalid miimon interval \"0\": expected a whole number greater than zero"),
            ("1s", "invalid miimon interval \"1s\": expected a whole number greater than zero"),
        ],
    ),
    ("netroot.bond.lacp_rate", &[("1", Some("fast")), ("slow", Some("slow"))], &[("quick", "unknown lacp rate \"quick\" (expected one of: slow, fast)")]),
    (
        "netroot.bond.xmit_hash_policy",
        &[("layer2+3", Some("layer2+3")), ("5", Some("vlan+srcmac"))],
        &[("l2", "unknown xmit hash policy \"l2\" (expected one of: layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac)")],
    ),
    (
        "netroot.bond.mac",
        &[("52-54-00-00-00-09", Some("52:54:00:00:00:09")), ("", None)],
        &[
            ("01:00:5e:00:00:01", "invalid mac address \"01:00:5e:00:00:01\": a bond needs a unicast, non-zero address"),
            ("00:00:00:00:00:00", "invalid mac address \"00:00:00:00:00:00\": a bond needs a unicast, non-zero address"),
            ("52:54:00", "invalid mac address \"52:54:00\": expected six hex pairs like 52:54:00:12:34:56"),
        ],
    ),
    (
        "netroot.bond.ports",
        &[("eth0,eth1", Some("name:eth0,name:eth1")), ("52:54:00:00:00:01,name:eth1,eth2", Some("mac:52:54:00:00:00:01,name:eth1,name:eth2"))],
        &[
            ("", "invalid port list \"\": at least one port is required"),
            ("eth0,eth0", "invalid port list \"eth0,eth0\": port name:eth0 is listed twice"),
        ],
    ),
    ("netroot.bond.min_ports", &[("1", Some("1"))], &[("0", "invalid minimum port count \"0\": expected a whole number greater than zero")]),
    (
        "netroot.vlan",
        &[("5", Some("5")), ("bond0.5", Some("5")), ("vlan0042", Some("vlan0042")), ("bond0.0100", Some("bond0.0100")), ("vlan4094", Some("vlan4094")), ("", None)],
        &[
            ("0", "invalid vlan id \"0\": 802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)"),
            ("4095", "invalid vlan id \"4095\": 802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)"),
            ("99999999999999999999", "invalid vlan id \"99999999999999999999\": expected a decimal number 1-4094"),
            ("eth0.5", "invalid vlan interface name \"eth0.5\": expected vlan<id> or bond0.<id>, the id without leading zeros or in four digits (vlan0005, vlan5, bond0.0005, bond0.5)"),
        ],
    ),
    (
        "netroot.ip",
        &[("10.0.2.99/16", Some("10.0.2.99/16")), ("10.0.2.99/255.255.255.0", Some("10.0.2.99/24"))],
        &[
            ("10.0.2.99", "invalid ip \"10.0.2.99\": expected dhcp or <address>/<prefix>"),
            ("DHCP", "invalid ip \"DHCP\": expected dhcp or <address>/<prefix>"),
            ("10.0.2.99/33", "invalid netmask \"33\": expected a prefix length 1-32 or a contiguous mask like 255.255.255.0"),
            ("0.0.0.0/8", "invalid IPv4 address \"0.0.0.0\": not a host address"),
        ],
    ),
    ("netroot.ip.gateway", &[("10.0.2.254", Some("10.0.2.254")), ("", None)], &[("10.0.2", "invalid IPv4 address \"10.0.2\": expected a dotted quad like 10.0.2.2")]),
    (
        "netroot.ip.dns",
        &[("1.1.1.1", Some("1.1.1.1")), ("1.1.1.1,8.8.8.8,9.9.9.9", Some("1.1.1.1,8.8.8.8,9.9.9.9")), ("", None)],
        &[("1.1.1.1,,8.8.8.8", "invalid IPv4 address \"\": expected a dotted quad like 10.0.2.2")],
    ),
    (
        "netroot.ip.hostname",
        &[("n1.example", Some("n1.example")), ("", None)],
        &[("n_1", "invalid host name \"n_1\": expected dot-separated labels of letters, digits and inner hyphens")],
    ),
    ("netroot.nfs.server", &[("192.168.1.5", Some("192.168.1.5"))], &[("nfs.example", "invalid IPv4 address \"nfs.example\": expected a dotted quad like 10.0.2.2")]),
    (
        "netroot.nfs.export",
        &[("/srv/root", Some("/srv/root"))],
        &[
            ("srv/root", "invalid nfs export \"srv/root\": must be an absolute path"),
            ("/srv/a b", "invalid nfs export \"/srv/a b\": must not contain spaces, quotes or control characters"),
            ("/srv:x", "invalid nfs export \"/srv:x\": must not contain ':'"),
        ],
    ),
    ("netroot.nfs.versions", &[("4.1,3", Some("4.1,3")), ("4", Some("4.0"))], &[("5", "unknown nfs version \"5\" (expected one of: 4.2, 4.1, 4.0, 3)")]),
    (
        "netroot.nfs.options",
        &[("nolock", Some("nolock")), ("", Some(""))],
        &[
            ("vers=4.2", "invalid nfs options \"vers=4.2\": set the NFS version with netroot.nfs.versions, not vers="),
            ("nolock,nfsvers=3", "invalid nfs options \"nolock,nfsvers=3\": set the NFS version with netroot.nfs.versions, not vers="),
            ("a,,b", "invalid nfs options \"a,,b\": expected comma-separated options without spaces or quotes"),
            ("a b", "invalid nfs options \"a b\": expected comma-separated options without spaces or quotes"),
        ],
    ),
    ("netroot.nfs.allow_dhcp_root_path", &[("0", Some("0")), ("1", Some("1"))], &[("yes", "unknown boolean \"yes\" (expected one of: 1, 0)")]),
    ("netroot.overlay.enabled", &[("0", Some("0"))], &[("true", "unknown boolean \"true\" (expected one of: 1, 0)")]),
    (
        "netroot.overlay.size",
        &[("50%", Some("50%")), ("1024M", Some("1G"))],
        &[("0%", "invalid tmpfs size \"0%\": a percentage must be 1-100")],
    ),
    (
        "netroot.node",
        &[("c001", Some("c001")), ("rack-7-n12", Some("rack-7-n12")), ("", None)],
        &[
            ("..", "invalid node name \"..\": expected one host-name label: letters, digits and inner hyphens, at most 63 characters"),
            ("a/b", "invalid node name \"a/b\": expected one host-name label: letters, digits and inner hyphens, at most 63 characters"),
            ("c001.lab", "invalid node name \"c001.lab\": expected one host-name label: letters, digits and inner hyphens, at most 63 characters"),
            ("-c1", "invalid node name \"-c1\": expected one host-name label: letters, digits and inner hyphens, at most 63 characters"),
        ],
    ),
    (
        "netroot.timeout.boot",
        &[("600", Some("10m")), ("90s", Some("90s"))],
        &[
            ("0s", "invalid timeout \"0s\": must be greater than zero"),
            ("5x", "invalid duration \"5x\": unknown unit \"x\" (expected one of: h, m, s, ms, us, ns)"),
        ],
    ),
    ("netroot.timeout.links", &[("500ms", Some("500ms"))], &[("0", "invalid timeout \"0\": must be greater than zero")]),
    ("netroot.timeout.dhcp", &[("1m", Some("1m"))], &[("0ms", "invalid timeout \"0ms\": must be greater than zero")]),
    ("netroot.timeout.nfs", &[("120", Some("2m"))], &[("-5", "invalid duration \"-5\": expected an integer with an optional unit (h, m, s, ms, us, ns; none means seconds)")]),
    (
        "netroot.failure",
        &[("poweroff", Some("poweroff")), ("reboot", Some("reboot:10s")), ("shell", Some("shell"))],
        &[("halt", "unknown failure action \"halt\" (expected one of: reboot, reboot:<delay>, poweroff, shell)")],
    ),
    (
        "netroot.init",
        &[("/usr/lib/systemd/systemd", Some("/usr/lib/systemd/systemd"))],
        &[
            ("sbin/init", "invalid init path \"sbin/init\": must be an absolute path"),
            ("/sbin/my init", "invalid init path \"/sbin/my init\": must not contain spaces, quotes or control characters"),
        ],
    ),
    ("netroot.debug", &[("0", Some("0"))], &[("2", "unknown boolean \"2\" (expected one of: 1, 0)")]),
];

/// The fixture with every line of `key` replaced by one `key=value` line at the first one's place.
fn file_with(key: &str, value: &str) -> (String, usize) {
    let prefix = format!("{key}=");
    let mut out = String::new();
    let mut line_no = 0;
    for line in FIXTURE.lines() {
        if line.starts_with(&prefix) {
            if line_no == 0 {
                out.push_str(&format!("{key}={}\n", encode_value(value)));
                line_no = out.lines().count();
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_ne!(line_no, 0, "fixture lacks {key}");
    (out, line_no)
}

fn fixture() -> BootConfig {
    BootConfig::parse(FIXTURE).unwrap()
}

#[test]
fn every_key_has_a_row() {
    let names: Vec<&str> = ROWS.iter().map(|r| r.0).collect();
    let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names, keys);
    for (_, good, bad) in ROWS {
        assert!(!good.is_empty() && !bad.is_empty());
    }
}

#[test]
fn good_values_parse_and_render_canonically_in_the_file() {
    for (key, good, _) in ROWS {
        let def = find_key(key).unwrap();
        for (value, canonical) in *good {
            let (text, _) = file_with(key, value);
            let cfg = BootConfig::parse(&text).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
            let expected: Vec<String> = canonical.iter().map(|s| s.to_string()).collect();
            assert_eq!(def.render(&cfg), expected, "{key}={value}");
            assert_eq!(
                BootConfig::parse(&cfg.render()).unwrap(),
                cfg,
                "{key}={value} round trip"
            );
        }
    }
}

#[test]
fn good_values_override_from_the_kernel_command_line() {
    for (key, good, _) in ROWS {
        let def = find_key(key).unwrap();
        for (value, canonical) in *good {
            let mut cfg = fixture();
            let applied = cfg
                .apply_cmdline(&format!("quiet {key}=\"{value}\" console=ttyS0"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(applied, vec![key.to_string()]);
            let expected: Vec<String> = canonical.iter().map(|s| s.to_string()).collect();
            assert_eq!(def.render(&cfg), expected, "{key}={value}");
        }
    }
}

#[test]
fn malformed_values_name_line_key_and_value_in_the_file() {
    for (key, _, bad) in ROWS {
        for (value, message) in *bad {
            let (text, line) = file_with(key, value);
            let err = BootConfig::parse(&text).expect_err(value).to_string();
            assert_eq!(err, format!("line {line}: {key}: {message}"));
        }
    }
}

#[test]
fn malformed_values_name_key_and_value_on_the_kernel_command_line() {
    for (key, _, bad) in ROWS {
        for (value, message) in *bad {
            let mut cfg = fixture();
            let err = cfg
                .apply_cmdline(&format!("{key}=\"{value}\""))
                .expect_err(value)
                .to_string();
            assert_eq!(
                err,
                format!("kernel command line: {key}={value:?}: {message}")
            );
            assert_eq!(
                cfg,
                fixture(),
                "a failed override must leave the config unchanged"
            );
        }
    }
}

#[test]
fn flags_may_be_bare_on_the_command_line_and_others_may_not() {
    for def in KEYS {
        let mut cfg = fixture();
        if def.is_flag() {
            // Start from 0 so that the bare flag visibly sets it.
            cfg.apply_cmdline(&format!("{}=0", def.name)).unwrap();
            assert_eq!(def.render(&cfg), vec!["0".to_string()]);
        }
        let result = cfg.apply_cmdline(def.name);
        if def.is_flag() {
            assert_eq!(result, Ok(vec![def.name.to_string()]));
            assert_eq!(def.render(&cfg), vec!["1".to_string()]);
        } else {
            assert_eq!(
                result.unwrap_err().to_string(),
                format!(
                    "kernel command line: {}: missing value (expected {}=<value>)",
                    def.name, def.name
                )
            );
        }
    }
}
