//! [`RealSys`]: the [`Sys`] seam implemented with rustix system calls (and std for exec/spawn).

use std::ffi::CString;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::net::{
    netdevice, netlink::SocketAddrNetlink, recv, send, socket_with, sockopt, AddressFamily,
    RecvFlags, SendFlags, SocketFlags, SocketType,
};
use rustix::process::WaitOptions;
use rustix::time::{clock_gettime, ClockId, Timespec};

use super::sockaddr_ll::SocketAddrLl;
use super::{FileKind, FileStat, MountSpec, PowerAction, ReapStatus, Sys, SysError};
use crate::netlink;

/// Ethertype of IPv4: the only frames the DHCP client wants.
const ETH_P_IP: u16 = 0x0800;
/// How long to wait for the kernel's netlink acknowledgement; the kernel answers synchronously,
/// so this only guards against a lost reply.
const NETLINK_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Netlink replies are small; an error ack echoes our request (< 100 bytes).
const NETLINK_RECV_BUF: usize = 8192;
/// Unix time before which the RTC is considered unset (2001-09-09): no timestamp is written.
const UNSET_CLOCK_BEFORE: u64 = 1_000_000_000;
/// /dev/kmsg priority `<7>` (debug): stored in the kernel log but not echoed to the console at the
/// default console loglevel, so console lines (written directly) are not duplicated.
const KMSG_PREFIX: &str = "<7>";

/// The real system. Holds the /dev/kmsg path, the packet socket and the netlink sequence.
#[derive(Debug, Default)]
pub struct RealSys {
    /// /dev/kmsg, opened afresh for every line: the kernel rate-limits each opener to 10 lines
    /// per 5 s (`printk_devkmsg=ratelimit`, the default), and a fast boot logs more than that
    /// (seen: the OK line was dropped from the kernel log when a node layer added a line).
    kmsg: Option<String>,
    packet: Option<OwnedFd>,
    netlink_seq: u32,
}

/// Opens /dev/kmsg for writing (a fresh rate-limit budget per open file).
fn open_kmsg_fd(path: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
}

impl RealSys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks that `<dev_dir>/kmsg` opens, so log lines also reach the kernel log.
    pub fn open_kmsg(&mut self, dev_dir: &str) -> Result<(), SysError> {
        let kmsg = format!("{dev_dir}/kmsg");
        open_kmsg_fd(&kmsg).map_err(|e| SysError::new("open", kmsg.as_str(), e))?;
        self.kmsg = Some(kmsg);
        Ok(())
    }

    /// Sends one netlink request built by `build(seq, ifindex)` and waits for its acknowledgement.
    fn netlink(
        &mut self,
        op: &'static str,
        ifname: &str,
        build: impl FnOnce(u32, u32) -> Vec<u8>,
    ) -> Result<(), SysError> {
        let err = |e| SysError::new(op, ifname, e);
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            // rustix: "For NETLINK_ROUTE, pass None as the protocol argument" (it is 0).
            None,
        )
        .map_err(err)?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(err)?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(NETLINK_ACK_TIMEOUT))
            .map_err(err)?;
        let index = netdevice::name_to_index(&fd, ifname).map_err(err)?;
        self.netlink_seq = self.netlink_seq.wrapping_add(1);
        let seq = self.netlink_seq;
        let request = build(seq, index);
        send(&fd, &request, SendFlags::empty()).map_err(err)?;
        let mut buf = vec![0u8; NETLINK_RECV_BUF];
        loop {
            let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty()).map_err(err)?;
            match netlink::parse_ack(buf.get(..n).unwrap_or(&[]), seq) {
                netlink::Ack::Ok => return Ok(()),
                netlink::Ack::Err(e) => return Err(err(e)),
                netlink::Ack::None => continue,
            }
        }
    }
}

/// Converts a std I/O error to an errno (EIO when the error carries none).
fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

fn cstring(op: &'static str, target: &str, s: &str) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError::new(op, target, Errno::INVAL))
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        let n = rustix::io::write(fd, data)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        data = data.get(n..).unwrap_or(&[]);
    }
    Ok(())
}

