//! Phase `modules`: load the image's modules in the builder's dependency order with
//! `finit_module`. `EEXIST` (already loaded or built in) is success. Any other failure is reported
//! with the module's name and errno and the phase continues: an image made for several machine
//! types carries drivers that legitimately fail on this one, and a missing driver that matters
//! surfaces as a precise failure of a later phase (which quotes the failed modules).

use rustix::io::Errno;

use super::Ctx;
use crate::bootconfig::BootConfig;
use crate::failure::Phase;
use crate::sys::errno_name;

/// What the phase did, for its log line and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesReport {
    pub loaded: usize,
    /// Already present (`EEXIST`): built in or loaded earlier.
    pub present: usize,
    /// `name errno` of each module that failed.
    pub failed: Vec<String>,
}

pub fn run(ctx: &mut Ctx, cfg: &BootConfig) -> ModulesReport {
    let mut report = ModulesReport::default();
    for module in &cfg.modules {
        let path = ctx.paths.in_root(&module.path);
        match ctx.sys.finit_module(&path, &module.params) {
            Ok(()) => {
                report.loaded += 1;
                ctx.debug(
                    Phase::Modules,
                    &format!("loaded {} params={:?}", module.name, module.params),
                );
            }
            Err(e) if e.errno == Errno::EXIST => report.present += 1,
            Err(e) => {
                ctx.warn(
                    Phase::Modules,
                    &format!("module {} failed: {e}", module.name),
                );
                report
                    .failed
                    .push(format!("{} {}", module.name, errno_name(e.errno)));
            }
        }
    }
    ctx.failed_modules.extend(report.failed.iter().cloned());
    let failed = if report.failed.is_empty() {
        String::new()
    } else {
        format!(" ({})", report.failed.join(", "))
    };
    ctx.log(
        Phase::Modules,
        &format!(
            "loaded={} present={} failed={}{failed}",
            report.loaded,
            report.present,
            report.failed.len()
        ),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootconfig::ModuleLoad;
    use crate::paths::Paths;
    use crate::sys::{Call, FakeSys, ScriptedError};
    use crate::testutil::sample_config;

    fn module(name: &str, params: &str) -> ModuleLoad {
        ModuleLoad {
            name: name.into(),
            path: format!("lib/modules/k/{name}.ko"),
            params: params.into(),
        }
    }

    #[test]
    fn loads_in_order_with_params_and_reports_failures() {
        let mut cfg = sample_config();
        cfg.modules = vec![
            module("failover", ""),
            module("virtio_net", ""),
            module("bonding", "max_bonds=0"),
            module("missing", ""),
            module("broken", ""),
        ];
        let mut sys = FakeSys::new();
        for name in ["failover", "virtio_net", "bonding", "broken"] {
            sys.add_file(&format!("/lib/modules/k/{name}.ko"), "ELF");
        }
        sys.errors.push(ScriptedError::always(
            "finit_module",
            "failover.ko",
            Errno::EXIST,
        ));
        sys.errors.push(ScriptedError::always(
            "finit_module",
            "broken.ko",
            Errno::NOEXEC,
        ));
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        let report = run(&mut ctx, &cfg);
        assert_eq!(ctx.failed_modules, ["missing ENOENT", "broken ENOEXEC"]);
        assert_eq!(
            report,
            ModulesReport {
                loaded: 2,
                present: 1,
                failed: vec!["missing ENOENT".into(), "broken ENOEXEC".into()],
            }
        );
        let loads: Vec<(String, String)> = sys
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::FinitModule { path, params } => Some((path.clone(), params.clone())),
                _ => None,
            })
            .collect();
        let names: Vec<&str> = loads.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "/lib/modules/k/failover.ko",
                "/lib/modules/k/virtio_net.ko",
                "/lib/modules/k/bonding.ko",
                "/lib/modules/k/missing.ko",
                "/lib/modules/k/broken.ko"
            ]
        );
        assert_eq!(loads[2].1, "max_bonds=0");
        assert_eq!(
            sys.logs,
            [
                "netroot-init: [  1.000] phase=modules warning: module missing failed: finit_module /lib/modules/k/missing.ko: ENOENT (No such file or directory, errno 2)",
                "netroot-init: [  1.000] phase=modules warning: module broken failed: finit_module /lib/modules/k/broken.ko: ENOEXEC (Exec format error, errno 8)",
                "netroot-init: [  1.000] phase=modules loaded=2 present=1 failed=2 (missing ENOENT, broken ENOEXEC)",
            ]
        );
    }
}
