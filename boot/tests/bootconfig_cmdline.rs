//! Kernel command line: the kernel's quote-aware splitting, the dracut-compatible keys, the
//! precedence of overrides, and `to_cmdline` round trips.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::net::Ipv4Addr;
use std::time::Duration;

use netroot_boot::bootconfig::{
    split_cmdline, BondMode, BootConfig, FailureAction, IpConfig, LacpRate, NfsVersion, PortId,
    StaticIp, TmpfsSize, VlanConfig, VlanId, VlanNaming, XmitHashPolicy,
};

const FIXTURE: &str = include_str!("fixtures/boot.conf");

/// The fixture without its VLAN: the `ip=` forms here name the bond (`vlan_forms` has the VLAN).
fn fixture() -> BootConfig {
    let mut cfg = BootConfig::parse(FIXTURE).unwrap();
    cfg.vlan = None;
    cfg
}

fn applied(cmdline: &str) -> BootConfig {
    let mut cfg = fixture();
    cfg.apply_cmdline(cmdline)
        .unwrap_or_else(|e| panic!("{cmdline}: {e}"));
    cfg
}

fn apply_err(cmdline: &str) -> String {
    let mut cfg = fixture();
    let err = cfg.apply_cmdline(cmdline).expect_err(cmdline).to_string();
    assert_eq!(
        cfg,
        fixture(),
        "{cmdline}: a failed override must leave the config unchanged"
    );
    err
}

/// Expected `(key, value)` pairs of a split.
type Pairs = &'static [(&'static str, Option<&'static str>)];

fn pairs(items: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}

