//! Issue 5's end-to-end case 7, reproducibility without a VM: the same project (a profile with a
//! root tree, an overlay with a per-node template and a `nodes.toml` with two nodes of the
//! profile) cloned into two unrelated directories with different mtimes, built with
//! `netroot build` and published with `netroot publish` under different umasks, into two
//! separate TFTP/NFS directory pairs, with different out dirs and caches, TZ and locale, gives
//! the same generation names
//! and byte-identical published trees: the same paths, file types, permission bits, contents
//! and symlink targets (an absolute target is compared relative to its own tree's root); the
//! publication log `history.json` differs only in its publish times.
//!
//! Both profiles name one root source directory: the generation id covers the root tree's
//! mtimes, which the builder keeps from the source (even under SOURCE_DATE_EPOCH), so two
//! copies of a tree made a second apart are different inputs. What netroot writes into the
//! tree itself (overlay files, rendered templates, the per-node layers and their directories)
//! gets SOURCE_DATE_EPOCH, so the clones' own mtimes do not matter; and publish sets the modes
//! of what it (and grub-mknetdir) writes, so the publisher's umask does not either.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The published profile.
const PROFILE: &str = "site";

/// One entry of a published tree, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link { target: String },
}

/// `data` with every `from` replaced by `to`.
fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if !from.is_empty() && data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Every entry under `root` by relative path. Absolute symlink targets inside `root` are
/// rewritten as `<root>/...`, and so is `root` inside file contents (the exports snippet names
/// the NFS directory); anything but files, directories and symlinks is an error.
fn snapshot(root: &Path) -> Result<BTreeMap<String, Entry>, String> {
    snapshot_naming(root, None)
}

/// [`snapshot`], with `other` (the other publish target) also rewritten as `<other>` inside
/// file contents: the DHCP files in the NFS target name the TFTP root.
fn snapshot_naming(root: &Path, other: Option<&Path>) -> Result<BTreeMap<String, Entry>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("read {}: {e}", dir.display()))?
                .path();
            let rel = path
                .strip_prefix(root)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .to_string_lossy()
                .into_owned();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("stat {}: {e}", path.display()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let kind = meta.file_type();
            let item = if kind.is_symlink() {
                let target = fs::read_link(&path)
                    .map_err(|e| format!("readlink {}: {e}", path.display()))?;
                let target = match target.strip_prefix(root) {
                    Ok(inside) => format!("<root>/{}", inside.display()),
                    Err(_) => target.display().to_string(),
                };
                Entry::Link { target }
            } else if kind.is_dir() {
                stack.push(path.clone());
                Entry::Dir { mode }
            } else if kind.is_file() {
                let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
                let mut bytes = replace_bytes(&bytes, root.as_os_str().as_bytes(), b"<root>");
                if let Some(other) = other {
                    bytes = replace_bytes(&bytes, other.as_os_str().as_bytes(), b"<other>");
                }
                Entry::File { mode, bytes }
            } else {
                return Err(format!("{}: unexpected file type {kind:?}", path.display()));
            };
            out.insert(rel, item);
        }
    }
    Ok(out)
}

/// The publication log of the profile: a record of when each generation was published.
const HISTORY: &str = "netroot/site/history.json";

/// `history.json` without its `published_unix` times (when, not what, was published).
fn history_without_times(tftp: &Path) -> serde_json::Value {
    let text = fs::read(tftp.join(HISTORY)).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let top = v.as_object_mut().expect("history object");
    assert!(top.remove("activated_ns").is_some(), "{top:?}");
    let gens = v["generations"].as_array_mut().expect("generations array");
    for g in gens.iter_mut() {
        let g = g.as_object_mut().expect("generation object");
        assert!(g.remove("published_unix").is_some(), "{g:?}");
    }
    v
}

/// The first difference between two snapshots, readable (contents shown by size).
fn first_difference(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) -> Option<String> {
    let short = |e: Option<&Entry>| match e {
        None => "absent".to_string(),
        Some(Entry::File { mode, bytes }) => format!("file {mode:o} {} bytes", bytes.len()),
        Some(other) => format!("{other:?}"),
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} vs {}", short(a.get(k)), short(b.get(k))))
}

/// The root source tree: varied modes and a symlink.
fn write_tree(tree: &Path) {
    fs::create_dir_all(tree.join("var/empty")).unwrap();
    write_mode(tree, "etc/os-release", "ID=repro\n", 0o644);
    write_mode(tree, "usr/bin/tool", "#!/bin/sh\necho tool\n", 0o755);
    write_mode(tree, "etc/secret", "s3cret\n", 0o600);
    set_mode(&tree.join("var/empty"), 0o700);
    symlink("usr/bin", tree.join("bin")).unwrap();
}

/// The inventory: two nodes of the profile, one with its own variable.
const NODES: &str = "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"site\"\n\
[node.vars]\nrack = \"r1\"\n\n\
[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"site\"\n";

