//! Phase `config`: read /proc/cmdline (mounted by `early`), load the image's boot config and apply
//! the `netroot.*` / dracut-style overrides from the kernel command line. The command line is
//! bytes (the kernel never checks it for UTF-8): the boot crate's tokenizer reads it as the
//! kernel does, and only a value of a key netroot owns must be UTF-8.

use super::Ctx;
use crate::bootconfig::BootConfig;
use crate::failure::{Fatal, Phase};

/// Reads a text file through the seam; invalid UTF-8 is an error naming the path.
fn read_text(ctx: &mut Ctx, path: &str) -> Result<String, Fatal> {
    let bytes = ctx
        .sys
        .read_file(path)
        .map_err(|e| Fatal::new(Phase::Config, e))?;
    String::from_utf8(bytes).map_err(|e| {
        Fatal::new(
            Phase::Config,
            format!("{path}: not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Loads the boot config and applies the kernel command line; sets the context's debug flag and
/// boot deadline from the result.
pub fn load(ctx: &mut Ctx) -> Result<BootConfig, Fatal> {
    let cmdline_path = ctx.paths.cmdline();
    let cmdline = ctx
        .sys
        .read_file(&cmdline_path)
        .map_err(|e| Fatal::new(Phase::Config, e))?;
    let config_path = ctx.paths.config.clone();
    let text = read_text(ctx, &config_path)?;
    let mut cfg = BootConfig::parse(&text)
        .map_err(|e| Fatal::new(Phase::Config, format!("{config_path}: {e}")))?;
    let applied = cfg
        .apply_cmdline_bytes(&cmdline)
        .map_err(|e| Fatal::new(Phase::Config, e))?;
    ctx.debug = cfg.debug;
    ctx.deadline = cfg.timeouts.boot_deadline;
    let overrides = if applied.is_empty() {
        "none".to_string()
    } else {
        applied.join(",")
    };
    ctx.log(
        Phase::Config,
        &format!(
            "profile={} kernel={} overrides={overrides} deadline={}s",
            cfg.profile,
            cfg.kernel_version,
            cfg.timeouts.boot_deadline.as_secs()
        ),
    );
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::sys::FakeSys;
    use crate::testutil::sample_config;

    fn fake_with(conf: &str, cmdline: &str) -> FakeSys {
        let mut sys = FakeSys::new();
        sys.add_file("/etc/netroot/boot.conf", conf);
        sys.add_file("/proc/cmdline", cmdline);
        sys
    }

    #[test]
    fn loads_the_config_and_applies_overrides() {
        let base = sample_config();
        let mut sys = fake_with(
            &base.render(),
            "console=ttyS0 netroot.debug netroot.timeout.boot=120s\n",
        );
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let cfg = load(&mut ctx).expect("config loads");
        assert!(cfg.debug && ctx.debug);
        assert_eq!(ctx.deadline.as_secs(), 120);
        assert_eq!(cfg.bond, base.bond);
        let line = &sys.logs[0];
        assert!(
            line.contains("phase=config profile=compute kernel=6.1.0-56-amd64 overrides="),
            "{line}"
        );
        assert!(line.ends_with("deadline=120s"), "{line}");
    }

    #[test]
    fn missing_config_is_fatal_with_path_and_errno() {
        let mut sys = FakeSys::new();
        sys.add_file("/proc/cmdline", "quiet\n");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = load(&mut ctx).expect_err("no config");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=config reason=read /etc/netroot/boot.conf: ENOENT (No such file or directory, errno 2)"
        );
    }

    #[test]
    fn bad_config_and_bad_cmdline_are_fatal() {
        let mut sys = fake_with("garbage\n", "");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = load(&mut ctx).expect_err("bad config");
        assert_eq!(fatal.phase, Phase::Config);
        assert!(
            fatal.reason.starts_with("/etc/netroot/boot.conf: line 1:"),
            "{}",
            fatal.reason
        );

        let mut sys = fake_with(&sample_config().render(), "netroot.nonsense=1");
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = load(&mut ctx).expect_err("unknown key");
        assert!(
            fatal.reason.contains("netroot.nonsense"),
            "{}",
            fatal.reason
        );

        // Bytes that are not UTF-8 in keys netroot does not own are ignored, as the kernel
        // ignores them; in the value of an owned key they fail naming the key.
        let mut sys = fake_with(&sample_config().render(), "");
        sys.add_file(
            "/proc/cmdline",
            b"quiet \xff\xfe=\xc3 lang=\xe0\xa0 netroot.debug=1\n".as_slice(),
        );
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        assert!(load(&mut ctx).expect("foreign bytes are ignored").debug);
        let mut sys = fake_with(&sample_config().render(), "");
        sys.add_file("/proc/cmdline", b"quiet root=nfs:/srv/\xff\n".as_slice());
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let fatal = load(&mut ctx).expect_err("not utf-8");
        assert_eq!(
            fatal.line(),
            "netroot-init: FAILED phase=config reason=kernel command line: root: value is not UTF-8 (byte 9)"
        );
    }
}
