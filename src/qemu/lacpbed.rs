//! The LACP bed: the node's four NICs cabled to a partner VM (the [`partner`] module)
//! that aggregates them (802.3ad or a static LAG, optionally tagging a VLAN) and bridges them to
//! a tap in the bed's own network namespace, where a real dnsmasq (DHCP, and TFTP for PXE) and
//! nfs-ganesha listen on the profile's NFS server address. The node boots exactly as on a
//! cluster network; both bonds' views are on the consoles.
//!
//! [`LacpBed::start`] brings it up in order (namespace and tap, servers, partner until its
//! `ready` line) and the fields drop in reverse: the partner VM is stopped before the servers,
//! the namespace (and its tap) goes last. Needs root (namespaces, taps, ganesha).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use super::args::{Accel, Uplink};
use super::dnsmasq::{DhcpSpec, Dnsmasq};
use super::ganesha::{Export, Ganesha};
use super::lacp::{BondView, ReportCollector};
use super::netns::Netns;
use super::partner::{self, PartnerSpec};
use super::runner::{self, TimedLine, VmRun, Watch};
use super::QemuError;
use crate::kernel::Kernel;

/// The servers' tap in the bed's namespace (the partner's uplink).
pub const TAP: &str = "nrup0";
/// The partner boots its kernel and initramfs in ~5 s under TCG; a loaded machine needs more.
const PARTNER_READY_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT_POLL: Duration = Duration::from_millis(100);

/// What one bed serves and how its partner aggregates.
#[derive(Debug)]
pub struct LacpBedSpec<'a> {
    /// The profile's NFS server: the tap's address (a /24 around it is the DHCP network).
    pub server: Ipv4Addr,
    pub nfs_port: u16,
    pub export: Export<'a>,
    pub partner: PartnerSpec,
    /// The kernel the partner runs (the node's: its modules include bonding and 8021q).
    pub kernel: &'a Kernel,
    pub busybox: &'a Path,
    pub ganesha: &'a Path,
    pub qemu: &'a Path,
    pub accel: Accel,
    /// A dnsmasq configuration file to serve (the published DHCP wiring).
    pub dhcp_conf: Option<PathBuf>,
    /// Logs, the partner's initramfs and consoles go here.
    pub dir: &'a Path,
}

/// A running bed. Field order is drop order.
#[derive(Debug)]
pub struct LacpBed {
    pub partner: Partner,
    pub dnsmasq: Dnsmasq,
    pub ganesha: Ganesha,
    pub netns: Netns,
}

/// The DHCP range of the server's /24: 100-199, or 10-99 when the server is among those.
fn dhcp_range(server: Ipv4Addr) -> (Ipv4Addr, Ipv4Addr) {
    let [a, b, c, d] = server.octets();
    let (lo, hi) = if (100..=199).contains(&d) {
        (10, 99)
    } else {
        (100, 199)
    };
    (Ipv4Addr::new(a, b, c, lo), Ipv4Addr::new(a, b, c, hi))
}

impl LacpBed {
    /// Brings the bed up; the partner has printed `ready` when this returns.
    pub fn start(spec: &LacpBedSpec<'_>) -> Result<LacpBed, QemuError> {
        let last = spec.server.octets()[3];
        if last == 0 || last == 255 {
            return Err(QemuError::BadSetting {
                what: "nfs.server",
                value: spec.server.to_string(),
                reason: "the network or broadcast address of its /24 cannot be the bed's server"
                    .into(),
            });
        }
        std::fs::create_dir_all(spec.dir).map_err(QemuError::io("create", spec.dir))?;
        let netns = Netns::create("lacp")?;
        netns.add_tap(TAP, spec.server, 24)?;
        let dhcp = DhcpSpec {
            interface: TAP.into(),
            range: dhcp_range(spec.server),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            conf_file: spec.dhcp_conf.clone(),
        };
        let dnsmasq = Dnsmasq::start(&netns, &dhcp, &spec.dir.join("dnsmasq"))?;
        let listen = SocketAddrV4::new(spec.server, spec.nfs_port);
        let ganesha = Ganesha::start_in(spec.ganesha, &spec.export, spec.dir, &netns, listen)?;
        let initrd = partner::build_initramfs(
            spec.kernel,
            spec.busybox,
            &spec.partner,
            &spec.dir.join("partner.cpio"),
        )?;
        let vm = partner::vm_spec(&spec.kernel.image, &initrd, TAP, netns.name(), spec.accel);
        // Short: the QMP socket inside it must fit a unix socket path (108 bytes).
        let partner = Partner::start(spec.qemu, vm, &spec.dir.join("p"))?;
        Ok(LacpBed {
            partner,
            dnsmasq,
            ganesha,
            netns,
        })
    }

    /// The node's side: its NICs on the four cables, in the bed's namespace.
    pub fn node_uplink(&self) -> (Uplink, String) {
        (
            Uplink::Links(partner::node_links()),
            self.netns.name().to_string(),
        )
    }
}

/// What the partner's console said so far.
#[derive(Debug, Default)]
struct Seen {
    ready: bool,
    failed: Option<String>,
    /// Each report and when this process saw it: an `Instant`, comparable with the other VM's
    /// events (each VM's console times count from its own start).
    views: Vec<(Instant, BondView)>,
    bad_report: Option<String>,
}

/// The partner VM, run by a thread; stopped on drop.
#[derive(Debug)]
pub struct Partner {
    stop: Arc<AtomicBool>,
    commands: Sender<Watch>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<Result<VmRun, QemuError>>>,
}

