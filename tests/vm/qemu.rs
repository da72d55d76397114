//! The QEMU runner: four virtio-net NICs on one hub (fixed MACs as in profiles/qemu.toml,
//! `speed=10000,duplex=full`, without which a bond slave whose link returns never rejoins),
//! uplinked to QEMU user networking or to nothing, serial console to a file read while the VM
//! runs (each line keeps the time it appeared), a QMP socket (the VM starts paused so link states
//! can be set before boot), `-no-reboot`, and a hard timeout after which QEMU is killed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::console::Console;
use super::qmp::{self, Qmp};
use super::VmError;

/// The NICs' MACs, in order: the ports profiles/qemu.toml bonds.
pub const MACS: [&str; 4] = [
    "52:54:00:00:00:01",
    "52:54:00:00:00:02",
    "52:54:00:00:00:03",
    "52:54:00:00:00:04",
];
/// Guest RAM: the overlay tmpfs takes 50% of it; 1 GiB boots a busybox root comfortably.
pub const MEMORY_MB: u32 = 1024;
/// Poll interval of the serial log and the QEMU process.
const POLL: Duration = Duration::from_millis(50);
/// QEMU creates its QMP socket before anything slow; 10 s covers a loaded machine.
const QMP_SOCKET_WAIT: Duration = Duration::from_secs(10);

/// The hub's connection to the outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// QEMU user networking: DHCP (10.0.2.15), the host's loopback as 10.0.2.2.
    User,
    /// No uplink: nobody answers DHCP.
    Isolated,
}

/// How the VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// `-kernel`/`-initrd`/`-append` (the kernel command line gets `console=ttyS0 panic=-1` first).
    Direct {
        kernel: PathBuf,
        initrd: PathBuf,
        append: Vec<String>,
    },
    /// PXE from nic0's iPXE ROM via user networking's built-in TFTP (`Uplink::User` only).
    Pxe { tftp_dir: PathBuf, bootfile: String },
}

/// One VM.
#[derive(Debug, Clone)]
pub struct QemuSpec {
    pub boot: Boot,
    pub uplink: Uplink,
    pub accel: String,
    /// QEMU is killed after this long.
    pub timeout: Duration,
    /// NIC ids (`nic0`..`nic3`) whose link is down when the guest starts (QMP `set_link`).
    pub links_down: Vec<String>,
}

/// A value inside a QEMU `-opt key=value,...` list: commas are doubled.
fn opt_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// QEMU's arguments for `spec`, with the serial log and QMP socket at the given paths.
pub fn qemu_args(spec: &QemuSpec, serial: &Path, qmp: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-accel",
        &spec.accel,
        "-m",
        &MEMORY_MB.to_string(),
        "-nographic",
        "-no-reboot",
        "-S",
        "-monitor",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push("-chardev".into());
    a.push(format!("file,id=ser0,path={}", opt_value(serial)));
    a.extend(["-serial".into(), "chardev:ser0".into()]);
    a.push("-chardev".into());
    a.push(format!(
        "socket,id=qmp0,path={},server=on,wait=off",
        opt_value(qmp)
    ));
    a.extend(["-mon".into(), "chardev=qmp0,mode=control".into()]);
    let mut user = "user,id=u0,net=10.0.2.0/24".to_string();
    match &spec.boot {
        Boot::Direct {
            kernel,
            initrd,
            append,
        } => {
            a.push("-kernel".into());
            a.push(kernel.to_string_lossy().into_owned());
            a.push("-initrd".into());
            a.push(initrd.to_string_lossy().into_owned());
            let mut cmdline = vec!["console=ttyS0".to_string(), "panic=-1".to_string()];
            cmdline.extend(append.iter().cloned());
            a.push("-append".into());
            a.push(cmdline.join(" "));
        }
        Boot::Pxe { tftp_dir, bootfile } => {
            a.extend(["-boot".into(), "n".into()]);
            user.push_str(&format!(
                ",tftp={},bootfile={}",
                opt_value(tftp_dir),
                bootfile.replace(',', ",,")
            ));
        }
    }
    if spec.uplink == Uplink::User {
        a.extend(["-netdev".into(), user]);
        a.extend(["-netdev".into(), "hubport,id=hp0,hubid=0,netdev=u0".into()]);
    }
    let pxe = matches!(spec.boot, Boot::Pxe { .. });
    for (i, mac) in MACS.iter().enumerate() {
        let port = i + 1;
        a.extend(["-netdev".into(), format!("hubport,id=hp{port},hubid=0")]);
        // Only nic0 carries the iPXE ROM when booting from the network; none otherwise.
        let rom = if pxe && i == 0 { "" } else { ",romfile=" };
        a.extend([
            "-device".into(),
            format!(
                "virtio-net-pci,netdev=hp{port},id=nic{i},mac={mac},speed=10000,duplex=full{rom}"
            ),
        ]);
    }
    a
}

