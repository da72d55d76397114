//! The accelerator: `kvm`, `tcg`, or `auto`, which probes KVM with a bounded test boot and falls
//! back to TCG. The probe boots the run's kernel under KVM with no devices, no initramfs and no
//! root, and waits for the kernel's final panic ("VFS: Unable to mount root fs"): it proves the
//! firmware, the kernel's decompression and its whole initialization ran. Under a working KVM
//! that takes about a second; on the machines of this project KVM starts SeaBIOS (sometimes
//! not even that) and then hangs in the kernel's early boot with no output, so the probe is
//! killed after [`KVM_PROBE_TIMEOUT`].

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::args::Accel;
use super::runner::{spawn_error, ChildGuard};
use super::QemuError;

/// Longest the KVM probe may take: a Debian kernel reaches its no-root panic ~1 s after QEMU's
/// start under KVM (5.8 s even under TCG, which emulates every instruction), so 5 s without it
/// is a hang, not slowness.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The device KVM needs.
pub const KVM_DEVICE: &str = "/dev/kvm";
/// What proves the probe's kernel initialized completely: its panic for want of a root.
const PROBE_NEEDLE: &[u8] = b"Kernel panic";
/// The probe kernel's command line: output on the serial port, panic ends the VM at once.
const PROBE_CMDLINE: &str = "console=ttyS0 panic=-1";
/// Guest RAM of the probe: a kernel without initramfs needs little.
const PROBE_MEMORY_MB: &str = "256";
/// Read size of the probe's serial output.
const PROBE_READ_CHUNK: usize = 4096;

/// What `--accel` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(format!(
                "unknown accelerator {other:?} (expected auto, kvm or tcg)"
            )),
        }
    }
}

/// The probe's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmProbe {
    /// The firmware ran; after this long.
    Works(Duration),
    /// No KVM device on this machine.
    NoDevice,
    /// QEMU exited before the firmware printed anything (KVM unusable): its stderr.
    Failed(String),
    /// Nothing within [`KVM_PROBE_TIMEOUT`]: QEMU was killed.
    Hung,
}

impl std::fmt::Display for KvmProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvmProbe::Works(d) => write!(f, "kernel booted in {:.2}s", d.as_secs_f64()),
            KvmProbe::NoDevice => write!(f, "no {KVM_DEVICE}"),
            KvmProbe::Failed(why) => write!(f, "qemu failed: {why}"),
            KvmProbe::Hung => write!(
                f,
                "kvm is unusable here: {KVM_DEVICE} works, but a test boot of the kernel under kvm hung for {}s (killed)",
                KVM_PROBE_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Whether the probe's output so far shows the kernel initialized.
fn kernel_booted(output: &[u8]) -> bool {
    output
        .windows(PROBE_NEEDLE.len())
        .any(|w| w == PROBE_NEEDLE)
}

/// Probes KVM by booting `kernel` with `qemu`, bounded by `timeout` (QEMU is killed after it).
pub fn probe_kvm(
    qemu: &Path,
    device: &Path,
    kernel: &Path,
    timeout: Duration,
) -> Result<KvmProbe, QemuError> {
    if !device.exists() {
        return Ok(KvmProbe::NoDevice);
    }
    let start = Instant::now();
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-m", PROBE_MEMORY_MB])
        .args(["-nographic", "-nodefaults", "-no-reboot"])
        .args(["-serial", "stdio", "-monitor", "none", "-display", "none"])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", PROBE_CMDLINE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error(qemu, "install qemu-system-x86"))?;
    tracing::debug!(pid = child.id(), kernel = %kernel.display(), "kvm probe started");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let guard = ChildGuard::kill_on_drop(child);
    let (tx, rx) = mpsc::channel::<bool>();
    if let Some(mut out) = stdout {
        thread::spawn(move || {
            let (mut seen, mut buf) = (Vec::new(), [0u8; PROBE_READ_CHUNK]);
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        // End of output: QEMU exited (or was killed) without the panic.
                        let _ = tx.send(false);
                        return;
                    }
                    Ok(n) => {
                        seen.extend_from_slice(buf.get(..n).unwrap_or_default());
                        if kernel_booted(&seen) {
                            let _ = tx.send(true);
                            return;
                        }
                    }
                }
            }
        });
    }
    let outcome = rx.recv_timeout(timeout);
    let elapsed = start.elapsed();
    // Kill before reading stderr: a hung QEMU never closes it.
    drop(guard);
    Ok(match outcome {
        Ok(true) => KvmProbe::Works(elapsed),
        Ok(false) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            let mut text = String::new();
            if let Some(mut err) = stderr {
                // What QEMU said is the detail of the message; unreadable means nothing said.
                let _ = err.read_to_string(&mut text);
            }
            KvmProbe::Failed(
                text.trim()
                    .lines()
                    .last()
                    .unwrap_or("no output")
                    .to_string(),
            )
        }
        Err(mpsc::RecvTimeoutError::Timeout) => KvmProbe::Hung,
    })
}

