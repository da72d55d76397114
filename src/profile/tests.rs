//! Profile loading tests: inheritance and merge rules, and one asserted message per kind of bad input.

use std::fs;

use netroot_boot::bootconfig::{BondMode, IpConfig, NfsVersion, PortId};

use super::*;

/// A minimal valid concrete profile body.
const VALID: &str = r#"
[bond]
mode = "active-backup"
ports = ["eth0", "52:54:00:00:00:02"]

[nfs]
server = "10.0.0.1"
export = "/srv/root"
"#;

fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(PROFILES_DIR)).unwrap();
    for (name, text) in files {
        fs::write(
            dir.path().join(PROFILES_DIR).join(format!("{name}.toml")),
            text,
        )
        .unwrap();
    }
    let p = Project::new(dir.path());
    (dir, p)
}

fn err(files: &[(&str, &str)], name: &str) -> String {
    let (_d, p) = project(files);
    p.load_profile(name).unwrap_err().to_string()
}

#[test]
fn valid_profile_gets_defaults() {
    let (_d, p) = project(&[("a", VALID)]);
    let prof = p.load_profile("a").unwrap();
    assert_eq!(prof.boot.bond.name, "bond0");
    assert_eq!(prof.boot.bond.mode, BondMode::ActiveBackup);
    assert_eq!(
        prof.boot.bond.ports,
        vec![
            PortId::Name("eth0".into()),
            PortId::Mac([0x52, 0x54, 0, 0, 0, 2])
        ]
    );
    assert_eq!(prof.boot.ip, IpConfig::Dhcp);
    assert_eq!(
        prof.boot.nfs.versions,
        vec![NfsVersion::V4_2, NfsVersion::V4_1]
    );
    assert_eq!(prof.boot.profile, "a");
    assert!(prof.boot.overlay.enabled);
    assert_eq!(
        prof.files,
        vec![std::path::PathBuf::from("profiles/a.toml")]
    );
}

#[test]
fn inheritance_merges_in_order_later_wins_and_modules_add() {
    let base = format!("{VALID}\n[modules]\nload = [\"bonding\", \"nfsv4\"]\n[modules.params]\nbonding = \"max_bonds=0\"\n");
    let mid = "inherits = [\"base\"]\n[modules]\nadd = [\"e1000e\"]\n[bond]\nmode = \"802.3ad\"\n";
    let top = "inherits = [\"mid\", \"base\"]\ndescription = \"top\"\n[modules]\nadd = [\"igb\"]\nremove = [\"nfsv4\"]\n[nfs]\nexport = \"/other\"\n";
    let (_d, p) = project(&[("base", &base), ("mid", mid), ("top", top)]);
    let prof = p.load_profile("top").unwrap();
    assert_eq!(prof.modules, vec!["bonding", "e1000e", "igb"]);
    assert_eq!(
        prof.module_params.get("bonding").map(String::as_str),
        Some("max_bonds=0")
    );
    assert_eq!(prof.boot.bond.mode, BondMode::Ieee8023ad);
    assert_eq!(prof.boot.nfs.export, "/other");
    assert_eq!(prof.boot.nfs.server.to_string(), "10.0.0.1");
    assert_eq!(prof.description, "top");
    // base is merged once, first, even though both top and mid inherit it.
    let files: Vec<_> = prof.files.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(
        files,
        [
            "profiles/base.toml",
            "profiles/mid.toml",
            "profiles/top.toml"
        ]
    );
}

#[test]
fn modules_load_replaces_inherited_list() {
    let base = format!("{VALID}\n[modules]\nload = [\"a\"]\nadd = [\"b\"]\n");
    let top = "inherits = [\"base\"]\n[modules]\nload = [\"c\"]\n";
    let (_d, p) = project(&[("base", &base), ("top", top)]);
    assert_eq!(p.load_profile("top").unwrap().modules, vec!["c"]);
}