/// A console line and when it appeared, measured from QEMU's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedLine {
    pub at: Duration,
    pub text: String,
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// By itself (guest poweroff, or a reset under `-no-reboot`).
    Exited(ExitStatus),
    /// Killed at the timeout.
    TimedOut,
}

/// The result of one VM run.
#[derive(Debug)]
pub struct QemuRun {
    pub lines: Vec<TimedLine>,
    pub exit: Exit,
    /// QEMU start to exit.
    pub wall: Duration,
    /// `reason` of QMP's SHUTDOWN event: `guest-shutdown` (poweroff), `guest-reset` (reboot).
    pub shutdown: Option<String>,
    /// QEMU's own stderr (warnings).
    pub stderr: String,
}

impl QemuRun {
    pub fn console(&self) -> Console {
        Console::new(self.lines.iter().map(|l| l.text.clone()).collect())
    }

    /// When the first line starting with `prefix` appeared, from QEMU's start.
    pub fn seen_at(&self, prefix: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.starts_with(prefix))
            .map(|l| l.at)
    }

    /// The whole console with QEMU's stderr, for assertion messages.
    pub fn transcript(&self) -> String {
        let mut t: String = self.lines.iter().map(|l| format!("{}\n", l.text)).collect();
        t.push_str(&format!(
            "--- qemu: {:?} after {:.1}s, shutdown reason {:?}\n{}",
            self.exit,
            self.wall.as_secs_f64(),
            self.shutdown,
            self.stderr
        ));
        t
    }
}

/// Splits the serial bytes read so far into complete lines (CR stripped), keeping the rest.
fn take_lines(pending: &mut Vec<u8>, at: Duration, out: &mut Vec<TimedLine>) {
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        out.push(TimedLine {
            at,
            text: text.trim_end_matches(['\n', '\r']).to_string(),
        });
    }
}