fn do_mount(spec: &MountSpec) -> Result<(), SysError> {
    let err = |e| SysError::new("mount", spec.target.as_str(), e);
    let data = cstring("mount", &spec.target, &spec.data)?;
    rustix::mount::mount(
        spec.source.as_str(),
        spec.target.as_str(),
        spec.fstype.as_str(),
        spec.flags,
        data.as_c_str(),
    )
    .map_err(err)
}

impl Sys for RealSys {
    fn now(&mut self) -> Duration {
        let ts = clock_gettime(ClockId::Boottime);
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    }

    fn unix_time(&mut self) -> Option<u64> {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs();
        (secs >= UNSET_CLOCK_BEFORE).then_some(secs)
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn log_line(&mut self, line: &str) {
        // Logging has nowhere to report its own failure (the console IS the report channel), so
        // write errors are deliberately ignored here and only here.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if let Some(fd) = self.kmsg.as_deref().and_then(|k| open_kmsg_fd(k).ok()) {
            let _ = rustix::io::write(&fd, format!("{KMSG_PREFIX}{line}\n").as_bytes());
        }
    }

    fn setup_console(&mut self, dev_dir: &str) -> Result<(), SysError> {
        let console = format!("{dev_dir}/console");
        let err = |e| SysError::new("open", console.as_str(), e);
        let fd = rustix::fs::open(
            console.as_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(err)?;
        rustix::stdio::dup2_stdin(&fd).map_err(err)?;
        rustix::stdio::dup2_stdout(&fd).map_err(err)?;
        rustix::stdio::dup2_stderr(&fd).map_err(err)?;
        if fd.as_raw_fd() <= 2 {
            // The kernel started us without fds 0-2, so open() returned one of them: it is now a
            // standard stream and must stay open.
            let _ = fd.into_raw_fd();
        }
        self.open_kmsg(dev_dir)
    }

    fn getpid(&mut self) -> u32 {
        rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs()
    }

    fn mount(&mut self, spec: &MountSpec) -> Result<(), SysError> {
        do_mount(spec)
    }

    fn mount_bounded(&mut self, spec: &MountSpec, limit: Duration) -> Result<(), SysError> {
        // An NFS mount can block in the kernel's RPC retries; run it on a thread so PID 1 keeps
        // control of the deadline. A thread still blocked after `limit` is abandoned (the boot
        // then fails and reboots, which ends it).
        let (tx, rx) = mpsc::channel();
        let owned = spec.clone();
        std::thread::spawn(move || {
            let _ = tx.send(do_mount(&owned));
        });
        match rx.recv_timeout(limit) {
            Ok(result) => result,
            Err(_) => Err(SysError::new(
                "mount",
                spec.target.as_str(),
                Errno::TIMEDOUT,
            )),
        }
    }

    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), SysError> {
        rustix::mount::mount_move(from, to)
            .map_err(|e| SysError::new("mount --move", format!("{from} -> {to}"), e))
    }

    fn unmount_detach(&mut self, target: &str) -> Result<(), SysError> {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
            .map_err(|e| SysError::new("umount", target, e))
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), SysError> {
        rustix::fs::mkdir(path, Mode::from_raw_mode(mode))
            .map_err(|e| SysError::new("mkdir", path, e))
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, SysError> {
        std::fs::read(path).map_err(|e| SysError::new("read", path, io_errno(&e)))
    }

    fn write_existing(&mut self, path: &str, data: &[u8]) -> Result<(), SysError> {
        let err = |e| SysError::new("write", path, e);
        let fd =
            rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).map_err(err)?;
        write_all(&fd, data).map_err(err)
    }

