//! A project with several profiles (each inheriting `qemu-base`, with its own root tree and its
//! own `menu.cmdline_extra = "NAME_extra=1"`) published into one TFTP/NFS pair, the menu entry
//! parser the checks read the three loaders' files with, and a tmpfs mount for the
//! read-only/full target cases.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common::{self, kernel_dir, stderr, stdout};

/// The shared menus every profile has entries in.
pub const MENUS: [&str; 3] = ["boot/grub/grub.cfg", "netroot.ipxe", "pxelinux.cfg/default"];

pub struct Site {
    pub dir: tempfile::TempDir,
    pub kernel: PathBuf,
    pub tftp: PathBuf,
    pub nfs: PathBuf,
    pub out: PathBuf,
}

impl Site {
    /// A project with `profiles`, targets inside it; `None` (skipped) without the test kernel.
    pub fn new(profiles: &[&str]) -> Option<Site> {
        let dir = common::project();
        let base = dir.path().to_path_buf();
        Self::build(dir, profiles, &base)
    }

    /// Same, the TFTP and NFS directories under `targets`.
    /// `new(profiles)` with the inventory `nodes`, each profile published once, in order.
    pub fn published(profiles: &[&str], nodes: &str) -> Option<Site> {
        let s = Self::new(profiles)?;
        s.nodes(nodes);
        for p in profiles {
            s.publish_ok(p);
        }
        Some(s)
    }

    pub fn with_targets(profiles: &[&str], targets: &Path) -> Option<Site> {
        Self::build(common::project(), profiles, targets)
    }

    fn build(dir: tempfile::TempDir, profiles: &[&str], targets: &Path) -> Option<Site> {
        let kernel = kernel_dir()?;
        let s = Site {
            out: dir.path().join("out"),
            tftp: targets.join("tftp"),
            nfs: targets.join("nfs"),
            kernel,
            dir,
        };
        for p in profiles {
            s.profile(p, "");
        }
        Some(s)
    }

    pub fn profile_path(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("profiles")
            .join(format!("{name}.toml"))
    }

