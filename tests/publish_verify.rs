//! `verify` finds every kind of damage to a published generation (content, metadata, missing and
//! unexpected files, a tampered manifest, artifacts) and dangling consumers, and names the path.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod publish_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use netroot::publish::tree::ProblemKind;
use netroot::publish::verify;
use publish_support::*;

#[test]
fn verify_reports_each_damaged_file() {
    let w = World::new();
    let g1 = w.publish_gen();
    fs::write(w.root().join("etc/motd"), b"v2\n").unwrap();
    let g2 = w.publish_gen();
    assert!(verify("compute", &w.targets).unwrap().is_clean());

    let t2 = w.gen_tree(&g2);
    fs::write(t2.join("etc/motd"), b"tampered\n").unwrap(); // same inode, new content
    fs::set_permissions(t2.join("usr/bin/tool"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::remove_file(t2.join("data/f10")).unwrap();
    fs::write(t2.join("etc/extra"), b"?").unwrap();
    fs::write(
        w.tftp(&format!("netroot/compute/{g2}/initramfs.img")),
        b"truncated",
    )
    .unwrap();

    let v = verify("compute", &w.targets).unwrap();
    assert!(!v.is_clean());
    let text = v.to_string();
    let g2c = v.generations.iter().find(|g| g.generation == g2).unwrap();
    assert!(g2c.active);
    let find = |suffix: &str| {
        g2c.problems
            .iter()
            .filter(|p| p.path.ends_with(suffix))
            .map(|p| p.kind.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        matches!(find("/etc/motd").as_slice(), [ProblemKind::MetadataChanged { field, .. }, ProblemKind::ContentChanged { .. }] if field == "size")
            || find("/etc/motd")
                .iter()
                .any(|k| matches!(k, ProblemKind::ContentChanged { .. })),
        "{text}"
    );
    assert!(
        find("/usr/bin/tool").contains(&ProblemKind::MetadataChanged {
            field: "mode".into(),
            expected: "0755".into(),
            actual: "0777".into()
        }),
        "{text}"
    );
    // chmod also changes the previous generation's file: the inode is shared by hardlink.
    let g1c = v.generations.iter().find(|g| g.generation == g1).unwrap();
    assert!(
        g1c.problems
            .iter()
            .any(|p| p.path.ends_with("/usr/bin/tool")),
        "{text}"
    );
    assert_eq!(find("/data/f10"), [ProblemKind::Missing]);
    assert_eq!(find("/etc/extra"), [ProblemKind::Unexpected]);
    assert!(
        matches!(
            find("/initramfs.img").as_slice(),
            [ProblemKind::ContentChanged { .. }]
        ),
        "{text}"
    );
    assert!(text.contains("/etc/extra: not in the manifest"), "{text}");
    assert!(text.contains("/data/f10: missing"), "{text}");
    common::assert_has(&text, "/usr/bin/tool: mode changed (0777, expected 0755)");
    common::assert_has(&text, &format!("compute: {g2} (active): FAILED"));

    // A missing artifact and a tampered tree manifest.
    fs::remove_file(w.tftp(&format!("netroot/compute/{g1}/vmlinuz"))).unwrap();
    let mfile = w.nfs(&format!("compute/{g1}.tree.json"));
    let m = fs::read_to_string(&mfile)
        .unwrap()
        .replace("\"mode\":420", "\"mode\":438");
    fs::write(&mfile, m).unwrap();
    let v = verify("compute", &w.targets).unwrap();
    let g1c = v.generations.iter().find(|g| g.generation == g1).unwrap();
    let text = v.to_string();
    assert!(
        g1c.problems
            .iter()
            .any(|p| p.path.ends_with("/vmlinuz") && p.kind == ProblemKind::Missing),
        "{text}"
    );
    assert!(text.contains("does not match generation.json"), "{text}");
}

#[test]
fn verify_reports_dangling_and_stale_consumers() {
    let w = World::new();
    let g = w.publish_gen();
    let ipxe = fs::read_to_string(w.tftp("netroot.ipxe")).unwrap();
    fs::write(
        w.tftp("netroot.ipxe"),
        ipxe.replace(&g, "g0000000000000bad"),
    )
    .unwrap();
    std::os::unix::fs::symlink("g0000000000000bad", w.nfs("compute/.x")).unwrap();
    fs::rename(w.nfs("compute/.x"), w.nfs("compute/current")).unwrap();
    let v = verify("compute", &w.targets).unwrap();
    let text = v.to_string();
    assert_eq!(v.consumers.len(), 2, "{text}");
    common::assert_has(
        &text,
        "tftp:netroot.ipxe: references generation g0000000000000bad, which is not published",
    );
    common::assert_has(
        &text,
        "nfs:compute/current: references generation g0000000000000bad",
    );
    assert!(v.generations.iter().all(|g| g.problems.is_empty()));
    // Publishing again repairs the consumers.
    w.publish();
    assert!(verify("compute", &w.targets).unwrap().is_clean());
}

#[test]
fn verify_of_unpublished_profile_is_empty_and_clean() {
    let w = World::new();
    let v = verify("compute", &w.targets).unwrap();
    assert!(v.is_clean() && v.generations.is_empty());
    let e = verify("bad/name", &w.targets).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid profile name \"bad/name\": only letters, digits, '.', '_' and '-' are allowed"
    );
}
