//! Property and fuzz tests of the command-line parser, with a small seeded generator (so every
//! run checks the same cases and a failure prints its input):
//! - generated configs survive `to_cmdline` then `apply_cmdline` unchanged;
//! - generated `root=`, `nfsroot=` and `ip=` values parse into exactly the parts they were built
//!   from;
//! - parameters netroot does not own, whatever their bytes, change nothing; a value of an owned
//!   key that is not UTF-8 fails naming the key;
//! - "fuzz" on stable Rust: random and mutated byte strings never make the parser panic, and a
//!   failed apply leaves the config unchanged.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use common::Rng;

use std::net::Ipv4Addr;

use netroot_boot::bootconfig::{
    BootConfig, CmdlineError, IpConfig, NfsVersion, PortId, StaticIp, VlanConfig, VlanId,
    VlanNaming,
};

const FIXTURE: &str = include_str!("fixtures/boot.conf");

/// The fixture without its VLAN (`random_config` adds one at random).
fn fixture() -> BootConfig {
    let mut cfg = BootConfig::parse(FIXTURE).unwrap();
    cfg.vlan = None;
    cfg
}

fn random_config(rng: &mut Rng) -> BootConfig {
    let mut c = fixture();
    c.nfs.server = rng.host_ip();
    c.nfs.export = rng
        .pick(&["/srv/a", "/srv/a,b", "/srv/%s", "/e/x-1.2/y", "/"])
        .to_string();
    c.nfs.options = rng
        .pick(&["", "nolock", "timeo=600,retrans=3", "soft,port=2049"])
        .to_string();
    let versions: &[&[NfsVersion]] = &[
        &[NfsVersion::V3],
        &[NfsVersion::V4_2, NfsVersion::V4_1],
        &[NfsVersion::V4_0, NfsVersion::V3],
    ];
    c.nfs.versions = rng.pick(versions).to_vec();
    c.bond.name = rng.pick(&["bond0", "bond7", "b"]).to_string();
    c.bond.mac = rng
        .coin()
        .then(|| [0x52, 0x54, 0, rng.below(256) as u8, 0, 1]);
    c.bond.ports = vec![
        PortId::Name("eth0".into()),
        PortId::Mac([0x52, 0x54, 0, 0, 0, 9]),
    ];
    c.bond.min_ports = 1 + rng.below(2) as u32;
    c.vlan = rng.coin().then(|| {
        VlanConfig::with_naming(
            VlanId::new(1 + rng.below(4094) as i64).unwrap(),
            rng.pick(&[
                VlanNaming::VlanPlusVid,
                VlanNaming::VlanPlusVidNoPad,
                VlanNaming::DevPlusVid,
                VlanNaming::DevPlusVidNoPad,
            ]),
        )
    });
    c.ip = if rng.coin() {
        IpConfig::Dhcp
    } else {
        let dns: Vec<Ipv4Addr> = (0..rng.below(4)).map(|_| rng.host_ip()).collect();
        IpConfig::Static(StaticIp {
            address: rng.host_ip(),
            prefix_len: 8 + rng.below(25) as u8,
            gateway: rng.coin().then(|| rng.host_ip()),
            dns,
            hostname: rng
                .coin()
                .then(|| rng.pick(&["n1", "node7.cluster"]).to_string()),
        })
    };
    c.node = rng.coin().then(|| "c007".to_string());
    c
}

#[test]
fn rendered_command_lines_apply_back_unchanged() {
    let mut rng = Rng(0x726f_756e_6474_7269);
    for _ in 0..3000 {
        let c = random_config(&mut rng);
        let line = c.to_cmdline();
        let mut back = c.clone();
        back.apply_cmdline(&line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(back, c, "{line}");
    }
}

#[test]
fn generated_root_values_parse_into_their_parts() {
    let mut rng = Rng(0x726f_6f74_7061_7274);
    for _ in 0..5000 {
        let server = rng.host_ip();
        let export = format!("/{}", rng.pick(&["srv", "a/b", "x-1.y"]));
        let options = rng
            .pick(&["", "nolock", "soft,timeo=50", "rsize=4096,hard"])
            .to_string();
        let (key, value) = match rng.below(4) {
            0 => {
                let sep = if options.is_empty() { "" } else { ":" };
                ("root", format!("nfs:{server}:{export}{sep}{options}"))
            }
            1 => {
                let sep = if options.is_empty() { "" } else { "," };
                ("root", format!("nfs:{server}:{export}{sep}{options}"))
            }
            2 => {
                let sep = if options.is_empty() { "" } else { "," };
                ("nfsroot", format!("{server}:{export}{sep}{options}"))
            }
            _ => {
                let port = 1 + rng.below(65535);
                let line = format!("nfs://{server}:{port}/{}", &export[1..]);
                let cfg = applied(&format!("root={line}"));
                assert_eq!(
                    (cfg.nfs.server, cfg.nfs.export, cfg.nfs.options),
                    (server, export, format!("port={port}")),
                    "{line}"
                );
                continue;
            }
        };
        let line = format!("{key}={value}");
        let cfg = applied(&line);
        assert_eq!(
            (cfg.nfs.server, cfg.nfs.export, cfg.nfs.options),
            (server, export, options),
            "{line}"
        );
    }
}

#[test]
fn generated_ip_values_parse_into_their_fields() {
    let mut rng = Rng(0x6970_6669_656c_6473);
    for _ in 0..5000 {
        let address = rng.host_ip();
        let prefix_len = 8 + rng.below(25) as u8;
        let gateway = rng.coin().then(|| rng.host_ip());
        let hostname = rng.coin().then(|| "node-1.example".to_string());
        let dns: Vec<Ipv4Addr> = (0..rng.below(3)).map(|_| rng.host_ip()).collect();
        let mask = if rng.coin() {
            prefix_len.to_string()
        } else {
            Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix_len))).to_string()
        };
        let method = rng.pick(&["none", "off"]);
        let mut line = format!(
            "ip={address}::{}:{mask}:{}:bond0:{method}",
            gateway.map(|g| g.to_string()).unwrap_or_default(),
            hostname.clone().unwrap_or_default()
        );
        for d in &dns {
            line.push_str(&format!(":{d}"));
        }
        let want = IpConfig::Static(StaticIp {
            address,
            prefix_len,
            gateway,
            dns,
            hostname,
        });
        assert_eq!(applied(&line).ip, want, "{line}");
    }
}

