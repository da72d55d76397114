//! Issue 3's VM boot test: a real netroot image (the `netroot` binary with its embedded static
//! init, the test kernel) booted under QEMU with four virtio NICs on a hub, its root a busybox
//! tree served by a per-test nfs-ganesha. The guest's `/sbin/init` checks the overlay, the
//! read-only NFS lower, the tmpfs upper and the bond, then powers off; failure tests check the
//! init's single `FAILED` line and its reboot. Skipped (with a message) without root, QEMU,
//! ganesha, busybox or the test kernel, unless `NETROOT_REQUIRE_VM=1`.
//!
//! Boots with links down, a cable pull during I/O, a late server and the other faults of issue 5
//! are `tests/vm_faults.rs`, on the same bed (`tests/vm/bed.rs`).
//!
//! Every test has its own temp dir, ganesha port and QEMU, so they run in parallel.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

#[allow(dead_code)] // shared with later VM suites; each binary uses a subset
#[path = "vm/mod.rs"]
mod vm;

use anyhow::Result;

use netroot::qemu::args::Uplink;
use netroot::qemu::runner::Watch;
use vm::bed::{self, BedSpec, BootOpts, Server};
use vm::env::vm_tools_or_skip;
use vm::project::Timeouts;
use vm::report::Report;

/// A boot with all four links that must reach the guest checker: the OK line, every check
/// passing, poweroff. (Boots with links down are `tests/vm_faults.rs`.)
fn boot_ok(name: &str, mode: &str) -> Result<()> {
    let Some(tools) = vm_tools_or_skip(name) else {
        return Ok(());
    };
    let mut report = Report::start(name);
    let spec = BedSpec::new(name, mode, Server::Now, bed::ok_timeouts("20s"));
    let bed = bed::prepare(&tools, &spec)?;
    let run = bed.boot(&tools, &BootOpts::default(), &mut |_| Watch::Continue)?;
    report.vm_wall = Some(run.wall);
    let init = bed::assert_init_ok(&run, mode, 4)?;
    report.kernel_to_ok = Some(init.ok.t);
    report.qemu_to_ok = run.seen_at(vm::console::OK_PREFIX);
    report.note = format!("{mode} bond={}/{}", init.ok.ports_up, init.ok.ports_total);
    bed::assert_guest_checks(&run, &bed)?;
    report.pass();
    Ok(())
}

/// Timeouts of a boot that fails: links 20 s, boot 60 s, DHCP and NFS as given.
fn fail_timeouts(dhcp: &str, nfs: &str) -> Timeouts {
    Timeouts {
        links: "20s".into(),
        dhcp: dhcp.into(),
        nfs: nfs.into(),
        boot: "60s".into(),
    }
}

/// A boot with no NFS server that must fail in `phase` (see [`bed::failing_boot_test`]).
fn boot_fails(
    name: &str,
    uplink: Uplink,
    timeouts: Timeouts,
    phase: &str,
    reason: &[&str],
) -> Result<()> {
    let spec = BedSpec::new(name, "active-backup", Server::Absent, timeouts);
    let opts = BootOpts {
        uplink,
        ..BootOpts::default()
    };
    bed::failing_boot_test(&spec, &opts, phase, reason, &[])
}

#[test]
fn boots_with_an_802_3ad_bond() -> Result<()> {
    boot_ok("boots_with_an_802_3ad_bond", "802.3ad")
}

#[test]
fn boots_with_an_active_backup_bond() -> Result<()> {
    boot_ok("boots_with_an_active_backup_bond", "active-backup")
}

#[test]
fn boots_with_a_balance_alb_bond() -> Result<()> {
    boot_ok("boots_with_a_balance_alb_bond", "balance-alb")
}

#[test]
fn absent_nfs_server_fails_in_phase_nfs_and_reboots() -> Result<()> {
    boot_fails(
        "absent_nfs_server_fails_in_phase_nfs_and_reboots",
        Uplink::User,
        fail_timeouts("20s", "8s"),
        "nfs",
        &["10.0.2.2:/export: not mounted after 8s", "ECONNREFUSED"],
    )
}

#[test]
fn no_dhcp_answer_fails_in_phase_dhcp_and_reboots() -> Result<()> {
    boot_fails(
        "no_dhcp_answer_fails_in_phase_dhcp_and_reboots",
        Uplink::Isolated,
        fail_timeouts("8s", "20s"),
        "dhcp",
        &["no lease after", "0 OFFER"],
    )
}
