//! Debian root trees from a recipe, built by `mmdebstrap` into a cached tarball.
//!
//! The cache key hashes the recipe, the *contents* of the customize hooks (in order) and the
//! `SOURCE_DATE_EPOCH` used, so an unchanged recipe never reruns mmdebstrap (~40 s for minbase).
//! The archive mirror is not snapshotted: to pick up new packages, change the recipe or delete
//! `cache/rootfs/`. The hooks that run are private copies of the hashed bytes, so what ran is
//! what the key says. The tarball is written next to its final name and renamed into place, so
//! the cache never holds half an archive.
//!
//! The recipe itself and what is accepted in it are [`recipe`]'s.

mod recipe;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::RootfsError;
use recipe::bad;
pub use recipe::{validate, Recipe};

/// Program run when [`super::Tools`] is not given: looked up in `PATH`.
pub const MMDEBSTRAP: &str = "mmdebstrap";
/// Subdirectory of the cache holding the tarballs.
pub const CACHE_SUBDIR: &str = "rootfs";
/// Version of the cache-key scheme and of the command line we build; bump it when either
/// changes so old tarballs are not reused.
const KEY_SCHEME: &str = "netroot-rootfs-mmdebstrap-v1";
/// The reproducibility variable mmdebstrap reads.
pub const SOURCE_DATE_EPOCH_ENV: &str = "SOURCE_DATE_EPOCH";
/// Epoch used when `SOURCE_DATE_EPOCH` is unset: without one mmdebstrap stamps the current time
/// (not reproducible), and 0 would make `/etc/shadow` record password changes on day 0, which
/// means "must change at next login". 2024-01-01T00:00:00Z.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_704_067_200;
/// Customize hook run before the user's: mmdebstrap copies the build host's hostname and DNS
/// configuration into the tree (a host leak, and different on every build host).
const STRIP_HOST_FILES_HOOK: &str = "rm -f \"$1/etc/hostname\" \"$1/etc/resolv.conf\"";
/// Where mmdebstrap makes its temporary chroot.
const TMPDIR_ENV: &str = "TMPDIR";
/// Lines of mmdebstrap output kept in the error when it fails.
const OUTPUT_TAIL_LINES: usize = 40;

/// The epoch to build with: `SOURCE_DATE_EPOCH` or [`DEFAULT_SOURCE_DATE_EPOCH`].
pub fn source_date_epoch() -> Result<u64, RootfsError> {
    match std::env::var(SOURCE_DATE_EPOCH_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_SOURCE_DATE_EPOCH),
        Ok(v) => v
            .parse()
            .map_err(|_| bad("SOURCE_DATE_EPOCH", &v, "is not a non-negative integer")),
        Err(std::env::VarError::NotUnicode(v)) => Err(bad(
            "SOURCE_DATE_EPOCH",
            &v.to_string_lossy(),
            "is not a non-negative integer",
        )),
    }
}