#[test]
fn static_ip_is_parsed() {
    let text = format!("{VALID}\n[ip]\nmethod = \"static\"\naddress = \"10.1.2.3/16\"\ngateway = \"10.1.0.1\"\ndns = [\"10.1.0.2\"]\nhostname = \"n1\"\n");
    let (_d, p) = project(&[("a", &text)]);
    match p.load_profile("a").unwrap().boot.ip {
        IpConfig::Static(s) => {
            assert_eq!(
                (s.address.to_string(), s.prefix_len),
                ("10.1.2.3".to_string(), 16)
            );
            assert_eq!(
                s.gateway.map(|g| g.to_string()).as_deref(),
                Some("10.1.0.1")
            );
            assert_eq!(s.hostname.as_deref(), Some("n1"));
        }
        other => panic!("{other:?}"),
    }
}

/// Each bad profile and the exact message it must produce.
#[test]
fn bad_profiles_name_file_line_col_and_value() {
    let cases: &[(&str, &str)] = &[
        (
            "[bond]\nmode = \"8023ad\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n",
            "profiles/p.toml:2:8: unknown bond mode \"8023ad\" (expected one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)",
        ),
        ("[bond]\nmood = \"x\"\n", "profiles/p.toml:2:1: unknown field `mood`"),
        ("colour = 1\n", "profiles/p.toml:1:1: unknown field `colour`"),
        ("[bond\n", "profiles/p.toml:1:6"),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.300\"\nexport = \"/r\"\n",
            "profiles/p.toml:5:10: nfs.server: invalid IPv4 address \"10.0.0.300\": expected a dotted quad like 10.0.2.2",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"relative\"\n",
            "profiles/p.toml:6:10: nfs.export: invalid nfs export \"relative\": must be an absolute path",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\", \"52:54:00:zz:00:01\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n",
            "profiles/p.toml:3:18: bond.ports: invalid MAC address \"52:54:00:zz:00:01\"",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\", \"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n",
            "profiles/p.toml:3:9: bond.ports: invalid port list \"name:eth0,name:eth0\": port name:eth0 is listed twice",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\nmin_ports = 2\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n",
            "profiles/p.toml:4:13: bond.min_ports: invalid minimum port count \"2\": exceeds the number of ports (1)",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nexport = \"/r\"\n",
            "profiles/p.toml", // checked precisely below (missing field names the chain)
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n[ip]\nmethod = \"bootp\"\n",
            "profiles/p.toml:8:10: unknown ip method \"bootp\" (expected one of: dhcp, static)",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n[initramfs]\ncompression = \"lz5\"\n",
            "profiles/p.toml:8:15: unknown compression \"lz5\" (expected one of: zstd, gzip, xz, none)",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n[kernel]\npath = \"/k\"\ndeb = \"/k.deb\"\n",
            "profiles/p.toml:9:7: kernel: set only one of path, deb, host",
        ),
        (
            "[bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n[nfs]\nserver = \"10.0.0.1\"\nexport = \"/r\"\n[modules]\nremove = [\"nope\"]\n",
            "profiles/p.toml:8:11: modules.remove: \"nope\" is not in the module list",
        ),
    ];
    for (text, want) in cases {
        let got = err(&[("p", text)], "p");
        if want.ends_with("p.toml") {
            assert_eq!(
                got,
                "profile \"p\": nfs.server is required but no profile in its chain (p) sets it"
            );
        } else {
            assert!(
                got.starts_with(want),
                "profile:\n{text}\nwant prefix: {want}\ngot:         {got}"
            );
        }
    }
}

