//! The boot's stage timeline, from the console lines and the wall-clock time each appeared
//! (from QEMU's start): firmware → loader → kernel → init start → modules → bond up → lease →
//! NFS mounted → switch_root → real init. Each stage is the first line that proves it; a stage
//! never seen stays empty. Wall clock (not the kernel's or the init's clocks) so that firmware
//! and loader time, which no guest clock measures, are in the same scale as the rest.

use std::fmt;
use std::time::Duration;

use netroot_boot::phase::Phase;

use super::console::{parse_phase_line, INIT_PREFIX, OK_PREFIX};
use super::runner::TimedLine;

/// SeaBIOS's banner, the first thing the firmware prints on the serial port.
const FIRMWARE_NEEDLE: &str = "SeaBIOS";
/// The kernel's first line.
const KERNEL_NEEDLE: &str = "Linux version ";

/// One step of a network boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Firmware,
    Loader,
    Kernel,
    Init,
    Modules,
    Bond,
    Lease,
    Nfs,
    SwitchRoot,
    RealInit,
}

impl Stage {
    /// Every stage in boot order.
    pub const ALL: [Stage; 10] = [
        Stage::Firmware,
        Stage::Loader,
        Stage::Kernel,
        Stage::Init,
        Stage::Modules,
        Stage::Bond,
        Stage::Lease,
        Stage::Nfs,
        Stage::SwitchRoot,
        Stage::RealInit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Firmware => "firmware",
            Stage::Loader => "loader",
            Stage::Kernel => "kernel",
            Stage::Init => "init",
            Stage::Modules => "modules",
            Stage::Bond => "bond",
            Stage::Lease => "lease",
            Stage::Nfs => "nfs",
            Stage::SwitchRoot => "switch_root",
            Stage::RealInit => "real-init",
        }
    }
}

/// When each stage was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// One entry per [`Stage::ALL`], in that order.
    pub stages: Vec<(Stage, Option<Duration>)>,
}

impl Timeline {
    pub fn at(&self, stage: Stage) -> Option<Duration> {
        self.stages
            .iter()
            .find(|(s, _)| *s == stage)
            .and_then(|(_, t)| *t)
    }

    /// The last stage reached.
    pub fn last_reached(&self) -> Option<Stage> {
        self.stages
            .iter()
            .rev()
            .find(|(_, t)| t.is_some())
            .map(|(s, _)| *s)
    }
}

impl fmt::Display for Timeline {
    /// `firmware 0.3s → loader 0.5s → ... → real-init -` (seconds since QEMU's start).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (stage, t)) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            match t {
                Some(t) => write!(f, "{} {:.1}s", stage.name(), t.as_secs_f64())?,
                None => write!(f, "{} -", stage.name())?,
            }
        }
        Ok(())
    }
}

/// Which stage `line` proves, if any. `after_ok` tells whether the init's OK line was seen
/// before it (everything after it is the real root's).
fn stage_of(line: &str, loader_needle: &str, after_ok: bool) -> Option<Stage> {
    if after_ok {
        return (!line.trim().is_empty()).then_some(Stage::RealInit);
    }
    if line.starts_with(OK_PREFIX) {
        return Some(Stage::SwitchRoot);
    }
    if let Some(Ok(p)) = parse_phase_line(line) {
        return match p.phase.parse::<Phase>() {
            Ok(Phase::Modules) => Some(Stage::Modules),
            Ok(Phase::Bond) => Some(Stage::Bond),
            Ok(Phase::Dhcp) => Some(Stage::Lease),
            Ok(Phase::Nfs) if p.text.starts_with("mounted ") => Some(Stage::Nfs),
            Ok(Phase::SwitchRoot) => Some(Stage::SwitchRoot),
            _ => Some(Stage::Init),
        };
    }
    if line.starts_with(INIT_PREFIX) {
        return Some(Stage::Init);
    }
    if line.contains(KERNEL_NEEDLE) {
        return Some(Stage::Kernel);
    }
    if line.contains(loader_needle) {
        return Some(Stage::Loader);
    }
    line.contains(FIRMWARE_NEEDLE).then_some(Stage::Firmware)
}

/// Builds the timeline incrementally, line by line, as the console arrives.
#[derive(Debug, Clone)]
pub struct TimelineBuilder {
    loader_needle: String,
    after_ok: bool,
    timeline: Timeline,
}

impl TimelineBuilder {
    /// `loader_needle`: a text the boot loader prints first (see `Loader::console_needle`).
    pub fn new(loader_needle: &str) -> Self {
        TimelineBuilder {
            loader_needle: loader_needle.to_string(),
            after_ok: false,
            timeline: Timeline {
                stages: Stage::ALL.iter().map(|s| (*s, None)).collect(),
            },
        }
    }

