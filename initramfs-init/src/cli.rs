//! Tool mode: when the binary is not PID 1 (`netroot-init --version`, `--check-config FILE`) it
//! prints or validates and exits, and never touches the system.

use std::io::Write;

use crate::bootconfig::{BootConfig, FORMAT_VERSION};

const USAGE: &str = "usage: netroot-init --version
       netroot-init --check-config FILE [--cmdline 'KERNEL COMMAND LINE']

As PID 1 (the initramfs /init) it boots the node; otherwise it only runs these checks.";

/// Runs tool mode with the arguments after `argv[0]`; returns the exit code.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    // Output errors (a closed pipe) are not worth a different exit code than the check's own.
    let result = match args {
        [flag] if flag == "--version" || flag == "-V" => {
            let _ = writeln!(
                out,
                "netroot-init {} (boot config format {FORMAT_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        [flag] if flag == "--help" || flag == "-h" => {
            let _ = writeln!(out, "{USAGE}");
            Ok(())
        }
        [flag, file] if flag == "--check-config" => check(file, None, out),
        [flag, file, c, cmdline] if flag == "--check-config" && c == "--cmdline" => {
            check(file, Some(cmdline), out)
        }
        _ => {
            let _ = writeln!(err, "{USAGE}");
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "netroot-init: {e}");
            1
        }
    }
}

fn check(file: &str, cmdline: Option<&str>, out: &mut dyn Write) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let mut cfg = BootConfig::parse(&text).map_err(|e| format!("{file}: {e}"))?;
    if let Some(cmdline) = cmdline {
        cfg.apply_cmdline(cmdline).map_err(|e| e.to_string())?;
    }
    let _ = writeln!(
        out,
        "{file}: ok: profile {}, {} modules, {} {} over {} ports (min {}), root {}:{} ({})",
        cfg.profile,
        cfg.modules.len(),
        cfg.bond.name,
        cfg.bond.mode,
        cfg.bond.ports.len(),
        cfg.bond.min_ports,
        cfg.nfs.server,
        cfg.nfs.export,
        cfg.nfs
            .versions
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_config;

    fn run_str(args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, &mut out, &mut err);
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn version_and_usage() {
        let (code, out, _) = run_str(&["--version"]);
        assert_eq!(code, 0);
        assert_eq!(
            out,
            format!(
                "netroot-init {} (boot config format 1)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let (code, _, err) = run_str(&[]);
        assert_eq!(code, 2);
        assert!(err.starts_with("usage: netroot-init --version"));
        assert_eq!(run_str(&["--bogus"]).0, 2);
        assert_eq!(run_str(&["--help"]).0, 0);
    }

    #[test]
    fn check_config_accepts_good_and_reports_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("boot.conf");
        std::fs::write(&good, sample_config().render()).expect("write");
        let good = good.to_string_lossy().into_owned();
        let (code, out, err) = run_str(&["--check-config", &good]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(
            out,
            format!("{good}: ok: profile compute, 2 modules, bond0 802.3ad over 4 ports (min 1), root 10.0.2.2:/export (4.2,4.1)\n")
        );
        let (code, _, err) = run_str(&[
            "--check-config",
            &good,
            "--cmdline",
            "netroot.bond.mode=nope",
        ]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("netroot-init: kernel command line: netroot.bond.mode"),
            "{err}"
        );

        let bad = dir.path().join("bad.conf");
        std::fs::write(&bad, "netroot.format=1\nnetroot.bogus=1\n").expect("write");
        let bad = bad.to_string_lossy().into_owned();
        let (code, _, err) = run_str(&["--check-config", &bad]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            format!("netroot-init: {bad}: line 2: unknown key \"netroot.bogus\"\n")
        );

        let (code, _, err) = run_str(&["--check-config", "/nonexistent/boot.conf"]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("netroot-init: /nonexistent/boot.conf: No such file"),
            "{err}"
        );
    }
}