fn applied(line: &str) -> BootConfig {
    let mut cfg = fixture();
    cfg.apply_cmdline(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    cfg
}

/// Keys the kernel or other programs own, which netroot must ignore whatever their value.
const FOREIGN_KEYS: [&str; 6] = ["quiet", "console", "BOOT_IMAGE", "rd.lvm", "x", "vlanx"];

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.below(max)).map(|_| rng.below(256) as u8).collect()
}

/// Bytes that cannot end a key or value early: no kernel space, quote or NUL.
fn no_separators(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.retain(|b| !netroot_boot::bootconfig::is_kernel_space(*b) && *b != b'"' && *b != 0);
    bytes
}

#[test]
fn foreign_parameters_change_nothing_whatever_their_bytes() {
    let mut rng = Rng(0x666f_7265_6967_6e21);
    let base = "root=nfs:10.0.2.9:/srv/x ip=bond0:dhcp netroot.debug=1";
    let want = applied(base);
    for _ in 0..5000 {
        let mut line = base.as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            line.push(b' ');
            line.extend_from_slice(rng.pick(&FOREIGN_KEYS).as_bytes());
            line.push(b'=');
            line.extend(no_separators(random_bytes(&mut rng, 12)));
        }
        // A foreign key made of arbitrary bytes (never starting with netroot.).
        line.push(b' ');
        line.push(b'z');
        line.extend(no_separators(random_bytes(&mut rng, 8)));
        let mut cfg = fixture();
        cfg.apply_cmdline_bytes(&line)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&line)));
        assert_eq!(cfg, want, "{:?}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn owned_values_that_are_not_utf8_fail_naming_the_key() {
    for key in [
        "root",
        "nfsroot",
        "ip",
        "bond",
        "vlan",
        "rd.timeout",
        "rd.net.timeout.carrier",
        "rd.net.timeout.dhcp",
        "netroot.node",
        "init",
    ] {
        let mut line = format!("quiet {key}=ab").into_bytes();
        line.push(0xff);
        let mut cfg = fixture();
        let err = cfg.apply_cmdline_bytes(&line).expect_err(key);
        assert_eq!(
            err,
            CmdlineError::NotUtf8 {
                key: key.to_string(),
                byte: 2
            }
        );
        assert_eq!(cfg, fixture());
    }
}

/// Seeds for mutation: command lines that exercise every grammar.
const CORPUS: [&str; 8] = [
    "root=nfs:10.0.2.9:/srv/x:nolock,vers=3 ip=bond0:dhcp bond=bond0:eth0,eth1:mode=4",
    "root=/dev/nfs nfsroot=10.0.2.9:/srv/%s,soft ip=10.0.2.15:10.0.2.9:10.0.2.2:24:n.x:bond0:none:1.1.1.1",
    "root=nfs://10.0.2.9:2049/srv ip=bond0:dhcp::52:54:00:12:34:56 rd.neednet=1 rd.timeout=30",
    "root=nfs:ro:10.0.2.9:/srv rd.shell=0 rd.debug \"netroot.node=c007\" -- single",
    "netroot.module=\"a x/a.ko\" netroot.ip=10.0.0.5/24 netroot.ip.gateway=10.0.0.1",
    "ip=10.1.0.5::::::none::52:54:00:12:34:56 root=nfs4:/srv:v4.1 init=/sbin/init",
    "nfsroot=rootfs ip=:10.0.2.9::::bond0:dhcp root=dhcp nfsaddrs=single-dhcp",
    "k=\"a b\" \"x=y z\" root=10.0.2.9:/srv,ro rd.overlay=no",
];

#[test]
fn fuzz_random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x6675_7a7a_6675_7a7a);
    let fix = fixture();
    let mut outcomes = [0usize; 2];
    for round in 0..60_000 {
        let line: Vec<u8> = if round % 3 == 0 {
            random_bytes(&mut rng, 64)
        } else {
            let mut bytes = rng.pick(&CORPUS).as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 => bytes.insert(at, rng.pick(b" :,/=\"%.0123456789\xa0\xff")),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 if at < bytes.len() => bytes[at] = rng.below(256) as u8,
                    _ => {
                        let from = rng.below(bytes.len() + 1);
                        let chunk: Vec<u8> = bytes[from..].iter().take(8).copied().collect();
                        bytes.splice(at..at, chunk);
                    }
                }
            }
            bytes
        };
        let mut cfg = fix.clone();
        match cfg.apply_cmdline_bytes(&line) {
            Ok(_) => outcomes[0] += 1,
            Err(e) => {
                assert_eq!(cfg, fix, "{:?}: {e}", String::from_utf8_lossy(&line));
                assert!(!e.to_string().is_empty());
                outcomes[1] += 1;
            }
        }
        // The text wrappers must not panic either.
        let text = String::from_utf8_lossy(&line);
        let _ = netroot_boot::bootconfig::split_cmdline(&text);
        let _ = netroot_boot::bootconfig::parse_root_path(&text);
    }
    assert!(outcomes[0] > 1000 && outcomes[1] > 1000, "{outcomes:?}");
}
