//! Damage never spreads and can be repaired: a damaged file of the active generation is re-checked
//! before it is hardlinked into a new one (boot files re-hashed; tree entries re-read when their
//! stat stamp is not the one recorded at publish), and `repair` restores every damaged or missing
//! file from an intact copy (another generation, the build output, the build cache's root tree).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod publish_support;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use netroot::publish::{publish, repair, verify, PublishOptions, PublishReport, RepairSources};
use publish_support::*;

/// Flips the first byte of `p` in place (same inode), then puts its mtime back: only the ctime
/// tells that it was written.
fn flip_byte_keep_mtime(p: &Path) {
    let md = fs::symlink_metadata(p).unwrap();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
    drop(f);
    set_times(p, md.mtime(), md.mtime_nsec());
}

fn set_times(p: &Path, secs: i64, nsec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: nsec,
    };
    let ts = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &ts,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn ino(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().ino()
}

/// Options with a hash memo (and so a memo of published inodes) under the world's base.
fn memo_opts(w: &World) -> PublishOptions {
    PublishOptions {
        hash_memo: Some(w.base.join("memo.json")),
        ..w.opts()
    }
}

fn publish_change(w: &World, o: &PublishOptions, motd: &str) -> PublishReport {
    fs::write(w.root().join("etc/motd"), motd).unwrap();
    publish(&w.artifacts(), menus, &w.targets, o).unwrap()
}

fn boot(w: &World, g: &str, name: &str) -> PathBuf {
    w.tftp(&format!("netroot/compute/{g}/{name}"))
}

#[test]
fn a_corrupt_boot_file_is_not_hardlinked_into_the_next_generation() {
    let w = World::new();
    let g1 = publish_change(&w, &w.opts(), "v1\n").generation;
    let bad = boot(&w, &g1, "initramfs.img");
    flip_byte_keep_mtime(&bad);
    let r = publish_change(&w, &w.opts(), "v2\n");
    let new = boot(&w, &r.generation, "initramfs.img");
    assert_eq!(fs::read(&new).unwrap(), b"initramfs-1");
    assert_ne!(ino(&new), ino(&bad), "the corrupt inode is not linked");
    let warning = r
        .warnings
        .iter()
        .find(|w| w.contains("initramfs.img"))
        .unwrap_or_else(|| panic!("{:?}", r.warnings));
    assert!(warning.starts_with(&bad.display().to_string()), "{warning}");
    assert!(warning.contains("content changed"), "{warning}");
    assert!(r.to_string().contains("warning: "), "{r}");
    // Intact boot files still are linked.
    let k = |g: &str| ino(&boot(&w, g, "vmlinuz"));
    assert_eq!(k(&g1), k(&r.generation));
}

#[test]
fn a_tree_file_written_behind_the_stamp_is_reread_and_not_linked() {
    let w = World::new();
    let o = memo_opts(&w);
    publish_change(&w, &o, "v1\n");
    // An unchanged previous tree is vouched for by the memo of published inodes: only the
    // hardlink pair (its ctime changes when its second name is linked) is read again.
    let r2 = publish_change(&w, &o, "v2\n");
    let st = r2.tree.clone().unwrap();
    assert_eq!(st.rehashed, 1, "{st:?}");
    assert!(st.linked >= TREE_FILES - 3, "{st:?}");
    assert!(r2.warnings.is_empty(), "{:?}", r2.warnings);

    // One byte flipped with the mtime put back: type, size, mode, owner and mtime look intact,
    // but the ctime changed, so the stamp is not the recorded one and the file is re-read.
    let t2 = w.gen_tree(&r2.generation);
    flip_byte_keep_mtime(&t2.join("data/f05"));
    // A symlink replaced by another target, its mtime put back.
    let link = t2.join("usr/hostname-rel");
    let lmd = fs::symlink_metadata(&link).unwrap();
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../etc/shadow", &link).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(&link, Some(lmd.uid()), Some(lmd.gid())).unwrap();
    }
    set_times(&link, lmd.mtime(), lmd.mtime_nsec());

    let r3 = publish_change(&w, &o, "v3\n");
    let st = r3.tree.clone().unwrap();
    assert_eq!(st.rehashed, 3, "{st:?}");
    let t3 = w.gen_tree(&r3.generation);
    assert_eq!(
        fs::read(t3.join("data/f05")).unwrap(),
        fs::read(w.root().join("data/f05")).unwrap()
    );
    assert_ne!(ino(&t3.join("data/f05")), ino(&t2.join("data/f05")));
    assert_eq!(
        fs::read_link(t3.join("usr/hostname-rel")).unwrap(),
        Path::new("../etc/hostname")
    );
    let text = r3.warnings.join("\n");
    assert!(
        text.contains(&format!(
            "{}: content changed",
            t2.join("data/f05").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}: symlink target changed", link.display())),
        "{text}"
    );
    assert_eq!(r3.warnings.len(), 2, "{text}");
    // The new generation is intact; the damaged ones still are damaged (repair fixes them).
    let v = verify("compute", &w.targets).unwrap();
    let new = v.generations.iter().find(|g| g.generation == r3.generation);
    assert!(new.is_some_and(|g| g.problems.is_empty()), "{v}");
    assert!(!v.is_clean(), "{v}");
}

