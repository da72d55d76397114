//! Issue 12's real-partner bond tests, on the LACP bed of `src/qemu/lacpbed.rs`: the node's
//! four NICs cabled to a partner VM that bonds its ends (the host kernel has no bonding, so the
//! partner is the test kernel in a second VM) and bridges them to a tap in the bed's network
//! namespace, where dnsmasq answers DHCP and nfs-ganesha serves the root.
//! - `lacp_aggregates_four_ports_and_survives_two_pulled_cables`: 802.3ad with lacp_rate fast on
//!   both sides. Both views (the node's root prints its report, the partner prints its own)
//!   show all four ports in one active aggregator with the other side's system MAC; two cables
//!   are pulled (both ends) during O_DIRECT NFS reads: zero read errors, the partner's
//!   aggregator drops to 2 ports, the longest stall is reported; plugged back, the aggregator
//!   regains all four on both sides.
//! - `balance_xor_layer3_4_boots_against_a_static_lag`: node `balance-xor` with
//!   `xmit_hash_policy layer3+4` against a static LAG: boots, the guest checks pass.
//! - `a_vlan_on_the_bond_reaches_servers_behind_a_tagging_partner`: the profile's `[vlan] id`,
//!   the partner bridging only `bond0.ID` to the untagged servers: DHCP, the NFS root and the
//!   real root's reads all go over `bond0.ID` (nothing answers untagged), 0 read errors.
//!
//! Skips like the other VM suites without root, QEMU, ganesha, busybox or the test kernel,
//! unless `NETROOT_REQUIRE_VM=1`; also needs dnsmasq and iproute2.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[allow(dead_code)] // shared with other VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use netroot::kernel::{self, Kernel};
use netroot::qemu::args::{mac_text, DEFAULT_MACS};
use netroot::qemu::ganesha::{Export, PSEUDO};
use netroot::qemu::lacp::{BondView, ReportCollector};
use netroot::qemu::lacpbed::{LacpBed, LacpBedSpec};
use netroot::qemu::partner::{self, Aggregation, PartnerSpec};
use netroot::qemu::runner::{TimedLine, Watch};
use vm::bed::{self, vm_test, BedSpec, BootOpts, Guest, Server};
use vm::env::VmTools;
use vm::ioloop::{self, IoLine, IoLoop, BOND_PREFIX};
use vm::project::ProfileExtra;

/// The loop reads for 24 s: the pull at 6 s, the plug at 13 s, then time to re-aggregate.
const IO_LOOP: IoLoop = IoLoop {
    loop_ms: 24_000,
    file_bytes: 2 * 1024 * 1024,
    report_bond: true,
};
const PULL_AT_MS: u64 = 6_000;
const PLUG_AT_MS: u64 = 13_000;
/// The cables pulled: two of the four.
const PULLED: [usize; 2] = [0, 1];
/// Reads that must complete while the two cables are out.
const MIN_READS_WHILE_PULLED: u64 = 3;
/// LACP (fast: a PDU per second, 3 s timeout) takes a few seconds under TCG to drop or add ports.
const AGGREGATION_WAIT: Duration = Duration::from_secs(30);
/// Boot through LACP negotiation (~10 s), the loop, poweroff, load margin.
const QEMU_TIMEOUT: Duration = Duration::from_secs(150);

/// The test kernel as a tree (the partner boots it and takes its modules).
fn kernel_tree(tools: &VmTools, tmp: &Path) -> Result<Kernel> {
    let dir = if tools.kernel.is_dir() {
        tools.kernel.clone()
    } else {
        let dir = tmp.join("kernel");
        kernel::extract_deb(&tools.kernel, &dir).context("extract the test kernel")?;
        dir
    };
    kernel::open_tree(&dir).context("open the test kernel tree")
}

/// A node profile in `mode` with the bond keys `extra`, its root served by the bed's ganesha.
fn node_spec(name: &str, mode: &str, bond: &[(&str, &str)], guest: Guest) -> BedSpec {
    node_spec_vlan(name, mode, bond, guest, None)
}

/// [`node_spec`] with the profile's `[vlan] id`.
fn node_spec_vlan(
    name: &str,
    mode: &str,
    bond: &[(&str, &str)],
    guest: Guest,
    vlan: Option<u16>,
) -> BedSpec {
    let mut spec = BedSpec::new(name, mode, Server::Later, bed::ok_timeouts("20s"));
    spec.extra = ProfileExtra {
        bond: bond
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        vlan,
        ..ProfileExtra::default()
    };
    spec.guest = guest;
    spec
}

