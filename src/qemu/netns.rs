//! A network namespace for one LACP-partner bed: the servers (dnsmasq, nfs-ganesha) and both
//! VMs run in it, so its loopback (the VMs' point-to-point links) and its tap (the partner's
//! uplink, carrying the server address) are private to the run and parallel runs cannot collide.
//!
//! Created and configured with iproute2 (`ip netns add`, `ip -n NS ...`; the host kernel needs
//! only tun and network namespaces, no bonding or VLAN support: the LACP partner is a VM), and
//! deleted on drop, which also removes its tap. [`Netns::run_in`] runs a closure on a thread
//! that has entered the namespace (`setns`): a process it spawns inherits the namespace, as does
//! a socket it opens.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use super::QemuError;

/// Where iproute2 keeps named namespaces (bind mounts of `/proc/PID/ns/net`).
const NETNS_DIR: &str = "/run/netns";
/// iproute2's program.
const IP: &str = "ip";
/// Distinguishes the namespaces of one process (tests run several beds in parallel).
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Runs `ip ARGS`; an error carries its stderr.
fn ip(args: &[&str]) -> Result<(), QemuError> {
    let out = Command::new(IP)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(super::runner::spawn_error(IP.as_ref(), "install iproute2"))?;
    if !out.status.success() {
        return Err(QemuError::Command {
            program: format!("{IP} {}", args.join(" ")),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

impl Netns {
    /// Creates `netroot-<tag>-<pid>-<n>` with its loopback up.
    pub fn create(tag: &str) -> Result<Netns, QemuError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("netroot-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        tracing::info!(netns = %name, "network namespace created");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<(), QemuError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A persistent tap `name` with `addr/prefix`, up (it gets carrier when QEMU opens it).
    pub fn add_tap(&self, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), QemuError> {
        self.ip(&["tuntap", "add", "dev", name, "mode", "tap"])?;
        self.ip(&["addr", "add", &format!("{addr}/{prefix}"), "dev", name])?;
        self.ip(&["link", "set", name, "up"])
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, QemuError> {
        run_in_named(&self.name, f)
    }
}

/// Runs `f` on a thread inside the namespace `name` (of `ip netns`) and returns its result.
pub fn run_in_named<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, QemuError> {
    let path = format!("{NETNS_DIR}/{name}");
    let fd = File::open(&path).map_err(QemuError::io("open", &path))?;
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Network))
                .map_err(|e| QemuError::io("enter network namespace", &path)(e.into()))?;
            Ok(f())
        });
        worker.join().unwrap_or_else(|_| {
            Err(QemuError::BadSetting {
                what: "network namespace worker",
                value: name.to_string(),
                reason: "panicked".into(),
            })
        })
    })
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Nothing to return an error to: say it (a warning, shown unless -q), the namespace
        // would otherwise leak silently.
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            tracing::warn!(netns = %self.name, error = %e, "network namespace not deleted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn a_namespace_has_its_own_loopback_and_tap_and_goes_away() {
        if !is_root() {
            println!("skipped: needs root");
            return;
        }
        let ns = Netns::create("unit").expect("create");
        let name = ns.name().to_string();
        ns.add_tap("tap9", Ipv4Addr::new(10, 9, 0, 1), 24)
            .expect("tap");
        // A listener inside is reachable inside, on the tap's address, and not from here.
        let port = ns
            .run_in(|| {
                let l = std::net::TcpListener::bind((Ipv4Addr::new(10, 9, 0, 1), 0)).expect("bind");
                let port = l.local_addr().expect("addr").port();
                std::net::TcpStream::connect((Ipv4Addr::new(10, 9, 0, 1), port)).expect("connect");
                port
            })
            .expect("run_in");
        assert!(port > 0);
        assert!(std::net::TcpStream::connect((Ipv4Addr::new(10, 9, 0, 1), port)).is_err());
        drop(ns);
        assert!(!std::path::Path::new(NETNS_DIR).join(&name).exists());
    }
}