    pub fn observe(&mut self, line: &TimedLine) {
        let stage = stage_of(&line.text, &self.loader_needle, self.after_ok);
        if line.text.starts_with(OK_PREFIX) {
            self.after_ok = true;
        }
        if let Some(stage) = stage {
            if let Some(entry) = self.timeline.stages.iter_mut().find(|(s, _)| *s == stage) {
                entry.1.get_or_insert(line.at);
            }
        }
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }
}

/// The timeline of a finished console.
pub fn timeline(lines: &[TimedLine], loader_needle: &str) -> Timeline {
    let mut b = TimelineBuilder::new(loader_needle);
    for l in lines {
        b.observe(l);
    }
    b.timeline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ms: u64, text: &str) -> TimedLine {
        TimedLine {
            at: Duration::from_millis(ms),
            text: text.to_string(),
        }
    }

    /// A console as a direct boot prints it (shortened), with one line per stage.
    fn boot() -> Vec<TimedLine> {
        vec![
            line(300, "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)"),
            line(400, "Booting from ROM..."),
            line(7000, "Probing EDD (edd=off to disable)... ok\x1b[2J[    0.000000] Linux version 6.1.0-56-amd64"),
            line(9000, "[    3.295160] Run /init as init process"),
            line(9100, "netroot-init: [  3.300] phase=early netroot-init 0.1.0 mounted=4"),
            line(9200, "netroot-init: [  3.310] phase=config profile=qemu"),
            line(9500, "netroot-init: [  3.600] phase=modules loaded=21 present=0 failed=0"),
            line(9600, "netroot-init: [  3.700] phase=links found=4/4 ports=eth0,eth1,eth2,eth3"),
            line(10100, "netroot-init: [  4.200] phase=bond name=bond0 mode=active-backup ports=4/4"),
            line(10800, "netroot-init: [  4.900] phase=dhcp source=dhcp address=10.0.2.15/24"),
            line(11000, "netroot-init: [  5.100] phase=nfs server busy or in grace (EAGAIN), waiting"),
            line(11300, "netroot-init: [  5.400] phase=nfs mounted 10.0.2.2:/export vers=4.1 at /run/netroot/nfs rounds=2"),
            line(11400, "netroot-init: [  5.500] phase=overlay mounted overlay at /sysroot"),
            line(11500, "netroot-init: [  5.600] phase=switch_root init=/sbin/init moved=4/4"),
            line(11500, "netroot-init: OK root=10.0.2.2:/export bond=4/4 t=5.610"),
            line(11600, ""),
            line(11700, "vmcheck: CHECK pid1 ok"),
            line(11900, "SeaBIOS is not printed again, but a root may say Linux version too"),
        ]
    }

    #[test]
    fn every_stage_is_the_first_line_proving_it() {
        let t = timeline(&boot(), "Booting from ROM");
        let secs: Vec<Option<u64>> = t
            .stages
            .iter()
            .map(|(_, d)| d.map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(
            secs,
            [
                Some(300),
                Some(400),
                Some(7000),
                Some(9100),
                Some(9500),
                Some(10100),
                Some(10800),
                Some(11300),
                Some(11500),
                Some(11700)
            ]
        );
        assert_eq!(t.last_reached(), Some(Stage::RealInit));
        assert_eq!(
            t.to_string(),
            "firmware 0.3s → loader 0.4s → kernel 7.0s → init 9.1s → modules 9.5s → bond 10.1s → lease 10.8s → nfs 11.3s → switch_root 11.5s → real-init 11.7s"
        );
    }

    #[test]
    fn a_failed_boot_shows_where_it_stopped() {
        let lines = vec![
            line(300, "SeaBIOS (version 1.16.2)"),
            line(5000, "[    0.000000] Linux version 6.1.0"),
            line(
                8000,
                "netroot-init: [  3.300] phase=early netroot-init 0.1.0 mounted=4",
            ),
            line(
                9000,
                "netroot-init: [  4.900] phase=dhcp source=dhcp address=10.0.2.15/24",
            ),
            line(
                9100,
                "netroot-init: [  5.000] phase=nfs ignoring DHCP root-path",
            ),
            line(17000, "netroot-init: FAILED phase=nfs reason=not mounted"),
        ];
        let t = timeline(&lines, "netroot.ipxe");
        assert_eq!(t.at(Stage::Loader), None);
        assert_eq!(t.at(Stage::Nfs), None, "only a mounted line proves nfs");
        assert_eq!(t.at(Stage::Lease), Some(Duration::from_millis(9000)));
        assert_eq!(t.last_reached(), Some(Stage::Lease));
        assert!(t.to_string().starts_with("firmware 0.3s → loader - → kernel 5.0s → init 8.0s → modules - → bond - → lease 9.0s → nfs -"));
        assert_eq!(timeline(&[], "x").last_reached(), None);
    }
}