/// The bed for `node` behind a partner aggregating as `aggregation` (hash `layer3+4`), tagging
/// `vlan` only when given, and the node's boot options on it.
fn partner_bed(
    tools: &VmTools,
    node: &bed::Bed,
    aggregation: Aggregation,
    vlan: Option<u16>,
    timeout: Duration,
) -> Result<(LacpBed, BootOpts)> {
    let kernel = kernel_tree(tools, node.tmp.path())?;
    let partner = PartnerSpec {
        aggregation,
        hash: "layer3+4".into(),
        vlan,
        native: false,
    };
    let lacp = start_bed(tools, node, &kernel, partner)?;
    let (uplink, ns) = lacp.node_uplink();
    let opts = BootOpts {
        uplink,
        netns: Some(ns),
        timeout,
        ..BootOpts::default()
    };
    Ok((lacp, opts))
}

/// Starts the bed for `node` with `partner`.
fn start_bed(
    tools: &VmTools,
    node: &bed::Bed,
    kernel: &Kernel,
    partner: PartnerSpec,
) -> Result<LacpBed> {
    let spec = LacpBedSpec {
        server: bed::NFS_SERVER.parse()?,
        nfs_port: node.port,
        export: Export {
            path: &node.tree.dir,
            pseudo: PSEUDO,
        },
        partner,
        kernel,
        busybox: &tools.busybox,
        ganesha: &tools.ganesha,
        qemu: &tools.qemu,
        accel: tools.accel,
        dhcp_conf: None,
        dir: &node.tmp.path().join("lacp"),
    };
    Ok(LacpBed::start(&spec)?)
}

/// The cable pulls of the link-pull run, driven by the loop's progress lines: both ends of each
/// cable at once, as a real cable pull (the node's ends through its runner's command channel,
/// so they do not wait for a console line a stall would hold back).
#[derive(Debug)]
struct Cables {
    node: std::sync::mpsc::Sender<Watch>,
    pulled_ms: Option<u64>,
    plugged_ms: Option<u64>,
    /// QEMU time of the triggering line (for the report) and the moment (to order against the
    /// partner's reports, whose console counts from the partner's own start).
    pulled_at: Option<(Duration, Instant)>,
    plugged_at: Option<(Duration, Instant)>,
    errors: Vec<String>,
}

impl Cables {
    fn new(node: std::sync::mpsc::Sender<Watch>) -> Self {
        Cables {
            node,
            pulled_ms: None,
            plugged_ms: None,
            pulled_at: None,
            plugged_at: None,
            errors: Vec::new(),
        }
    }

    fn observe(&mut self, line: &TimedLine, lacp: &LacpBed) -> Watch {
        if let Some(Ok(IoLine::Progress { at_ms, .. })) = ioloop::parse_line(&line.text) {
            if at_ms >= PULL_AT_MS && self.pulled_ms.is_none() {
                (self.pulled_ms, self.pulled_at) = (Some(at_ms), Some((line.at, Instant::now())));
                self.change(false, lacp);
            } else if at_ms >= PLUG_AT_MS && self.pulled_ms.is_some() && self.plugged_ms.is_none() {
                (self.plugged_ms, self.plugged_at) = (Some(at_ms), Some((line.at, Instant::now())));
                self.change(true, lacp);
            }
        }
        Watch::Continue
    }

    fn change(&mut self, up: bool, lacp: &LacpBed) {
        for nic in PULLED {
            if let Err(e) = lacp.partner.set_link(nic, up) {
                self.errors.push(e.to_string());
            }
            if self.node.send(Watch::SetLink { nic, up }).is_err() {
                self.errors
                    .push(format!("node nic{nic}: its runner is gone"));
            }
        }
    }
}

/// Both bonds aggregate all four ports with each other.
fn assert_aggregated(node: &BondView, partner: &BondView) -> Result<()> {
    let node_mac = mac_text(&DEFAULT_MACS[0]);
    let partner_mac = mac_text(&partner::SYSTEM_MAC);
    ensure!(
        node.lacp_ports() == 4 && node.partner() == Some(partner_mac.as_str()),
        "node view {node}, expected lacp=4/4 partner={partner_mac}"
    );
    ensure!(
        partner.lacp_ports() == 4 && partner.partner() == Some(node_mac.as_str()),
        "partner view {partner}, expected lacp=4/4 partner={node_mac}"
    );
    ensure!(
        node.active.as_ref().map(|a| a.ports) == Some(4)
            && partner.active.as_ref().map(|a| a.ports) == Some(4),
        "active aggregators {:?} / {:?}, expected 4 ports each",
        node.active,
        partner.active
    );
    Ok(())
}