    pub fn tree_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("tree-{name}"))
    }

    /// Writes profile `name` (and its root tree) with `extra` TOML appended.
    pub fn profile(&self, name: &str, extra: &str) {
        self.tree(name, &format!("ID={name}\n"));
        let text = format!(
            "inherits = [\"qemu-base\"]\ndescription = \"{name} nodes\"\n\
             [menu]\ncmdline_extra = \"{name}_extra=1\"\n\
             [root]\nsource = \"dir\"\npath = \"tree-{name}\"\n{extra}"
        );
        fs::write(self.profile_path(name), text).unwrap();
    }

    /// Sets the root tree's `etc/os-release`: a new content, so a new generation.
    pub fn tree(&self, name: &str, os_release: &str) {
        let etc = self.tree_dir(name).join("etc");
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("os-release"), os_release).unwrap();
    }

    pub fn nodes(&self, text: &str) {
        fs::write(self.dir.path().join("nodes.toml"), text).unwrap();
    }

    /// Replaces `from` by `to` in profile `name`.
    pub fn edit(&self, name: &str, from: &str, to: &str) {
        common::edit_profile(self.dir.path(), name, from, to);
    }

    /// `netroot ARGS --tftp --nfs --out` in the project.
    pub fn netroot(&self, args: &[&str]) -> Output {
        let mut c: Command = common::netroot(self.dir.path(), args);
        c.arg("--tftp")
            .arg(&self.tftp)
            .arg("--nfs")
            .arg(&self.nfs)
            .arg("--out")
            .arg(&self.out);
        common::run(&mut c)
    }

    pub fn publish(&self, profile: &str, extra: &[&str]) -> Output {
        let kernel = self.kernel.to_string_lossy().into_owned();
        let mut args = vec!["publish", profile, "--kernel", &kernel];
        args.extend_from_slice(extra);
        self.netroot(&args)
    }

    pub fn publish_ok(&self, profile: &str) -> Output {
        let o = self.publish(profile, &[]);
        assert!(
            o.status.success(),
            "publish {profile}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    /// Publishing `profile` fails, its dry run too, both naming `why`.
    pub fn refused(&self, profile: &str, why: &str) {
        for extra in [&[][..], &["--dry-run"][..]] {
            let o = self.publish(profile, extra);
            assert_eq!(
                o.status.code(),
                Some(1),
                "publish {profile} {extra:?} was not refused"
            );
            assert!(
                stderr(&o).contains(why),
                "{extra:?}: {why:?} not in {}",
                stderr(&o)
            );
        }
    }

    pub fn tftp_text(&self, rel: &str) -> String {
        fs::read_to_string(self.tftp.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn nfs_text(&self, rel: &str) -> String {
        fs::read_to_string(self.nfs.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The kernel command line in `TFTP/netroot/PROFILE/GEN/generation.json`.
    pub fn record_cmdline(&self, profile: &str, gen: &str) -> String {
        let text = self.tftp_text(&format!("netroot/{profile}/{gen}/generation.json"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["cmdline"].as_str().unwrap().to_string()
    }

    pub fn entries_of(&self, menu: &str, profile: &str) -> Vec<Entry> {
        entries(&self.tftp_text(menu))
            .into_iter()
            .filter(|e| e.profile == profile)
            .collect()
    }
}

/// One boot entry of a menu: the kernel it loads (`netroot/PROFILE/GEN/vmlinuz`) and its
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub profile: String,
    pub generation: String,
    pub cmdline: String,
}

impl Entry {
    /// The command line without a node entry's `netroot.node=NAME`.
    pub fn without_node(&self) -> String {
        self.cmdline
            .split(' ')
            .filter(|w| !w.starts_with("netroot.node="))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The entries of a GRUB (`linux PATH ARGS`), iPXE (`kernel URL initrd=initrd ARGS`) or
/// PXELINUX (`KERNEL PATH` … `APPEND ARGS`) menu.
pub fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        let mut words = line.split(' ');
        match words.next() {
            Some("linux" | "kernel") => {
                let (profile, generation) = kernel_path(words.next().unwrap_or(""));
                let args: Vec<&str> = words.filter(|w| *w != "initrd=initrd").collect();
                out.push(Entry {
                    profile,
                    generation,
                    cmdline: args.join(" "),
                });
            }
            Some("KERNEL") => pending = Some(kernel_path(words.next().unwrap_or(""))),
            Some("APPEND") => {
                let (profile, generation) = pending.take().expect("APPEND without KERNEL");
                out.push(Entry {
                    profile,
                    generation,
                    cmdline: words.collect::<Vec<_>>().join(" "),
                });
            }
            _ => {}
        }
    }
    out
}

/// (PROFILE, GEN) of `…netroot/PROFILE/GEN/vmlinuz`.
fn kernel_path(p: &str) -> (String, String) {
    let at = p
        .find("netroot/")
        .unwrap_or_else(|| panic!("kernel path {p:?}"));
    let parts: Vec<&str> = p[at..].split('/').collect();
    assert_eq!(parts.get(3), Some(&"vmlinuz"), "kernel path {p:?}");
    (parts[1].to_string(), parts[2].to_string())
}

/// A tmpfs of a fixed size, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one; `None` (skipped) when not root, unless `NETROOT_REQUIRE_ROOT=1`.
    pub fn mount_or_skip(size: &str) -> Option<Tmpfs> {
        if !common::root_or_skip("the test mounts a tmpfs") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let opts = format!("size={size},mode=0755");
        mount(&["-t", "tmpfs", "-o", &opts, "tmpfs"], dir.path());
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bind-mounts this tmpfs over `at` (a busy mount point no removal can take away).
    pub fn bind_over(&self, at: &Path) {
        mount(&["--bind", &self.dir.path().to_string_lossy()], at);
    }

    /// Unmounts whatever is mounted at `at`.
    pub fn unmount(at: &Path) {
        let o = Command::new("umount").arg(at).output().unwrap();
        assert!(
            o.status.success(),
            "umount {}: {}",
            at.display(),
            stderr(&o)
        );
    }

    /// `mount -o remount,MODE`.
    pub fn remount(&self, mode: &str) {
        mount(&["-o", &format!("remount,{mode}")], self.dir.path());
    }
}

fn mount(args: &[&str], at: &Path) {
    let o = Command::new("mount").args(args).arg(at).output().unwrap();
    assert!(o.status.success(), "mount {args:?}: {}", stderr(&o));
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        match Command::new("umount").arg(self.dir.path()).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("umount {}: {other:?}", self.dir.path().display()),
        }
    }
}
