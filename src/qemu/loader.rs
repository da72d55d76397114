//! The boot loaders `netroot qemu` can boot through, and the scratch TFTP directory each needs,
//! laid out like a published one: `netroot/vmlinuz`, `netroot/initramfs.img`, and the loader's
//! files with a one-entry menu rendered by [`crate::menus`] (timeout 0, serial console unit 0).
//!
//! - `direct`: QEMU's `-kernel`/`-initrd`/`-append`; no TFTP.
//! - `ipxe`: the iPXE ROM of nic0 fetches `netroot.ipxe` from user networking's TFTP.
//! - `grub`: iPXE chainloads GRUB's `boot/grub/i386-pc/core.0` from `grub-mknetdir`, which
//!   reads `boot/grub/grub.cfg`.
//! - `pxelinux`: iPXE chainloads `pxelinux.0` (+ `ldlinux.c32`), which reads
//!   `pxelinux.cfg/default`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::args::Boot;
use super::runner::spawn_error;
use super::QemuError;
use crate::menus::{self, MenuEntry, MenuModel};

/// Where the kernel and initramfs go below the TFTP root.
pub const TFTP_KERNEL: &str = "netroot/vmlinuz";
pub const TFTP_INITRD: &str = "netroot/initramfs.img";
/// The menu's single entry id.
const ENTRY_ID: &str = "netroot";
/// Serial console of the loaders' menus: COM1 at the kernel's `console=ttyS0` default speed.
const SERIAL: (u8, u32) = (0, 115_200);
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
            // GRUB's banner once core.0 runs.
            Loader::Grub => "Welcome to GRUB!",
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

/// What to boot.
#[derive(Debug, Clone, Copy)]
pub struct BootFiles<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The whole kernel command line.
    pub cmdline: &'a str,
    /// Menu entry title.
    pub title: &'a str,
}

/// The one-entry menu every loader renders.
pub fn menu(files: &BootFiles<'_>) -> MenuModel {
    MenuModel {
        entries: vec![MenuEntry {
            id: ENTRY_ID.into(),
            title: files.title.into(),
            kernel: TFTP_KERNEL.into(),
            initrd: TFTP_INITRD.into(),
            cmdline: files.cmdline.into(),
        }],
        default: ENTRY_ID.into(),
        timeout_secs: 0,
        http_base: None,
        serial: Some(SERIAL),
        title: None,
        tftp_server: None,
    }
}

/// Hard-links `src` to `dest` (same filesystem), else copies it; replaces `dest`.
fn place(src: &Path, dest: &Path) -> Result<(), QemuError> {
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(QemuError::io("create", dir))?;
    }
    match fs::remove_file(dest) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(QemuError::io("remove", dest)(e))
        }
        _ => {}
    }
    if fs::hard_link(src, dest).is_err() {
        fs::copy(src, dest).map_err(QemuError::io("copy to", dest))?;
    }
    Ok(())
}

fn write(dest: &Path, text: &str) -> Result<(), QemuError> {
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(QemuError::io("create", dir))?;
    }
    fs::write(dest, text).map_err(QemuError::io("write", dest))
}

fn menu_error(loader: Loader) -> impl FnOnce(menus::MenuError) -> QemuError {
    move |source| QemuError::Menu {
        loader: loader.name(),
        source: Box::new(source),
    }
}