#[test]
fn lacp_aggregates_four_ports_and_survives_two_pulled_cables() -> Result<()> {
    let name = "lacp_aggregates_four_ports_and_survives_two_pulled_cables";
    vm_test(name, |name, tools, report| {
        let spec = node_spec(
            name,
            "802.3ad",
            &[("lacp_rate", "fast"), ("xmit_hash_policy", "layer3+4")],
            Guest::IoLoop(IO_LOOP),
        );
        let node = bed::prepare(tools, &spec)?;
        let (lacp, opts) = partner_bed(tools, &node, Aggregation::Lacp, None, QEMU_TIMEOUT)?;
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let mut cables = Cables::new(node_tx);
        let run = node.boot_with(tools, &opts, Some(&node_rx), &mut |l| {
            cables.observe(l, &lacp)
        })?;
        report.vm_wall = Some(run.wall);
        let t = run.transcript();
        ensure!(
            cables.errors.is_empty(),
            "partner cables: {:?}",
            cables.errors
        );
        let init = bed::assert_init_ok(&run, "802.3ad", 4)?;
        report.kernel_to_ok = Some(init.ok.t);
        // Both sides re-aggregate after the plug; the node's last report is from the loop's end.
        let partner_after = lacp
            .partner
            .wait_for(AGGREGATION_WAIT, "re-aggregated", |v| v.lacp_ports() == 4)?;
        let history = lacp.partner.history();
        let texts: Vec<&str> = run.lines.iter().map(|l| l.text.as_str()).collect();
        let node_views = ReportCollector::all(BOND_PREFIX, texts.iter().copied())?;
        let [node_before, node_after] = node_views.as_slice() else {
            bail!("{} node bond reports, expected 2:\n{t}", node_views.len());
        };
        let (
            Some((pulled_t, pulled_at)),
            Some((plugged_t, plugged_at)),
            Some(pulled_ms),
            Some(plugged_ms),
        ) = (
            cables.pulled_at,
            cables.plugged_at,
            cables.pulled_ms,
            cables.plugged_ms,
        )
        else {
            bail!("the cables were not pulled and plugged: {cables:?}\n{t}");
        };
        // The partner's view before the pull: the one the node's first report was checked against.
        let partner_before = history
            .iter()
            .rev()
            .find(|(at, _)| *at < pulled_at)
            .map(|(_, v)| v)
            .context("no partner report before the pull")?;
        assert_aggregated(node_before, partner_before)?;
        let during = history
            .iter()
            .filter(|(at, _)| *at > pulled_at && *at < plugged_at)
            .map(|(_, v)| v.lacp_ports())
            .min();
        ensure!(
            during == Some(2),
            "partner aggregator while cables {PULLED:?} were out: {during:?} ports, expected 2"
        );
        assert_aggregated(node_after, &partner_after)?;
        let lines: Vec<IoLine> = run
            .console()
            .parsed(ioloop::parse_line)
            .map_err(anyhow::Error::msg)?;
        let (reads, errors, longest_stall_ms, mean_ms) =
            ioloop::summary(&lines).map_err(|e| anyhow::anyhow!("{e}:\n{t}"))?;
        ensure!(errors == 0, "{errors} read errors:\n{t}");
        let reads_at = |ms: u64| {
            lines
                .iter()
                .filter_map(|l| match l {
                    IoLine::Progress { at_ms, reads, .. } if *at_ms <= ms => Some(*reads),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        };
        let while_out = reads_at(plugged_ms).saturating_sub(reads_at(pulled_ms));
        ensure!(
            while_out >= MIN_READS_WHILE_PULLED,
            "{while_out} reads while the cables were out, expected >= {MIN_READS_WHILE_PULLED}:\n{t}"
        );
        bed::assert_powered_off(&run)?;
        Ok(format!(
            "802.3ad: node {node_before} / partner {partner_before}; pulled nic0,nic1 at {:.1}s -> partner lacp=2/4, plugged at {:.1}s -> {partner_after}; reads={reads} ({while_out} while out) errors=0 longest_stall={longest_stall_ms}ms mean={mean_ms}ms",
            pulled_t.as_secs_f64(),
            plugged_t.as_secs_f64()
        ))
    })
}

#[test]
fn balance_xor_layer3_4_boots_against_a_static_lag() -> Result<()> {
    let name = "balance_xor_layer3_4_boots_against_a_static_lag";
    vm_test(name, |name, tools, report| {
        let spec = node_spec(
            name,
            "balance-xor",
            &[("xmit_hash_policy", "layer3+4")],
            Guest::Checks,
        );
        let node = bed::prepare(tools, &spec)?;
        let (lacp, opts) = partner_bed(tools, &node, Aggregation::Xor, None, bed::QEMU_TIMEOUT)?;
        let run = node.boot(tools, &opts, &mut |_| Watch::Continue)?;
        report.vm_wall = Some(run.wall);
        let init = bed::assert_init_ok(&run, "balance-xor", 4)?;
        report.kernel_to_ok = Some(init.ok.t);
        bed::assert_guest_checks(&run, &node)?;
        let (_, view) = lacp.partner.latest().context("no partner report")?;
        ensure!(
            view.mode == "load balancing (xor)" && view.ports_up() == 4,
            "partner view {view} ({}), expected balance-xor with 4 ports up",
            view.mode
        );
        ensure!(
            view.hash_policy.as_deref() == Some("layer3+4"),
            "partner hash {:?}",
            view.hash_policy
        );
        Ok(format!(
            "balance-xor layer3+4 against a static LAG: OK t={:.3}s, partner {view}",
            init.ok.t.as_secs_f64()
        ))
    })
}

/// The management-VLAN case: the partner tags, so only the node's VLAN reaches the servers.
const VLAN_ID: u16 = 42;
/// A short read loop: the VLAN carries the root's reads.
const VLAN_LOOP: IoLoop = IoLoop {
    loop_ms: 6_000,
    file_bytes: 1024 * 1024,
    report_bond: false,
};

#[test]
fn a_vlan_on_the_bond_reaches_servers_behind_a_tagging_partner() -> Result<()> {
    let name = "a_vlan_on_the_bond_reaches_servers_behind_a_tagging_partner";
    vm_test(name, |name, tools, report| {
        let spec = node_spec_vlan(
            name,
            "802.3ad",
            &[("lacp_rate", "fast")],
            Guest::IoLoop(VLAN_LOOP),
            Some(VLAN_ID),
        );
        let node = bed::prepare(tools, &spec)?;
        let (lacp, opts) =
            partner_bed(tools, &node, Aggregation::Lacp, Some(VLAN_ID), QEMU_TIMEOUT)?;
        let run = node.boot(tools, &opts, &mut |_| Watch::Continue)?;
        report.vm_wall = Some(run.wall);
        let t = run.transcript();
        let init = bed::assert_init_ok(&run, "802.3ad", 4)?;
        report.kernel_to_ok = Some(init.ok.t);
        let want = format!("name=bond0.{VLAN_ID} id={VLAN_ID} on=bond0");
        let vlan_line = run
            .lines
            .iter()
            .find(|l| l.text.contains("] phase=vlan "))
            .with_context(|| format!("no vlan phase line:\n{t}"))?;
        ensure!(
            vlan_line.text.ends_with(&want),
            "vlan line {:?}, expected ...{want}",
            vlan_line.text
        );
        // The lease came through the tagging partner: dnsmasq only sees the VLAN's frames.
        let log = lacp.dnsmasq.log_text();
        ensure!(
            log.lines()
                .any(|l| l.contains("DHCPACK(") && l.contains(&mac_text(&DEFAULT_MACS[0]))),
            "no DHCPACK for the node in dnsmasq's log:\n{log}"
        );
        let lines: Vec<IoLine> = run
            .console()
            .parsed(ioloop::parse_line)
            .map_err(anyhow::Error::msg)?;
        let (reads, errors, _, _) =
            ioloop::summary(&lines).map_err(|e| anyhow::anyhow!("{e}:\n{t}"))?;
        ensure!(
            errors == 0 && reads > 0,
            "reads={reads} errors={errors}:\n{t}"
        );
        bed::assert_powered_off(&run)?;
        let (_, view) = lacp.partner.latest().context("no partner report")?;
        Ok(format!(
            "vlan {VLAN_ID} over 802.3ad: {}; reads={reads} errors=0; partner {view}",
            vlan_line
                .text
                .split("phase=vlan ")
                .nth(1)
                .unwrap_or_default()
        ))
    })
}