/// The accelerator to run with, and the probe's finding when `Auto` probed (with `kernel`).
pub fn resolve(
    choice: AccelChoice,
    qemu: &Path,
    kernel: &Path,
) -> Result<(Accel, Option<KvmProbe>), QemuError> {
    Ok(match choice {
        AccelChoice::Kvm => (Accel::Kvm, None),
        AccelChoice::Tcg => (Accel::Tcg, None),
        AccelChoice::Auto => {
            let probe = probe_kvm(qemu, Path::new(KVM_DEVICE), kernel, KVM_PROBE_TIMEOUT)?;
            let accel = match probe {
                KvmProbe::Works(_) => Accel::Kvm,
                _ => Accel::Tcg,
            };
            (accel, Some(probe))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_qemu(dir: &Path, script: &str) -> std::path::PathBuf {
        let path = dir.join("qemu");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn choices_parse() {
        assert_eq!("auto".parse::<AccelChoice>(), Ok(AccelChoice::Auto));
        assert_eq!(
            "xen".parse::<AccelChoice>(),
            Err("unknown accelerator \"xen\" (expected auto, kvm or tcg)".into())
        );
    }

    #[test]
    fn a_panic_for_want_of_root_means_kvm_works() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = fake_qemu(
            dir.path(),
            "printf 'SeaBIOS\\n[ 1.6] Kernel panic - not syncing: VFS: Unable'; exec sleep 30",
        );
        let dev = dir.path().join("kvm");
        std::fs::write(&dev, "").expect("device stand-in");
        let p = probe_kvm(&q, &dev, Path::new("/k"), Duration::from_secs(5)).expect("probe");
        assert!(
            matches!(p, KvmProbe::Works(d) if d < Duration::from_secs(5)),
            "{p:?}"
        );
    }

    #[test]
    fn silence_is_a_hang_bounded_by_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = fake_qemu(
            dir.path(),
            "echo SeaBIOS; echo warming up >&2; exec sleep 30",
        );
        let dev = dir.path().join("kvm");
        std::fs::write(&dev, "").expect("device stand-in");
        let start = Instant::now();
        let p = probe_kvm(&q, &dev, Path::new("/k"), Duration::from_millis(500)).expect("probe");
        assert_eq!(p, KvmProbe::Hung);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            p.to_string(),
            "kvm is unusable here: /dev/kvm works, but a test boot of the kernel under kvm hung for 5s (killed)"
        );
    }

    #[test]
    fn an_exit_without_banner_reports_stderr_and_no_device_skips_qemu() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = fake_qemu(
            dir.path(),
            "echo 'Could not access KVM kernel module: Permission denied' >&2; exit 1",
        );
        let dev = dir.path().join("kvm");
        std::fs::write(&dev, "").expect("device stand-in");
        let p = probe_kvm(&q, &dev, Path::new("/k"), Duration::from_secs(5)).expect("probe");
        assert_eq!(
            p.to_string(),
            "qemu failed: Could not access KVM kernel module: Permission denied"
        );
        let none = probe_kvm(
            &q,
            &dir.path().join("absent"),
            Path::new("/k"),
            Duration::from_secs(5),
        );
        assert_eq!(none.expect("probe"), KvmProbe::NoDevice);
    }
}
