//! Builds the PID-1 crate `netroot-init` as a static (static-pie, no ELF interpreter) binary and
//! hands its path to the library, which embeds it: the `netroot` executable is then self-contained.
//!
//! Set `NETROOT_INIT_BIN=/path/to/netroot-init` to embed a prebuilt binary instead.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The only target these machines have; `+crt-static` on it gives a static-pie.
const INIT_TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    println!("cargo:rerun-if-env-changed=NETROOT_INIT_BIN");
    if let Ok(prebuilt) = env::var("NETROOT_INIT_BIN") {
        println!("cargo:rustc-env=NETROOT_INIT_BIN={prebuilt}");
        println!("cargo:rerun-if-changed={prebuilt}");
        return;
    }
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
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
        .current_dir(&manifest_dir)
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
    let bin = target_dir
        .join(INIT_TARGET)
        .join("init")
        .join("netroot-init");
    println!("cargo:rustc-env=NETROOT_INIT_BIN={}", bin.display());
}