/// Fills `tftp_dir` (created if needed) for `loader` and returns how QEMU boots.
pub fn prepare(
    loader: Loader,
    tools: &LoaderTools,
    files: &BootFiles<'_>,
    tftp_dir: &Path,
) -> Result<Boot, QemuError> {
    let model = menu(files);
    // Render first: a command line a loader cannot carry fails before any file is written.
    let bootfile = match loader {
        Loader::Direct => {
            return Ok(Boot::Direct {
                kernel: files.kernel.to_path_buf(),
                initrd: files.initrd.to_path_buf(),
                cmdline: files.cmdline.to_string(),
            })
        }
        Loader::Ipxe => {
            let script = menus::ipxe_script(&model).map_err(menu_error(loader))?;
            write(&tftp_dir.join(menus::IPXE_SCRIPT), &script)?;
            menus::IPXE_SCRIPT.to_string()
        }
        Loader::Grub => {
            let cfg = menus::grub_cfg(&model).map_err(menu_error(loader))?;
            mknetdir(tools, tftp_dir)?;
            write(&tftp_dir.join(menus::GRUB_DIR).join("grub.cfg"), &cfg)?;
            GRUB_CORE.to_string()
        }
        Loader::Pxelinux => {
            let cfg = menus::pxelinux_cfg(&model).map_err(menu_error(loader))?;
            for file in [&tools.pxelinux, &tools.ldlinux] {
                let name = file
                    .file_name()
                    .ok_or_else(|| QemuError::PxelinuxMissing { path: file.clone() })?;
                if !file.is_file() {
                    return Err(QemuError::PxelinuxMissing { path: file.clone() });
                }
                place(file, &tftp_dir.join(name))?;
            }
            write(&tftp_dir.join(menus::PXELINUX_DIR).join("default"), &cfg)?;
            tools
                .pxelinux
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    };
    place(files.kernel, &tftp_dir.join(TFTP_KERNEL))?;
    place(files.initrd, &tftp_dir.join(TFTP_INITRD))?;
    Ok(Boot::Pxe {
        tftp_dir: tftp_dir.to_path_buf(),
        bootfile,
    })
}

/// `grub-mknetdir --net-directory=DIR` for BIOS (i386-pc).
fn mknetdir(tools: &LoaderTools, tftp_dir: &Path) -> Result<(), QemuError> {
    let mut net_directory = std::ffi::OsString::from("--net-directory=");
    net_directory.push(tftp_dir);
    let mut directory = std::ffi::OsString::from("--directory=");
    directory.push(&tools.grub_pc_dir);
    let out = Command::new(&tools.grub_mknetdir)
        .arg(net_directory)
        .arg(directory)
        .output()
        .map_err(spawn_error(
            &tools.grub_mknetdir,
            "install grub-common and grub-pc-bin",
        ))?;
    if !out.status.success() {
        return Err(QemuError::Command {
            program: tools.grub_mknetdir.display().to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        kernel: PathBuf,
        initrd: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = dir.path().join("vmlinuz");
        let initrd = dir.path().join("initramfs.img");
        fs::write(&kernel, "kernel").expect("write");
        fs::write(&initrd, "initrd").expect("write");
        Fixture {
            dir,
            kernel,
            initrd,
        }
    }

    const CMDLINE: &str = "root=nfs:10.0.2.2:/export:port=2049 console=ttyS0 panic=-1";

    fn files(f: &Fixture) -> BootFiles<'_> {
        BootFiles {
            kernel: &f.kernel,
            initrd: &f.initrd,
            cmdline: CMDLINE,
            title: "netroot qemu: vmtest",
        }
    }

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
    fn direct_uses_the_build_outputs_in_place() {
        let f = fixture();
        let tftp = f.dir.path().join("tftp");
        let boot =
            prepare(Loader::Direct, &LoaderTools::default(), &files(&f), &tftp).expect("direct");
        assert_eq!(
            boot,
            Boot::Direct {
                kernel: f.kernel.clone(),
                initrd: f.initrd.clone(),
                cmdline: CMDLINE.into()
            }
        );
        assert!(!tftp.exists());
    }

    #[test]
    fn ipxe_gets_a_script_and_the_files_at_the_tftp_root() {
        let f = fixture();
        let tftp = f.dir.path().join("tftp");
        let boot = prepare(Loader::Ipxe, &LoaderTools::default(), &files(&f), &tftp).expect("ipxe");
        assert_eq!(
            boot,
            Boot::Pxe {
                tftp_dir: tftp.clone(),
                bootfile: "netroot.ipxe".into()
            }
        );
        let script = fs::read_to_string(tftp.join("netroot.ipxe")).expect("script");
        assert!(script.starts_with("#!ipxe\n"), "{script}");
        assert!(script.contains("netroot/vmlinuz"), "{script}");
        assert!(script.contains("port=2049"), "{script}");
        assert_eq!(fs::read(tftp.join(TFTP_KERNEL)).expect("kernel"), b"kernel");
        assert_eq!(fs::read(tftp.join(TFTP_INITRD)).expect("initrd"), b"initrd");
        // A second run replaces the files.
        prepare(Loader::Ipxe, &LoaderTools::default(), &files(&f), &tftp).expect("again");
    }

    #[test]
    fn pxelinux_needs_its_files_and_says_which() {
        let f = fixture();
        let tools = LoaderTools {
            pxelinux: f.dir.path().join("missing/pxelinux.0"),
            ..LoaderTools::default()
        };
        let e = prepare(
            Loader::Pxelinux,
            &tools,
            &files(&f),
            &f.dir.path().join("t"),
        )
        .expect_err("missing");
        assert_eq!(
            e.to_string(),
            format!(
                "pxelinux loader needs {}/missing/pxelinux.0 (Debian packages pxelinux and syslinux-common)",
                f.dir.path().display()
            )
        );
        let (pxe, ld) = (
            f.dir.path().join("pxelinux.0"),
            f.dir.path().join("ldlinux.c32"),
        );
        fs::write(&pxe, "pxe").expect("write");
        fs::write(&ld, "ld").expect("write");
        let tools = LoaderTools {
            pxelinux: pxe,
            ldlinux: ld,
            ..LoaderTools::default()
        };
        let tftp = f.dir.path().join("tftp");
        let boot = prepare(Loader::Pxelinux, &tools, &files(&f), &tftp).expect("pxelinux");
        assert!(matches!(boot, Boot::Pxe { bootfile, .. } if bootfile == "pxelinux.0"));
        let cfg = fs::read_to_string(tftp.join("pxelinux.cfg/default")).expect("cfg");
        assert!(cfg.contains("KERNEL ::netroot/vmlinuz"), "{cfg}");
        assert!(cfg.starts_with("# netroot boot menu"), "{cfg}");
        assert!(cfg.contains("SERIAL 0 115200"), "{cfg}");
        assert!(tftp.join("ldlinux.c32").is_file());
    }

    #[test]
    fn grub_reports_a_missing_or_failing_mknetdir() {
        let f = fixture();
        let tools = LoaderTools {
            grub_mknetdir: f.dir.path().join("no-grub-mknetdir"),
            ..LoaderTools::default()
        };
        let e = prepare(Loader::Grub, &tools, &files(&f), &f.dir.path().join("t"))
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            format!(
                "{}/no-grub-mknetdir not found (install grub-common and grub-pc-bin)",
                f.dir.path().display()
            )
        );
        let tools = LoaderTools {
            grub_mknetdir: PathBuf::from("false"),
            ..LoaderTools::default()
        };
        let e =
            prepare(Loader::Grub, &tools, &files(&f), &f.dir.path().join("t")).expect_err("fails");
        assert_eq!(e.to_string(), "false exited with exit status: 1: ");
    }

    #[test]
    fn a_command_line_a_loader_cannot_carry_is_refused_before_writing() {
        let f = fixture();
        let tftp = f.dir.path().join("tftp");
        let bad = BootFiles {
            cmdline: "netroot.debug x=${evil}",
            ..files(&f)
        };
        let e = prepare(Loader::Ipxe, &LoaderTools::default(), &bad, &tftp).expect_err("ipxe");
        assert!(
            e.to_string()
                .starts_with("cannot render the ipxe boot files"),
            "{e}"
        );
        assert!(!tftp.exists());
    }
}
