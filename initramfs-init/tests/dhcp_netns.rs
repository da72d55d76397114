//! Root-only integration test of the real DHCP client and netlink encoder: a veth pair between
//! two network namespaces created here, dnsmasq serving 10.213.7.0/24 in one, our client
//! (`RealSys`, AF_PACKET) in the other; then the lease is applied with our netlink requests and
//! checked with `ip`; and a VLAN link requested with our encoder (created and checked when the
//! kernel has 8021q, else its EOPNOTSUPP answer checked). Skips (with a message) when not root
//! or `ip`/dnsmasq are missing. Nothing leaves the namespaces created here; they are deleted on
//! every path (Drop).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netroot_init::dhcp::client;
use netroot_init::paths::Paths;
use netroot_init::phases::Ctx;
use netroot_init::sys::{RealSys, Sys};

/// Subnet used only inside the test namespaces.
const SERVER_IP: &str = "10.213.7.1";
const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x0d, 0xd5, 0x07, 0x02];
const CLIENT_MAC_TEXT: &str = "02:00:0d:d5:07:02";
/// Bound on the whole exchange; dnsmasq answers in well under a second.
const DHCP_LIMIT: Duration = Duration::from_secs(30);

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces, a veth between them and dnsmasq; torn down in Drop.
struct Lab {
    server_ns: String,
    client_ns: String,
    dnsmasq: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let id = std::process::id();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lab = Lab {
            server_ns: format!("nrt-srv-{id}"),
            client_ns: format!("nrt-cli-{id}"),
            dnsmasq: None,
            _dir: dir,
        };
        let (s, c) = (lab.server_ns.clone(), lab.client_ns.clone());
        sh(&["ip", "netns", "add", &s]);
        sh(&["ip", "netns", "add", &c]);
        sh(&[
            "ip",
            "-n",
            &s,
            "link",
            "add",
            "vsrv",
            "type",
            "veth",
            "peer",
            "name",
            "vcli",
            "address",
            CLIENT_MAC_TEXT,
            "netns",
            &c,
        ]);
        sh(&[
            "ip",
            "-n",
            &s,
            "addr",
            "add",
            &format!("{SERVER_IP}/24"),
            "dev",
            "vsrv",
        ]);
        sh(&["ip", "-n", &s, "link", "set", "vsrv", "up"]);
        sh(&["ip", "-n", &s, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", &c, "link", "set", "vcli", "up"]);
        let leases = lab._dir.path().join("leases");
        let pid = lab._dir.path().join("pid");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &s,
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
            ])
            .args([
                "--interface=vsrv",
                "--bind-interfaces",
                "--port=0",
                "--no-ping",
            ])
            .args(["--user=root", "--dhcp-authoritative"])
            .arg("--dhcp-range=10.213.7.100,10.213.7.150,255.255.255.0,12h")
            .arg(format!("--dhcp-option=option:router,{SERVER_IP}"))
            .arg(format!("--dhcp-option=option:dns-server,{SERVER_IP}"))
            .arg(format!(
                "--dhcp-option=option:root-path,{SERVER_IP}:/srv/root"
            ))
            .arg("--dhcp-option=option:domain-name,lab.test")
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--pid-file={}", pid.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dnsmasq");
        lab.dnsmasq = Some(child);
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            // `ip netns exec` execs dnsmasq, so this is dnsmasq itself.
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a thread that has joined network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

#[test]
fn dhcp_lease_from_dnsmasq_and_netlink_apply() {
    if !rustix::process::geteuid().is_root() {
        println!("skipped: dhcp_netns needs root");
        return;
    }
    for tool in ["ip", "dnsmasq"] {
        if !have(tool) {
            println!("skipped: {tool} not installed");
            return;
        }
    }
    let lab = Lab::new();
    let result = in_netns(&lab.client_ns, || {
        let mut sys = RealSys::new();
        let mut ctx = Ctx::new(&mut sys, Paths::standard());
        ctx.debug = true;
        let until = ctx.now() + DHCP_LIMIT;
        let lease = client::acquire(&mut ctx, "vcli", CLIENT_MAC, until);
        let applied = lease.as_ref().ok().map(|(ack, _)| {
            (
                sys.add_address("vcli", ack.address, ack.prefix_len),
                ack.gateway.map(|gw| sys.add_default_route("vcli", gw)),
                sys.set_link_up("lo", true),
            )
        });
        (lease, applied)
    });
    let (lease, applied) = result;
    let (ack, stats) = lease.expect("lease from dnsmasq");
    assert!(
        (100..=150).contains(&ack.address.octets()[3]) && ack.address.octets()[..3] == [10, 213, 7],
        "{}",
        ack.address
    );
    let server: Ipv4Addr = SERVER_IP.parse().expect("ip");
    assert_eq!(ack.prefix_len, 24);
    assert_eq!(ack.gateway, Some(server));
    assert_eq!(ack.dns, [server]);
    assert_eq!(ack.server_id, server);
    assert_eq!(ack.lease_secs, Some(12 * 3600));
    assert_eq!(ack.root_path.as_deref(), Some("10.213.7.1:/srv/root"));
    assert_eq!(ack.domain.as_deref(), Some("lab.test"));
    // dnsmasq may still be starting when the first DISCOVER goes out: that one is retransmitted.
    assert_eq!(
        (stats.offers, stats.requests, stats.naks),
        (1, 1, 0),
        "{stats}"
    );

    let (addr, route, lo) = applied.expect("applied");
    addr.expect("RTM_NEWADDR");
    route.expect("gateway").expect("RTM_NEWROUTE");
    lo.expect("lo up");
    let addrs = sh(&["ip", "-n", &lab.client_ns, "-4", "addr", "show", "vcli"]);
    assert!(
        addrs.contains(&format!("inet {}/24 brd 10.213.7.255", ack.address)),
        "{addrs}"
    );
    let routes = sh(&[
        "ip",
        "-d",
        "-n",
        &lab.client_ns,
        "-4",
        "route",
        "show",
        "default",
    ]);
    assert!(
        routes.contains("default via 10.213.7.1 dev vcli proto boot"),
        "{routes}"
    );
    let lo_state = sh(&["ip", "-n", &lab.client_ns, "link", "show", "lo"]);
    assert!(lo_state.contains("UP"), "{lo_state}");
}

