//! Boot-config file format: the golden fixture with every key, byte-stable rendering, round
//! trips, quoting, and the error for every kind of malformed file.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::net::Ipv4Addr;
use std::time::Duration;

use netroot_boot::bootconfig::{
    decode_value, encode_value, BondConfig, BondMode, BootConfig, BootSpec, ConfigError,
    FailureAction, IpConfig, LacpRate, ModuleLoad, NfsConfig, NfsVersion, OverlayConfig, PortId,
    StaticIp, Timeouts, TmpfsSize, VlanConfig, VlanId, VlanNaming, XmitHashPolicy, KEYS,
};

const FIXTURE: &str = include_str!("fixtures/boot.conf");

/// A config that sets every field, including the optional ones, to a non-default value.
fn full_config() -> BootConfig {
    BootConfig {
        profile: "compute gpu (rack 7)".to_string(),
        kernel_version: "6.1.0-56-amd64".to_string(),
        modules: vec![
            module(
                "failover",
                "lib/modules/6.1.0-56-amd64/kernel/net/core/failover.ko",
                "",
            ),
            module(
                "virtio_net",
                "lib/modules/6.1.0-56-amd64/kernel/drivers/net/virtio_net.ko",
                "napi_tx=1",
            ),
            module(
                "bonding",
                "lib/modules/6.1.0-56-amd64/kernel/drivers/net/bonding/bonding.ko",
                "max_bonds=0 tx_queues=4",
            ),
        ],
        bond: BondConfig {
            name: "bond0".to_string(),
            mode: BondMode::Ieee8023ad,
            miimon_ms: 100,
            lacp_rate: LacpRate::Fast,
            xmit_hash_policy: XmitHashPolicy::Layer3_4,
            mac: Some([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]),
            ports: vec![
                PortId::Mac([0x52, 0x54, 0x00, 0, 0, 1]),
                PortId::Name("eth1".to_string()),
            ],
            min_ports: 2,
        },
        vlan: Some(VlanConfig::with_naming(
            VlanId::new(42).expect("802.1Q id"),
            VlanNaming::VlanPlusVid,
        )),
        ip: IpConfig::Static(StaticIp {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 4)],
            hostname: Some("node07.cluster".to_string()),
        }),
        nfs: NfsConfig {
            server: Ipv4Addr::new(10, 0, 2, 2),
            export: "/srv/netroot/compute/current".to_string(),
            versions: vec![NfsVersion::V4_2, NfsVersion::V4_1, NfsVersion::V3],
            options: "nolock,timeo=600".to_string(),
            allow_dhcp_root_path: true,
        },
        overlay: OverlayConfig {
            enabled: true,
            size: TmpfsSize::Bytes(2 << 30),
        },
        node: Some("c007".to_string()),
        timeouts: Timeouts {
            boot_deadline: Duration::from_secs(300),
            links: Duration::from_millis(1500),
            dhcp: Duration::from_secs(30),
            nfs: Duration::from_secs(90),
        },
        failure: FailureAction::Reboot {
            delay: Duration::from_secs(10),
        },
        real_init: "/sbin/init".to_string(),
        debug: true,
    }
}

fn module(name: &str, path: &str, params: &str) -> ModuleLoad {
    ModuleLoad {
        name: name.to_string(),
        path: path.to_string(),
        params: params.to_string(),
    }
}

/// The 1-based number of the fixture line starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .map(|i| i + 1)
        .expect("fixture line")
}

