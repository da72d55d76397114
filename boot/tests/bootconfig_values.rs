//! Value spellings: every enum variant round-trips through `FromStr`/`Display`, numeric sysfs
//! values parse, and every malformed value yields the exact message the builder shows.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use netroot_boot::bootconfig::{
    format_byte_size, format_duration, format_mac, format_nfs_versions, format_ports,
    parse_byte_size, parse_duration, parse_host_ipv4, parse_mac, parse_netmask, parse_nfs_versions,
    parse_ports, prefix_to_netmask, validate_hostname, validate_ifname, BondMode, FailureAction,
    LacpRate, NfsVersion, PortId, TmpfsSize, XmitHashPolicy,
};

/// The error message of parsing `s` as a `T` (or a note that it parsed).
fn err<T>(s: &str) -> String
where
    T: FromStr + std::fmt::Debug,
    T::Err: std::fmt::Display,
{
    s.parse::<T>()
        .map(|v| format!("parsed as {v:?}"))
        .unwrap_or_else(|e| e.to_string())
}

fn assert_spellings<T>(all: &[T], names: &[&str])
where
    T: FromStr + std::fmt::Display + PartialEq + std::fmt::Debug + Copy,
    T::Err: std::fmt::Debug,
{
    assert_eq!(all.len(), names.len());
    for (i, (v, name)) in all.iter().zip(names).enumerate() {
        assert_eq!(v.to_string(), *name);
        assert_eq!(name.parse::<T>().unwrap(), *v);
        assert_eq!(i.to_string().parse::<T>().unwrap(), *v, "numeric {i}");
    }
    assert!(all.len().to_string().parse::<T>().is_err());
}

#[test]
fn bond_modes() {
    let names = [
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ];
    assert_spellings(&BondMode::ALL, &names);
    assert_eq!("4".parse::<BondMode>().unwrap(), BondMode::Ieee8023ad);
    assert_eq!(
        err::<BondMode>("8023ad"),
        "unknown bond mode \"8023ad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, \
         802.3ad, balance-tlb, balance-alb)"
    );
    assert!(err::<BondMode>("7").starts_with("unknown bond mode \"7\""));
    assert!(err::<BondMode>("").starts_with("unknown bond mode \"\""));
    assert!(err::<BondMode>("Balance-RR").starts_with("unknown bond mode \"Balance-RR\""));
}

#[test]
fn lacp_rates_and_hash_policies() {
    assert_spellings(&LacpRate::ALL, &["slow", "fast"]);
    assert_eq!(
        err::<LacpRate>("medium"),
        "unknown lacp rate \"medium\" (expected one of: slow, fast)"
    );
    let names = [
        "layer2",
        "layer3+4",
        "layer2+3",
        "encap2+3",
        "encap3+4",
        "vlan+srcmac",
    ];
    assert_spellings(&XmitHashPolicy::ALL, &names);
    assert_eq!(
        err::<XmitHashPolicy>("layer3"),
        "unknown xmit hash policy \"layer3\" (expected one of: layer2, layer3+4, layer2+3, encap2+3, encap3+4, \
         vlan+srcmac)"
    );
}

#[test]
fn nfs_versions() {
    for (s, v) in [
        ("4.2", NfsVersion::V4_2),
        ("4.1", NfsVersion::V4_1),
        ("4.0", NfsVersion::V4_0),
        ("3", NfsVersion::V3),
    ] {
        assert_eq!(s.parse::<NfsVersion>().unwrap(), v);
        assert_eq!(v.to_string(), s);
    }
    assert_eq!("4".parse::<NfsVersion>().unwrap(), NfsVersion::V4_0);
    assert_eq!(
        err::<NfsVersion>("2"),
        "unknown nfs version \"2\" (expected one of: 4.2, 4.1, 4.0, 3)"
    );
    assert_eq!(
        parse_nfs_versions("4.2,4,3").unwrap(),
        vec![NfsVersion::V4_2, NfsVersion::V4_0, NfsVersion::V3]
    );
    assert_eq!(
        format_nfs_versions(&[NfsVersion::V4_1, NfsVersion::V3]),
        "4.1,3"
    );
    let cases = [
        (
            "",
            "invalid nfs version list \"\": at least one version is required",
        ),
        (
            "4.2,4.2",
            "invalid nfs version list \"4.2,4.2\": version 4.2 is listed twice",
        ),
        (
            "4,4.0",
            "invalid nfs version list \"4,4.0\": version 4.0 is listed twice",
        ),
        (
            "4.2,",
            "unknown nfs version \"\" (expected one of: 4.2, 4.1, 4.0, 3)",
        ),
        (
            "4.2 4.1",
            "unknown nfs version \"4.2 4.1\" (expected one of: 4.2, 4.1, 4.0, 3)",
        ),
    ];
    for (s, msg) in cases {
        assert_eq!(parse_nfs_versions(s).unwrap_err().to_string(), msg);
    }
}