/// The cache key (hex blake3) of a recipe, its hook contents and the epoch.
pub fn cache_key(recipe: &Recipe, hooks: &[Vec<u8>], epoch: u64) -> String {
    let mut h = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(KEY_SCHEME.as_bytes());
    field(recipe.suite.as_bytes());
    field(recipe.variant.as_bytes());
    field(recipe.packages.join(",").as_bytes());
    field(recipe.components.join(",").as_bytes());
    field(recipe.mirror.as_deref().unwrap_or("\0default").as_bytes());
    field(&epoch.to_le_bytes());
    field(&(hooks.len() as u64).to_le_bytes());
    for hook in hooks {
        field(blake3::hash(hook).as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The mmdebstrap arguments for `recipe`, writing `out`, running the hook files `hooks`.
pub fn command_args(recipe: &Recipe, hooks: &[PathBuf], out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        format!("--variant={}", recipe.variant).into(),
        "--format=tar".into(),
    ];
    if !recipe.packages.is_empty() {
        args.push(format!("--include={}", recipe.packages.join(",")).into());
    }
    if !recipe.components.is_empty() {
        args.push(format!("--components={}", recipe.components.join(",")).into());
    }
    args.push(format!("--customize-hook={STRIP_HOST_FILES_HOOK}").into());
    for hook in hooks {
        // Quoted, so mmdebstrap runs it under sh with the root as "$1" whatever the path holds.
        let cmd = format!("{} \"$1\"", shell_quote(&hook.to_string_lossy()));
        args.push(format!("--customize-hook={cmd}").into());
    }
    args.push(recipe.suite.clone().into());
    args.push(out.as_os_str().to_owned());
    if let Some(m) = &recipe.mirror {
        args.push(m.into());
    }
    args
}

/// Whether a cached tarball is used as it is or made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Run mmdebstrap only on a cache miss.
    IfMissing,
    /// Run it again and replace the cached tarball (`netroot build --refresh-root`: the
    /// mirror's current packages, security updates included, for the same recipe).
    Always,
}

/// The cached tarball for `recipe`, running `program` (mmdebstrap) on a cache miss or when
/// `refresh` says so (the old tarball stays until the new one is complete).
pub(crate) fn cached_tarball(
    recipe: &Recipe,
    cache: &Path,
    program: &Path,
    refresh: Refresh,
) -> Result<PathBuf, RootfsError> {
    validate(recipe)?;
    let mut hooks = Vec::with_capacity(recipe.hooks.len());
    for path in &recipe.hooks {
        hooks.push(fs::read(path).map_err(|source| RootfsError::Hook {
            path: path.clone(),
            source,
        })?);
    }
    let epoch = source_date_epoch()?;
    let dir = cache.join(CACHE_SUBDIR);
    let out = dir.join(format!("{}.tar", cache_key(recipe, &hooks, epoch)));
    if out.is_file() && refresh == Refresh::IfMissing {
        return Ok(out);
    }
    fs::create_dir_all(&dir).map_err(RootfsError::io("creating", &dir))?;
    let work = tempfile::Builder::new()
        .prefix(".mmdebstrap-")
        .tempdir_in(&dir)
        .map_err(RootfsError::io("creating a temporary directory in", &dir))?;
    let mut hook_paths = Vec::with_capacity(hooks.len());
    for (i, content) in hooks.iter().enumerate() {
        let p = work.path().join(format!("hook-{i}"));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&p)
            .map_err(RootfsError::io("writing", &p))?;
        f.write_all(content)
            .map_err(RootfsError::io("writing", &p))?;
        hook_paths.push(p);
    }
    let partial = work.path().join("out.tar");
    let args = command_args(recipe, &hook_paths, &partial);
    let ended = run_mmdebstrap(program, &args, epoch, work.path());
    // Whatever happened, nothing stays mounted in the work directory before it is removed
    // (a killed mmdebstrap leaves its chroot's /proc, /sys, /dev/pts and /dev/shm).
    detach_leftovers(work.path())?;
    let finished = match ended? {
        crate::child::Ended::Exited(f) => f,
        crate::child::Ended::Interrupted(i, _) => return Err(RootfsError::Interrupted(i)),
    };
    if !finished.status.success() || !partial.is_file() {
        let args_text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(RootfsError::MmdebstrapFailed {
            program: program.to_path_buf(),
            args: args_text.join(" "),
            status: if finished.status.success() {
                "exit 0 but no output tarball".to_owned()
            } else {
                finished.status.to_string()
            },
            output: finished.tail.join("\n"),
        });
    }
    fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(RootfsError::io("syncing", &partial))?;
    crate::fsx::atomic::rename_durable(&partial, &out)
        .map_err(RootfsError::io("renaming into", &out))?;
    fs::File::open(&dir)
        .and_then(|f| f.sync_all())
        .map_err(RootfsError::io("syncing", &dir))?;
    Ok(out)
}