/// The fixture with the line starting with `prefix` replaced (or removed when `new` is empty).
fn fixture_with(prefix: &str, new: &str) -> String {
    let mut out = String::new();
    for line in FIXTURE.lines() {
        if line.starts_with(prefix) {
            if !new.is_empty() {
                out.push_str(new);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn parse_err(text: &str) -> String {
    BootConfig::parse(text)
        .expect_err("must not parse")
        .to_string()
}

#[test]
fn fixture_parses_to_the_full_config() {
    assert_eq!(BootConfig::parse(FIXTURE).unwrap(), full_config());
}

#[test]
fn rendering_is_byte_identical_to_the_fixture() {
    assert_eq!(full_config().render(), FIXTURE);
    assert_eq!(BootConfig::parse(FIXTURE).unwrap().render(), FIXTURE);
}

#[test]
fn fixture_sets_every_key() {
    for key in KEYS {
        assert!(
            FIXTURE.contains(&format!("\n{}=", key.name)),
            "fixture lacks {}",
            key.name
        );
    }
    assert!(FIXTURE.starts_with("netroot.format=1\n"));
}

/// Configs that exercise the other variant of every field.
fn variants() -> Vec<BootConfig> {
    let mut out = Vec::new();
    let mut c = full_config();
    c.modules.clear();
    c.bond.mac = None;
    c.bond.min_ports = 1;
    c.bond.ports = vec![PortId::Name("enp1s0f0".to_string())];
    c.ip = IpConfig::Dhcp;
    c.nfs.options = String::new();
    c.nfs.versions = vec![NfsVersion::V4_0];
    c.nfs.allow_dhcp_root_path = false;
    c.overlay = OverlayConfig {
        enabled: false,
        size: TmpfsSize::Percent(50),
    };
    c.node = None;
    c.failure = FailureAction::Poweroff;
    c.debug = false;
    out.push(c.clone());
    c.ip = IpConfig::Static(StaticIp {
        address: Ipv4Addr::new(192, 168, 7, 20),
        prefix_len: 32,
        gateway: None,
        dns: Vec::new(),
        hostname: None,
    });
    c.failure = FailureAction::Shell;
    c.timeouts.links = Duration::from_nanos(1_500);
    c.timeouts.nfs = Duration::from_secs(7200);
    c.overlay.size = TmpfsSize::Bytes(1000);
    out.push(c.clone());
    for (i, mode) in BondMode::ALL.iter().enumerate() {
        c.bond.mode = *mode;
        c.bond.xmit_hash_policy = XmitHashPolicy::ALL[i % XmitHashPolicy::ALL.len()];
        c.bond.lacp_rate = LacpRate::ALL[i % 2];
        out.push(c.clone());
    }
    c.profile = " leading and trailing ".to_string();
    c.modules = vec![module(
        "e1000e",
        "lib/modules/e1000e.ko",
        "  spaced  \"q\" ",
    )];
    c.failure = FailureAction::Reboot {
        delay: Duration::from_millis(250),
    };
    out.push(c);
    out
}

#[test]
fn render_then_parse_round_trips() {
    for c in variants() {
        let text = c.render();
        let back = BootConfig::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, c, "{text}");
        assert_eq!(back.render(), text);
        assert_eq!(c.validate(), Ok(()));
    }
}

#[test]
fn optional_keys_are_omitted_when_unset() {
    let text = variants()[0].render();
    for key in [
        "netroot.module=",
        "netroot.bond.mac=",
        "netroot.ip.gateway=",
        "netroot.ip.dns=",
    ] {
        assert!(!text.contains(key), "{key} rendered:\n{text}");
    }
    assert!(text.contains("\nnetroot.nfs.options=\n"));
    assert!(text.contains("\nnetroot.ip=dhcp\n"));
}

#[test]
fn hand_written_file_with_comments_spacing_and_crlf_parses() {
    let mut text = String::from("netroot.format=1\r\n# comment\r\n\r\n   # indented comment\r\n");
    // Keys in reverse order, with spaces around '=': parsing must not depend on line order.
    for line in FIXTURE
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .iter()
        .rev()
    {
        let (k, v) = line.split_once('=').unwrap();
        text.push_str(&format!("  {k} =  {v}  \r\n\r\n"));
    }
    let mut expected = full_config();
    // Module lines were reversed too: their order is the load order.
    expected.modules.reverse();
    assert_eq!(BootConfig::parse(&text).unwrap(), expected);
}

#[test]
fn values_with_spaces_quotes_and_controls_are_quoted() {
    let cases = [
        ("plain value", "plain value"),
        ("", ""),
        ("a#b=c", "a#b=c"),
        ("mid \"quote\"", "mid \"quote\""),
        (" lead", "\" lead\""),
        ("trail ", "\"trail \""),
        ("\"starts", "\"\\\"starts\""),
        ("tab\there", "\"tab\\there\""),
        ("nl\nback\\slash", "\"nl\\nback\\\\slash\""),
        ("bell\u{7}cr\r", "\"bell\\x07cr\\r\""),
        ("ünïcödé", "ünïcödé"),
    ];
    for (raw, encoded) in cases {
        assert_eq!(encode_value(raw), encoded, "encode {raw:?}");
        assert_eq!(
            decode_value(encoded).as_deref(),
            Ok(raw),
            "decode {encoded:?}"
        );
    }
}

#[test]
fn malformed_quoted_values_are_rejected() {
    let cases = [
        ("\"open", "missing closing quote"),
        ("\"a\\", "missing closing quote"),
        ("\"a\\q\"", "unknown escape \\q"),
        (
            "\"a\\x4\"",
            "bad escape \\x4\" (expected two hex digits, 00-7f)",
        ),
        (
            "\"a\\xff\"",
            "bad escape \\xff (expected two hex digits, 00-7f)",
        ),
        ("\"a\" b", "unexpected text after closing quote: \" b\""),
    ];
    for (encoded, reason) in cases {
        assert_eq!(
            decode_value(encoded),
            Err(reason.to_string()),
            "{encoded:?}"
        );
    }
    let line = line_of(FIXTURE, "netroot.profile=");
    assert_eq!(
        parse_err(&fixture_with(
            "netroot.profile=",
            "netroot.profile=\"compute"
        )),
        format!("line {line}: netroot.profile: bad quoted value: missing closing quote")
    );
}

#[test]
fn format_line_is_checked() {
    let body = FIXTURE.strip_prefix("netroot.format=1\n").unwrap();
    assert_eq!(
        parse_err(""),
        "line 1: expected \"netroot.format=1\" as the first line, found \"\""
    );
    assert_eq!(
        parse_err(&format!("# comment\n{FIXTURE}")),
        "line 1: expected \"netroot.format=1\" as the first line, found \"# comment\""
    );
    assert_eq!(
        parse_err(&format!("netroot.format=2\n{body}")),
        "line 1: netroot.format: unsupported boot config format version \"2\" (this init reads version 1)"
    );
    assert_eq!(
        parse_err(&format!("netroot.format=one\n{body}")),
        "line 1: netroot.format: unsupported boot config format version \"one\" (this init reads version 1)"
    );
    assert_eq!(
        parse_err(&format!("{FIXTURE}netroot.format=1\n")),
        "line 66: netroot.format: set again (first set on line 1)"
    );
}

#[test]
fn structural_errors_name_the_line_and_key() {
    let debug = line_of(FIXTURE, "netroot.debug=");
    let cases = [
        (
            format!("{FIXTURE}just text\n"),
            "line 66: expected key=value, found \"just text\"".to_string(),
        ),
        (
            format!("{FIXTURE}netroot.bond.speed=10G\n"),
            "line 66: unknown key \"netroot.bond.speed\"".to_string(),
        ),
        (
            format!("{FIXTURE}ip=dhcp\n"),
            "line 66: unknown key \"ip\"".to_string(),
        ),
        (
            format!("{FIXTURE}netroot.debug=0\n"),
            format!("line 66: netroot.debug: set again (first set on line {debug})"),
        ),
        (
            fixture_with("netroot.nfs.server=", ""),
            "missing required key netroot.nfs.server".to_string(),
        ),
        (
            fixture_with("netroot.nfs.options=", ""),
            "missing required key netroot.nfs.options".to_string(),
        ),
        (
            fixture_with("netroot.debug=", ""),
            "missing required key netroot.debug".to_string(),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_err(&text), expected);
    }
}

#[test]
fn value_errors_name_line_key_and_value() {
    let mode = line_of(FIXTURE, "netroot.bond.mode=");
    assert_eq!(
        parse_err(&fixture_with("netroot.bond.mode=", "netroot.bond.mode=8023ad")),
        format!(
            "line {mode}: netroot.bond.mode: unknown bond mode \"8023ad\" (expected one of: balance-rr, \
             active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)"
        )
    );
    let text = fixture_with("netroot.ip=", "netroot.ip=dhcp");
    let gw = line_of(&text, "netroot.ip.gateway=");
    assert_eq!(
        parse_err(&text),
        format!(
            "line {gw}: netroot.ip.gateway: invalid gateway \"10.0.2.2\": only valid with a static \
             netroot.ip (netroot.ip is dhcp)"
        )
    );
}

#[test]
fn cross_key_checks_run_after_parsing() {
    assert_eq!(
        parse_err(&fixture_with(
            "netroot.bond.min_ports=",
            "netroot.bond.min_ports=3"
        )),
        "netroot.bond.min_ports: invalid minimum port count \"3\": exceeds the number of ports (2)"
    );
}

#[test]
fn validate_rejects_values_the_format_cannot_carry() {
    let mut c = full_config();
    c.modules[0].name = "two words".to_string();
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "netroot.module: value changes when rendered and parsed back (it holds text the format cannot carry)"
    );
    let mut c = full_config();
    c.nfs.export = "relative/path".to_string();
    let line = line_of(&c.render(), "netroot.nfs.export=");
    assert_eq!(
        c.validate().unwrap_err(),
        ConfigError::Value {
            line,
            key: "netroot.nfs.export",
            error: netroot_boot::bootconfig::ValueError::Invalid {
                kind: "nfs export",
                value: "relative/path".to_string(),
                reason: "must be an absolute path".to_string(),
            },
        }
    );
}

/// The profile's part of `c` (what `BootConfig::new` takes back).
fn spec_of(c: &BootConfig) -> BootSpec {
    BootSpec {
        profile: c.profile.clone(),
        bond: c.bond.clone(),
        vlan: c.vlan,
        ip: c.ip.clone(),
        nfs: c.nfs.clone(),
        overlay: c.overlay.clone(),
        node: c.node.clone(),
        timeouts: c.timeouts,
        failure: c.failure,
        real_init: c.real_init.clone(),
        debug: c.debug,
    }
}

#[test]
fn a_spec_plus_the_kernel_part_is_the_whole_config() {
    let full = full_config();
    let made = BootConfig::new(
        spec_of(&full),
        full.kernel_version.clone(),
        full.modules.clone(),
    );
    assert_eq!(made, full);
    assert_eq!(made.render(), FIXTURE);
}

#[test]
fn a_spec_is_checked_with_every_key_but_the_kernel_ones() {
    let mut spec = spec_of(&full_config());
    spec.validate().unwrap();
    spec.real_init = "relative/init".into();
    let err = spec.validate().unwrap_err();
    assert_eq!(err.key(), Some("netroot.init"), "{err}");
    // The module lines are the build's: a spec never carries one, so their check cannot fail.
    let mut config = full_config();
    config.modules.push(module("bad name", "lib/x.ko", ""));
    assert!(config.validate().is_err());
}
