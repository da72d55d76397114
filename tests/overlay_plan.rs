//! Overlay planning: merge order, templates, conflicts, ownership overrides, bad input.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use common::write_mode as write;
use netroot::overlay::{self, EntryContent, OverlaySpec, Ownership, Vars};

fn spec(root: &Path, name: &str) -> OverlaySpec {
    OverlaySpec {
        name: name.into(),
        dir: root.join(name),
        owner: None,
    }
}

fn vars(text: &str) -> Vars {
    let t: toml::Table = toml::from_str(text).unwrap();
    t.into_iter().collect()
}

fn plan_err(specs: &[OverlaySpec], allow: &[&str]) -> String {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    overlay::plan(specs, &BTreeMap::new(), &Vars::new(), &allow)
        .unwrap_err()
        .to_string()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn merges_in_order_with_directories_before_contents() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/etc/motd", "hello\n", 0o644);
    write(t.path(), "base/usr/lib/x", "x", 0o755);
    write(t.path(), "base/usr-x", "y", 0o600);
    write(t.path(), "site/etc/hosts", "127.0.0.1 localhost\n", 0o644);
    fs::set_permissions(t.path().join("site/etc"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("../usr/lib/x", t.path().join("site/etc/link")).unwrap();
    let specs = [spec(t.path(), "base"), spec(t.path(), "site")];
    let plan = overlay::plan(&specs, &BTreeMap::new(), &Vars::new(), &[]).unwrap();
    let paths: Vec<&str> = plan.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "etc",
            "etc/hosts",
            "etc/link",
            "etc/motd",
            "usr",
            "usr/lib",
            "usr/lib/x",
            "usr-x"
        ]
    );
    // The later overlay's directory mode wins; files keep theirs.
    let etc = plan.get("etc").unwrap();
    assert_eq!((etc.mode, etc.source.overlay.as_str()), (0o750, "site"));
    assert_eq!(plan.get("usr/lib/x").unwrap().mode, 0o755);
    assert_eq!(plan.get("usr-x").unwrap().mode, 0o600);
    let motd = plan.get("etc/motd").unwrap();
    assert_eq!(motd.content, EntryContent::File(b"hello\n".to_vec().into()));
    assert_eq!(motd.source.to_string(), "overlay \"base\" (etc/motd)");
    let link = plan.get("etc/link").unwrap();
    assert_eq!(link.content, EntryContent::Symlink("../usr/lib/x".into()));
    assert_eq!(link.mode, 0o777);
    // Deterministic: the same input gives the same plan.
    let again = overlay::plan(&specs, &BTreeMap::new(), &Vars::new(), &[]).unwrap();
    assert_eq!(plan, again);
}

#[test]
fn templates_render_with_vars_and_lose_the_suffix() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "base/etc/motd.j2",
        "site {{ site }} rack {{ node.rack }}\n",
        0o640,
    );
    write(t.path(), "base/etc/raw.txt", "{{ not rendered }}", 0o644);
    let v = vars("site = \"lab\"\n[node]\nrack = \"r1\"\n");
    let plan = overlay::plan(&[spec(t.path(), "base")], &BTreeMap::new(), &v, &[]).unwrap();
    let motd = plan.get("etc/motd").unwrap();
    assert_eq!(
        motd.content,
        EntryContent::File(b"site lab rack r1\n".to_vec().into())
    );
    assert_eq!(motd.mode, 0o640);
    assert_eq!(motd.source.path, "etc/motd.j2");
    assert!(plan.get("etc/motd.j2").is_none());
    assert_eq!(
        plan.get("etc/raw.txt").unwrap().content,
        EntryContent::File(b"{{ not rendered }}".to_vec().into())
    );
}

/// The error of planning the one overlay `base` holding the file `rel` (mode 0644) = `data`.
fn base_err(rel: &str, data: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), &format!("base/{rel}"), data, 0o644);
    plan_err(&[spec(t.path(), "base")], &[])
}

/// The overlays `base` and `site` (in that order) in a temporary directory, each holding one
/// file (path, content, mode).
fn base_and_site(
    base: (&str, &str, u32),
    site: (&str, &str, u32),
) -> (tempfile::TempDir, [OverlaySpec; 2]) {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), &format!("base/{}", base.0), base.1, base.2);
    write(t.path(), &format!("site/{}", site.0), site.1, site.2);
    let specs = [spec(t.path(), "base"), spec(t.path(), "site")];
    (t, specs)
}