/// Values only the init's boot-config parsers refuse: the profile load applies the build's
/// validation and names the inheriting profile's file, the line and the profile key.
#[test]
fn boot_config_refusals_name_the_profile_key() {
    let cases: &[(&str, &str)] = &[
        ("[nfs]\nserver = \"0.0.0.0\"\n", "profiles/p.toml:3:10: nfs.server: invalid IPv4 address \"0.0.0.0\": not a host address"),
        ("[nfs]\nexport = \"/srv/a:b\"\n", "profiles/p.toml:3:10: nfs.export: invalid nfs export \"/srv/a:b\": must not contain ':'"),
        ("[nfs]\noptions = \"vers=3\"\n", "profiles/p.toml:3:11: nfs.options: invalid nfs options \"vers=3\": set the NFS version with netroot.nfs.versions, not vers="),
        ("[nfs]\noptions = \"soft, intr\"\n", "profiles/p.toml:3:11: nfs.options: invalid nfs options \"soft, intr\": expected comma-separated options without spaces or quotes"),
        ("[nfs]\nversions = [\"4.1\", \"4.1\"]\n", "profiles/p.toml:3:12: nfs.versions: invalid nfs version list"),
        ("[ip]\nmethod = \"static\"\naddress = \"10.0.0.5/33\"\n", "profiles/p.toml:4:11: ip.address: invalid netmask \"33\""),
        ("[ip]\nmethod = \"static\"\naddress = \"0.0.0.0/24\"\n", "profiles/p.toml:4:11: ip.address: invalid IPv4 address \"0.0.0.0\": not a host address"),
        ("[ip]\nmethod = \"static\"\naddress = \"10.0.0.5/24\"\nhostname = \"bad_host!\"\n", "profiles/p.toml:5:12: ip.hostname: invalid host name \"bad_host!\""),
        ("[bond]\nmin_ports = 3\n", "profiles/p.toml:3:13: bond.min_ports: invalid minimum port count \"3\": exceeds the number of ports (2)"),
        ("[bond]\nmin_ports = 0\n", "profiles/p.toml:3:13: bond.min_ports: invalid minimum port count \"0\": expected a whole number greater than zero"),
        ("[bond]\nmiimon = 0\n", "profiles/p.toml:3:10: bond.miimon: invalid miimon interval \"0\": expected a whole number greater than zero"),
        ("[bond]\nmac = \"01:00:5e:00:00:01\"\n", "profiles/p.toml:3:7: bond.mac: invalid mac address \"01:00:5e:00:00:01\": a bond needs a unicast, non-zero address"),
        ("[bond]\nports = []\n", "profiles/p.toml:3:9: bond.ports: invalid port list \"\": at least one port is required"),
        ("[boot]\ninit = \"sbin/init\"\n", "profiles/p.toml:3:8: boot.init: invalid init path \"sbin/init\": must be an absolute path"),
    ];
    for (extra, want) in cases {
        let child = format!("inherits = [\"b\"]\n{extra}");
        let got = err(&[("b", VALID), ("p", &child)], "p");
        assert!(
            got.starts_with(want),
            "profile:\n{child}\nwant prefix: {want}\ngot:         {got}"
        );
    }
}

#[test]
fn bad_inheritance_is_reported() {
    let got = err(
        &[("a", "inherits = [\"b\"]\n"), ("b", "inherits = [\"a\"]\n")],
        "a",
    );
    assert_eq!(got, "profiles/b.toml:1:13: inheritance cycle: a -> b -> a");
    let got = err(&[("a", "inherits = [\"nope\"]\n")], "a");
    assert_eq!(
        got,
        "profiles/a.toml:1:13: inherited profile \"nope\" not found (available: a)"
    );
    let got = err(&[("a", VALID)], "zzz");
    assert!(got.starts_with("profile \"zzz\" not found in "), "{got}");
    assert!(got.ends_with("(available: a)"), "{got}");
    let got = err(&[("a", VALID)], "../etc/passwd");
    assert_eq!(
        got,
        "invalid profile name \"../etc/passwd\" (use letters, digits, '-', '_')"
    );
}

