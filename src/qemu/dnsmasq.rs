//! dnsmasq as the DHCP (and, for PXE, TFTP) server of a network-namespace bed: a real DHCP
//! server answering the node through its partner switch, instead of QEMU's built-in one. One
//! instance per bed, in the bed's namespace, bound to the server's tap only, with no DNS and no
//! configuration file of the host; killed on drop.
//!
//! `--no-ping`, from the shared notes' verified recipe: the pre-offer ping of each address costs
//! 3 s. TFTP and boot files come from the configuration file `netroot publish` writes
//! ([`DhcpSpec::conf_file`]), so the bed serves exactly the published wiring.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::runner::{log_file, spawn_error, ChildGuard};
use super::QemuError;

/// The program, looked up in `PATH`.
pub const DNSMASQ: &str = "dnsmasq";
/// dnsmasq's log line once its DHCP socket is bound.
const READY: &str = "DHCP, IP range";
/// How long dnsmasq may take to bind (it takes milliseconds).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const READY_POLL: Duration = Duration::from_millis(20);
/// Lease time handed out: longer than any test run.
const LEASE: &str = "1h";
/// Files of one instance in its directory.
const LOG: &str = "dnsmasq.log";
const LEASES: &str = "leases";
const PID: &str = "dnsmasq.pid";

/// What one instance serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSpec {
    /// The interface it binds (the bed's tap).
    pub interface: String,
    /// First and last address handed out, and the netmask.
    pub range: (Ipv4Addr, Ipv4Addr),
    pub netmask: Ipv4Addr,
    /// A configuration file read after the options above: the DHCP wiring `netroot publish`
    /// writes (`netroot.dnsmasq.conf`: TFTP root, boot files by client, host reservations).
    pub conf_file: Option<PathBuf>,
}

/// dnsmasq's arguments for `spec`, with its log, leases and pid file in `dir` (its own: the
/// default `/var/run/dnsmasq.pid` would make two beds at once collide).
pub fn args(spec: &DhcpSpec, dir: &Path) -> Vec<String> {
    let (log, leases, pid) = (dir.join(LOG), dir.join(LEASES), dir.join(PID));
    let (start, end) = spec.range;
    let mut a = vec![
        "--keep-in-foreground".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        // No DNS server: the node resolves nothing in the initramfs.
        "--port=0".into(),
        format!("--interface={}", spec.interface),
        "--bind-interfaces".into(),
        "--user=root".into(),
        format!("--dhcp-range={start},{end},{},{LEASE}", spec.netmask),
        format!("--dhcp-leasefile={}", leases.display()),
        format!("--pid-file={}", pid.display()),
        "--no-ping".into(),
        "--log-dhcp".into(),
        format!("--log-facility={}", log.display()),
    ];
    if let Some(conf) = &spec.conf_file {
        a.push(format!("--conf-file={}", conf.display()));
    }
    a
}

/// A running dnsmasq; killed on drop.
#[derive(Debug)]
pub struct Dnsmasq {
    _child: ChildGuard,
    log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq for `spec` in `netns`, with its log and leases under `dir`, and waits
    /// until its DHCP socket is bound.
    pub fn start(netns: &Netns, spec: &DhcpSpec, dir: &Path) -> Result<Dnsmasq, QemuError> {
        std::fs::create_dir_all(dir).map_err(QemuError::io("create", dir))?;
        let log = dir.join(LOG);
        let out_path = dir.join("dnsmasq.out");
        log_file(&log)?;
        let out = log_file(&out_path)?;
        let err = out.try_clone().map_err(QemuError::io("dup", &out_path))?;
        let mut cmd = Command::new(DNSMASQ);
        cmd.args(args(spec, dir))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = netns
            .run_in(|| cmd.spawn())?
            .map_err(spawn_error(DNSMASQ.as_ref(), "install dnsmasq"))?;
        tracing::info!(pid = child.id(), log = %log.display(), "dnsmasq started");
        let mut guard = ChildGuard::kill_on_drop(child);
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(READY) {
                return Ok(Dnsmasq { _child: guard, log });
            }
            let status = guard
                .child()
                .try_wait()
                .map_err(QemuError::io("wait for", DNSMASQ))?;
            if let Some(status) = status {
                let stderr = std::fs::read_to_string(&out_path).unwrap_or_default();
                return Err(QemuError::Command {
                    program: DNSMASQ.into(),
                    status,
                    stderr: format!("{stderr}{text}"),
                });
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(QemuError::BadSetting {
                    what: "dnsmasq",
                    value: spec.interface.clone(),
                    reason: format!("not serving DHCP after {READY_TIMEOUT:?}: {text}"),
                });
            }
            sleep(READY_POLL);
        }
    }

    /// The log so far (`--log-dhcp`: every DISCOVER, OFFER, REQUEST and ACK).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bed_arguments_then_the_published_wiring() {
        let mut spec = DhcpSpec {
            interface: "up0".into(),
            range: (
                "10.0.2.15".parse().expect("ip"),
                "10.0.2.99".parse().expect("ip"),
            ),
            netmask: "255.255.255.0".parse().expect("ip"),
            conf_file: None,
        };
        let a = args(&spec, Path::new("/w")).join(" ");
        assert!(a.contains("--interface=up0 --bind-interfaces"), "{a}");
        assert!(
            a.contains("--dhcp-range=10.0.2.15,10.0.2.99,255.255.255.0,1h"),
            "{a}"
        );
        assert!(a.contains("--port=0") && a.contains("--no-ping"), "{a}");
        assert!(
            a.contains("--conf-file=/dev/null"),
            "no host configuration: {a}"
        );
        assert!(!a.contains("tftp"), "{a}");
        spec.conf_file = Some("/srv/nfs/netroot.dnsmasq.conf".into());
        let a = args(&spec, Path::new("/w")).join(" ");
        assert!(
            a.ends_with("--conf-file=/srv/nfs/netroot.dnsmasq.conf"),
            "{a}"
        );
    }
}