impl Partner {
    fn start(qemu: &Path, vm: super::VmSpec, dir: &Path) -> Result<Partner, QemuError> {
        std::fs::create_dir_all(dir).map_err(QemuError::io("create", dir))?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (commands, rx) = channel();
        let (qemu, dir) = (qemu.to_path_buf(), dir.to_path_buf());
        let (flag, log) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut reports = ReportCollector::new(partner::PREFIX);
            let mut watch = |line: &TimedLine| {
                observe(&log, &mut reports, line);
                Watch::Continue
            };
            runner::run_with_commands(&qemu, &vm, &dir, Some(&flag), &rx, &mut watch)
        });
        let mut p = Partner {
            stop,
            commands,
            seen,
            thread: Some(thread),
        };
        p.wait_ready()?;
        Ok(p)
    }

    fn wait_ready(&mut self) -> Result<(), QemuError> {
        let start = Instant::now();
        loop {
            {
                let seen = self.lock();
                if let Some(why) = &seen.failed {
                    return Err(partner_error(format!("FAILED {why}")));
                }
                if seen.ready {
                    return Ok(());
                }
            }
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let run = self.join()?;
                return Err(partner_error(format!(
                    "exited before ready: {}",
                    run.transcript()
                )));
            }
            if start.elapsed() > PARTNER_READY_TIMEOUT {
                return Err(partner_error(format!(
                    "not ready after {PARTNER_READY_TIMEOUT:?}"
                )));
            }
            sleep(WAIT_POLL);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panicked watcher leaves the data it had; nothing is half-updated in it.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pulls (`up = false`) or plugs the partner's end of cable `nic`.
    pub fn set_link(&self, nic: usize, up: bool) -> Result<(), QemuError> {
        self.commands
            .send(Watch::SetLink { nic, up })
            .map_err(|_| partner_error("the partner VM is not running".into()))
    }

    /// The partner's latest report and when it was seen.
    pub fn latest(&self) -> Option<(Instant, BondView)> {
        self.lock().views.last().cloned()
    }

    /// Every report so far.
    pub fn history(&self) -> Vec<(Instant, BondView)> {
        self.lock().views.clone()
    }

    /// Waits until the partner's latest report satisfies `ok`; the last report in the error.
    pub fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&BondView) -> bool,
    ) -> Result<BondView, QemuError> {
        let start = Instant::now();
        loop {
            if let Some(bad) = &self.lock().bad_report {
                return Err(partner_error(bad.clone()));
            }
            let latest = self.latest();
            if let Some((_, v)) = latest.as_ref().filter(|(_, v)| ok(v)) {
                return Ok(v.clone());
            }
            if start.elapsed() > timeout {
                let last = latest.map_or("no report".to_string(), |(_, v)| v.to_string());
                return Err(partner_error(format!(
                    "not {what} after {timeout:?} (last: {last})"
                )));
            }
            sleep(WAIT_POLL);
        }
    }

    /// Stops the VM and returns its run.
    pub fn stop(mut self) -> Result<VmRun, QemuError> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    fn join(&mut self) -> Result<VmRun, QemuError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(run)) => run,
            Some(Err(_)) => Err(partner_error("its runner thread panicked".into())),
            None => Err(partner_error("already stopped".into())),
        }
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // The run's result has no one to go to; its QEMU is gone either way.
            let _ = t.join();
        }
    }
}

fn partner_error(why: String) -> QemuError {
    QemuError::BadSetting {
        what: "lacp partner vm",
        value: "partner".into(),
        reason: why,
    }
}

/// Records one partner console line.
fn observe(seen: &Mutex<Seen>, reports: &mut ReportCollector, line: &TimedLine) {
    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
    let text = line.text.as_str();
    if let Some(rest) = text.strip_prefix(partner::PREFIX) {
        let rest = rest.trim_start();
        if rest.starts_with("ready ") {
            s.ready = true;
        } else if let Some(why) = rest.strip_prefix("FAILED ") {
            s.failed = Some(why.to_string());
        }
    }
    match reports.feed(text) {
        Some(Ok(view)) => s.views.push((Instant::now(), view)),
        Some(Err(e)) => s.bad_report = Some(e.to_string()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dhcp_range_avoids_the_server() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert_eq!(
            dhcp_range(ip("10.0.2.2")),
            (ip("10.0.2.100"), ip("10.0.2.199"))
        );
        assert_eq!(
            dhcp_range(ip("10.0.2.150")),
            (ip("10.0.2.10"), ip("10.0.2.99"))
        );
    }

    #[test]
    fn partner_lines_mark_ready_failure_and_reports() {
        let seen = Mutex::new(Seen::default());
        let mut c = ReportCollector::new(partner::PREFIX);
        let at = |s| TimedLine {
            at: Duration::from_secs(1),
            text: s,
        };
        for l in [
            "partner: ready mode=802.3ad lan=bond0".to_string(),
            "partner: begin".into(),
            "partner: | Bonding Mode: IEEE 802.3ad Dynamic link aggregation".into(),
            "partner: end".into(),
            "partner: FAILED insmod bonding".into(),
        ] {
            observe(&seen, &mut c, &at(l));
        }
        let s = seen.lock().expect("lock");
        assert!(s.ready);
        assert_eq!(s.failed.as_deref(), Some("insmod bonding"));
        assert_eq!(s.views.len(), 1);
    }
}