/// Kills QEMU when dropped (timeouts, and panics anywhere in the test).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // Already exited: kill fails harmlessly; wait then reaps it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the VM in `workdir` until it exits or the timeout; returns the console and how it ended.
pub fn run(qemu: &Path, spec: &QemuSpec, workdir: &Path) -> Result<QemuRun, VmError> {
    let serial = workdir.join("console.log");
    let qmp_path = workdir.join("qmp.sock");
    let stderr_path = workdir.join("qemu.stderr");
    File::create(&serial).map_err(VmError::io("create", &serial))?;
    let stderr = File::create(&stderr_path).map_err(VmError::io("create", &stderr_path))?;
    let start = Instant::now();
    let child = Command::new(qemu)
        .args(qemu_args(spec, &serial, &qmp_path))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(VmError::io("run", qemu))?;
    let mut guard = Guard(child);
    let mut monitor = match Qmp::connect(&qmp_path, QMP_SOCKET_WAIT) {
        Ok(m) => m,
        Err(e) => {
            // QEMU exiting at once (bad arguments) is the likely cause: report its stderr.
            if let Ok(Some(status)) = guard.0.try_wait() {
                return Err(VmError::Command {
                    program: qemu.display().to_string(),
                    status,
                    stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                });
            }
            return Err(e);
        }
    };
    for nic in &spec.links_down {
        monitor.set_link(nic, false)?;
    }
    monitor.cont()?;
    let events = monitor.collect_events();
    let mut log = File::open(&serial).map_err(VmError::io("open", &serial))?;
    let (mut pending, mut lines) = (Vec::new(), Vec::new());
    let exit = loop {
        let status = guard.0.try_wait().map_err(VmError::io("wait for", qemu))?;
        log.read_to_end(&mut pending)
            .map_err(VmError::io("read", &serial))?;
        take_lines(&mut pending, start.elapsed(), &mut lines);
        if let Some(status) = status {
            break Exit::Exited(status);
        }
        if start.elapsed() > spec.timeout {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            break Exit::TimedOut;
        }
        sleep(POLL);
    };
    let wall = start.elapsed();
    log.read_to_end(&mut pending)
        .map_err(VmError::io("read", &serial))?;
    pending.push(b'\n');
    take_lines(&mut pending, wall, &mut lines);
    if lines.last().is_some_and(|l| l.text.is_empty()) {
        lines.pop();
    }
    drop(guard);
    // The reader ends when QEMU's exit closes the socket; a panicked reader lost its events.
    let shutdown = events.join().ok().and_then(|ev| qmp::shutdown_reason(&ev));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    Ok(QemuRun {
        lines,
        exit,
        wall,
        shutdown,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(uplink: Uplink) -> QemuSpec {
        QemuSpec {
            boot: Boot::Direct {
                kernel: "/k/vmlinuz".into(),
                initrd: "/k/initramfs.img".into(),
                append: vec!["netroot.debug".into()],
            },
            uplink,
            accel: "tcg".into(),
            timeout: Duration::from_secs(1),
            links_down: vec![],
        }
    }

    #[test]
    fn four_nics_on_one_hub_with_user_uplink() {
        let a = qemu_args(
            &direct(Uplink::User),
            Path::new("/w,1/console.log"),
            Path::new("/w/qmp.sock"),
        );
        let joined = a.join(" ");
        assert!(joined.starts_with("-accel tcg -m 1024 -nographic -no-reboot -S -monitor none"));
        assert!(
            joined.contains("-chardev file,id=ser0,path=/w,,1/console.log -serial chardev:ser0")
        );
        assert!(joined.contains("-chardev socket,id=qmp0,path=/w/qmp.sock,server=on,wait=off"));
        assert!(joined.contains(
            "-netdev user,id=u0,net=10.0.2.0/24 -netdev hubport,id=hp0,hubid=0,netdev=u0"
        ));
        for i in 0..4 {
            let dev = format!(
                "-netdev hubport,id=hp{p},hubid=0 -device virtio-net-pci,netdev=hp{p},id=nic{i},mac=52:54:00:00:00:0{p},speed=10000,duplex=full,romfile=",
                p = i + 1
            );
            assert!(joined.contains(&dev), "{dev}");
        }
        let append = a
            .iter()
            .position(|x| x == "-append")
            .map(|i| a[i + 1].clone());
        assert_eq!(
            append.as_deref(),
            Some("console=ttyS0 panic=-1 netroot.debug")
        );
    }

    #[test]
    fn isolated_hub_has_no_user_netdev() {
        let a = qemu_args(&direct(Uplink::Isolated), Path::new("/s"), Path::new("/q"));
        assert!(!a.iter().any(|x| x.starts_with("user,")));
        assert!(!a.iter().any(|x| x.contains("netdev=u0")));
        assert_eq!(
            a.iter().filter(|x| x.starts_with("virtio-net-pci")).count(),
            4
        );
    }

    #[test]
    fn pxe_boots_from_nic0_rom_via_tftp() {
        let mut spec = direct(Uplink::User);
        spec.boot = Boot::Pxe {
            tftp_dir: "/tftp".into(),
            bootfile: "boot.ipxe".into(),
        };
        let a = qemu_args(&spec, Path::new("/s"), Path::new("/q"));
        let joined = a.join(" ");
        assert!(joined.contains("-boot n"));
        assert!(joined.contains("user,id=u0,net=10.0.2.0/24,tftp=/tftp,bootfile=boot.ipxe"));
        assert!(joined.contains("id=nic0,mac=52:54:00:00:00:01,speed=10000,duplex=full -netdev"));
        assert!(joined.contains("id=nic1,mac=52:54:00:00:00:02,speed=10000,duplex=full,romfile="));
        assert!(!joined.contains("-kernel"));
    }

    #[test]
    fn serial_bytes_become_lines_without_cr_and_partial_lines_wait() {
        let mut pending = b"a\r\nb\nparti".to_vec();
        let mut out = Vec::new();
        take_lines(&mut pending, Duration::from_secs(2), &mut out);
        let texts: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(pending, b"parti");
        pending.extend_from_slice(b"al\n");
        take_lines(&mut pending, Duration::from_secs(3), &mut out);
        assert_eq!(out[2].text, "partial");
        assert_eq!(out[2].at, Duration::from_secs(3));
    }

    #[test]
    fn a_missing_qemu_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = run(
            Path::new("/nonexistent/qemu"),
            &direct(Uplink::User),
            dir.path(),
        )
        .expect_err("no qemu");
        assert!(e.to_string().starts_with("run /nonexistent/qemu: "), "{e}");
    }
}