/// Runs mmdebstrap with its temporaries in `work` (`TMPDIR`: so that whatever it leaves is
/// removed with `work`), its output lines logged at info level (`-v` shows them) as they come.
fn run_mmdebstrap(
    program: &Path,
    args: &[OsString],
    epoch: u64,
    work: &Path,
) -> Result<crate::child::Ended, RootfsError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env(SOURCE_DATE_EPOCH_ENV, epoch.to_string())
        .env(TMPDIR_ENV, work);
    let on_line = |line: &str| tracing::info!(target: "netroot::mmdebstrap", "{line}");
    crate::child::run(&mut cmd, OUTPUT_TAIL_LINES, &on_line).map_err(|source| {
        RootfsError::MmdebstrapSpawn {
            program: program.to_path_buf(),
            source,
        }
    })
}

/// Detaches mounts a killed mmdebstrap left below `work`, saying so: they are not ours to keep,
/// and removing `work` through them would reach the host's `/proc` and `/sys`.
fn detach_leftovers(work: &Path) -> Result<(), RootfsError> {
    let work = std::path::absolute(work).map_err(RootfsError::io("resolving", work))?;
    let left = crate::fsx::mounts::detach_below(&work)
        .map_err(RootfsError::io("detaching mounts below", &work))?;
    for p in left {
        tracing::warn!(mount = %p.display(), "detached a mount mmdebstrap left behind");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::recipe::tests::recipe;
    use super::*;

    #[test]
    fn command_line_has_every_field() {
        let args = command_args(
            &recipe(),
            &[PathBuf::from("/c/it's hook")],
            Path::new("/c/o.tar"),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            vec![
                "--variant=minbase",
                "--format=tar",
                "--include=iproute2,nfs-common",
                "--components=main,contrib",
                "--customize-hook=rm -f \"$1/etc/hostname\" \"$1/etc/resolv.conf\"",
                "--customize-hook='/c/it'\\''s hook' \"$1\"",
                "bookworm",
                "/c/o.tar",
                "http://deb.debian.org/debian",
            ]
        );
    }

    #[test]
    fn optional_fields_are_left_out() {
        let r = Recipe {
            packages: vec![],
            components: vec![],
            mirror: None,
            ..recipe()
        };
        let args = command_args(&r, &[], Path::new("o.tar"));
        assert_eq!(args.len(), 5, "{args:?}");
    }

    #[test]
    fn key_changes_with_every_input() {
        let base = cache_key(&recipe(), &[b"echo hi".to_vec()], 1);
        assert_eq!(base, cache_key(&recipe(), &[b"echo hi".to_vec()], 1));
        let mut others = vec![
            cache_key(&recipe(), &[b"echo ho".to_vec()], 1),
            cache_key(&recipe(), &[], 1),
            cache_key(&recipe(), &[b"echo hi".to_vec()], 2),
        ];
        let mut r = recipe();
        r.suite = "trixie".into();
        others.push(cache_key(&r, &[b"echo hi".to_vec()], 1));
        let mut r = recipe();
        r.packages.reverse();
        others.push(cache_key(&r, &[b"echo hi".to_vec()], 1));
        let mut r = recipe();
        r.mirror = None;
        others.push(cache_key(&r, &[b"echo hi".to_vec()], 1));
        let mut r = recipe();
        r.components.pop();
        others.push(cache_key(&r, &[b"echo hi".to_vec()], 1));
        let mut r = recipe();
        r.variant = "important".into();
        others.push(cache_key(&r, &[b"echo hi".to_vec()], 1));
        for o in &others {
            assert_ne!(&base, o);
        }
        // Hook paths do not matter, only contents.
        let mut r = recipe();
        r.hooks = vec![PathBuf::from("/elsewhere")];
        assert_eq!(base, cache_key(&r, &[b"echo hi".to_vec()], 1));
    }
}
