//! The boot loaders `netroot qemu` can boot through, over a TFTP root that `netroot publish`
//! filled (menus for every loader, generations under `netroot/PROFILE/GEN/`). Like an admin,
//! the run installs the loader binaries once beside the menus ([`install`]); the firmware then
//! fetches the published entry point ([`boot`]).
//!
//! - `direct`: QEMU's `-kernel`/`-initrd`/`-append` with the published generation's files and
//!   its default menu entry's command line; no TFTP.
//! - `ipxe`: the iPXE ROM of nic0 fetches the published `netroot.ipxe`.
//! - `grub`: iPXE chainloads GRUB's `boot/grub/i386-pc/core.0` from `grub-mknetdir`, which
//!   reads the published `boot/grub/grub.cfg` (or the per-MAC `grub.cfg-01-..`).
//! - `pxelinux`: iPXE chainloads `pxelinux.0` (+ `ldlinux.c32`), which reads the published
//!   `pxelinux.cfg/01-..` or `pxelinux.cfg/default`.

use std::path::{Path, PathBuf};

use super::args::Boot;
use super::runner::spawn_error;
use super::QemuError;
use crate::menus;

/// GRUB's BIOS network image below the TFTP root (grub-mknetdir with the default subdir).
pub const GRUB_CORE: &str = "boot/grub/i386-pc/core.0";
/// GRUB's BIOS modules (package grub-pc-bin); forces a BIOS build on EFI hosts too, since QEMU
/// boots SeaBIOS.
pub const GRUB_PC_DIR: &str = "/usr/lib/grub/i386-pc";
/// PXELINUX and its core module (packages pxelinux, syslinux-common).
pub const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
pub const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// The grub-mknetdir program, looked up in `PATH`.
pub const GRUB_MKNETDIR: &str = "grub-mknetdir";

/// How the VM gets its kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Direct,
    Ipxe,
    Grub,
    Pxelinux,
}

impl Loader {
    pub fn name(self) -> &'static str {
        match self {
            Loader::Direct => "direct",
            Loader::Ipxe => "ipxe",
            Loader::Grub => "grub",
            Loader::Pxelinux => "pxelinux",
        }
    }

    /// Text the loader prints first on the serial console (the timeline's `loader` stage).
    pub fn console_needle(self) -> &'static str {
        match self {
            // SeaBIOS's line when it jumps into QEMU's linuxboot option ROM.
            Loader::Direct => "Booting from ROM",
            // iPXE's line when the fetched script starts (`netroot.ipxe : 745 bytes [script]`).
            Loader::Ipxe => "bytes [script]",
            // GRUB's banner once core.0 runs ("Welcome to GRUB!", via SeaBIOS's serial mirror,
            // which under load can garble it), else its own serial menu ("GNU GRUB  version").
            // Nothing before GRUB prints the upper-case word.
            Loader::Grub => "GRUB",
            // PXELINUX's banner once pxelinux.0 runs.
            Loader::Pxelinux => "PXELINUX ",
        }
    }
}

impl std::str::FromStr for Loader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "direct" => Ok(Loader::Direct),
            "ipxe" => Ok(Loader::Ipxe),
            "grub" => Ok(Loader::Grub),
            "pxelinux" => Ok(Loader::Pxelinux),
            other => Err(format!(
                "unknown loader {other:?} (expected grub, ipxe, pxelinux or direct)"
            )),
        }
    }
}

/// Programs and files the loaders need from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderTools {
    pub grub_mknetdir: PathBuf,
    pub grub_pc_dir: PathBuf,
    pub pxelinux: PathBuf,
    pub ldlinux: PathBuf,
}

impl Default for LoaderTools {
    fn default() -> Self {
        LoaderTools {
            grub_mknetdir: PathBuf::from(GRUB_MKNETDIR),
            grub_pc_dir: PathBuf::from(GRUB_PC_DIR),
            pxelinux: PathBuf::from(PXELINUX),
            ldlinux: PathBuf::from(LDLINUX),
        }
    }
}

/// The published generation a direct boot takes: kernel and initramfs below the TFTP root, and
/// the command line of the profile's default menu entry.
#[derive(Debug, Clone, Copy)]
pub struct Published<'a> {
    /// `netroot/PROFILE/GEN/vmlinuz`, relative to the TFTP root.
    pub kernel: &'a str,
    pub initrd: &'a str,
    pub cmdline: &'a str,
}