#[test]
fn durations() {
    let ok = [
        ("30s", Duration::from_secs(30)),
        ("30", Duration::from_secs(30)),
        ("500ms", Duration::from_millis(500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("250us", Duration::from_micros(250)),
        ("7ns", Duration::from_nanos(7)),
        ("0", Duration::ZERO),
    ];
    for (s, d) in ok {
        assert_eq!(parse_duration(s).unwrap(), d, "{s}");
    }
    let rendered = [
        (Duration::from_secs(30), "30s"),
        (Duration::from_secs(120), "2m"),
        (Duration::from_secs(90), "90s"),
        (Duration::from_secs(7200), "2h"),
        (Duration::from_millis(1500), "1500ms"),
        (Duration::from_nanos(1_000_001), "1000001ns"),
        (Duration::ZERO, "0s"),
    ];
    for (d, s) in rendered {
        assert_eq!(format_duration(d), s);
        assert_eq!(parse_duration(s).unwrap(), d);
    }
    let unit_hint =
        "expected an integer with an optional unit (h, m, s, ms, us, ns; none means seconds)";
    let bad = [
        ("", format!("invalid duration \"\": {unit_hint}")),
        ("s", format!("invalid duration \"s\": {unit_hint}")),
        ("-1s", format!("invalid duration \"-1s\": {unit_hint}")),
        ("1.5s", "invalid duration \"1.5s\": unknown unit \".5s\" (expected one of: h, m, s, ms, us, ns)".to_string()),
        ("10 s", "invalid duration \"10 s\": unknown unit \" s\" (expected one of: h, m, s, ms, us, ns)".to_string()),
        ("3d", "invalid duration \"3d\": unknown unit \"d\" (expected one of: h, m, s, ms, us, ns)".to_string()),
        ("18446744073709551615h", "invalid duration \"18446744073709551615h\": too large".to_string()),
        ("99999999999999999999", format!("invalid duration \"99999999999999999999\": {unit_hint}")),
    ];
    for (s, msg) in bad {
        assert_eq!(parse_duration(s).unwrap_err().to_string(), msg);
    }
}

#[test]
fn byte_sizes_and_tmpfs_sizes() {
    for (s, n) in [
        ("512M", 512 << 20),
        ("2G", 2 << 30),
        ("2g", 2 << 30),
        ("1T", 1 << 40),
        ("4k", 4096),
        ("1000", 1000),
    ] {
        assert_eq!(parse_byte_size(s).unwrap(), n, "{s}");
    }
    for (n, s) in [
        (512u64 << 20, "512M"),
        (1536 << 20, "1536M"),
        (1000, "1000"),
        (0, "0"),
        (3 << 40, "3T"),
    ] {
        assert_eq!(format_byte_size(n), s);
    }
    assert_eq!(
        parse_byte_size("2GB").unwrap_err().to_string(),
        "invalid byte size \"2GB\": unknown suffix \"GB\" (expected one of: K, M, G, T)"
    );
    assert_eq!(
        parse_byte_size("99999999999T").unwrap_err().to_string(),
        "invalid byte size \"99999999999T\": too large"
    );
    assert_eq!("50%".parse::<TmpfsSize>().unwrap(), TmpfsSize::Percent(50));
    assert_eq!(
        "2G".parse::<TmpfsSize>().unwrap(),
        TmpfsSize::Bytes(2 << 30)
    );
    assert_eq!(TmpfsSize::Percent(100).to_string(), "100%");
    assert_eq!(TmpfsSize::Bytes(2 << 30).to_string(), "2G");
    let bad = [
        (
            "0%",
            "invalid tmpfs size \"0%\": a percentage must be 1-100",
        ),
        (
            "101%",
            "invalid tmpfs size \"101%\": a percentage must be 1-100",
        ),
        (
            "x%",
            "invalid tmpfs size \"x%\": a percentage must be 1-100",
        ),
        (
            "0",
            "invalid tmpfs size \"0\": must not be zero (tmpfs reads 0 as unlimited)",
        ),
        (
            "2GB",
            "invalid tmpfs size \"2GB\": expected a percentage of RAM (50%) or a size (512M, 2G)",
        ),
        (
            "",
            "invalid tmpfs size \"\": expected a percentage of RAM (50%) or a size (512M, 2G)",
        ),
    ];
    for (s, msg) in bad {
        assert_eq!(err::<TmpfsSize>(s), msg);
    }
}

#[test]
fn failure_actions() {
    let cases = [
        (
            "reboot:10s",
            FailureAction::Reboot {
                delay: Duration::from_secs(10),
            },
        ),
        (
            "reboot:0s",
            FailureAction::Reboot {
                delay: Duration::ZERO,
            },
        ),
        ("poweroff", FailureAction::Poweroff),
        ("shell", FailureAction::Shell),
    ];
    for (s, a) in cases {
        assert_eq!(s.parse::<FailureAction>().unwrap(), a);
        assert_eq!(a.to_string(), s);
    }
    assert_eq!(
        "reboot".parse::<FailureAction>().unwrap(),
        FailureAction::Reboot {
            delay: Duration::from_secs(10)
        }
    );
    assert_eq!(
        "reboot:2m".parse::<FailureAction>().unwrap().to_string(),
        "reboot:2m"
    );
    assert_eq!(
        err::<FailureAction>("halt"),
        "unknown failure action \"halt\" (expected one of: reboot, reboot:<delay>, poweroff, shell)"
    );
    assert_eq!(
        err::<FailureAction>("reboot:soon"),
        "invalid duration \"soon\": expected an integer with an optional unit (h, m, s, ms, us, ns; none means seconds)"
    );
}

#[test]
fn mac_addresses() {
    let mac = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
    assert_eq!(parse_mac("52:54:00:ab:cd:ef").unwrap(), mac);
    assert_eq!(parse_mac("52-54-00-AB-CD-EF").unwrap(), mac);
    assert_eq!(format_mac(&mac), "52:54:00:ab:cd:ef");
    for bad in [
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:ef:01",
        "52:54-00:ab:cd:ef",
        "5:254:00:ab:cd:ef",
        "52:54:00:ab:cd:eg",
        "",
        "+2:54:00:ab:cd:ef",
    ] {
        assert_eq!(
            parse_mac(bad).unwrap_err().to_string(),
            format!("invalid mac address {bad:?}: expected six hex pairs like 52:54:00:12:34:56")
        );
    }
}

#[test]
fn interface_and_host_names() {
    for ok in ["eth0", "enp1s0f1", "bond0", "a", "x23456789012345"] {
        assert_eq!(validate_ifname(ok), Ok(()), "{ok}");
    }
    let bad = [
        ("", "must not be empty"),
        ("x234567890123456", "longer than 15 bytes"),
        (".", "is reserved"),
        ("..", "is reserved"),
        (
            "eth0:1",
            "must not contain '/', ':', ',', '\"', spaces or control characters",
        ),
        (
            "a/b",
            "must not contain '/', ':', ',', '\"', spaces or control characters",
        ),
        (
            "a b",
            "must not contain '/', ':', ',', '\"', spaces or control characters",
        ),
        (
            "a,b",
            "must not contain '/', ':', ',', '\"', spaces or control characters",
        ),
    ];
    for (s, reason) in bad {
        assert_eq!(
            validate_ifname(s).unwrap_err().to_string(),
            format!("invalid interface name {s:?}: {reason}")
        );
    }
    for ok in ["node07", "node07.cluster.example", "a-b", "7"] {
        assert_eq!(validate_hostname(ok), Ok(()), "{ok}");
    }
    let long_label = "a".repeat(64);
    for bad in [
        "",
        "-node",
        "node-",
        "no_de",
        "a..b",
        "node.",
        long_label.as_str(),
    ] {
        assert_eq!(
            validate_hostname(bad).unwrap_err().to_string(),
            format!("invalid host name {bad:?}: expected dot-separated labels of letters, digits and inner hyphens")
        );
    }
}

#[test]
fn ports() {
    let mac = PortId::Mac([0x52, 0x54, 0, 0, 0, 1]);
    let eth1 = PortId::Name("eth1".to_string());
    assert_eq!("mac:52:54:00:00:00:01".parse::<PortId>().unwrap(), mac);
    assert_eq!("52:54:00:00:00:01".parse::<PortId>().unwrap(), mac);
    assert_eq!("52-54-00-00-00-01".parse::<PortId>().unwrap(), mac);
    assert_eq!("name:eth1".parse::<PortId>().unwrap(), eth1);
    assert_eq!("eth1".parse::<PortId>().unwrap(), eth1);
    assert_eq!(mac.to_string(), "mac:52:54:00:00:00:01");
    assert_eq!(eth1.to_string(), "name:eth1");
    assert_eq!(
        err::<PortId>("mac:52:54"),
        "invalid mac address \"52:54\": expected six hex pairs like 52:54:00:12:34:56"
    );
    assert_eq!(err::<PortId>("name:a/b"), "invalid interface name \"a/b\": must not contain '/', ':', ',', '\"', spaces or control characters");
    assert_eq!(
        err::<PortId>("52:54:00"),
        "invalid port \"52:54:00\": expected mac:<mac address>, name:<interface>, a MAC address or an interface name"
    );
    let list = vec![mac.clone(), eth1.clone()];
    assert_eq!(
        parse_ports("mac:52:54:00:00:00:01,name:eth1").unwrap(),
        list
    );
    assert_eq!(format_ports(&list), "mac:52:54:00:00:00:01,name:eth1");
    assert_eq!(
        parse_ports("").unwrap_err().to_string(),
        "invalid port list \"\": at least one port is required"
    );
    assert_eq!(
        parse_ports("eth1,name:eth1").unwrap_err().to_string(),
        "invalid port list \"eth1,name:eth1\": port name:eth1 is listed twice"
    );
}

#[test]
fn addresses_and_netmasks() {
    assert_eq!(
        parse_host_ipv4("10.0.2.2").unwrap(),
        Ipv4Addr::new(10, 0, 2, 2)
    );
    assert_eq!(
        parse_host_ipv4("10.0.2").unwrap_err().to_string(),
        "invalid IPv4 address \"10.0.2\": expected a dotted quad like 10.0.2.2"
    );
    for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1"] {
        assert_eq!(
            parse_host_ipv4(bad).unwrap_err().to_string(),
            format!("invalid IPv4 address {bad:?}: not a host address")
        );
    }
    for (s, p) in [
        ("24", 24),
        ("255.255.255.0", 24),
        ("255.255.240.0", 20),
        ("32", 32),
        ("255.255.255.255", 32),
        ("1", 1),
    ] {
        assert_eq!(parse_netmask(s).unwrap(), p, "{s}");
    }
    for bad in [
        "0",
        "33",
        "0.0.0.0",
        "255.0.255.0",
        "255.255.255.1",
        "x",
        "",
    ] {
        assert_eq!(
            parse_netmask(bad).unwrap_err().to_string(),
            format!("invalid netmask {bad:?}: expected a prefix length 1-32 or a contiguous mask like 255.255.255.0")
        );
    }
    assert_eq!(prefix_to_netmask(24), Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(prefix_to_netmask(32), Ipv4Addr::new(255, 255, 255, 255));
    assert_eq!(prefix_to_netmask(1), Ipv4Addr::new(128, 0, 0, 0));
    for p in 1..=32u8 {
        assert_eq!(parse_netmask(&prefix_to_netmask(p).to_string()).unwrap(), p);
    }
}

#[test]
fn client_networks_are_dotted_quads_with_a_prefix_of_at_most_32() {
    use netroot_boot::bootconfig::parse_ipv4_network;
    assert_eq!(
        parse_ipv4_network("10.0.0.0/16"),
        Some((std::net::Ipv4Addr::new(10, 0, 0, 0), 16))
    );
    assert_eq!(parse_ipv4_network("0.0.0.0/0").map(|n| n.1), Some(0));
    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0/8",
        "*",
        "host/24",
        "10.0.0.0/-1",
        "/8",
    ] {
        assert_eq!(parse_ipv4_network(bad), None, "{bad}");
    }
}

#[test]
fn an_entry_command_line_is_the_boot_keys_then_the_console_then_the_extra_words() {
    let text = include_str!("fixtures/boot.conf");
    let cfg = netroot_boot::bootconfig::BootConfig::parse(text).unwrap();
    let base = cfg.to_cmdline();
    assert_eq!(cfg.entry_cmdline(None, "  "), base);
    assert_eq!(
        cfg.entry_cmdline(Some((1, 9600)), " quiet  splash "),
        format!("{base} console=tty0 console=ttyS1,9600n8 quiet  splash")
    );
}
