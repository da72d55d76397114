//! netroot-init: PID 1 of netroot initramfs images (boots the node: see the crate README), or,
//! when not PID 1, a small tool (`--version`, `--check-config FILE`) that never touches the system.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

fn main() {
    // Lossy: the kernel passes leftover command-line words as arguments, possibly not UTF-8.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if netroot_init::pid1::is_pid1() {
        netroot_init::pid1::main(&args);
    }
    let rest = args.get(1..).unwrap_or_default();
    let code = netroot_init::cli::run(rest, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