#[test]
fn undefined_template_variable_names_overlay_file_line_and_variable() {
    assert_eq!(
        base_err("etc/motd.j2", "a\nrack {{ rack }}\n"),
        "overlay \"base\": etc/motd.j2:2:9: undefined value: `rack` is undefined"
    );
}

#[test]
fn a_template_needs_a_name() {
    assert_eq!(
        base_err("etc/.j2", "x"),
        "overlay \"base\": etc/.j2: a template needs a name before its .j2 suffix"
    );
}

#[test]
fn same_file_in_two_overlays_is_an_error_unless_allowed() {
    let (_t, specs) = base_and_site(
        ("etc/motd", "base\n", 0o644),
        ("etc/motd.j2", "site\n", 0o600),
    );
    assert_eq!(
        plan_err(&specs, &[]),
        "etc/motd: provided by overlay \"base\" (etc/motd) and by overlay \"site\" \
         (etc/motd.j2); list it in allow_override to let the later overlay win"
    );
    let allow = vec!["etc/motd".to_string()];
    let plan = overlay::plan(&specs, &BTreeMap::new(), &Vars::new(), &allow).unwrap();
    let motd = plan.get("etc/motd").unwrap();
    assert_eq!(motd.content, EntryContent::File(b"site\n".to_vec().into()));
    assert_eq!((motd.mode, motd.source.overlay.as_str()), (0o600, "site"));
}

#[test]
fn a_path_cannot_change_kind_even_when_allowed() {
    let (_t, specs) = base_and_site(("etc/foo/bar", "x", 0o644), ("etc/foo", "x", 0o644));
    assert_eq!(
        plan_err(&specs, &["etc/foo"]),
        "etc/foo: overlay \"base\" (etc/foo) provides a directory but overlay \"site\" \
         (etc/foo) a file; a path cannot change kind"
    );
}

#[test]
fn file_and_template_of_the_same_name_in_one_overlay_is_ambiguous() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/etc/motd", "a", 0o644);
    write(t.path(), "base/etc/motd.j2", "b", 0o644);
    assert_eq!(
        plan_err(&[spec(t.path(), "base")], &["etc/motd"]),
        "etc/motd: provided twice by overlay \"base\" (etc/motd and etc/motd.j2)"
    );
}

#[test]
fn special_files_and_non_utf8_names_are_rejected() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("base/run/fifo");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert_eq!(
        plan_err(&[spec(t.path(), "base")], &[]),
        format!(
            "overlay \"base\": {}: fifos are not allowed in overlays",
            fifo.display()
        )
    );

    let t = tempfile::tempdir().unwrap();
    let sock = t.path().join("sock/s");
    fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert!(
        plan_err(&[spec(t.path(), "sock")], &[]).ends_with(": sockets are not allowed in overlays")
    );

    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("base")).unwrap();
    let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"bad\xffname");
    fs::write(t.path().join("base").join(name), "x").unwrap();
    assert!(plan_err(&[spec(t.path(), "base")], &[])
        .ends_with("bad\u{fffd}name: file name is not valid UTF-8"));
}

#[test]
fn overrides_set_mode_and_owner_per_path() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/etc/shadow", "root:*:1::::::\n", 0o644);
    write(t.path(), "base/usr/bin/ping", "elf", 0o755);
    symlink("shadow", t.path().join("base/etc/link")).unwrap();
    let mut ov = BTreeMap::new();
    ov.insert(
        "etc/shadow".to_string(),
        Ownership {
            mode: Some(0o640),
            uid: None,
            gid: Some(42),
        },
    );
    ov.insert(
        "usr/bin/ping".to_string(),
        Ownership {
            mode: Some(0o4755),
            uid: Some(0),
            gid: Some(0),
        },
    );
    ov.insert(
        "etc/link".to_string(),
        Ownership {
            mode: None,
            uid: Some(7),
            gid: None,
        },
    );
    let plan = overlay::plan(&[spec(t.path(), "base")], &ov, &Vars::new(), &[]).unwrap();
    let shadow = plan.get("etc/shadow").unwrap();
    let file_uid = if is_root() {
        fs::metadata(t.path().join("base/etc/shadow"))
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap()
    } else {
        0
    };
    assert_eq!((shadow.mode, shadow.uid, shadow.gid), (0o640, file_uid, 42));
    assert_eq!(plan.get("usr/bin/ping").unwrap().mode, 0o4755);
    assert_eq!(plan.get("etc/link").unwrap().uid, 7);
}