#[test]
fn shipped_profiles_are_valid() {
    let p = Project::new(concat!(env!("CARGO_MANIFEST_DIR")));
    let names = super::load::list(&p.profiles_dir()).unwrap();
    assert_eq!(names, vec!["base", "compute", "qemu", "qemu-base"]);
    let compute = p.load_profile("compute").unwrap();
    assert_eq!(compute.boot.bond.mode, BondMode::Ieee8023ad);
    assert_eq!(compute.boot.bond.ports.len(), 4);
    for m in [
        "e1000e",
        "igb",
        "ixgbe",
        "bnx2x",
        "mlx5_core",
        "virtio_net",
        "bonding",
        "nfsv4",
        "overlay",
    ] {
        assert!(compute.modules.iter().any(|x| x == m), "compute lacks {m}");
    }
    let qemu = p.load_profile("qemu").unwrap();
    assert!(qemu
        .boot
        .bond
        .ports
        .iter()
        .all(|p| matches!(p, PortId::Mac(_))));
    assert_eq!(qemu.boot.nfs.server.to_string(), "10.0.2.2");
    // The rendered TOML is stable and mentions the merge chain.
    let shown = to_toml(&qemu);
    assert!(shown.starts_with("# profile qemu (merged from: profiles/base.toml, profiles/compute.toml, profiles/qemu-base.toml, profiles/qemu.toml)"), "{shown}");
    assert_eq!(shown, to_toml(&p.load_profile("qemu").unwrap()));
}

#[test]
fn site_sections_resolve() {
    let text = format!(
        "{VALID}\n[root]\nsource = \"mmdebstrap\"\nsuite = \"bookworm\"\npackages = [\"systemd\", \"udev\"]\n[root.allow]\nsetuid = [\"usr/bin/passwd\"]\n\
         [publish]\ntftp = \"/srv/tftp\"\nnfs = \"srv/nfs\"\nclient_network = \"10.0.0.0/16\"\nkeep = 4\n[menu]\nserial = \"ttyS0,115200\"\n\
         [vars]\nsite = \"lab\"\n[overlays]\nroot = [\"common\"]\n[overlays.owners.\"etc/shadow\"]\nmode = \"0640\"\ngid = 42\n"
    );
    let (d, p) = project(&[("a", &text)]);
    fs::create_dir_all(d.path().join("overlays/common")).unwrap();
    let prof = p.load_profile("a").unwrap();
    assert_eq!(
        prof.root,
        Some(RootSource::Mmdebstrap(crate::rootfs::Recipe {
            suite: "bookworm".into(),
            variant: "minbase".into(),
            packages: vec!["systemd".into(), "udev".into()],
            mirror: None,
            components: vec![],
            hooks: vec![],
        }))
    );
    assert_eq!(prof.root_allow.setuid, vec!["usr/bin/passwd"]);
    assert_eq!(
        prof.publish.tftp.as_deref(),
        Some(std::path::Path::new("/srv/tftp"))
    );
    assert_eq!(prof.publish.nfs, Some(d.path().join("srv/nfs")));
    assert_eq!(prof.publish.keep, 4);
    assert_eq!(prof.menu.serial, Some((0, 115200)));
    assert_eq!(prof.vars["site"].as_str(), Some("lab"));
    assert_eq!(
        prof.overlays.owners["etc/shadow"],
        Ownership {
            mode: Some(0o640),
            uid: None,
            gid: Some(42)
        }
    );
    let shown = to_toml(&prof);
    assert!(shown.contains("[root.allow]"), "{shown}");
}