/// A network namespace with a veth pair `d0`/`d1` in it, deleted on drop.
struct VethNetns(String);

impl VethNetns {
    fn new(ns: &str) -> VethNetns {
        sh(&["ip", "netns", "add", ns]);
        let guard = VethNetns(ns.to_string());
        sh(&[
            "ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1",
        ]);
        guard
    }
}

impl Drop for VethNetns {
    fn drop(&mut self) {
        // A namespace left behind only costs a name; the test's result is what matters.
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn link_flags_and_mac_over_netlink() {
    if !rustix::process::geteuid().is_root() || !have("ip") {
        println!("skipped: link_flags_and_mac_over_netlink needs root and ip");
        return;
    }
    let ns = format!("nrt-link-{}", std::process::id());
    let _guard = VethNetns::new(&ns);
    let results = in_netns(&ns, || {
        let mut sys = RealSys::new();
        (
            sys.set_link_mac("d0", [0x02, 0, 0, 0, 0, 0x42]),
            sys.set_link_up("d0", true),
            sys.set_link_up("nope0", true).map_err(|e| e.to_string()),
        )
    });
    results.0.expect("mac");
    results.1.expect("up");
    assert_eq!(
        results.2,
        Err("link up nope0: ENODEV (No such device, errno 19)".to_string())
    );
    let link = sh(&["ip", "-n", &ns, "link", "show", "d0"]);
    assert!(link.contains("link/ether 02:00:00:00:00:42"), "{link}");
    assert!(link.contains(",UP"), "{link}");
}

/// Whether this kernel can create VLAN links (8021q built in or loaded), probed with `ip`.
fn kernel_has_vlan(ns: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "add", "link", "d1", "name", "probe.9"])
        .args(["type", "vlan", "id", "9"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn vlan_link_over_netlink() {
    if !rustix::process::geteuid().is_root() || !have("ip") {
        println!("skipped: vlan_link_over_netlink needs root and ip");
        return;
    }
    let ns = format!("nrt-vlan-{}", std::process::id());
    let _guard = VethNetns::new(&ns);
    let has_vlan = kernel_has_vlan(&ns);
    let results = in_netns(&ns, || {
        let mut sys = RealSys::new();
        let text = |r: Result<(), netroot_init::sys::SysError>| r.map_err(|e| e.to_string());
        (
            text(sys.add_vlan("d0", "d0.5", 5)),
            text(sys.add_vlan("nope0", "nope0.5", 5)),
            text(sys.add_vlan("d0", "d0.5", 5)),
        )
    });
    assert_eq!(
        results.1,
        Err("add vlan nope0.5: ENODEV (No such device, errno 19)".to_string())
    );
    if !has_vlan {
        // No 8021q here: the kernel's answer the init turns into "the 8021q module is missing".
        println!("this kernel has no vlan links: checking the EOPNOTSUPP answer only");
        assert_eq!(
            results.0,
            Err("add vlan d0.5: EOPNOTSUPP (Operation not supported, errno 95)".to_string())
        );
        return;
    }
    results.0.expect("vlan created");
    assert_eq!(
        results.2,
        Err("add vlan d0.5: EEXIST (File exists, errno 17)".to_string())
    );
    let link = sh(&["ip", "-n", &ns, "-d", "link", "show", "d0.5"]);
    assert!(link.contains("d0.5@d0"), "{link}");
    assert!(link.contains("vlan protocol 802.1Q id 5"), "{link}");
}