#[test]
fn without_a_memo_every_linked_file_is_reread() {
    let w = World::new();
    publish_change(&w, &w.opts(), "v1\n");
    let r = publish_change(&w, &w.opts(), "v2\n");
    let st = r.tree.unwrap();
    assert_eq!(st.rehashed, st.linked + st.linked_other, "{st:?}");
}

/// Two generations sharing every tree file but etc/motd, and every boot file.
fn two_generations(w: &World) -> (String, String) {
    let g1 = publish_change(w, &w.opts(), "v1\n").generation;
    let g2 = publish_change(w, &w.opts(), "v2\n").generation;
    (g1, g2)
}

fn sources(w: &World) -> RepairSources {
    RepairSources {
        build_out: Some(w.src.join("boot")),
        root_tree: Some(w.root()),
    }
}

fn restored_from(r: &netroot::publish::RepairReport, path: &Path) -> String {
    r.restored
        .iter()
        .find(|x| x.path == path)
        .unwrap_or_else(|| panic!("{} not restored:\n{r}", path.display()))
        .source
        .clone()
}

#[test]
fn repair_restores_from_another_generation_and_is_idempotent() {
    let w = World::new();
    let (g1, g2) = two_generations(&w);
    // Replaced (new inodes): the other generation keeps intact copies.
    let k2 = boot(&w, &g2, "vmlinuz");
    fs::remove_file(&k2).unwrap();
    fs::write(&k2, b"evil kernel").unwrap();
    let t2 = w.gen_tree(&g2);
    fs::remove_file(t2.join("data/f10")).unwrap();
    fs::remove_file(t2.join("usr/bin/tool")).unwrap();
    fs::write(t2.join("usr/bin/tool"), b"trojan").unwrap();
    fs::remove_file(t2.join("dangling")).unwrap();
    fs::write(t2.join("etc/extra"), b"?").unwrap();
    assert!(!verify("compute", &w.targets).unwrap().is_clean());

    let r = repair("compute", &w.targets, &RepairSources::default()).unwrap();
    assert!(r.is_clean(), "{r}");
    assert_eq!(restored_from(&r, &k2), format!("generation {g1}"));
    assert_eq!(fs::read(&k2).unwrap(), b"kernel-1");
    for f in ["data/f10", "usr/bin/tool"] {
        assert_eq!(restored_from(&r, &t2.join(f)), format!("generation {g1}"));
    }
    assert_eq!(
        restored_from(&r, &t2.join("dangling")),
        "recreated from the manifest"
    );
    assert!(r.removed.contains(&t2.join("etc/extra")), "{r}");
    let text = r.to_string();
    assert!(
        text.contains(&format!("restored {} from generation {g1}", k2.display())),
        "{text}"
    );
    assert!(text.contains("no longer share it"), "{text}");
    // Contents and metadata (mode, owner, mtime, xattrs) are the manifest's again.
    assert!(verify("compute", &w.targets).unwrap().is_clean());
    assert_same_tree(&w.root(), &t2);
    assert!(leftovers(&w.targets).is_empty());

    let again = repair("compute", &w.targets, &RepairSources::default()).unwrap();
    assert!(again.is_clean(), "{again}");
    assert!(
        again.restored.is_empty() && again.removed.is_empty(),
        "{again}"
    );
}

