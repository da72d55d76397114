//! What a VM test needs from the machine and where it is: root, qemu-system-x86_64,
//! ganesha.nfsd, a static busybox, the test kernel and the `netroot` binary. A missing piece
//! skips the test with a printed reason, or fails it under `NETROOT_REQUIRE_VM=1` (and, for the
//! kernel, under `NETROOT_REQUIRE_KERNEL=1`, as every kernel-using test in this repo does).

use std::env;
use std::path::{Path, PathBuf};

use netroot::qemu::Accel;

/// Set to 1 to turn every "skipped" into a failure (CI machines that must run the VM tests).
pub const REQUIRE_VM_VAR: &str = "NETROOT_REQUIRE_VM";
/// Set to 1 by ci/test: a missing test kernel fails instead of skipping.
pub const REQUIRE_KERNEL_VAR: &str = "NETROOT_REQUIRE_KERNEL";
/// The extracted Debian kernel (preferred: no extraction per build).
pub const KERNEL_DIR_VAR: &str = "NETROOT_TEST_KERNEL_DIR";
/// The Debian kernel package, used when no extracted tree is given.
pub const KERNEL_DEB_VAR: &str = "NETROOT_TEST_KERNEL_DEB";
/// Overrides the netroot binary the tests build images with.
pub const NETROOT_BIN_VAR: &str = "NETROOT_BIN";
/// QEMU accelerator; TCG by default because KVM hangs on these machines (shared notes).
pub const ACCEL_VAR: &str = "NETROOT_QEMU_ACCEL";
pub const DEFAULT_ACCEL: Accel = Accel::Tcg;

pub const QEMU: &str = netroot::qemu::args::QEMU;
pub const GANESHA: &str = netroot::qemu::ganesha::GANESHA;
pub const BUSYBOX: &str = "busybox";

/// Everything a VM test runs, found on this machine.
#[derive(Debug, Clone)]
pub struct VmTools {
    pub qemu: PathBuf,
    pub ganesha: PathBuf,
    pub busybox: PathBuf,
    pub netroot: PathBuf,
    /// `--kernel` argument of `netroot build`: an extracted tree or a .deb.
    pub kernel: PathBuf,
    pub accel: Accel,
}

/// The first executable `name` in the colon-separated `path` list.
pub fn find_in_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn flag(var: &str) -> bool {
    env::var(var).is_ok_and(|v| v == "1")
}

/// The `netroot` binary the tests build with: `NETROOT_BIN`, else this build's.
pub fn vm_netroot() -> PathBuf {
    env::var_os(NETROOT_BIN_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netroot")))
}

/// The extracted kernel tree, else the package, from the environment.
fn kernel_path() -> Option<PathBuf> {
    env::var_os(KERNEL_DIR_VAR)
        .or_else(|| env::var_os(KERNEL_DEB_VAR))
        .map(PathBuf::from)
}

/// What is missing for a VM test, as one reason per piece, plus the tools when nothing is.
fn probe() -> (Vec<String>, Option<VmTools>, bool) {
    let path = env::var("PATH").unwrap_or_default();
    let mut missing = Vec::new();
    let mut tool = |name: &str| {
        let found = find_in_path(name, &path);
        if found.is_none() {
            missing.push(format!("{name} not found in PATH"));
        }
        found
    };
    let (qemu, ganesha, busybox) = (tool(QEMU), tool(GANESHA), tool(BUSYBOX));
    if !rustix::process::geteuid().is_root() {
        missing.push("not root (ganesha must run as real root to serve an executable root)".into());
    }
    let kernel = kernel_path();
    let kernel_missing = kernel.is_none();
    if kernel_missing {
        missing.push(format!("{KERNEL_DIR_VAR} / {KERNEL_DEB_VAR} not set"));
    }
    let netroot = vm_netroot();
    let accel = match env::var(ACCEL_VAR) {
        Err(_) => DEFAULT_ACCEL,
        Ok(v) => v.parse().unwrap_or_else(|e| {
            missing.push(format!("{ACCEL_VAR}: {e}"));
            DEFAULT_ACCEL
        }),
    };
    let tools = match (qemu, ganesha, busybox, kernel) {
        (Some(qemu), Some(ganesha), Some(busybox), Some(kernel)) if missing.is_empty() => {
            Some(VmTools {
                qemu,
                ganesha,
                busybox,
                netroot,
                kernel,
                accel,
            })
        }
        _ => None,
    };
    (missing, tools, kernel_missing)
}

/// The tools, or `None` after printing `skipped: <reasons>`; panics instead of skipping when
/// `NETROOT_REQUIRE_VM=1`, or when the kernel is missing and `NETROOT_REQUIRE_KERNEL=1`.
pub fn vm_tools_or_skip(test: &str) -> Option<VmTools> {
    let (missing, tools, kernel_missing) = probe();
    if let Some(tools) = tools {
        return Some(tools);
    }
    let reasons = missing.join("; ");
    if flag(REQUIRE_VM_VAR) {
        panic!("{test}: {reasons} (and {REQUIRE_VM_VAR}=1)");
    }
    if kernel_missing && flag(REQUIRE_KERNEL_VAR) {
        panic!("{test}: {reasons} (and {REQUIRE_KERNEL_VAR}=1)");
    }
    println!("skipped: {test}: {reasons}");
    None
}

/// The test kernel (`--kernel` of `netroot build`) for tests that build but boot nothing, or
/// `None` after printing `skipped: ...`; panics instead when `NETROOT_REQUIRE_KERNEL=1`.
pub fn kernel_or_skip(test: &str) -> Option<PathBuf> {
    let kernel = kernel_path();
    if kernel.is_none() {
        let reason = format!("{KERNEL_DIR_VAR} / {KERNEL_DEB_VAR} not set");
        if flag(REQUIRE_KERNEL_VAR) {
            panic!("{test}: {reason} (and {REQUIRE_KERNEL_VAR}=1)");
        }
        println!("skipped: {test}: {reason}");
    }
    kernel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_takes_the_first_executable_and_ignores_plain_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).expect("mkdir");
        }
        std::fs::write(a.join("tool"), "not executable").expect("write");
        std::fs::write(b.join("tool"), "#!/bin/sh\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let path = format!("::{}:{}", a.display(), b.display());
        assert_eq!(find_in_path("tool", &path), Some(b.join("tool")));
        assert_eq!(find_in_path("other", &path), None);
        assert_eq!(find_in_path("tool", ""), None);
    }
}