/// Copies `src` to `dest` atomically (mode 0644, parents created), replacing `dest`.
fn place(src: &Path, dest: &Path) -> Result<(), QemuError> {
    crate::fsx::atomic::copy_atomic(src, dest).map_err(QemuError::io("copy to", dest))
}

/// Installs what `loader` needs into the TFTP root `tftp_dir` beside the published menus, the
/// way an admin installs a network boot loader once: GRUB's BIOS images (grub-mknetdir, when
/// `core.0` is missing; it never touches `boot/grub/grub.cfg`), or `pxelinux.0` + `ldlinux.c32`.
/// Run before publishing, so a missing loader fails before anything is published.
pub fn install(loader: Loader, tools: &LoaderTools, tftp_dir: &Path) -> Result<(), QemuError> {
    match loader {
        Loader::Direct | Loader::Ipxe => Ok(()),
        Loader::Grub if tftp_dir.join(GRUB_CORE).is_file() => Ok(()),
        Loader::Grub => mknetdir(tools, tftp_dir),
        Loader::Pxelinux => {
            for file in [&tools.pxelinux, &tools.ldlinux] {
                let name = file
                    .file_name()
                    .ok_or_else(|| QemuError::PxelinuxMissing { path: file.clone() })?;
                if !file.is_file() {
                    return Err(QemuError::PxelinuxMissing { path: file.clone() });
                }
                place(file, &tftp_dir.join(name))?;
            }
            Ok(())
        }
    }
}