#[test]
fn a_shared_inode_damaged_in_place_is_restored_from_the_build_output_and_root_cache() {
    let w = World::new();
    let (g1, g2) = two_generations(&w);
    // In place: every generation sharing the inode is damaged.
    flip_byte_keep_mtime(&boot(&w, &g2, "initramfs.img"));
    flip_byte_keep_mtime(&w.gen_tree(&g2).join("etc/shadow"));
    fs::set_permissions(
        w.gen_tree(&g1).join("usr/bin/su"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let r = repair("compute", &w.targets, &sources(&w)).unwrap();
    assert!(r.is_clean(), "{r}");
    // The newest generation is repaired first, from the build output and the root cache; the
    // older one then finds intact copies in it.
    for (g, boot_from, tree_from) in [
        (
            &g2,
            format!("the build output {}", w.src.join("boot").display()),
            "the build cache's root tree".to_string(),
        ),
        (&g1, format!("generation {g2}"), format!("generation {g2}")),
    ] {
        let i = boot(&w, g, "initramfs.img");
        assert_eq!(restored_from(&r, &i), boot_from);
        assert_eq!(fs::read(&i).unwrap(), b"initramfs-1");
        let shadow = w.gen_tree(g).join("etc/shadow");
        assert_eq!(restored_from(&r, &shadow), tree_from);
        // Only the mode changed: the file's own content is reused, setuid restored.
        let su = w.gen_tree(g).join("usr/bin/su");
        assert_eq!(
            restored_from(&r, &su),
            "its own content (metadata from the manifest)"
        );
        assert_eq!(fs::symlink_metadata(&su).unwrap().mode() & 0o7777, 0o4755);
    }
    assert_ne!(
        ino(&boot(&w, &g1, "initramfs.img")),
        ino(&boot(&w, &g2, "initramfs.img")),
        "restored by rename: the generations no longer share the inode"
    );
    assert!(verify("compute", &w.targets).unwrap().is_clean());
}

#[test]
fn a_file_without_an_intact_copy_is_named_and_left_unrepaired() {
    let w = World::new();
    let (g1, g2) = two_generations(&w);
    let hostname = w.gen_tree(&g2).join("etc/hostname");
    flip_byte_keep_mtime(&hostname);
    let r = repair("compute", &w.targets, &RepairSources::default()).unwrap();
    assert!(!r.is_clean(), "{r}");
    let text = r.to_string();
    for g in [&g1, &g2] {
        let p = w.gen_tree(g).join("etc/hostname");
        assert!(
            text.contains(&format!("cannot restore {}: no intact copy", p.display())),
            "{text}"
        );
        // Its other name cannot be linked to a restored first name either.
        let l = w.gen_tree(g).join("etc/hostname.link");
        assert!(
            text.contains(&format!("cannot restore {}", l.display())),
            "{text}"
        );
    }
    assert!(!r.after.is_clean());
    // The root cache has the content: a second repair with it restores everything.
    let r = repair("compute", &w.targets, &sources(&w)).unwrap();
    assert!(r.is_clean(), "{r}");
    let v = verify("compute", &w.targets).unwrap();
    assert!(v.is_clean(), "{v}");
    let i = |g: &str, f: &str| ino(&w.gen_tree(g).join(f));
    assert_eq!(i(&g1, "etc/hostname"), i(&g1, "etc/hostname.link"));
}

#[test]
fn repair_of_a_missing_tree_and_boot_file_and_of_an_unpublished_profile() {
    let w = World::new();
    let clean = repair("compute", &w.targets, &sources(&w)).unwrap();
    assert!(clean.is_clean() && clean.restored.is_empty());
    assert!(!w.targets.tftp.exists(), "nothing written");
    let (_, g2) = two_generations(&w);
    fs::remove_file(boot(&w, &g2, "manifest.json")).unwrap();
    let t2 = w.gen_tree(&g2);
    fs::set_permissions(t2.join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(t2.join("data")).unwrap();
    fs::remove_file(t2.join("dev/initctl")).unwrap();
    let r = repair("compute", &w.targets, &sources(&w)).unwrap();
    assert!(r.is_clean(), "{r}");
    assert!(
        restored_from(&r, &t2.join("data")).contains("created"),
        "{r}"
    );
    assert_eq!(
        restored_from(&r, &t2.join("ro")),
        "its metadata, from the manifest"
    );
    assert!(verify("compute", &w.targets).unwrap().is_clean());
    assert_same_tree(&w.root(), &t2);
}

#[test]
fn a_tampered_record_cannot_make_repair_write_outside_the_generation() {
    let w = World::new();
    let g = publish_change(&w, &w.opts(), "v1\n").generation;
    let rec = w.tftp(&format!("netroot/compute/{g}/generation.json"));
    let text = fs::read_to_string(&rec).unwrap().replacen(
        "\"files\": {",
        "\"files\": {\n    \"../../../escape\": {\"size\": 8, \"blake3\": \"00\"},",
        1,
    );
    fs::write(&rec, text).unwrap();
    let r = repair("compute", &w.targets, &sources(&w)).unwrap();
    assert!(!r.is_clean(), "{r}");
    assert!(
        r.to_string()
            .contains("lists \"../../../escape\", which is no boot file"),
        "{r}"
    );
    assert!(!w.base.join("escape").exists() && !w.targets.tftp.join("escape").exists());
}

#[test]
fn repair_gives_a_rechowned_directory_its_published_owner_back() {
    if !common::root_or_skip("chown of a published directory to another user") {
        return;
    }
    let w = World::new();
    let (_g1, g2) = two_generations(&w);
    let etc = w.gen_tree(&g2).join("etc");
    let want = fs::symlink_metadata(&etc).unwrap().uid();
    std::os::unix::fs::lchown(&etc, Some(1234), Some(1234)).unwrap();
    let before = verify("compute", &w.targets).unwrap();
    assert!(!before.is_clean(), "{before}");
    let r = repair("compute", &w.targets, &RepairSources::default()).unwrap();
    assert!(r.is_clean(), "{r}");
    assert_eq!(fs::symlink_metadata(&etc).unwrap().uid(), want);
    let after = verify("compute", &w.targets).unwrap();
    assert!(after.is_clean(), "{after}");
}