/// The project: shipped profiles, a profile publishing the root tree `tree` with an overlay
/// (a plain file, a shared template and a per-node one in a directory the tree lacks), and
/// `nodes.toml`.
fn write_project(dir: &Path, tree: &Path) {
    copy_profiles(dir);
    fs::write(
        dir.join("profiles/site.toml"),
        format!(
            "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"{}\"\n\
             [overlays]\nroot = [\"nodefiles\"]\n[vars]\nrack = \"r0\"\n\
             [publish]\nclient_network = \"10.0.2.0/24\"\n",
            tree.display()
        ),
    )
    .unwrap();
    let ov = dir.join("overlays/nodefiles");
    write_mode(&ov, "etc/motd", "shared\n", 0o644);
    write_mode(&ov, "etc/rack.j2", "{{ rack }}\n", 0o644);
    write_mode(&ov, "etc/netroot.d/hostname.j2", "{{ node.name }}\n", 0o644);
    set_mode(&ov.join("etc"), 0o755);
    set_mode(&ov.join("etc/netroot.d"), 0o755);
    fs::write(dir.join("nodes.toml"), NODES).unwrap();
}

/// A second clone of the project at `from`: copied to `to` with fresh mtimes, then every entry
/// set to an mtime years away from the first clone's (as two checkouts made at different times).
fn clone_project(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let o = run(Command::new("cp")
        .args(["-R", "--preserve=mode"])
        .arg(from)
        .arg(to));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(Command::new("find").arg(to).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        "@1000000000",
        "{}",
        "+",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// How one of the two runs differs from the other.
struct RunEnv<'a> {
    /// umask of `netroot build`.
    build_umask: &'a str,
    /// umask of `netroot publish` (grub-mknetdir, which publish runs, creates its files after it).
    publish_umask: &'a str,
    tz: &'a str,
    lang: &'a str,
}

/// `netroot -C dir ARGS` under `umask` and `env`'s TZ and locale, with no cache or
/// SOURCE_DATE_EPOCH from the caller; asserts success.
fn netroot_in(dir: &Path, umask: &str, env: &RunEnv<'_>, args: &[&std::ffi::OsStr]) {
    // umask applies to the process through a shell; everything else through the environment.
    let script = format!("umask {umask} && exec \"$0\" \"$@\"");
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_netroot"));
    c.arg("-C").arg(dir).args(args);
    c.env("TZ", env.tz)
        .env("LANG", env.lang)
        .env("LC_ALL", env.lang)
        .env_remove("NETROOT_CACHE")
        .env_remove("SOURCE_DATE_EPOCH");
    let o = run(&mut c);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Builds `dir`'s profile into its own out dir and cache, then publishes it into
/// `dir/srv/{tftp,nfs}`; returns the two published roots.
fn publish_in(dir: &Path, kernel: &Path, env: &RunEnv<'_>) -> (PathBuf, PathBuf) {
    let (tftp, nfs) = (dir.join("srv/tftp"), dir.join("srv/nfs"));
    let out = dir.join("out");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    netroot_in(
        dir,
        env.build_umask,
        env,
        &[
            os("build"),
            os(PROFILE),
            os("--out"),
            out.as_os_str(),
            os("--kernel"),
            kernel.as_os_str(),
        ],
    );
    netroot_in(
        dir,
        env.publish_umask,
        env,
        &[
            os("publish"),
            os(PROFILE),
            os("--out"),
            out.as_os_str(),
            os("--kernel"),
            kernel.as_os_str(),
            os("--tftp"),
            tftp.as_os_str(),
            os("--nfs"),
            nfs.as_os_str(),
        ],
    );
    (tftp, nfs)
}

#[test]
fn the_same_profile_published_twice_gives_identical_generations_and_trees() {
    let Some(kernel) = kernel_dir() else { return };
    let (a, _b, b_proj) = two_checkouts("repro-a", "other-repro-b", "deeper/project");
    let source = tempfile::tempdir().unwrap();
    write_tree(source.path());
    write_project(a.path(), source.path());
    clone_project(a.path(), &b_proj);
    let env_a = RunEnv {
        build_umask: "022",
        publish_umask: "022",
        tz: "UTC",
        lang: "C",
    };
    let env_b = RunEnv {
        build_umask: "077",
        publish_umask: "077",
        tz: "Pacific/Kiritimati",
        lang: "C.UTF-8",
    };
    let (tftp_a, nfs_a) = publish_in(a.path(), &kernel, &env_a);
    let (tftp_b, nfs_b) = publish_in(&b_proj, &kernel, &env_b);

    let gens = generations(&tftp_a, PROFILE);
    assert_eq!(gens.len(), 1, "{gens:?}");
    assert_eq!(
        gens,
        generations(&tftp_b, PROFILE),
        "generation names differ"
    );
    // The log records publish times; everything else in it must match.
    assert_eq!(
        history_without_times(&tftp_a),
        history_without_times(&tftp_b)
    );
    for (x, y, what, ox, oy) in [
        (&tftp_a, &tftp_b, "tftp", &nfs_a, &nfs_b),
        (&nfs_a, &nfs_b, "nfs", &tftp_a, &tftp_b),
    ] {
        let (mut sa, mut sb) = (
            snapshot_naming(x, Some(ox)).unwrap(),
            snapshot_naming(y, Some(oy)).unwrap(),
        );
        if what == "tftp" {
            assert!(sa.remove(HISTORY).is_some() && sb.remove(HISTORY).is_some());
        }
        assert!(sa.len() > 5, "{what}: only {} entries", sa.len());
        if let Some(diff) = first_difference(&sa, &sb) {
            panic!("{what} trees differ: {diff}");
        }
    }
    // The root tree's modes and symlink arrived as built.
    let snap = snapshot(&nfs_a).unwrap();
    let at = |s: &str| snap.get(&format!("{PROFILE}/{}{s}", gens[0])).cloned();
    assert!(
        matches!(at("/etc/secret"), Some(Entry::File { mode: 0o600, .. })),
        "{:?}",
        at("/etc/secret")
    );
    assert!(
        matches!(at("/var/empty"), Some(Entry::Dir { mode: 0o700 })),
        "{:?}",
        at("/var/empty")
    );
    assert_eq!(
        at("/bin"),
        Some(Entry::Link {
            target: "usr/bin".into()
        })
    );
    // The overlay and the per-node layers are in the compared trees.
    let file = |mode, text: &str| {
        Some(Entry::File {
            mode,
            bytes: text.as_bytes().to_vec(),
        })
    };
    assert_eq!(at("/etc/motd"), file(0o644, "shared\n"));
    assert_eq!(at("/etc/rack"), file(0o644, "r0\n"));
    for (node, rack) in [("c001", "r1\n"), ("c002", "r0\n")] {
        let layer = format!("/.netroot/nodes/{node}");
        assert_eq!(at(&format!("{layer}/etc/rack")), file(0o644, rack));
        assert_eq!(
            at(&format!("{layer}/etc/netroot.d/hostname")),
            file(0o644, &format!("{node}\n"))
        );
        assert_eq!(
            at(&format!("{layer}/etc/netroot.d")),
            Some(Entry::Dir { mode: 0o755 })
        );
    }
    // grub-mknetdir's files, installed under umask 077 in the second tree, are readable by a
    // TFTP server that drops privileges.
    if tftp_b.join(GRUB_CORE).exists() {
        let grub = snapshot(&tftp_b.join("boot")).unwrap();
        for (path, entry) in &grub {
            let mode = match entry {
                Entry::Dir { mode } | Entry::File { mode, .. } => *mode,
                Entry::Link { .. } => continue,
            };
            assert_eq!(mode & 0o444, 0o444, "boot/{path}: mode {mode:o}");
        }
    } else {
        eprintln!("grub-mknetdir not installed: no GRUB images to check");
    }
}

/// GRUB's BIOS network image, which publish installs when grub-mknetdir is available.
const GRUB_CORE: &str = "boot/grub/i386-pc/core.0";

#[test]
fn snapshots_see_mode_content_and_link_differences() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [a.path(), b.path()] {
        fs::write(d.join("f"), "one").unwrap();
        fs::set_permissions(d.join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        symlink(d.join("f"), d.join("abs")).unwrap();
        fs::write(d.join("names-root"), format!("{}/x", d.display())).unwrap();
        fs::set_permissions(d.join("names-root"), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (sa, sb) = (snapshot(a.path()).unwrap(), snapshot(b.path()).unwrap());
    assert_eq!(
        first_difference(&sa, &sb),
        None,
        "absolute links inside the root compare equal"
    );
    assert_eq!(
        sa.get("names-root"),
        Some(&Entry::File {
            mode: 0o644,
            bytes: b"<root>/x".to_vec()
        })
    );
    assert_eq!(
        sa.get("abs"),
        Some(&Entry::Link {
            target: "<root>/f".into()
        })
    );
    fs::set_permissions(b.path().join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        first_difference(&sa, &snapshot(b.path()).unwrap()),
        Some("f: file 644 3 bytes vs file 600 3 bytes".into())
    );
    fs::set_permissions(b.path().join("f"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(b.path().join("f"), "two").unwrap();
    assert!(first_difference(&sa, &snapshot(b.path()).unwrap()).is_some());
    fs::remove_file(b.path().join("abs")).unwrap();
    symlink("/elsewhere/f", b.path().join("abs")).unwrap();
    fs::write(b.path().join("f"), "one").unwrap();
    assert_eq!(
        first_difference(&sa, &snapshot(b.path()).unwrap()),
        Some(format!(
            "abs: {:?} vs {:?}",
            Entry::Link {
                target: "<root>/f".into()
            },
            Entry::Link {
                target: "/elsewhere/f".into()
            }
        ))
    );
}