/// How QEMU boots the published TFTP root `tftp_dir` with `loader`: the firmware fetches the
/// loader's published entry point (`netroot.ipxe`, GRUB's `core.0` reading
/// `boot/grub/grub.cfg`, `pxelinux.0` reading `pxelinux.cfg/`), or, for `direct`, QEMU loads
/// the generation's kernel and initramfs itself. Checks that the entry point exists.
pub fn boot(
    loader: Loader,
    tools: &LoaderTools,
    tftp_dir: &Path,
    published: &Published<'_>,
) -> Result<Boot, QemuError> {
    let bootfile = match loader {
        Loader::Direct => {
            return Ok(Boot::Direct {
                kernel: tftp_dir.join(published.kernel),
                initrd: tftp_dir.join(published.initrd),
                cmdline: published.cmdline.to_string(),
            })
        }
        Loader::Ipxe => menus::IPXE_SCRIPT.to_string(),
        Loader::Grub => GRUB_CORE.to_string(),
        Loader::Pxelinux => tools
            .pxelinux
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let entry = tftp_dir.join(&bootfile);
    if !entry.is_file() {
        return Err(QemuError::NotPublished {
            loader: loader.name(),
            path: entry,
        });
    }
    Ok(Boot::Pxe {
        tftp_dir: tftp_dir.to_path_buf(),
        bootfile,
    })
}

/// `grub-mknetdir --net-directory=DIR` for BIOS (i386-pc), its files world-readable.
fn mknetdir(tools: &LoaderTools, tftp_dir: &Path) -> Result<(), QemuError> {
    use crate::deploy::grub::{self, MknetdirError};
    grub::mknetdir(&tools.grub_mknetdir, tftp_dir, Some(&tools.grub_pc_dir)).map_err(|e| match e {
        MknetdirError::Spawn { program, source } => {
            spawn_error(&program, "install grub-common and grub-pc-bin")(source)
        }
        MknetdirError::Failed {
            program,
            status,
            stderr,
        } => QemuError::Command {
            program: program.display().to_string(),
            status,
            stderr,
        },
        MknetdirError::Io { op, path, source } => QemuError::io(op, path)(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PUBLISHED: Published<'static> = Published {
        kernel: "netroot/qt/0123/vmlinuz",
        initrd: "netroot/qt/0123/initramfs.img",
        cmdline: "root=nfs:10.0.2.2:/export/qt/0123 console=ttyS0 panic=-1",
    };

    #[test]
    fn loaders_parse_and_name_themselves() {
        for l in [Loader::Direct, Loader::Ipxe, Loader::Grub, Loader::Pxelinux] {
            assert_eq!(l.name().parse::<Loader>(), Ok(l));
        }
        assert_eq!(
            "uboot".parse::<Loader>(),
            Err("unknown loader \"uboot\" (expected grub, ipxe, pxelinux or direct)".into())
        );
    }

    #[test]
    fn direct_boots_the_published_generation_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = LoaderTools::default();
        install(Loader::Direct, &tools, dir.path()).expect("nothing to install");
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
        let boot = boot(Loader::Direct, &tools, dir.path(), &PUBLISHED).expect("direct");
        assert_eq!(
            boot,
            Boot::Direct {
                kernel: dir.path().join("netroot/qt/0123/vmlinuz"),
                initrd: dir.path().join("netroot/qt/0123/initramfs.img"),
                cmdline: PUBLISHED.cmdline.into()
            }
        );
    }

    #[test]
    fn pxe_loaders_need_their_published_entry_point() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = LoaderTools::default();
        let e = boot(Loader::Ipxe, &tools, dir.path(), &PUBLISHED).expect_err("no script");
        assert_eq!(
            e.to_string(),
            format!(
                "the ipxe loader's entry point {}/netroot.ipxe is not in the published tftp root",
                dir.path().display()
            )
        );
        fs::write(dir.path().join("netroot.ipxe"), "#!ipxe\n").expect("write");
        assert_eq!(
            boot(Loader::Ipxe, &tools, dir.path(), &PUBLISHED).expect("ipxe"),
            Boot::Pxe {
                tftp_dir: dir.path().to_path_buf(),
                bootfile: "netroot.ipxe".into()
            }
        );
    }

    #[test]
    fn pxelinux_needs_its_files_and_says_which() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = LoaderTools {
            pxelinux: dir.path().join("missing/pxelinux.0"),
            ..LoaderTools::default()
        };
        let tftp = dir.path().join("tftp");
        let e = install(Loader::Pxelinux, &tools, &tftp).expect_err("missing");
        assert_eq!(
            e.to_string(),
            format!(
                "pxelinux loader needs {}/missing/pxelinux.0 (Debian packages pxelinux and syslinux-common)",
                dir.path().display()
            )
        );
        let (pxe, ld) = (
            dir.path().join("pxelinux.0"),
            dir.path().join("ldlinux.c32"),
        );
        fs::write(&pxe, "pxe").expect("write");
        fs::write(&ld, "ld").expect("write");
        let tools = LoaderTools {
            pxelinux: pxe,
            ldlinux: ld,
            ..LoaderTools::default()
        };
        install(Loader::Pxelinux, &tools, &tftp).expect("install");
        // Again: the files are replaced, not an error.
        install(Loader::Pxelinux, &tools, &tftp).expect("install again");
        assert_eq!(fs::read(tftp.join("ldlinux.c32")).expect("ld"), b"ld");
        let boot = boot(Loader::Pxelinux, &tools, &tftp, &PUBLISHED).expect("pxelinux");
        assert!(matches!(boot, Boot::Pxe { bootfile, .. } if bootfile == "pxelinux.0"));
    }

    #[test]
    fn grub_reports_a_missing_or_failing_mknetdir_and_installs_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = LoaderTools {
            grub_mknetdir: dir.path().join("no-grub-mknetdir"),
            ..LoaderTools::default()
        };
        let tftp = dir.path().join("t");
        let e = install(Loader::Grub, &tools, &tftp).expect_err("missing");
        assert_eq!(
            e.to_string(),
            format!(
                "{}/no-grub-mknetdir not found (install grub-common and grub-pc-bin)",
                dir.path().display()
            )
        );
        let failing = LoaderTools {
            grub_mknetdir: PathBuf::from("false"),
            ..LoaderTools::default()
        };
        let e = install(Loader::Grub, &failing, &tftp).expect_err("fails");
        assert_eq!(e.to_string(), "false exited with exit status: 1: ");
        // Installed already: grub-mknetdir is not run again.
        fs::create_dir_all(tftp.join("boot/grub/i386-pc")).expect("mkdir");
        fs::write(tftp.join(GRUB_CORE), "core").expect("write");
        install(Loader::Grub, &failing, &tftp).expect("already installed");
        assert!(matches!(
            boot(Loader::Grub, &tools, &tftp, &PUBLISHED).expect("grub"),
            Boot::Pxe { bootfile, .. } if bootfile == GRUB_CORE
        ));
    }
}