#[test]
fn splitting_follows_the_kernel_rules() {
    let cases: &[(&str, Pairs)] = &[
        ("", &[]),
        ("   \t\n", &[]),
        (
            "quiet root=nfs:1.2.3.4:/r",
            &[("quiet", None), ("root", Some("nfs:1.2.3.4:/r"))],
        ),
        ("  lead\ttabs\n", &[("lead", None), ("tabs", None)]),
        ("key=\"a b\" x", &[("key", Some("a b")), ("x", None)]),
        ("\"key=a b\" x", &[("key", Some("a b")), ("x", None)]),
        ("\"flag with space\"", &[("flag with space", None)]),
        ("k=a\"b c\"d", &[("k", Some("a\"b c\"d"))]),
        ("k==v", &[("k", Some("=v"))]),
        ("=v", &[("=v", None)]),
        ("=a=b", &[("=a", Some("b"))]),
        ("k=", &[("k", Some(""))]),
        ("k=\"\"", &[("k", Some(""))]),
        ("k=\"", &[("k", Some(""))]),
        ("k=\"open value", &[("k", Some("open value"))]),
        ("a -- b=c", &[("a", None)]),
        ("a=1 \"--\" b", &[("a", Some("1"))]),
        ("a --x b", &[("a", None), ("--x", None), ("b", None)]),
        (
            "netroot.profile=\"gpu nodes\" k=ünï",
            &[("netroot.profile", Some("gpu nodes")), ("k", Some("ünï"))],
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(split_cmdline(line), pairs(expected), "{line:?}");
    }
}

#[test]
fn unknown_kernel_parameters_are_ignored() {
    let mut cfg = fixture();
    let applied = cfg
        .apply_cmdline("BOOT_IMAGE=/vmlinuz quiet console=ttyS0,115200 ifname=e:52:54:00:00:00:01 rdinit=/init")
        .unwrap();
    assert!(applied.is_empty());
    assert_eq!(cfg, fixture());
}

#[test]
fn unknown_netroot_keys_are_errors() {
    assert_eq!(
        apply_err("quiet netroot.bogus=1"),
        "kernel command line: unknown key \"netroot.bogus\" (netroot.* keys are reserved for netroot)"
    );
    assert_eq!(
        apply_err("netroot.format=1"),
        "kernel command line: unknown key \"netroot.format\" (netroot.* keys are reserved for netroot)"
    );
}

fn static_ip(
    address: [u8; 4],
    prefix_len: u8,
    gateway: Option<[u8; 4]>,
    dns: &[[u8; 4]],
    hostname: Option<&str>,
) -> IpConfig {
    IpConfig::Static(StaticIp {
        address: Ipv4Addr::from(address),
        prefix_len,
        gateway: gateway.map(Ipv4Addr::from),
        dns: dns.iter().map(|d| Ipv4Addr::from(*d)).collect(),
        hostname: hostname.map(str::to_string),
    })
}

#[test]
fn ip_forms() {
    let cases = [
        ("ip=dhcp", IpConfig::Dhcp),
        ("ip=on", IpConfig::Dhcp),
        ("ip=bond0:dhcp", IpConfig::Dhcp),
        ("ip=bond0:any::", IpConfig::Dhcp),
        ("ip=:::::bond0:dhcp", IpConfig::Dhcp),
        (
            "ip=10.1.0.5::10.1.0.1:255.255.0.0:node5:bond0:none",
            static_ip([10, 1, 0, 5], 16, Some([10, 1, 0, 1]), &[], Some("node5")),
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:off",
            static_ip([10, 1, 0, 5], 16, Some([10, 1, 0, 1]), &[], None),
        ),
        (
            "ip=10.1.0.5:::24:::none",
            static_ip([10, 1, 0, 5], 24, None, &[], None),
        ),
        (
            "ip=10.1.0.5::10.1.0.1:24:n:bond0:none:10.1.0.2:10.1.0.3",
            static_ip(
                [10, 1, 0, 5],
                24,
                Some([10, 1, 0, 1]),
                &[[10, 1, 0, 2], [10, 1, 0, 3]],
                Some("n"),
            ),
        ),
        (
            "ip=10.1.0.5::10.1.0.1:24::bond0:none::10.1.0.3",
            static_ip(
                [10, 1, 0, 5],
                24,
                Some([10, 1, 0, 1]),
                &[[10, 1, 0, 3]],
                None,
            ),
        ),
    ];
    for (line, ip) in cases {
        let cfg = applied(line);
        assert_eq!(cfg.ip, ip, "{line}");
    }
}

#[test]
fn malformed_ip_values() {
    let syntax = "expected <autoconf>, <interface>:<autoconf>[:[<mtu>][:<mac>]], or <client>:<server>:<gateway>:<netmask>:<hostname>:<interface>:<autoconf>[:<dns0>[:<dns1>[:<ntp0>]]]";
    // Every form netroot cannot do fails naming the form (the reason after the value).
    let refused = [
        (
            "ip=off",
            "no autoconfiguration and no address; netroot needs one: use dhcp or the static form",
        ),
        (
            "ip=none",
            "no autoconfiguration and no address; netroot needs one: use dhcp or the static form",
        ),
        (
            "ip=",
            "empty: no autoconfiguration (the kernel's ip=off); netroot needs an address",
        ),
        ("ip=dhcp6", "dhcp6: IPv6 is not supported"),
        ("ip=auto6", "auto6: IPv6 is not supported"),
        ("ip=either6", "either6: IPv6 is not supported"),
        ("ip=link6", "link6: IPv6 is not supported"),
        (
            "ip=bootp",
            "bootp: netroot configures addresses by DHCP only",
        ),
        ("ip=rarp", "rarp: netroot configures addresses by DHCP only"),
        ("ip=both", "both: netroot configures addresses by DHCP only"),
        (
            "ip=dhcp,1,node7",
            "dhcp,1,node7: a DHCP client identifier (dhcp,<type>,<value>) is not supported",
        ),
        ("ip=bond0:auto6", "auto6: IPv6 is not supported"),
        (
            "ip=10.1.0.5",
            "anaconda's ip=<address> with gateway=/netmask= keys is not supported",
        ),
        (
            "ip=bond0:dhcp:9000",
            "setting the MTU with ip= is not supported",
        ),
        (
            "ip=bond0:dhcp:9000:52:54:00:12:34:56",
            "setting the MTU with ip= is not supported",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:none:9000",
            "setting the MTU with ip= is not supported",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:none:1.1.1.1:2.2.2.2:3.3.3.3",
            "an NTP server (<ntp0-ip>) is not supported",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:bootp",
            "bootp: netroot configures addresses by DHCP only",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:ibft",
            "ibft: iBFT is not supported",
        ),
        (
            "ip=:::::bond0:none",
            "no client address and no autoconfiguration; netroot needs an address",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0",
            "no <autoconf> field: give none/off for a static address or dhcp",
        ),
        (
            "ip=1:2:3:4:5",
            "no <autoconf> field: give none/off for a static address or dhcp",
        ),
        (
            "ip=10.1.0.5::10.1.0.1:16::bond0:dhcp",
            "with dhcp only the server and interface fields may be set",
        ),
        (
            "ip=240.1.0.5::::::none",
            "no netmask, and the address has no class",
        ),
        ("ip=1:2:3:4:5:6:7:8:9:10:11", syntax),
    ];
    for (line, reason) in refused {
        let v = line.strip_prefix("ip=").unwrap();
        assert_eq!(
            apply_err(line),
            format!("kernel command line: ip={v:?}: invalid ip {v:?}: {reason}"),
            "{line}"
        );
    }
    let cases = [
        ("ip", "kernel command line: ip: missing value (expected ip=<value>)"),
        ("ip=eth0:dhcp", "kernel command line: ip=\"eth0:dhcp\": invalid interface \"eth0\": netroot configures addresses only on the bond \"bond0\""),
        ("ip=10.1.0.5::10.1.0.1:16::bond0:static", "kernel command line: ip=\"10.1.0.5::10.1.0.1:16::bond0:static\": unknown ip autoconf \"static\" (expected one of: dhcp, on, any, none, off)"),
        ("ip=bond0:dhcp::01:00:5e:00:00:01", "kernel command line: ip=\"bond0:dhcp::01:00:5e:00:00:01\": invalid mac address \"01:00:5e:00:00:01\": a bond needs a unicast, non-zero address"),
        ("ip=10.1.0.5::10.1.0.1:16:node_5:bond0:none", "kernel command line: ip=\"10.1.0.5::10.1.0.1:16:node_5:bond0:none\": invalid host name \"node_5\": expected dot-separated labels of letters, digits and inner hyphens"),
    ];
    for (line, message) in cases {
        assert_eq!(apply_err(line), message, "{line}");
    }
}

#[test]
fn ip_kernel_and_dracut_fields() {
    // The kernel's <server-ip> is the NFS server of a root that names none (nfsroot.rst).
    let cfg = applied("ip=10.1.0.5:10.1.0.9:10.1.0.1:16::bond0:none root=nfs:/srv/x");
    assert_eq!(cfg.nfs.server, Ipv4Addr::new(10, 1, 0, 9));
    assert_eq!(cfg.nfs.export, "/srv/x");
    let cfg = applied("root=nfs:10.0.2.7:/srv/x ip=:10.1.0.9::::bond0:dhcp");
    assert_eq!(
        (cfg.nfs.server, cfg.ip),
        (Ipv4Addr::new(10, 0, 2, 7), IpConfig::Dhcp),
        "the root's own server wins"
    );
    assert_eq!(
        applied("ip=:10.1.0.9::::bond0:dhcp").nfs.server,
        Ipv4Addr::new(10, 1, 0, 9)
    );
    // No netmask: classful, as the kernel derives it.
    assert_eq!(
        applied("ip=10.1.0.5::::::none").ip,
        static_ip([10, 1, 0, 5], 8, None, &[], None)
    );
    assert_eq!(
        applied("ip=172.16.0.5:0.0.0.0:0.0.0.0::::off").ip,
        static_ip([172, 16, 0, 5], 16, None, &[], None)
    );
    // dracut's MAC field sets the bond's MAC, in one field or six.
    let mac = Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!(applied("ip=bond0:dhcp::52:54:00:12:34:56").bond.mac, mac);
    assert_eq!(applied("ip=bond0:dhcp::52-54-00-12-34-56").bond.mac, mac);
    assert_eq!(
        applied("ip=10.1.0.5::10.1.0.1:16::bond0:none::52:54:00:12:34:56")
            .bond
            .mac,
        mac
    );
    assert_eq!(applied("ip=single-dhcp").ip, IpConfig::Dhcp);
    assert_eq!(applied("nfsaddrs=bond0:dhcp").ip, IpConfig::Dhcp);
    assert_eq!(
        apply_err("nfsaddrs=eth1:dhcp"),
        "kernel command line: nfsaddrs=\"eth1:dhcp\": invalid interface \"eth1\": netroot configures addresses only on the bond \"bond0\""
    );
    // The kernel's tenth field may be empty.
    assert_eq!(
        applied("ip=10.1.0.5::10.1.0.1:16::bond0:none:10.1.0.2:10.1.0.3:").ip,
        static_ip(
            [10, 1, 0, 5],
            16,
            Some([10, 1, 0, 1]),
            &[[10, 1, 0, 2], [10, 1, 0, 3]],
            None
        )
    );
}

#[test]
fn ip_interface_is_checked_against_the_final_bond_name() {
    assert_eq!(applied("ip=bond1:dhcp bond=bond1").bond.name, "bond1");
    assert_eq!(applied("bond=bond1 ip=bond1:dhcp").ip, IpConfig::Dhcp);
    // dracut configures every interface an ip= names: one that is not the bond is refused even
    // when a later ip= names the bond (it used to be dropped silently).
    assert_eq!(
        apply_err("ip=eth0:dhcp ip=bond0:dhcp"),
        "kernel command line: ip=\"eth0:dhcp\": invalid interface \"eth0\": netroot configures addresses only on the bond \"bond0\""
    );
    assert_eq!(
        applied("ip=bond0:dhcp ip=10.1.0.5::10.1.0.1:16::bond0:none").ip,
        static_ip([10, 1, 0, 5], 16, Some([10, 1, 0, 1]), &[], None),
        "the last ip= for the bond wins"
    );
    assert_eq!(
        apply_err("ip=bond0:dhcp bond=bond1"),
        "kernel command line: ip=\"bond0:dhcp\": invalid interface \"bond0\": netroot configures addresses only on the bond \"bond1\""
    );
}

fn vlan(id: i64, naming: VlanNaming) -> VlanConfig {
    VlanConfig::with_naming(VlanId::new(id).unwrap(), naming)
}

#[test]
fn vlan_forms() {
    // dracut.cmdline(7): vlan=<vlanname>:<phydevice>, the four names; the id is the name's.
    for (arg, id, naming, ifname) in [
        ("vlan0005:bond0", 5, VlanNaming::VlanPlusVid, "vlan0005"),
        ("vlan5:bond0", 5, VlanNaming::VlanPlusVidNoPad, "vlan5"),
        ("bond0.0005:bond0", 5, VlanNaming::DevPlusVid, "bond0.0005"),
        ("bond0.5:bond0", 5, VlanNaming::DevPlusVidNoPad, "bond0.5"),
        (
            "vlan4094:bond0",
            4094,
            VlanNaming::VlanPlusVidNoPad,
            "vlan4094",
        ),
    ] {
        let cfg = applied(&format!("vlan={arg} ip={ifname}:dhcp"));
        assert_eq!(cfg.vlan, Some(vlan(id, naming)), "{arg}");
        assert_eq!(cfg.address_iface(), ifname);
        assert_eq!(cfg.ip, IpConfig::Dhcp);
    }
    // The ten-field ip= names the VLAN as its <device>; ip= without a device takes it too.
    let cfg = applied("ip=10.1.0.5::10.1.0.1:255.255.0.0::vlan7:none vlan=vlan7:bond0");
    assert_eq!(cfg.address_iface(), "vlan7");
    assert_eq!(
        applied("vlan=bond0.7:bond0 ip=dhcp")
            .vlan_ifname()
            .as_deref(),
        Some("bond0.7")
    );
    // The bond renamed by bond=: the device must be the final name.
    assert_eq!(
        applied("vlan=bond1.9:bond1 bond=bond1 ip=bond1.9:dhcp").address_iface(),
        "bond1.9"
    );
    // netroot.vlan wins over vlan=, and an empty one drops the VLAN.
    assert_eq!(
        applied("vlan=vlan5:bond0 netroot.vlan=6").vlan,
        Some(vlan(6, VlanNaming::DevPlusVidNoPad))
    );
    assert_eq!(
        applied("vlan=vlan5:bond0 netroot.vlan= ip=bond0:dhcp").vlan,
        None
    );
    assert_eq!(
        applied("netroot.vlan=vlan0300").vlan_ifname().as_deref(),
        Some("vlan0300")
    );
}

#[test]
fn malformed_vlan_values() {
    let cases = [
        ("vlan=vlan5", "kernel command line: vlan=\"vlan5\": invalid vlan \"vlan5\": expected <vlanname>:<phydevice>"),
        ("vlan=vlan5:bond0:x", "kernel command line: vlan=\"vlan5:bond0:x\": invalid vlan \"vlan5:bond0:x\": expected <vlanname>:<phydevice>"),
        ("vlan=vlan0:bond0", "kernel command line: vlan=\"vlan0:bond0\": invalid vlan id \"0\": 802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)"),
        ("vlan=bond0.4095:bond0", "kernel command line: vlan=\"bond0.4095:bond0\": invalid vlan id \"4095\": 802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)"),
        ("vlan=vlan005:bond0", "kernel command line: vlan=\"vlan005:bond0\": invalid vlan interface name \"vlan005\": expected vlan<id> or bond0.<id>, the id without leading zeros or in four digits (vlan0005, vlan5, bond0.0005, bond0.5)"),
        ("vlan=eth0.5:eth0", "kernel command line: vlan=\"eth0.5:eth0\": invalid vlan device \"eth0\": netroot puts the VLAN on its one bond \"bond0\""),
        ("vlan=bond0.5:bond0 bond=bond1", "kernel command line: vlan=\"bond0.5:bond0\": invalid vlan device \"bond0\": netroot puts the VLAN on its one bond \"bond1\""),
        ("vlan=vlan5:bond0 vlan=vlan6:bond0", "kernel command line: vlan=\"vlan6:bond0\": invalid vlan \"vlan6:bond0\": netroot brings up one VLAN on the bond and vlan=vlan5:bond0 is given already"),
        ("vlan=vlan5:bond0 ip=bond0:dhcp", "kernel command line: ip=\"bond0:dhcp\": invalid interface \"bond0\": with a VLAN the address goes on its interface \"vlan5\", not on the bond \"bond0\""),
        ("vlan=vlan5:bond0 ip=vlan6:dhcp", "kernel command line: ip=\"vlan6:dhcp\": invalid interface \"vlan6\": with a VLAN the address goes on its interface \"vlan5\", not on the bond \"bond0\""),
        ("ip=vlan5:dhcp", "kernel command line: ip=\"vlan5:dhcp\": invalid interface \"vlan5\": netroot configures addresses only on the bond \"bond0\""),
        ("netroot.vlan=4095", "kernel command line: netroot.vlan=\"4095\": invalid vlan id \"4095\": 802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)"),
        ("netroot.vlan=bond1.5", "kernel command line: netroot.vlan=\"bond1.5\": invalid vlan interface name \"bond1.5\": expected vlan<id> or bond0.<id>, the id without leading zeros or in four digits (vlan0005, vlan5, bond0.0005, bond0.5)"),
        ("netroot.bond.name=bond012345678 netroot.vlan=4000", "kernel command line: netroot.vlan: invalid interface name \"bond012345678.4000\": longer than 15 bytes"),
    ];
    for (line, want) in cases {
        assert_eq!(apply_err(line), want, "{line}");
    }
}

#[test]
fn bond_forms() {
    let cfg = applied("bond=bond0:eth2,52-54-00-00-00-07:mode=active-backup,miimon=200,lacp_rate=slow,xmit_hash_policy=layer2 netroot.bond.min_ports=1");
    assert_eq!(
        cfg.bond.ports,
        vec![
            PortId::Name("eth2".to_string()),
            PortId::Mac([0x52, 0x54, 0, 0, 0, 7])
        ]
    );
    assert_eq!(cfg.bond.mode, BondMode::ActiveBackup);
    assert_eq!(cfg.bond.miimon_ms, 200);
    assert_eq!(cfg.bond.lacp_rate, LacpRate::Slow);
    assert_eq!(cfg.bond.xmit_hash_policy, XmitHashPolicy::Layer2);
    assert_eq!(cfg.bond.min_ports, 1);

    // Only the name: ports and options keep the image's values.
    let cfg = applied("bond=bond1 ip=bond1:dhcp");
    let mut expected = fixture().bond;
    expected.name = "bond1".to_string();
    assert_eq!(cfg.bond, expected);

    // Empty port field keeps the ports; numeric mode as in sysfs; trailing empty MTU is fine.
    let cfg = applied("bond=bond0::mode=1:");
    assert_eq!(cfg.bond.ports, fixture().bond.ports);
    assert_eq!(cfg.bond.mode, BondMode::ActiveBackup);
}

#[test]
fn malformed_bond_values() {
    let cases = [
        ("bond=bond0:eth0,eth1:mode=8023ad", "unknown bond mode \"8023ad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)"),
        ("bond=bond0:eth0,eth1:speed=10", "unknown bond option \"speed\" (expected one of: mode, miimon, lacp_rate, xmit_hash_policy)"),
        ("bond=bond0:eth0,eth1:miimon", "invalid bond option \"miimon\": expected <option>=<value>"),
        ("bond=bond0:eth0,eth1:miimon=0", "invalid miimon interval \"0\": expected a whole number greater than zero"),
        ("bond=bond0:eth0,eth1:mode=4:9000", "invalid bond \"bond0:eth0,eth1:mode=4:9000\": setting the MTU with bond= is not supported"),
        ("bond=bond0:eth0,eth1:mode=4::x", "invalid bond \"bond0:eth0,eth1:mode=4::x\": expected <name>[:<ports>[:<options>[:<mtu>]]]"),
        ("bond=bond0:eth0,eth0", "invalid bond \"bond0:eth0,eth0\": port eth0 is listed twice"),
        ("bond=bond0:eth0,et/h1", "invalid interface name \"et/h1\": must not contain '/', ':', ',', '\"', spaces or control characters"),
        ("bond=", "invalid interface name \"\": must not be empty"),
    ];
    for (line, message) in cases {
        let (key, value) = line.split_once('=').unwrap();
        assert_eq!(
            apply_err(line),
            format!("kernel command line: {key}={value:?}: {message}"),
            "{line}"
        );
    }
    assert_eq!(
        apply_err("bond"),
        "kernel command line: bond: missing value (expected bond=<value>)"
    );
    assert_eq!(
        apply_err("bond=bond0:eth0"),
        "kernel command line: netroot.bond.min_ports: invalid minimum port count \"2\": exceeds the number of ports (1)"
    );
    assert_eq!(
        applied("bond=bond0:eth0 netroot.bond.min_ports=1")
            .bond
            .ports,
        vec![PortId::Name("eth0".to_string())]
    );
}

/// `(command line, server, export, options, versions)` expected after applying the line.
type NfsCase = (
    &'static str,
    [u8; 4],
    &'static str,
    &'static str,
    Vec<NfsVersion>,
);

#[test]
fn root_and_nfsroot_forms() {
    use NfsVersion::{V3, V4_0, V4_1, V4_2};
    let fixture_versions = fixture().nfs.versions;
    // (command line, server, export, options, versions): every form is checked field by field.
    let cases: [NfsCase; 7] = [
        (
            "root=nfs:10.0.2.9:/srv/other:nolock,vers=3",
            [10, 0, 2, 9],
            "/srv/other",
            "nolock",
            vec![V3],
        ),
        (
            "root=nfs:/srv/other",
            [10, 0, 2, 2],
            "/srv/other",
            "",
            fixture_versions.clone(),
        ),
        (
            "root=nfs4:10.0.2.9:/srv/x",
            [10, 0, 2, 9],
            "/srv/x",
            "",
            vec![V4_2, V4_1],
        ),
        // netroot.* wins over root=
        (
            "netroot.nfs.versions=3 root=nfs4:/srv/x",
            [10, 0, 2, 2],
            "/srv/x",
            "",
            vec![V3],
        ),
        (
            "root=nfs:10.0.2.9:/srv/x:vers=4,,timeo=50",
            [10, 0, 2, 9],
            "/srv/x",
            "timeo=50",
            vec![V4_2, V4_1, V4_0],
        ),
        (
            "root=/dev/nfs nfsroot=10.0.2.8:/srv/n,nolock,nfsvers=4.1",
            [10, 0, 2, 8],
            "/srv/n",
            "nolock",
            vec![V4_1],
        ),
        (
            "nfsroot=/srv/n",
            [10, 0, 2, 2],
            "/srv/n",
            "",
            fixture_versions,
        ),
    ];
    for (line, server, export, options, versions) in cases {
        let nfs = applied(line).nfs;
        assert_eq!(
            (
                nfs.server,
                nfs.export.as_str(),
                nfs.options.as_str(),
                nfs.versions
            ),
            (Ipv4Addr::from(server), export, options, versions),
            "{line}"
        );
    }
    // root=/dev/nfs alone is refused (see malformed_root_values).

    // An image that only tries NFSv3: a bare nfs4: means every 4.x, newest first.
    let mut cfg = fixture();
    cfg.nfs.versions = vec![V3];
    cfg.apply_cmdline("root=nfs4:/srv/x").unwrap();
    assert_eq!(cfg.nfs.versions, vec![V4_2, V4_1, V4_0]);
}

#[test]
fn malformed_root_values() {
    let forms = "nfs:[<server>:]<path>[:<options>], nfs4:[<server>:]<path>[:<options>], nfs://<server>[:<port>]/<path>, [<server>:]/<path>[:<options>], /dev/nfs (with nfsroot=), dhcp";
    let unknown = |v: &str| format!("unknown root {v:?} (expected one of: {forms})");
    let refused = |k: &str, v: &str, why: &str| format!("invalid {k} {v:?}: {why}");
    let cases = [
        ("root=/dev/sda1", unknown("/dev/sda1")),
        ("root=UUID=1234", unknown("UUID=1234")),
        ("root=cifs://srv/x", unknown("cifs://srv/x")),
        ("root=nfs:nfs.example:/srv", "invalid IPv4 address \"nfs.example\": expected a dotted quad like 10.0.2.2".into()),
        ("root=nfs:10.0.2.9:srv", "invalid nfs export \"10.0.2.9\": must be an absolute path".into()),
        ("root=nfs4:10.0.2.9:/srv:vers=3", "invalid nfs version list \"3\": contradicts nfs4:".into()),
        ("root=nfs:10.0.2.9:/srv:vers=5", "unknown nfs version \"5\" (expected one of: 4.2, 4.1, 4.0, 3)".into()),
        ("root=nfs:10.0.2.9:/srv:v2", "invalid nfs option \"v2\": NFSv2 is not supported".into()),
        ("root=nfs:10.0.2.9:/srv:minorversion=1", "invalid nfs option \"minorversion=1\": minorversion= is not supported: use vers=4.<minor>".into()),
        ("root=nfs:10.0.2.9:/srv:addr=10.0.0.1", "invalid nfs options \"addr=10.0.0.1\": addr= is set by netroot from the server".into()),
        ("root=nfs:10.0.2.9:/srv:a\"b", "invalid nfs options \"a\\\"b\": expected comma-separated options without spaces or quotes".into()),
        ("root=nfs:10.0.2.9:/srv,ro:nolock", refused("root", "nfs:10.0.2.9:/srv,ro:nolock", "options both after ',' and after ':' (dracut would drop the ':' ones)")),
        ("root=nfs4:10.0.2.9:/srv:/x", refused("root", "nfs4:10.0.2.9:/srv:/x", "more than one ':/' (server and path are ambiguous)")),
        // dracut reads this as anaconda's nfs:<options>:<server>:/<path>.
        ("root=nfs:10.0.2.9:/srv:/x", "invalid IPv4 address \"/srv\": expected a dotted quad like 10.0.2.2".into()),
        ("root=nfs:10.0.2.9:/srv:ro:soft", refused("root", "nfs:10.0.2.9:/srv:ro:soft", "option \"ro:soft\" holds ':' (options are separated by ',')")),
        ("root=nfs:", refused("root", "nfs:", "no path (dracut would take it from DHCP): name the export")),
        ("root=nfs:[fd00::1]:/srv", refused("root", "nfs:[fd00::1]:/srv", "an IPv6 server ([...]) is not supported")),
        ("root=nfs://10.0.2.9", refused("root", "nfs://10.0.2.9", "nfs:// URL without a path")),
        ("root=nfs://10.0.2.9:0/srv", "invalid nfs port \"0\": expected a port number 1-65535".into()),
        ("root=dhcp6", refused("root", "dhcp6", "root=dhcp6 (IPv6) is not supported")),
        ("root=/dev/nfs", refused("root", "/dev/nfs", "root=/dev/nfs without nfsroot= (the kernel's /tftpboot/%s from the DHCP server) is not supported: give nfsroot= or root=nfs:")),
        ("nfsroot=10.0.2.9:/srv/%s%s", refused("nfsroot", "10.0.2.9:/srv/%s%s", "a '%' other than one %s (the kernel's path is a printf format)")),
        ("nfsroot=10.0.2.9:/srv/x,vers=2", "invalid nfs option \"vers=2\": NFSv2 is not supported".into()),
        ("nfsroot=", refused("nfsroot", "", "empty (the kernel would mount /tftpboot/)")),
        ("nfsroot=999.0.2.9:/srv", "invalid IPv4 address \"999.0.2.9\": expected a dotted quad like 10.0.2.2".into()),
    ];
    for (line, message) in cases {
        let (key, value) = line.split_once('=').unwrap();
        assert_eq!(
            apply_err(line),
            format!("kernel command line: {key}={value:?}: {message}"),
            "{line}"
        );
    }
    assert_eq!(
        apply_err("root=nfs:/srv/a nfsroot=/srv/b"),
        "kernel command line: root=\"nfs:/srv/a\": invalid root \"nfs:/srv/a\": root= names an NFS root and nfsroot= another: give one of them"
    );
    // `%s` needs the node's name, which DHCP gives only later.
    assert_eq!(
        apply_err("ip=bond0:dhcp root=nfs:/srv/%s"),
        "kernel command line: root=\"nfs:/srv/%s\": invalid root \"nfs:/srv/%s\": %s with DHCP addressing is not supported (the name is known only after DHCP): give the path, or a static ip="
    );
}

#[test]
fn root_forms_of_dracut_and_the_kernel() {
    use NfsVersion::{V3, V4_1, V4_2};
    let nfs = |line: &str| {
        let n = applied(line).nfs;
        (n.server, n.export, n.options, n.versions)
    };
    let fv = fixture().nfs.versions;
    let ip = |a: [u8; 4]| Ipv4Addr::from(a);
    let s = |x: &str| x.to_string();
    // dracut: the kernel's `path,options` spelling; the legacy forms without `nfs:`.
    assert_eq!(
        nfs("root=nfs:10.0.2.9:/srv/x,nolock,v3"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s("nolock"), vec![V3])
    );
    assert_eq!(
        nfs("root=10.0.2.9:/srv/x:nolock"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s("nolock"), fv.clone())
    );
    assert_eq!(
        nfs("root=/srv/x"),
        (ip([10, 0, 2, 2]), s("/srv/x"), s(""), fv.clone())
    );
    // anaconda's nfs:<options>:<server>:/<path>.
    assert_eq!(
        nfs("root=nfs:nolock,vers=4.1:10.0.2.9:/srv/x"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s("nolock"), vec![V4_1])
    );
    // RFC 2224 URLs, the port as port=.
    assert_eq!(
        nfs("root=nfs://10.0.2.9/srv/x"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s(""), fv.clone())
    );
    assert_eq!(
        nfs("root=nfs://10.0.2.9:2049/srv/x"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s("port=2049"), fv.clone())
    );
    assert_eq!(
        nfs("root=nfs://10.0.2.9:/srv/x"),
        (ip([10, 0, 2, 9]), s("/srv/x"), s(""), fv.clone())
    );
    // %s: dracut's full host name, the kernel's up to the first dot (the fixture is static,
    // node07.cluster), else the address.
    assert_eq!(nfs("root=nfs:/srv/%s").1, "/srv/node07.cluster");
    assert_eq!(nfs("nfsroot=/srv/%s").1, "/srv/node07");
    assert_eq!(
        nfs("ip=10.0.2.15::10.0.2.2:24::bond0:none root=nfs:/srv/%s/%s").1,
        "/srv/10.0.2.15/%s"
    );
    // The kernel's nfsroot=: a name is under /tftpboot/, `default` or no path is /tftpboot/%s.
    assert_eq!(
        nfs("nfsroot=rootfs"),
        (ip([10, 0, 2, 2]), s("/tftpboot/rootfs"), s(""), fv.clone())
    );
    assert_eq!(
        nfs("nfsroot=10.0.2.9:default,soft"),
        (
            ip([10, 0, 2, 9]),
            s("/tftpboot/node07"),
            s("soft"),
            fv.clone()
        )
    );
    assert_eq!(nfs("nfsroot=10.0.2.9:,rsize=4096").2, "rsize=4096");
    assert_eq!(
        nfs("nfsroot=10.0.2.9"),
        (ip([10, 0, 2, 9]), s("/tftpboot/node07"), s(""), fv.clone())
    );
    // Every flag nfsroot.rst documents passes through to the mount.
    let flags = "port=2049,rsize=4096,wsize=4096,timeo=7,retrans=3,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,nointr,noposix,cto,ac";
    assert_eq!(nfs(&format!("nfsroot=10.0.2.9:/srv,{flags}")).2, flags);
    // root=dhcp lets the DHCP root-path choose.
    let mut cfg = fixture();
    cfg.nfs.allow_dhcp_root_path = false;
    cfg.apply_cmdline("root=dhcp").unwrap();
    assert!(cfg.nfs.allow_dhcp_root_path);
    assert_eq!(nfs("root=nfs4:10.0.2.9:/srv:v4.2").3, vec![V4_2]);
}

#[test]
fn dracut_switches() {
    let quiet = applied("netroot.debug=0 netroot.overlay.enabled=1 netroot.failure=poweroff");
    let from = |line: &str| {
        let mut cfg = quiet.clone();
        cfg.apply_cmdline(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        cfg
    };
    assert!(from("rd.debug").debug);
    assert!(from("rd.debug=1").debug);
    assert!(!from("rd.debug=0").debug);
    assert!(!from("rd.overlay=0").overlay.enabled);
    assert!(from("rd.overlay").overlay.enabled);
    assert_eq!(from("rd.shell").failure, FailureAction::Shell);
    assert_eq!(
        from("rd.shell=0").failure,
        FailureAction::Poweroff,
        "rd.shell=0 leaves a non-shell action alone"
    );
    assert_eq!(
        from("rd.shell rd.shell=0").failure,
        FailureAction::Reboot {
            delay: Duration::from_secs(10)
        },
        "rd.shell=0 replaces the shell by the default reboot"
    );
    assert_eq!(from("init=/bin/bash").real_init, "/bin/bash");
    assert_eq!(
        from("rd.timeout=120").timeouts.boot_deadline,
        Duration::from_secs(120)
    );
    // dracut.cmdline(7): rd.net.timeout.carrier (wait for carrier) and rd.net.timeout.dhcp
    // (the DHCP client's timeout) in seconds; the netroot.* spelling wins.
    let t = from("rd.net.timeout.carrier=7 rd.net.timeout.dhcp=90").timeouts;
    assert_eq!(
        (t.links, t.dhcp),
        (Duration::from_secs(7), Duration::from_secs(90))
    );
    assert_eq!(
        from("netroot.timeout.dhcp=5s rd.net.timeout.dhcp=90")
            .timeouts
            .dhcp,
        Duration::from_secs(5)
    );

    let errors = [
        ("rd.shell=maybe", "kernel command line: rd.shell=\"maybe\": unknown boolean \"maybe\" (expected one of: 1, 0, yes, no, on, off)"),
        ("rd.debug=true", "kernel command line: rd.debug=\"true\": unknown boolean \"true\" (expected one of: 1, 0, yes, no, on, off)"),
        ("rd.timeout=0", "kernel command line: rd.timeout=\"0\": invalid rd.timeout \"0\": 0 means wait forever in dracut; netroot bounds every boot: give seconds"),
        ("rd.timeout=0s", "kernel command line: rd.timeout=\"0s\": invalid timeout \"0s\": must be greater than zero"),
        ("rd.net.timeout.carrier=0", "kernel command line: rd.net.timeout.carrier=\"0\": invalid rd.net.timeout.carrier \"0\": 0 means do not wait for carrier in dracut; netroot needs carrier on the bond's ports: give seconds"),
        ("rd.net.timeout.dhcp=00", "kernel command line: rd.net.timeout.dhcp=\"00\": invalid rd.net.timeout.dhcp \"00\": 0 leaves the wait to dracut's DHCP client (NetworkManager: its default); netroot bounds every wait: give seconds"),
        ("rd.net.timeout.dhcp=infinity", "kernel command line: rd.net.timeout.dhcp=\"infinity\": invalid rd.net.timeout.dhcp \"infinity\": expected whole seconds"),
        ("rd.net.timeout.carrier=5s", "kernel command line: rd.net.timeout.carrier=\"5s\": invalid rd.net.timeout.carrier \"5s\": expected whole seconds"),
        ("rd.net.timeout.dhcp", "kernel command line: rd.net.timeout.dhcp: missing value (expected rd.net.timeout.dhcp=<value>)"),
        ("rd.neednet=maybe", "kernel command line: rd.neednet=\"maybe\": unknown boolean \"maybe\" (expected one of: 1, 0, yes, no, on, off)"),
        ("init=sbin/init", "kernel command line: init=\"sbin/init\": invalid init path \"sbin/init\": must be an absolute path"),
        ("init", "kernel command line: init: missing value (expected init=<value>)"),
    ];
    for (line, message) in errors {
        assert_eq!(apply_err(line), message);
    }
}

#[test]
fn netroot_keys_win_and_the_last_value_wins() {
    assert!(!applied("rd.debug netroot.debug=0").debug);
    assert!(!applied("netroot.debug=0 rd.debug").debug);
    assert_eq!(
        applied("netroot.bond.mode=1 netroot.bond.mode=4").bond.mode,
        BondMode::Ieee8023ad
    );
    assert_eq!(
        applied("ip=dhcp ip=10.1.0.5::10.1.0.1:16::bond0:none").ip,
        static_ip([10, 1, 0, 5], 16, Some([10, 1, 0, 1]), &[], None)
    );
    assert_eq!(applied("netroot.init=/a init=/b").real_init, "/a");
    assert_eq!(
        applied("netroot.overlay.size=25% rd.overlay=0")
            .overlay
            .size,
        TmpfsSize::Percent(25)
    );
    // Static sub-keys work whatever their order relative to netroot.ip.
    let cfg = applied("ip=dhcp netroot.ip.gateway=10.0.0.1 netroot.ip=10.0.0.5/24");
    assert_eq!(
        cfg.ip,
        static_ip([10, 0, 0, 5], 24, Some([10, 0, 0, 1]), &[], None)
    );
    // All netroot.module values together replace the list, in order.
    let cfg = applied("netroot.module=\"a x/a.ko\" quiet netroot.module=\"b x/b.ko p=1 q=2\"");
    let modules: Vec<(&str, &str, &str)> = cfg
        .modules
        .iter()
        .map(|m| (m.name.as_str(), m.path.as_str(), m.params.as_str()))
        .collect();
    assert_eq!(
        modules,
        vec![("a", "x/a.ko", ""), ("b", "x/b.ko", "p=1 q=2")]
    );
}

#[test]
fn applied_keys_are_reported_in_application_order() {
    let mut cfg = fixture();
    let applied = cfg
        .apply_cmdline("quiet netroot.failure=poweroff root=nfs:/srv/x rd.debug netroot.bond.mode=4 console=ttyS0")
        .unwrap();
    assert_eq!(
        applied,
        vec!["root", "rd.debug", "netroot.bond.mode", "netroot.failure"]
    );
}

#[test]
fn a_failed_override_changes_nothing() {
    assert_eq!(
        apply_err("netroot.debug=0 ip=dhcp root=nfs:/srv/x netroot.bond.mode=bad"),
        "kernel command line: netroot.bond.mode=\"bad\": unknown bond mode \"bad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)"
    );
}

#[test]
fn to_cmdline_renders_the_boot_relevant_subset() {
    assert_eq!(
        fixture().to_cmdline(),
        "root=nfs:10.0.2.2:/srv/netroot/compute/current:nolock,timeo=600 netroot.nfs.versions=4.2,4.1,3 \
         bond=bond0:52-54-00-00-00-01,eth1:mode=802.3ad,miimon=100,lacp_rate=fast,xmit_hash_policy=layer3+4 \
         netroot.bond.mac=52:54:00:ab:cd:ef netroot.bond.min_ports=2 \
         ip=10.0.2.15::10.0.2.2:255.255.255.0:node07.cluster:bond0:none:10.0.2.3:10.0.2.4 \
         netroot.node=c007"
    );
}

/// Configs whose boot-relevant parts differ from the fixture in every way `to_cmdline` renders.
fn cmdline_variants() -> Vec<BootConfig> {
    let mut out = vec![fixture()];
    let mut c = fixture();
    c.ip = IpConfig::Dhcp;
    c.bond.name = "bond7".to_string();
    c.bond.mac = None;
    c.bond.ports = vec![PortId::Name("enp1s0".to_string())];
    c.bond.min_ports = 1;
    c.bond.mode = BondMode::BalanceAlb;
    c.nfs.options = String::new();
    c.nfs.versions = vec![NfsVersion::V3];
    c.node = None;
    out.push(c.clone());
    c.ip = static_ip(
        [172, 16, 0, 9],
        12,
        None,
        &[[1, 1, 1, 1], [8, 8, 8, 8], [9, 9, 9, 9]],
        None,
    );
    c.nfs.versions = vec![NfsVersion::V4_0, NfsVersion::V4_1];
    out.push(c.clone());
    c.ip = static_ip(
        [172, 16, 0, 9],
        32,
        Some([172, 16, 0, 1]),
        &[[1, 1, 1, 1]],
        Some("x"),
    );
    out.push(c.clone());
    c.vlan = Some(vlan(5, VlanNaming::DevPlusVidNoPad));
    out.push(c.clone());
    c.ip = IpConfig::Dhcp;
    c.vlan = Some(vlan(4094, VlanNaming::VlanPlusVidNoPad));
    out.push(c.clone());
    c.vlan = Some(vlan(12, VlanNaming::DevPlusVid));
    out.push(c);
    out
}

#[test]
fn to_cmdline_applied_to_the_same_config_is_a_no_op() {
    for c in cmdline_variants() {
        let line = c.to_cmdline();
        let mut applied = c.clone();
        applied
            .apply_cmdline(&line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(applied, c, "{line}");
    }
}

#[test]
fn to_cmdline_carries_root_bond_and_ip_to_another_config() {
    let variants = cmdline_variants();
    for (i, c) in variants.iter().enumerate() {
        let mut other = variants[(i + 1) % variants.len()].clone();
        // Unset optional values are not rendered, so they do not clear the other's.
        other.bond.mac = None;
        other.vlan = None;
        other.apply_cmdline(&c.to_cmdline()).unwrap();
        assert_eq!(other.vlan, c.vlan, "{}", c.to_cmdline());
        assert_eq!(other.nfs, c.nfs, "{}", c.to_cmdline());
        assert_eq!(other.bond, c.bond, "{}", c.to_cmdline());
        assert_eq!(other.ip, c.ip, "{}", c.to_cmdline());
        if c.node.is_some() {
            assert_eq!(other.node, c.node, "{}", c.to_cmdline());
        }
    }
}

#[test]
fn split_params_keeps_what_follows_a_bare_double_dash_and_split_cmdline_stops_there() {
    let line = "root=nfs:10.0.0.1:/srv a=\"x y\" -- single \"init arg\"";
    let all = netroot_boot::bootconfig::split_params(line);
    let kernel = netroot_boot::bootconfig::split_cmdline(line);
    let key = |p: &(String, Option<String>)| p.0.clone();
    assert_eq!(
        all.iter().map(key).collect::<Vec<_>>(),
        ["root", "a", "--", "single", "init arg"]
    );
    assert_eq!(all[1].1.as_deref(), Some("x y"));
    assert_eq!(kernel, all[..2].to_vec());
}