    fn create_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), SysError> {
        let err = |e| SysError::new("write", path, e);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(mode)).map_err(err)?;
        write_all(&fd, data).map_err(err)
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<String>, SysError> {
        let err = |e: std::io::Error| SysError::new("readdir", path, io_errno(&e));
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(err)? {
            names.push(
                entry
                    .map_err(err)?
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        names.sort();
        Ok(names)
    }

    fn lstat(&mut self, path: &str) -> Result<FileStat, SysError> {
        let st = rustix::fs::lstat(path).map_err(|e| SysError::new("lstat", path, e))?;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => FileKind::File,
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            _ => FileKind::Other,
        };
        Ok(FileStat {
            dev: st.st_dev,
            kind,
            mode: st.st_mode & 0o7777,
        })
    }

    fn statfs_type(&mut self, path: &str) -> Result<u64, SysError> {
        let st = rustix::fs::statfs(path).map_err(|e| SysError::new("statfs", path, e))?;
        // f_type is a signed word on x86_64; magic numbers are small positive values.
        Ok(st.f_type as u64)
    }

    fn remove(&mut self, path: &str, dir: bool) -> Result<(), SysError> {
        let flags = if dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(CWD, path, flags).map_err(|e| SysError::new("unlink", path, e))
    }

    fn chdir(&mut self, path: &str) -> Result<(), SysError> {
        rustix::process::chdir(path).map_err(|e| SysError::new("chdir", path, e))
    }

    fn chroot(&mut self, path: &str) -> Result<(), SysError> {
        rustix::process::chroot(path).map_err(|e| SysError::new("chroot", path, e))
    }

    fn sync(&mut self) {
        rustix::fs::sync();
    }

    fn finit_module(&mut self, path: &str, params: &str) -> Result<(), SysError> {
        let err = |e| SysError::new("finit_module", path, e);
        let fd =
            rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(err)?;
        let params = cstring("finit_module", path, params)?;
        rustix::system::finit_module(&fd, &params, 0).map_err(err)
    }

    fn set_link_up(&mut self, ifname: &str, up: bool) -> Result<(), SysError> {
        let op = if up { "link up" } else { "link down" };
        self.netlink(op, ifname, |seq, index| {
            netlink::set_link_up(seq, index, up)
        })
    }

    fn set_link_mac(&mut self, ifname: &str, mac: [u8; 6]) -> Result<(), SysError> {
        self.netlink("link address", ifname, |seq, index| {
            netlink::set_link_mac(seq, index, mac)
        })
    }

    fn add_vlan(&mut self, parent: &str, name: &str, id: u16) -> Result<(), SysError> {
        self.netlink("add vlan", parent, |seq, index| {
            netlink::add_vlan(seq, index, name, id)
        })
        .map_err(|e| SysError::new(e.op, name, e.errno))
    }

    fn add_address(
        &mut self,
        ifname: &str,
        addr: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), SysError> {
        self.netlink("add address", ifname, |seq, index| {
            netlink::add_address(seq, index, addr, prefix_len)
        })
    }

    fn add_default_route(&mut self, ifname: &str, gateway: Ipv4Addr) -> Result<(), SysError> {
        self.netlink("add route", ifname, |seq, index| {
            netlink::add_default_route(seq, index, gateway)
        })
    }

    fn packet_open(&mut self, ifname: &str) -> Result<(), SysError> {
        let err = |e| SysError::new("packet socket", ifname, e);
        let fd = socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(rustix::net::eth::IP),
        )
        .map_err(err)?;
        let index = netdevice::name_to_index(&fd, ifname).map_err(err)?;
        let addr = SocketAddrLl {
            ifindex: i32::try_from(index).map_err(|_| err(Errno::RANGE))?,
            ethertype: ETH_P_IP,
        };
        rustix::net::bind(&fd, &addr).map_err(err)?;
        self.packet = Some(fd);
        Ok(())
    }

    fn packet_send(&mut self, frame: &[u8]) -> Result<(), SysError> {
        let fd = self
            .packet
            .as_ref()
            .ok_or_else(|| SysError::new("packet send", "(closed)", Errno::BADF))?;
        send(fd, frame, SendFlags::empty())
            .map(|_| ())
            .map_err(|e| SysError::new("packet send", "(packet socket)", e))
    }

    fn packet_recv(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<usize>, SysError> {
        let err = |e| SysError::new("packet recv", "(packet socket)", e);
        let fd = self.packet.as_ref().ok_or_else(|| err(Errno::BADF))?;
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(Errno::INTR) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(err(e)),
        }
        match recv(fd, &mut *buf, RecvFlags::DONTWAIT) {
            Ok((n, _)) => Ok(Some(n)),
            Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    fn packet_close(&mut self) {
        self.packet = None;
    }

    fn reap_children(&mut self) -> Result<ReapStatus, SysError> {
        let mut status = ReapStatus::default();
        loop {
            match rustix::process::waitpid(None, WaitOptions::NOHANG) {
                Ok(Some(_)) => status.reaped += 1,
                Ok(None) => {
                    status.children_left = true;
                    return Ok(status);
                }
                Err(Errno::CHILD) => return Ok(status),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(SysError::new("waitpid", "-1", e)),
            }
        }
    }

    fn power(&mut self, action: PowerAction) -> SysError {
        rustix::fs::sync();
        let (cmd, name) = match action {
            PowerAction::Reboot => (rustix::system::RebootCommand::Restart, "restart"),
            PowerAction::Poweroff => (rustix::system::RebootCommand::PowerOff, "power off"),
        };
        match rustix::system::reboot(cmd) {
            Ok(()) => SysError::new("reboot", name, Errno::INTR),
            Err(e) => SysError::new("reboot", name, e),
        }
    }

    fn exec(&mut self, path: &str, args: &[String]) -> SysError {
        // std's exec resets SIGPIPE to default and clears the signal mask, as an init expects.
        let e = Command::new(path).args(args).exec();
        SysError::new("exec", path, io_errno(&e))
    }

    fn run_child(&mut self, path: &str) -> Result<(), SysError> {
        Command::new(path)
            .status()
            .map(|_| ())
            .map_err(|e| SysError::new("spawn", path, io_errno(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_dirs_and_stat_work_under_a_temp_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_str().expect("utf-8 temp path").to_string();
        let mut sys = RealSys::new();
        sys.mkdir(&format!("{root}/a"), 0o755).expect("mkdir");
        let file = format!("{root}/a/f");
        sys.create_file(&file, b"hello", 0o644).expect("create");
        assert_eq!(sys.read_file(&file).expect("read"), b"hello");
        sys.write_existing(&file, b"HE").expect("write");
        assert_eq!(sys.read_file(&file).expect("read"), b"HEllo");
        assert_eq!(sys.read_dir(&format!("{root}/a")).expect("readdir"), ["f"]);
        let st = sys.lstat(&file).expect("lstat");
        assert_eq!((st.kind, st.mode), (FileKind::File, 0o644));
        let missing = format!("{root}/missing");
        let e = sys.write_existing(&missing, b"x").expect_err("no create");
        assert_eq!(e.errno, Errno::NOENT);
        assert_eq!(
            e.to_string(),
            format!("write {missing}: ENOENT (No such file or directory, errno 2)")
        );
        let e = sys.mkdir(&format!("{root}/a"), 0o755).expect_err("exists");
        assert_eq!(e.errno, Errno::EXIST);
        sys.remove(&file, false).expect("unlink");
        sys.remove(&format!("{root}/a"), true).expect("rmdir");
    }

    #[test]
    fn clock_is_monotonic_and_pid_is_not_one() {
        let mut sys = RealSys::new();
        let a = sys.now();
        let b = sys.now();
        assert!(b >= a && a > Duration::ZERO);
        assert_ne!(sys.getpid(), 1);
        assert_eq!(sys.reap_children().expect("waitpid").reaped, 0);
    }

    #[test]
    fn finit_module_of_a_missing_file_names_the_path() {
        let e = RealSys::new()
            .finit_module("/nonexistent/x.ko", "")
            .expect_err("missing module");
        assert_eq!(e.op, "finit_module");
        assert_eq!(e.errno, Errno::NOENT);
    }
}
