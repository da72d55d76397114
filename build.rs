//! Builds the PID-1 crate `netroot-init` as a static (static-pie, no ELF interpreter) binary and
//! hands its path to the library, which embeds it: the `netroot` executable is then self-contained.
//!
//! Set `NETROOT_INIT_BIN=/path/to/netroot-init` to embed a prebuilt binary instead.
//!
//! It also hands `netroot --version` its build facts: the git commit (`NETROOT_GIT_COMMIT`,
//! "unknown" outside a git checkout), the embedded init's sha256 (`NETROOT_INIT_SHA256`) and the
//! target triple (`NETROOT_TARGET`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The only target these machines have; `+crt-static` on it gives a static-pie.
const INIT_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Hex digits of the init's sha256 that `--version` shows: 48 bits tell builds apart.
const INIT_HASH_SHOWN: usize = 12;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    git_commit(&manifest_dir);
    let target = env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=NETROOT_TARGET={target}");
    let init = init_binary(&manifest_dir);
    let bytes = std::fs::read(&init)
        .unwrap_or_else(|e| panic!("cannot read the init binary {}: {e}", init.display()));
    let digest = hex(&Sha256::digest(&bytes));
    println!(
        "cargo:rustc-env=NETROOT_INIT_SHA256={}",
        &digest[..INIT_HASH_SHOWN]
    );
    println!("cargo:rustc-env=NETROOT_INIT_BIN={}", init.display());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `git rev-parse --short HEAD` of the checkout, or "unknown" (a source tarball, no git); reruns
/// when HEAD moves (the HEAD file, the branch it names, packed refs).
fn git_commit(manifest_dir: &Path) {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .current_dir(manifest_dir)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NETROOT_GIT_COMMIT={commit}");
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = manifest_dir.join(path);
            // A path that does not exist would make cargo rerun this script on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}

/// The static init: the prebuilt `NETROOT_INIT_BIN`, or built from `initramfs-init/`.
fn init_binary(manifest_dir: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=NETROOT_INIT_BIN");
    if let Ok(prebuilt) = env::var("NETROOT_INIT_BIN") {
        println!("cargo:rerun-if-changed={prebuilt}");
        return PathBuf::from(prebuilt);
    }
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("initramfs-init").display()
    );
    // The init is built from its crate and the boot-protocol crate it shares with the builder.
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("boot").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("Cargo.lock").display()
    );
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("init-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(manifest_dir)
        .args([
            "build",
            "--locked",
            "--profile",
            "init",
            "-p",
            "netroot-init",
            "--bin",
            "netroot-init",
        ])
        .args(["--target", INIT_TARGET, "--target-dir"])
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("failed to run cargo to build netroot-init");
    if !status.success() {
        panic!("building the static netroot-init failed: {status}");
    }
    target_dir
        .join(INIT_TARGET)
        .join("init")
        .join("netroot-init")
}
