//! Renders a validated [`Profile`] as TOML: what `netroot profiles show` prints. (The build
//! cache keys on the profile's serialized value, [`Profile::cache_key_bytes`], not on this text.)

use netroot_boot::bootconfig::{format_mac, IpConfig, PortId};
use toml::{Table, Value};

use super::model::{KernelSpec, Profile, RootSource};

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn list<I: IntoIterator<Item = Value>>(i: I) -> Value {
    Value::Array(i.into_iter().collect())
}

fn table(pairs: Vec<(&str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The fully merged profile, every default made explicit.
pub fn to_toml(p: &Profile) -> String {
    let b = &p.boot;
    let mut t = Table::new();
    t.insert("description".into(), s(&p.description));
    t.insert("files".into(), list(p.files.iter().map(|f| s(f.display()))));
    if let Some(k) = &p.kernel {
        let (key, v) = match k {
            KernelSpec::Dir(d) => ("path", s(d.display())),
            KernelSpec::Deb { path, .. } => ("deb", s(path.display())),
            KernelSpec::Host => ("host", Value::Boolean(true)),
        };
        t.insert("kernel".into(), table(vec![(key, v)]));
    }
    let params: Table = p
        .module_params
        .iter()
        .map(|(k, v)| (k.clone(), s(v)))
        .collect();
    t.insert(
        "modules".into(),
        table(vec![
            ("load", list(p.modules.iter().map(s))),
            ("params", Value::Table(params)),
        ]),
    );
    t.insert(
        "firmware".into(),
        table(vec![
            ("dirs", list(p.firmware.dirs.iter().map(|d| s(d.display())))),
            ("strict", Value::Boolean(p.firmware.strict)),
        ]),
    );
    let mut ini = vec![("compression", s(p.compression.kind))];
    if let Some(l) = p.compression.level {
        ini.push(("level", Value::Integer(l.into())));
    }
    t.insert("initramfs".into(), table(ini));
    t.insert(
        "extra".into(),
        table(vec![(
            "binaries",
            list(p.extra_binaries.iter().map(|d| s(d.display()))),
        )]),
    );
    let ports = b.bond.ports.iter().map(|p| match p {
        PortId::Mac(m) => s(format_mac(m)),
        PortId::Name(n) => s(n),
    });
    let mut bond = vec![
        ("name", s(&b.bond.name)),
        ("mode", s(b.bond.mode)),
        ("miimon", Value::Integer(b.bond.miimon_ms.into())),
        ("lacp_rate", s(b.bond.lacp_rate)),
        ("xmit_hash_policy", s(b.bond.xmit_hash_policy)),
        ("ports", list(ports)),
        ("min_ports", Value::Integer(b.bond.min_ports.into())),
    ];
    if let Some(m) = &b.bond.mac {
        bond.push(("mac", s(format_mac(m))));
    }
    t.insert("bond".into(), table(bond));
    if let Some(v) = &b.vlan {
        let id = Value::Integer(v.id().get().into());
        t.insert("vlan".into(), table(vec![("id", id)]));
    }
    let ip = match &b.ip {
        IpConfig::Dhcp => table(vec![("method", s("dhcp"))]),
        IpConfig::Static(st) => {
            let mut v = vec![
                ("method", s("static")),
                ("address", s(format!("{}/{}", st.address, st.prefix_len))),
            ];
            if let Some(g) = st.gateway {
                v.push(("gateway", s(g)));
            }
            v.push(("dns", list(st.dns.iter().map(s))));
            if let Some(h) = &st.hostname {
                v.push(("hostname", s(h)));
            }
            table(v)
        }
    };
    t.insert("ip".into(), ip);
    t.insert(
        "nfs".into(),
        table(vec![
            ("server", s(b.nfs.server)),
            ("export", s(&b.nfs.export)),
            ("versions", list(b.nfs.versions.iter().map(s))),
            ("options", s(&b.nfs.options)),
            (
                "allow_dhcp_root_path",
                Value::Boolean(b.nfs.allow_dhcp_root_path),
            ),
        ]),
    );
    t.insert(
        "overlay".into(),
        table(vec![
            ("enabled", Value::Boolean(b.overlay.enabled)),
            ("size", s(b.overlay.size)),
        ]),
    );
    let secs = |d: std::time::Duration| {
        if d.subsec_millis() == 0 {
            s(format!("{}s", d.as_secs()))
        } else {
            s(format!("{}ms", d.as_millis()))
        }
    };
    t.insert(
        "timeouts".into(),
        table(vec![
            ("boot", secs(b.timeouts.boot_deadline)),
            ("links", secs(b.timeouts.links)),
            ("dhcp", secs(b.timeouts.dhcp)),
            ("nfs", secs(b.timeouts.nfs)),
        ]),
    );
    t.insert(
        "boot".into(),
        table(vec![
            ("init", s(&b.real_init)),
            ("failure", s(b.failure)),
            ("debug", Value::Boolean(b.debug)),
        ]),
    );
    if let Some(r) = &p.root {
        let mut v = match r {
            RootSource::Dir(d) => vec![("source", s("dir")), ("path", s(d.display()))],
            RootSource::Tarball(d) => vec![("source", s("tarball")), ("path", s(d.display()))],
            RootSource::Mmdebstrap(crate::rootfs::Recipe {
                suite,
                variant,
                packages,
                mirror,
                components,
                hooks,
            }) => {
                let mut v = vec![
                    ("source", s("mmdebstrap")),
                    ("suite", s(suite)),
                    ("variant", s(variant)),
                    ("packages", list(packages.iter().map(s))),
                    ("components", list(components.iter().map(s))),
                    ("hooks", list(hooks.iter().map(|h| s(h.display())))),
                ];
                if let Some(m) = mirror {
                    v.push(("mirror", s(m)));
                }
                v
            }
        };
        let a = &p.root_allow;
        v.push((
            "allow",
            table(vec![
                ("setuid", list(a.setuid.iter().map(s))),
                ("setgid", list(a.setgid.iter().map(s))),
                ("capabilities", list(a.capabilities.iter().map(s))),
                ("devices", list(a.devices.iter().map(s))),
                ("world_writable", list(a.world_writable.iter().map(s))),
                ("sticky_dirs", list(a.sticky_dirs.iter().map(s))),
            ]),
        ));
        t.insert("root".into(), table(v));
    }
    let o = &p.overlays;
    let owners: Table = o
        .owners
        .iter()
        .map(|(path, w)| {
            let mut e = Table::new();
            if let Some(m) = w.mode {
                e.insert("mode".into(), s(format!("{m:04o}")));
            }
            if let Some(u) = w.uid {
                e.insert("uid".into(), Value::Integer(u.into()));
            }
            if let Some(g) = w.gid {
                e.insert("gid".into(), Value::Integer(g.into()));
            }
            (path.clone(), Value::Table(e))
        })
        .collect();
    let mut overlays = vec![
        ("root", list(o.root.iter().map(s))),
        ("initramfs", list(o.initramfs.iter().map(s))),
        ("allow_override", list(o.allow_override.iter().map(s))),
    ];
    if let Some((uid, gid)) = o.owner {
        overlays.push(("owner", s(format!("{uid}:{gid}"))));
    }
    overlays.push(("owners", Value::Table(owners)));
    t.insert("overlays".into(), table(overlays));
    t.insert(
        "vars".into(),
        Value::Table(p.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
    );
    let pb = &p.publish;
    let mut pv = vec![("keep", Value::Integer(pb.keep.into()))];
    for (k, v) in [
        ("tftp", pb.tftp.as_ref().map(|x| x.display().to_string())),
        ("nfs", pb.nfs.as_ref().map(|x| x.display().to_string())),
        ("client_network", pb.client_network.clone()),
        ("hook", pb.hook.clone()),
    ] {
        if let Some(v) = v {
            pv.push((k, s(v)));
        }
    }
    t.insert("publish".into(), table(pv));
    let m = &p.menu;
    let mut mv = vec![("cmdline_extra", s(&m.cmdline_extra))];
    if let Some((unit, baud)) = m.serial {
        mv.push(("serial", s(format!("ttyS{unit},{baud}"))));
    }
    t.insert("menu".into(), table(mv));
    format!(
        "# profile {} (merged from: {})\n{}",
        p.name,
        p.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        t
    )
}