#[test]
fn bad_site_sections_name_position() {
    let cases: &[(&str, &str)] = &[
        ("[root]\nsource = \"svn\"\n", "profiles/p.toml:10:10: unknown root source \"svn\" (expected one of: dir, tarball, mmdebstrap)"),
        ("[root]\nsource = \"dir\"\nsuite = \"bookworm\"\n", "profiles/p.toml:10:10: root.suite is only valid with root.source = \"mmdebstrap\""),
        ("[root]\nsource = \"mmdebstrap\"\nsuite = \"bookworm\"\npackages = [\"ok\", \"rm -rf\"]\n", "profiles/p.toml:12:19: root.packages: invalid package name \"rm -rf\""),
        ("[overlays]\nroot = [\"nope\"]\n", "profiles/p.toml:10:9: overlay \"nope\" not found (no directory overlays/nope)"),
        ("[publish]\nclient_network = \"10.0.0.0\"\n", "profiles/p.toml:10:18: publish.client_network: expected A.B.C.D/N, got \"10.0.0.0\""),
        ("[publish]\nclient_network = \"0.0.0.0/0\"\n", "profiles/p.toml:10:18: publish.client_network: refusing to export the root to the world"),
        ("[publish]\nkeep = 1\n", "profiles/p.toml:10:8: publish.keep must be at least 2"),
        ("[menu]\nserial = \"com1\"\n", "profiles/p.toml:10:10: menu.serial: expected ttySN,BAUD"),
        ("[menu]\ntitle = \"x\"\n", "profiles/p.toml:10:9: menu.title is a setting of the shared boot menus, not of one profile: set title in [menu] of the project's netroot.toml"),
        ("[menu]\n\ntimeout = 5\n", "profiles/p.toml:11:11: menu.timeout is a setting of the shared boot menus, not of one profile: set timeout in [menu] of the project's netroot.toml"),
        ("[publish]\nhttp_base = \"http://x/\"\n", "profiles/p.toml:10:13: publish.http_base is a setting of the shared boot menus, not of one profile: set http_base in [menu] of the project's netroot.toml"),
        ("[overlays.owners.\"etc/x\"]\nmode = \"999\"\n", "profiles/p.toml:9:1"),
    ];
    for (extra, want) in cases {
        let text = format!("{VALID}{extra}");
        let got = err(&[("p", &text)], "p");
        assert!(
            got.starts_with(want),
            "extra:\n{extra}\nwant prefix: {want}\ngot:         {got}"
        );
    }
}

#[test]
fn the_cache_key_covers_every_field_and_is_stable() {
    let (_d, p) = project(&[("a", VALID)]);
    let base = p.load_profile("a").unwrap();
    let key = base.cache_key_bytes().unwrap();
    assert_eq!(key, p.load_profile("a").unwrap().cache_key_bytes().unwrap());
    let changed = |f: &dyn Fn(&mut Profile)| {
        let mut q = base.clone();
        f(&mut q);
        q.cache_key_bytes().unwrap() != key
    };
    assert!(changed(&|q| q.boot.bond.miimon_ms += 1));
    assert!(changed(&|q| q.boot.debug = !q.boot.debug));
    assert!(changed(&|q| q.menu.cmdline_extra.push_str(" quiet")));
    assert!(changed(&|q| q.root_allow.setuid.push("/bin/x".into())));
    assert!(changed(&|q| q.compression.level = Some(3)));
    assert!(changed(&|q| {
        q.vars.insert("x".into(), toml::Value::Integer(1));
    }));
    assert!(changed(&|q| {
        q.overlays
            .owners
            .insert("/etc".into(), Ownership::default());
    }));
}

#[test]
fn an_abstract_profile_is_listed_as_such_refused_to_build_and_not_inherited_as_abstract() {
    let (_d, p) = project(&[
        (
            "base",
            "abstract = true\ndescription = \"shared\"\n[ip]\nmethod = \"dhcp\"\n",
        ),
        ("child", &format!("inherits = [\"base\"]\n{VALID}")),
        ("broken", "inherits = [\"nope\"]\n"),
    ]);
    let e = p.load_profile("base").unwrap_err();
    assert!(
        matches!(&e, ProfileError::Abstract(n) if n == "base"),
        "{e}"
    );
    assert!(e.to_string().contains("meant to be inherited"), "{e}");
    p.load_profile("child").unwrap();
    let list = p.list_profiles().unwrap();
    let kind = |name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| match l {
                Listing::Concrete(_) => "concrete".to_string(),
                Listing::Abstract(d) => format!("abstract {d}"),
                Listing::Invalid(_) => "invalid".to_string(),
            })
            .unwrap()
    };
    assert_eq!(kind("base"), "abstract shared");
    assert_eq!(kind("child"), "concrete");
    assert_eq!(kind("broken"), "invalid");
}