#[test]
fn bad_overrides_are_rejected() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/etc/motd", "x", 0o644);
    symlink("motd", t.path().join("base/etc/link")).unwrap();
    let specs = [spec(t.path(), "base")];
    let err = |path: &str, o: Ownership| {
        let mut ov = BTreeMap::new();
        ov.insert(path.to_string(), o);
        overlay::plan(&specs, &ov, &Vars::new(), &[])
            .unwrap_err()
            .to_string()
    };
    let mode = |m| Ownership {
        mode: Some(m),
        ..Ownership::default()
    };
    for (path, m, want) in [
        (
            "etc/nope",
            0o644,
            "override \"etc/nope\": no overlay provides this path",
        ),
        (
            "../etc/motd",
            0o644,
            "override \"../etc/motd\": invalid image path \"../etc/motd\": has a .. component",
        ),
        (
            "/etc/motd",
            0o644,
            "override \"/etc/motd\": invalid image path \"/etc/motd\": must be relative (no leading /)",
        ),
        (
            "etc/motd",
            0o10644,
            "override \"etc/motd\": mode 10644 has bits outside 7777",
        ),
        (
            "etc/link",
            0o600,
            "override \"etc/link\": a symlink has no mode of its own",
        ),
    ] {
        assert_eq!(err(path, mode(m)), want);
    }
    let minus_one = Ownership {
        uid: Some(u32::MAX),
        ..Ownership::default()
    };
    assert_eq!(
        err("etc/motd", minus_one),
        "override \"etc/motd\": 4294967295 (-1) is not an owner"
    );
    let allow = vec!["etc/../x".to_string()];
    assert_eq!(
        overlay::plan(&specs, &BTreeMap::new(), &Vars::new(), &allow)
            .unwrap_err()
            .to_string(),
        "allow_override \"etc/../x\": invalid image path \"etc/../x\": has a .. component"
    );
}

#[test]
fn missing_or_repeated_overlays_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let missing = spec(t.path(), "nope");
    assert_eq!(
        plan_err(std::slice::from_ref(&missing), &[]),
        format!("overlay \"nope\": cannot read {}", missing.dir.display())
    );
    write(t.path(), "file", "x", 0o644);
    let not_dir = spec(t.path(), "file");
    assert_eq!(
        plan_err(std::slice::from_ref(&not_dir), &[]),
        format!(
            "overlay \"file\": {} is not a directory",
            not_dir.dir.display()
        )
    );
    fs::create_dir(t.path().join("base")).unwrap();
    assert_eq!(
        plan_err(&[spec(t.path(), "base"), spec(t.path(), "base")], &[]),
        "overlay \"base\" is listed twice"
    );
}

#[test]
fn file_owners_are_kept_when_running_as_root() {
    if !common::root_or_skip("needs root to chown overlay files") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/home/u/file", "x", 0o600);
    let p = t.path().join("base/home/u/file");
    rustix::fs::chown(
        &p,
        Some(rustix::fs::Uid::from_raw(1234)),
        Some(rustix::fs::Gid::from_raw(5678)),
    )
    .unwrap();
    let plan = overlay::plan(
        &[spec(t.path(), "base")],
        &BTreeMap::new(),
        &Vars::new(),
        &[],
    )
    .unwrap();
    let e = plan.get("home/u/file").unwrap();
    assert_eq!((e.uid, e.gid), (1234, 5678));
}

#[test]
fn an_overlay_owner_replaces_the_files_owners_and_per_path_overrides_still_apply() {
    if !common::root_or_skip("needs root to chown overlay files") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base/etc/motd", "x", 0o644);
    write(t.path(), "base/etc/shadow", "x", 0o600);
    for f in ["base/etc", "base/etc/motd", "base/etc/shadow"] {
        rustix::fs::chown(
            t.path().join(f),
            Some(rustix::fs::Uid::from_raw(1234)),
            Some(rustix::fs::Gid::from_raw(5678)),
        )
        .unwrap();
    }
    let mut owned = spec(t.path(), "base");
    owned.owner = Some((0, 0));
    let overrides: BTreeMap<String, Ownership> = [(
        "etc/shadow".to_string(),
        Ownership {
            mode: None,
            uid: None,
            gid: Some(42),
        },
    )]
    .into();
    let plan = overlay::plan(&[owned], &overrides, &Vars::new(), &[]).unwrap();
    let owner = |p: &str| {
        let e = plan.get(p).unwrap();
        (e.uid, e.gid)
    };
    assert_eq!(owner("etc"), (0, 0));
    assert_eq!(owner("etc/motd"), (0, 0));
    assert_eq!(owner("etc/shadow"), (0, 42));
}
