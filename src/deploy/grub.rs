//! `grub-mknetdir`, run the same way by `netroot publish` and `netroot qemu`: it installs GRUB's
//! network boot images (`boot/grub/PLATFORM/core.*`, the modules, fonts and locales) into a TFTP
//! root. It creates them after the caller's umask, so under umask 077 a TFTP server that drops
//! privileges could not read them; [`mknetdir`] then makes what it installed world-readable:
//! directories [`DIR_MODE`], files [`FILE_MODE`].
//!
//! "What it installed" is every entry below `boot/` that did not exist before the run, and below
//! `boot/grub/` every directory and everything inside its subdirectories (grub-mknetdir rewrites
//! those whole, keeping the modes of files it overwrites). Files directly in `boot/grub/` that
//! were there before (netroot's menus) and symlinks are left alone.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// Where grub-mknetdir installs below the TFTP root (its default `--subdir`).
pub const GRUB_SUBDIR: &str = "boot/grub";
/// Mode of the directories grub-mknetdir creates: what it creates under umask 022.
pub const DIR_MODE: u32 = 0o755;
/// Mode of the files grub-mknetdir installs: what it creates under umask 022 (none is executable).
pub const FILE_MODE: u32 = 0o644;

/// A failed `grub-mknetdir` run, or a failure to fix the modes of what it installed.
#[derive(Debug, thiserror::Error)]
pub enum MknetdirError {
    #[error("cannot run {program}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{program} exited with {status}: {stderr}")]
    Failed {
        program: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> MknetdirError {
    let path = path.to_path_buf();
    move |source| MknetdirError::Io { op, path, source }
}

/// Runs `program --net-directory=NET_DIR [--directory=PLATFORM_DIR]` and makes what it
/// installed below `net_dir/boot` world-readable (see the module doc).
pub fn mknetdir(
    program: &Path,
    net_dir: &Path,
    platform_dir: Option<&Path>,
) -> Result<(), MknetdirError> {
    let boot = net_dir.join(boot_dir());
    let before = entries(&boot)?;
    let mut cmd = Command::new(program);
    cmd.arg(prefixed("--net-directory=", net_dir));
    if let Some(dir) = platform_dir {
        cmd.arg(prefixed("--directory=", dir));
    }
    let out = cmd.output().map_err(|source| MknetdirError::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    if !out.status.success() {
        return Err(MknetdirError::Failed {
            program: program.to_path_buf(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    for (path, is_dir) in installed(net_dir, &before, &entries(&boot)?) {
        let mode = if is_dir { DIR_MODE } else { FILE_MODE };
        crate::fsx::atomic::set_mode(&path, mode).map_err(io_err("set the mode of", &path))?;
    }
    Ok(())
}

/// `boot`, the first component of [`GRUB_SUBDIR`].
fn boot_dir() -> &'static str {
    GRUB_SUBDIR.split('/').next().unwrap_or(GRUB_SUBDIR)
}

fn prefixed(flag: &str, path: &Path) -> OsString {
    let mut s = OsString::from(flag);
    s.push(path);
    s
}

/// Every directory and regular file at and below `top` (not following symlinks), with whether it
/// is a directory; empty when `top` does not exist.
fn entries(top: &Path) -> Result<Vec<(PathBuf, bool)>, MknetdirError> {
    let mut out = Vec::new();
    match fs::symlink_metadata(top) {
        Ok(md) if md.is_dir() => out.push((top.to_path_buf(), true)),
        Ok(_) => return Ok(out),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("inspect", top)(e)),
    }
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let e = e.map_err(io_err("read", &dir))?;
            let path = e.path();
            let ft = e.file_type().map_err(io_err("inspect", &path))?;
            if ft.is_dir() {
                stack.push(path.clone());
                out.push((path, true));
            } else if ft.is_file() {
                out.push((path, false));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The entries of `after` that grub-mknetdir installed into `net_dir`: those not in `before`,
/// and below `boot/grub` every directory and every file inside a subdirectory.
fn installed(
    net_dir: &Path,
    before: &[(PathBuf, bool)],
    after: &[(PathBuf, bool)],
) -> Vec<(PathBuf, bool)> {
    let old: BTreeSet<&Path> = before.iter().map(|(p, _)| p.as_path()).collect();
    let grub = net_dir.join(GRUB_SUBDIR);
    after
        .iter()
        .filter(|(p, is_dir)| {
            !old.contains(p.as_path())
                || p.strip_prefix(&grub)
                    .is_ok_and(|rel| *is_dir || rel.components().count() >= 2)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    /// A stand-in grub-mknetdir: a shell script that installs like the real one under umask 077
    /// and records its arguments.
    fn fake(dir: &Path) -> PathBuf {
        let script = dir.join("fake-mknetdir");
        fs::write(
            &script,
            "#!/bin/sh\numask 077\nnet=${1#--net-directory=}\necho \"$@\" > \"$net/args\"\n\
             mkdir -p \"$net/boot/grub/i386-pc\" \"$net/boot/grub/fonts\"\n\
             echo core > \"$net/boot/grub/i386-pc/core.0\"\n\
             echo font > \"$net/boot/grub/fonts/unicode.pf2\"\n\
             echo mod > \"$net/boot/grub/i386-pc/old.mod\"\n",
        )
        .expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        script
    }

    #[test]
    fn what_it_installs_becomes_world_readable_and_the_menus_are_left_alone() {
        let t = tempfile::tempdir().expect("tempdir");
        let program = fake(t.path());
        let net = t.path().join("tftp");
        // A menu published before, with a mode of its own, and a module left from a run under
        // umask 077 (overwritten in place, so its mode would stay).
        fs::create_dir_all(net.join("boot/grub/i386-pc")).expect("mkdir");
        fs::write(net.join("boot/grub/grub.cfg"), "menu").expect("menu");
        fs::set_permissions(
            net.join("boot/grub/grub.cfg"),
            fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
        fs::write(net.join("boot/grub/i386-pc/old.mod"), "old").expect("mod");
        fs::set_permissions(
            net.join("boot/grub/i386-pc/old.mod"),
            fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        fs::set_permissions(
            net.join("boot/grub/i386-pc"),
            fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        mknetdir(&program, &net, Some(Path::new("/usr/lib/grub/i386-pc"))).expect("mknetdir");
        assert_eq!(
            fs::read_to_string(net.join("args")).expect("args"),
            format!(
                "--net-directory={} --directory=/usr/lib/grub/i386-pc\n",
                net.display()
            )
        );
        for d in ["boot/grub/i386-pc", "boot/grub/fonts"] {
            assert_eq!(mode(&net.join(d)), DIR_MODE, "{d}");
        }
        for f in [
            "boot/grub/i386-pc/core.0",
            "boot/grub/i386-pc/old.mod",
            "boot/grub/fonts/unicode.pf2",
        ] {
            assert_eq!(mode(&net.join(f)), FILE_MODE, "{f}");
        }
        assert_eq!(mode(&net.join("boot/grub/grub.cfg")), 0o640);
    }

    #[test]
    fn directories_it_creates_are_fixed_and_no_platform_dir_means_no_flag() {
        let t = tempfile::tempdir().expect("tempdir");
        let program = fake(t.path());
        let net = t.path().join("tftp");
        fs::create_dir(&net).expect("mkdir");
        mknetdir(&program, &net, None).expect("mknetdir");
        assert_eq!(
            fs::read_to_string(net.join("args")).expect("args"),
            format!("--net-directory={}\n", net.display())
        );
        for d in ["boot", "boot/grub", "boot/grub/i386-pc"] {
            assert_eq!(mode(&net.join(d)), DIR_MODE, "{d}");
        }
        // The TFTP root itself is not grub-mknetdir's: its mode is the caller's.
        assert_eq!(mode(&net.join("args")), 0o600);
    }

    #[test]
    fn a_missing_or_failing_program_is_an_error_naming_it() {
        let t = tempfile::tempdir().expect("tempdir");
        let missing = t.path().join("no-mknetdir");
        let e = mknetdir(&missing, t.path(), None).expect_err("missing");
        assert_eq!(e.to_string(), format!("cannot run {}", missing.display()));
        assert!(
            matches!(&e, MknetdirError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        let script = t.path().join("failing");
        fs::write(&script, "#!/bin/sh\necho 'no modules here' >&2\nexit 3\n").expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = mknetdir(&script, t.path(), None).expect_err("fails");
        assert_eq!(
            e.to_string(),
            format!(
                "{} exited with exit status: 3: no modules here",
                script.display()
            )
        );
    }
}