#[test]
fn root_and_its_allow_list_merge_key_by_key_and_a_new_source_drops_the_old_ones_keys() {
    let recipe = "[root]\nsource = \"mmdebstrap\"\nsuite = \"bookworm\"\npackages = [\"udev\"]\n\
                  [root.allow]\nsetuid = [\"usr/bin/su\"]\n";
    let (_d, p) = project(&[
        ("base", &format!("abstract = true\n{VALID}\n{recipe}")),
        // Adds a package list and one allow category; inherits source, suite and setuid.
        (
            "more",
            "inherits = [\"base\"]\n[root]\npackages = [\"udev\", \"openssh-server\"]\n\
             [root.allow]\nsetgid = [\"usr/bin/wall\"]\n",
        ),
        // Another source: the recipe's keys go, the allow list stays.
        (
            "tarball",
            "inherits = [\"base\"]\n[root]\nsource = \"tarball\"\npath = \"/srv/root.tar\"\n",
        ),
        (
            "kbase",
            &format!("abstract = true\n{VALID}\n[kernel]\ndeb = \"/k.deb\"\n"),
        ),
        ("khost", "inherits = [\"kbase\"]\n[kernel]\nhost = true\n"),
    ]);
    let more = p.load_profile("more").unwrap();
    match more.root.unwrap() {
        RootSource::Mmdebstrap(r) => {
            assert_eq!(r.suite, "bookworm");
            assert_eq!(r.packages, ["udev", "openssh-server"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(more.root_allow.setuid, ["usr/bin/su"]);
    assert_eq!(more.root_allow.setgid, ["usr/bin/wall"]);
    let tarball = p.load_profile("tarball").unwrap();
    assert_eq!(
        tarball.root,
        Some(RootSource::Tarball(std::path::PathBuf::from(
            "/srv/root.tar"
        )))
    );
    assert_eq!(tarball.root_allow.setuid, ["usr/bin/su"]);
    // The kernel's path/deb/host are one choice: the later one replaces the inherited one.
    assert_eq!(
        p.load_profile("khost").unwrap().kernel,
        Some(KernelSpec::Host)
    );
}

#[test]
fn overlays_owner_takes_numbers_or_root_and_names_a_bad_value() {
    let owner = |v: &str| {
        let (_d, p) = project(&[("p", &format!("{VALID}\n[overlays]\nowner = \"{v}\"\n"))]);
        p.load_profile("p").map(|p| p.overlays.owner)
    };
    assert_eq!(owner("root:root").unwrap(), Some((0, 0)));
    assert_eq!(owner("1000:100").unwrap(), Some((1000, 100)));
    assert_eq!(owner("0:root").unwrap(), Some((0, 0)));
    for bad in ["bob:root", "0", "0:", "4294967295:0", "1:2:3"] {
        let e = owner(bad).unwrap_err().to_string();
        assert!(
            e.contains("overlays.owner: expected \"UID:GID\"") && e.contains(bad),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_kernel_pin_needs_a_package_and_64_hex_digits_and_follows_its_choice() {
    let sha = "ab".repeat(32);
    let kernel = |text: &str| {
        let (_d, p) = project(&[
            (
                "base",
                &format!(
                    "abstract = true\n{VALID}\n[kernel]\ndeb = \"/k.deb\"\nsha256 = \"{sha}\"\n"
                ),
            ),
            ("p", &format!("inherits = [\"base\"]\n{text}")),
        ]);
        p.load_profile("p").map(|p| p.kernel)
    };
    let deb = |path: &str, pin: Option<&str>| {
        Some(KernelSpec::Deb {
            path: path.into(),
            sha256: pin.map(str::to_string),
        })
    };
    assert_eq!(kernel("").unwrap(), deb("/k.deb", Some(&sha)));
    // Another package drops the inherited pin; a pin alone pins the inherited package.
    assert_eq!(
        kernel("[kernel]\ndeb = \"/new.deb\"\n").unwrap(),
        deb("/new.deb", None)
    );
    let upper = "CD".repeat(32);
    assert_eq!(
        kernel(&format!("[kernel]\nsha256 = \"{upper}\"\n")).unwrap(),
        deb("/k.deb", Some(&"cd".repeat(32)))
    );
    let e = kernel("[kernel]\nsha256 = \"abc\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kernel.sha256: expected 64 hex digits, got \"abc\""),
        "{e}"
    );
    let e = kernel("[kernel]\nhost = true\nsha256 = \"abc\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kernel.sha256 pins a package: set it with kernel.deb"),
        "{e}"
    );
}
