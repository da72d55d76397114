//! The publish engine end to end on temporary targets: layout of a first publish, no-op
//! republish, one-file change costing one copy (inode numbers), rollback, gc, the hook, a profile
//! without root tree, and bad input.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod publish_support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use netroot::publish::{
    dry_run, gc, gc_dry_run, publish, rollback, verify, ConsumerChange, MenuFiles, PlanState,
};
use publish_support::*;

#[test]
fn first_publish_lays_out_generation_consumers_and_history() {
    let w = World::new();
    let r = w.publish();
    let g = r.generation.clone();
    assert_eq!(r.state, PlanState::New);
    assert!(r.success() && !r.already_published());
    let t = r.tree.as_ref().unwrap();
    assert_eq!((t.copied, t.linked, t.hardlinks), (TREE_FILES, 0, 1));
    assert!(
        r.to_string().contains(&format!("compute: published {g}")),
        "{r}"
    );

    for (name, src) in [
        ("vmlinuz", "vmlinuz"),
        ("initramfs.img", "initramfs.img"),
        ("manifest.json", "manifest.json"),
    ] {
        assert_eq!(
            fs::read(w.tftp(&format!("netroot/compute/{g}/{name}"))).unwrap(),
            fs::read(w.src.join("boot").join(src)).unwrap()
        );
    }
    let rec: serde_json::Value = serde_json::from_slice(
        &fs::read(w.tftp(&format!("netroot/compute/{g}/generation.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["generation"], g.as_str());
    assert_eq!(rec["cmdline"], "console=ttyS0 quiet");
    assert_eq!(
        fs::read_link(w.tftp("netroot/compute/current"))
            .unwrap()
            .to_str(),
        Some(g.as_str())
    );
    assert_eq!(
        fs::read_link(w.nfs("compute/current")).unwrap().to_str(),
        Some(g.as_str())
    );
    let ipxe = fs::read_to_string(w.tftp("netroot.ipxe")).unwrap();
    common::assert_has(&ipxe, &format!("netroot/compute/{g}/vmlinuz"));
    common::assert_has(&ipxe, &format!("/netroot/compute/{g},vers=4.2"));
    assert!(w.tftp("boot/grub/grub.cfg").is_file() && w.tftp("pxelinux.cfg/default").is_file());
    for (rel, want) in [
        ("netroot.ipxe".to_string(), 0o644),
        (format!("netroot/compute/{g}/vmlinuz"), 0o644),
        (format!("netroot/compute/{g}"), 0o755),
        ("boot/grub".to_string(), 0o755),
    ] {
        assert_eq!(
            fs::metadata(w.tftp(&rel)).unwrap().mode() & 0o777,
            want,
            "{rel}"
        );
    }

    let h: serde_json::Value =
        serde_json::from_slice(&fs::read(w.tftp("netroot/compute/history.json")).unwrap()).unwrap();
    assert_eq!(h["active"], g.as_str());
    assert_eq!(h["generations"].as_array().unwrap().len(), 1);
    assert!(w.nfs(&format!("compute/{g}.tree.json")).is_file());

    assert_same_tree(&w.root(), &w.gen_tree(&g));
    let t = w.gen_tree(&g);
    let mode = |rel: &str| fs::symlink_metadata(t.join(rel)).unwrap().mode() & 0o7777;
    assert_eq!(
        (
            mode("usr/bin/su"),
            mode("tmp"),
            mode("srv/shared"),
            mode("ro")
        ),
        (0o4755, 0o1777, 0o2775, 0o555)
    );
    assert_eq!(
        fs::read_link(t.join("var-run")).unwrap().to_str(),
        Some("/run")
    );
    if is_root() {
        let md = fs::symlink_metadata(t.join("dev/null")).unwrap();
        assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
        assert_eq!(
            (
                fs::symlink_metadata(t.join("srv/shared")).unwrap().uid(),
                md.uid()
            ),
            (1000, 0)
        );
        assert_eq!(
            xattrs(&t.join("usr/bin/su"))
                .get("trusted.netroot")
                .map(Vec::as_slice),
            Some(&b"t"[..])
        );
        assert_eq!(
            fs::symlink_metadata(t.join("usr/hostname-rel"))
                .unwrap()
                .gid(),
            8
        );
    } else {
        eprintln!("skipped (not root): device node, owner and trusted.* checks");
    }
    let v = verify("compute", &w.targets).unwrap();
    assert!(v.is_clean(), "{v}");
    assert_eq!(v.generations.len(), 1);
    assert!(leftovers(&w.targets).is_empty());
}

/// umask is per process: this test must not run while another test creates files, so it runs
/// its publish in a child process.
#[test]
fn served_files_are_world_readable_whatever_the_umask() {
    let w = World::new();
    let exe = std::env::current_exe().unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" --exact umask_child --nocapture --test-threads=1")
        .arg(&exe)
        .env("NETROOT_UMASK_CHILD", &w.base)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let g = fs::read_link(w.tftp("netroot/compute/current")).unwrap();
    let g = g.to_str().unwrap();
    for rel in [
        "netroot.ipxe".to_string(),
        format!("netroot/compute/{g}/initramfs.img"),
    ] {
        assert_eq!(
            fs::metadata(w.tftp(&rel)).unwrap().mode() & 0o777,
            0o644,
            "{rel}"
        );
    }
    for rel in [
        "pxelinux.cfg".to_string(),
        "netroot/compute".to_string(),
        format!("netroot/compute/{g}"),
    ] {
        assert_eq!(
            fs::metadata(w.tftp(&rel)).unwrap().mode() & 0o777,
            0o755,
            "{rel}"
        );
    }
}

/// The child of `served_files_are_world_readable_whatever_the_umask`; does nothing otherwise.
#[test]
fn umask_child() {
    let Some(base) = std::env::var_os("NETROOT_UMASK_CHILD") else {
        return;
    };
    let w = World::at(std::path::Path::new(&base));
    w.publish();
}

#[test]
fn identical_republish_changes_nothing() {
    let w = World::new();
    let first = w.publish();
    let before = w.snapshots();
    let again = w.publish();
    assert_eq!(again.generation, first.generation);
    assert!(again.already_published());
    assert_eq!(again.state, PlanState::Published { active: true });
    assert_eq!(again.fs_ops, 0, "no filesystem step on a no-op");
    assert!(again.tree.is_none());
    assert_eq!(
        again.to_string(),
        format!("compute: {} already published\n", first.generation)
    );
    assert_eq!(before, w.snapshots());
}

#[test]
fn one_changed_file_costs_one_copy_and_the_rest_are_hardlinks() {
    let w = World::new();
    let g1 = w.publish_gen();
    let changed = w.root().join("data/f07");
    let mtime = fs::symlink_metadata(&changed).unwrap().mtime();
    fs::write(&changed, b"new content\n").unwrap();
    let r = w.publish();
    let g2 = r.generation.clone();
    assert_ne!(g1, g2);
    assert_eq!(r.link_dest.as_deref(), Some(g1.as_str()));
    assert_eq!(r.previous.as_deref(), Some(g1.as_str()));
    let t = r.tree.unwrap();
    assert_eq!(t.copied, 1, "{t:?}");
    assert_eq!(t.linked, TREE_FILES - 1, "{t:?}");
    assert_eq!((t.bytes_copied, t.hardlinks), (12, 1));

    let ino = |g: &str, rel: &str| fs::symlink_metadata(w.gen_tree(g).join(rel)).unwrap().ino();
    let mut same = 0;
    for e in fs::read_dir(w.root().join("data")).unwrap() {
        let name = e.unwrap().file_name();
        let rel = std::path::Path::new("data").join(&name);
        let rel = rel.to_str().map(str::to_string);
        let Some(rel) = rel else { continue };
        if rel == "data/f07" {
            assert_ne!(ino(&g1, &rel), ino(&g2, &rel));
        } else {
            assert_eq!(ino(&g1, &rel), ino(&g2, &rel), "{rel}");
            same += 1;
        }
    }
    assert_eq!(same, 47);
    assert_eq!(ino(&g1, "usr/bin/su"), ino(&g2, "usr/bin/su"));
    assert_eq!(
        ino(&g1, "etc/hostname"),
        ino(&g2, "etc/hostname.link"),
        "group linked as a whole"
    );
    // The old generation is untouched.
    assert_eq!(
        fs::read(w.gen_tree(&g1).join("data/f07")).unwrap(),
        "data file 7\n".repeat(8).as_bytes()
    );
    assert_eq!(
        fs::symlink_metadata(w.gen_tree(&g1).join("data/f07"))
            .unwrap()
            .mtime(),
        mtime
    );
    assert_same_tree(&w.root(), &w.gen_tree(&g2));
    assert!(verify("compute", &w.targets).unwrap().is_clean());
}

#[test]
fn metadata_only_change_copies_instead_of_linking() {
    let w = World::new();
    let g1 = w.publish_gen();
    let f = w.root().join("data/f01");
    let md = fs::symlink_metadata(&f).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    let r = w.publish();
    assert_ne!(r.generation, g1);
    assert_eq!(r.tree.unwrap().copied, 1);
    assert_eq!(
        fs::symlink_metadata(w.gen_tree(&g1).join("data/f01"))
            .unwrap()
            .mode()
            & 0o7777,
        md.mode() & 0o7777,
        "previous generation's inode kept its mode"
    );
    assert_same_tree(&w.root(), &w.gen_tree(&r.generation));
}

#[test]
fn cmdline_and_kernel_changes_make_new_generations() {
    let w = World::new();
    let g1 = w.publish_gen();
    let mut o = w.opts();
    o.cmdline.push_str(" debug");
    let r = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert_ne!(r.generation, g1);
    assert_eq!(
        r.tree.unwrap().copied,
        0,
        "tree identical: everything linked"
    );
    assert!(fs::read_to_string(w.tftp("netroot.ipxe"))
        .unwrap()
        .contains("quiet debug"));
    w.set_artifacts(b"kernel-2", b"initramfs-1");
    let r3 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert_ne!(r3.generation, r.generation);
    assert_eq!(
        fs::read(w.tftp(&format!("netroot/compute/{}/vmlinuz", r3.generation))).unwrap(),
        b"kernel-2"
    );
}

#[test]
fn rollback_flips_every_consumer_to_the_previous_generation() {
    let w = World::new();
    let g1 = w.publish_gen();
    let ipxe1 = fs::read(w.tftp("netroot.ipxe")).unwrap();
    fs::write(w.root().join("etc/motd"), b"hello\n").unwrap();
    let g2 = w.publish_gen();

    let r = rollback("compute", None, menus, &w.targets, &w.opts()).unwrap();
    assert_eq!((r.from.as_str(), r.to.as_str()), (g2.as_str(), g1.as_str()));
    assert!(
        r.consumers
            .iter()
            .all(|c| c.change == ConsumerChange::Update),
        "{r:?}"
    );
    assert_eq!(fs::read(w.tftp("netroot.ipxe")).unwrap(), ipxe1);
    assert_eq!(
        fs::read_link(w.nfs("compute/current")).unwrap().to_str(),
        Some(g1.as_str())
    );
    assert_eq!(
        fs::read_link(w.tftp("netroot/compute/current"))
            .unwrap()
            .to_str(),
        Some(g1.as_str())
    );
    assert!(verify("compute", &w.targets).unwrap().is_clean());

    let e = rollback("compute", None, menus, &w.targets, &w.opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("profile compute: no generation before {g1} to roll back to")
    );
    let e = rollback(
        "compute",
        Some("g0000000000000000"),
        menus,
        &w.targets,
        &w.opts(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "profile compute: generation g0000000000000000 is not in the history"
    );
    let e = rollback("other", None, menus, &w.targets, &w.opts()).unwrap_err();
    assert_eq!(e.to_string(), "profile other has no published generation");

    // Publishing the newer content again re-activates its generation without copying.
    let again = w.publish();
    assert_eq!(again.generation, g2);
    assert_eq!(again.state, PlanState::Published { active: false });
    assert!(again.tree.is_none());
    assert_eq!(
        fs::read_link(w.nfs("compute/current")).unwrap().to_str(),
        Some(g2.as_str())
    );
    // And rollback --to names any listed generation.
    let r = rollback("compute", Some(&g1), menus, &w.targets, &w.opts()).unwrap();
    assert_eq!(r.to, g1);
}

#[test]
fn gc_keeps_n_newest_plus_active_and_rollback_target() {
    let w = World::new();
    let gens = w.publish_versions(5);
    // Active = gens[1] after rolling back to it; its rollback target is gens[0].
    rollback("compute", Some(&gens[1]), menus, &w.targets, &w.opts()).unwrap();
    // Leftovers of an interrupted run and an orphaned generation directory.
    fs::create_dir_all(w.nfs("compute/.netroot-tmp-tree-1-2-3/x")).unwrap();
    fs::write(w.tftp("netroot/compute/.netroot-tmp-file-1"), b"partial").unwrap();
    fs::create_dir_all(w.tftp("netroot/compute/g00000000000000aa")).unwrap();

    let r = gc("compute", &w.targets, 1, &w.opts()).unwrap();
    assert_eq!(r.kept, [gens[0].clone(), gens[1].clone(), gens[4].clone()]);
    assert_eq!(r.removed, [gens[2].clone(), gens[3].clone()]);
    assert_eq!(r.cleaned.len(), 3, "{r:?}");
    for g in &gens[2..4] {
        assert!(!w.gen_tree(g).exists() && !w.tftp(&format!("netroot/compute/{g}")).exists());
        assert!(!w.nfs(&format!("compute/{g}.tree.json")).exists());
    }
    for g in [&gens[0], &gens[1], &gens[4]] {
        assert!(w.gen_tree(g).is_dir());
    }
    assert!(leftovers(&w.targets).is_empty());
    assert!(verify("compute", &w.targets).unwrap().is_clean());
    // keep 0 still never removes the active generation or its rollback target.
    let r = gc("compute", &w.targets, 0, &w.opts()).unwrap();
    assert_eq!(r.kept, [gens[0].clone(), gens[1].clone()]);
    assert_eq!(r.removed, [gens[4].clone()]);
}

#[test]
fn gc_dry_run_lists_exactly_what_gc_removes_and_touches_nothing() {
    let w = World::new();
    let gens = w.publish_versions(4);
    fs::write(w.tftp("netroot/compute/.netroot-tmp-file-1"), b"partial").unwrap();
    fs::create_dir_all(w.tftp("netroot/compute/g00000000000000aa")).unwrap();
    let before = w.snapshots();

    let dry = gc_dry_run("compute", &w.targets, 1).unwrap();
    assert_eq!(w.snapshots(), before, "a dry run changed the targets");
    assert!(dry.dry_run && dry.fs_ops == 0);
    // Active gens[3], rollback target gens[2]; keep 1 lets gens[0] and gens[1] go.
    assert_eq!(dry.removed, [gens[0].clone(), gens[1].clone()]);
    for g in &gens[..2] {
        assert_eq!(
            dry.removed_parts[g],
            [
                w.tftp(&format!("netroot/compute/{g}")),
                w.gen_tree(g),
                w.nfs(&format!("compute/{g}.tree.json")),
            ]
        );
    }
    assert_eq!(
        dry.cleaned,
        [
            w.tftp("netroot/compute/.netroot-tmp-file-1"),
            w.tftp("netroot/compute/g00000000000000aa"),
        ]
    );
    let text = dry.to_string();
    assert!(
        text.starts_with(&format!(
            "compute: would remove 2 generation(s), would keep {} {}\n  would remove {}\n    {}\n",
            gens[2],
            gens[3],
            gens[0],
            w.tftp(&format!("netroot/compute/{}", gens[0])).display()
        )),
        "{text}"
    );

    let real = gc("compute", &w.targets, 1, &w.opts()).unwrap();
    assert!(!real.dry_run);
    assert_eq!(
        (
            &real.removed,
            &real.removed_parts,
            &real.cleaned,
            &real.kept
        ),
        (&dry.removed, &dry.removed_parts, &dry.cleaned, &dry.kept)
    );
    for p in dry.removed_parts.values().flatten().chain(&dry.cleaned) {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{} still there",
            p.display()
        );
    }
    assert!(verify("compute", &w.targets).unwrap().is_clean());
}

#[test]
fn gc_never_removes_a_generation_a_menu_still_references() {
    let w = World::new();
    let g1 = w.publish_gen();
    // A node-specific menu the renderer keeps pinned to g1 (a node held back on it).
    let g1_kernel = format!("netroot/compute/{g1}/vmlinuz");
    let pinned = |p: &netroot::publish::GenerationPaths| {
        let mut m = menus(p);
        m.files.push((
            "pxelinux.cfg/01-52-54-00-00-00-09".into(),
            format!("KERNEL {g1_kernel}\n").into_bytes(),
        ));
        m
    };
    for i in 0..3 {
        fs::write(w.root().join("etc/version"), format!("{i}\n")).unwrap();
        publish(&w.artifacts(), pinned, &w.targets, &w.opts()).unwrap();
    }
    let r = gc("compute", &w.targets, 0, &w.opts()).unwrap();
    assert!(r.kept.contains(&g1), "{r:?}");
    assert!(w.gen_tree(&g1).is_dir());
    // Once no render lists the file, the next activation removes it and gc may take g1.
    fs::write(w.root().join("etc/version"), "last\n").unwrap();
    w.publish();
    assert!(!w
        .targets
        .tftp
        .join("pxelinux.cfg/01-52-54-00-00-00-09")
        .exists());
    let r = gc("compute", &w.targets, 0, &w.opts()).unwrap();
    assert!(r.removed.contains(&g1), "{r:?}");
}

#[test]
fn hook_gets_the_environment_and_its_failure_keeps_activation() {
    let w = World::new();
    let out = w.base.join("hook.out");
    let mut o = w.opts();
    o.hook = Some(format!(
        "echo \"$NETROOT_ACTION $PROFILE $GEN $TFTP $NFS\" >> {}",
        out.display()
    ));
    let r = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert!(r.success());
    let line = fs::read_to_string(&out).unwrap();
    assert_eq!(
        line,
        format!(
            "publish compute {} {} {}\n",
            r.generation,
            w.targets.tftp.display(),
            w.targets.nfs.display()
        )
    );
    fs::write(w.root().join("etc/motd"), b"x\n").unwrap();
    o.hook = Some("echo 'exportfs: cannot reach peer' >&2; exit 4".into());
    let r2 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert!(!r2.success());
    let text = r2.to_string();
    assert!(text.contains("hook FAILED (exit code 4)"), "{text}");
    assert!(text.contains("  | exportfs: cannot reach peer"), "{text}");
    assert_eq!(
        fs::read_link(w.nfs("compute/current")).unwrap().to_str(),
        Some(r2.generation.as_str())
    );
    // A no-op publish runs the hook again (retry path).
    o.hook = Some(format!("echo retry >> {}", out.display()));
    let r3 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert!(r3.already_published() && r3.success());
    assert!(fs::read_to_string(&out).unwrap().ends_with("retry\n"));
}

#[test]
fn profile_without_root_tree_publishes_boot_files_only() {
    let w = World::new();
    let mut a = w.artifacts();
    a.root_tree = None;
    let r = publish(&a, menus, &w.targets, &w.opts()).unwrap();
    assert!(r.tree.is_none());
    assert!(w
        .tftp(&format!("netroot/compute/{}/vmlinuz", r.generation))
        .is_file());
    assert!(!w.nfs("compute").exists());
    assert!(verify("compute", &w.targets).unwrap().is_clean());
    let with_root = w.publish();
    assert_ne!(with_root.generation, r.generation);
}

#[test]
fn dry_run_reports_and_changes_nothing() {
    let w = World::new();
    let plan = dry_run(&w.artifacts(), menus, &w.targets, &w.opts()).unwrap();
    assert_eq!(plan.state, PlanState::New);
    assert!(
        !w.targets.tftp.exists() && !w.targets.nfs.exists(),
        "dry run created the targets"
    );
    assert_eq!(plan.tree.as_ref().unwrap().copied, TREE_FILES);
    assert!(plan
        .consumers
        .iter()
        .all(|c| c.change == ConsumerChange::Create));
    let text = plan.to_string();
    assert!(
        text.starts_with(&format!(
            "compute: would publish new generation {}\n",
            plan.generation
        )),
        "{text}"
    );
    common::assert_has(&text, "  tftp:netroot.ipxe: would flip (new)");

    let r = w.publish();
    assert_eq!(
        r.generation, plan.generation,
        "dry run predicts the generation id"
    );
    let plan = dry_run(&w.artifacts(), menus, &w.targets, &w.opts()).unwrap();
    assert!(plan.is_noop());
    assert!(plan
        .to_string()
        .contains("already published and active; nothing to do"));

    fs::write(w.root().join("data/f03"), b"changed\n").unwrap();
    let before = w.snapshots();
    let plan = dry_run(&w.artifacts(), menus, &w.targets, &w.opts()).unwrap();
    let t = plan.tree.as_ref().unwrap();
    assert_eq!((t.copied, t.linked), (1, TREE_FILES - 1));
    assert_eq!(plan.link_dest.as_deref(), Some(r.generation.as_str()));
    assert!(plan
        .consumers
        .iter()
        .all(|c| c.change == ConsumerChange::Update));
    assert_eq!(before, w.snapshots());
}

#[test]
fn hash_memo_avoids_rereading_unchanged_files() {
    let w = World::new();
    let mut o = w.opts();
    o.hash_memo = Some(w.base.join("memo.json"));
    // Files written within the racy window are not memoized: wait it out once.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r1 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert_eq!(r1.files_hashed, TREE_FILES + 1);
    let r2 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert!(r2.already_published());
    assert_eq!(r2.files_hashed, 0);
    fs::write(w.root().join("data/f09"), b"changed\n").unwrap();
    let r3 = publish(&w.artifacts(), menus, &w.targets, &o).unwrap();
    assert_eq!(r3.files_hashed, 1);
    assert_ne!(r3.generation, r1.generation);
}

#[test]
fn bad_input_is_rejected_with_the_path() {
    let w = World::new();
    let mut a = w.artifacts();
    a.profile = "../evil".into();
    let e = publish(&a, menus, &w.targets, &w.opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid profile name \"../evil\": must not start with '.' or '-'"
    );
    let mut a = w.artifacts();
    a.root_tree = Some(w.root().join("etc/hostname"));
    let e = publish(&a, menus, &w.targets, &w.opts()).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "etc/hostname: the root tree must be a directory (symlinks are not followed)"
        ),
        "{e}"
    );
    let mut a = w.artifacts();
    a.vmlinuz = w.src.join("boot/missing");
    let e = publish(&a, menus, &w.targets, &w.opts()).unwrap_err();
    assert!(
        e.to_string().starts_with("stat ") && e.to_string().contains("boot/missing"),
        "{e}"
    );
    let bad_menu = |_: &netroot::publish::GenerationPaths| MenuFiles {
        files: vec![("../etc/passwd".into(), b"x".to_vec())],
        ..Default::default()
    };
    let e = publish(&w.artifacts(), bad_menu, &w.targets, &w.opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid menu file path \"../etc/passwd\": contains '..'"
    );
    assert!(
        !w.targets.nfs.exists(),
        "nothing staged before the menus were validated"
    );
}
