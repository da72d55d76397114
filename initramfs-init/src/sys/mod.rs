//! The system-call seam: every side effect of every boot phase goes through the [`Sys`] trait, so the
//! phases are unit-tested against `FakeSys` (a recording fake with a scripted /sys tree, clock and
//! DHCP server; compiled only for tests or with the `testing` feature, never into the init) and
//! run for real against [`RealSys`] (rustix).
//!
//! Paths are absolute strings; the phases build them from an injectable [`crate::paths::Paths`].

mod errno;
#[cfg(any(test, feature = "testing"))]
mod fake;
mod real;
mod sockaddr_ll;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use errno::{errno_name, errno_text};
#[cfg(any(test, feature = "testing"))]
pub use fake::{Call, FakeSys, ScriptedError};
pub use real::RealSys;
pub use rustix::io::Errno;
pub use rustix::mount::MountFlags;

/// A failed system call: which operation, on what, and the kernel's errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {target}: {}", errno_text(*errno))]
pub struct SysError {
    /// The operation (`mount`, `write`, `finit_module`, ...).
    pub op: &'static str,
    /// The path, interface or address the operation was applied to.
    pub target: String,
    pub errno: Errno,
}

impl SysError {
    pub fn new(op: &'static str, target: impl Into<String>, errno: Errno) -> Self {
        Self {
            op,
            target: target.into(),
            errno,
        }
    }
}

/// One `mount(2)` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub flags: MountFlags,
    /// The filesystem's text options (`size=50%`, `vers=4.2,addr=...`).
    pub data: String,
}

/// What `lstat` says about a path, reduced to what the phases need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Device of the filesystem holding the path (`st_dev`).
    pub dev: u64,
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// How PID 1 ends the machine's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    Poweroff,
}

/// What a `waitpid(-1, WNOHANG)` loop found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReapStatus {
    /// Children collected by this call.
    pub reaped: u32,
    /// Whether live children remain (waitpid returned 0 rather than ECHILD).
    pub children_left: bool,
}

/// Every side effect the init performs. `&mut self` everywhere so fakes can record.
pub trait Sys {
    /// Time since the kernel started (CLOCK_BOOTTIME).
    fn now(&mut self) -> Duration;
    /// Wall-clock seconds since the Unix epoch, if the clock looks set.
    fn unix_time(&mut self) -> Option<u64>;
    fn sleep(&mut self, duration: Duration);
    /// Writes one log line to the console and /dev/kmsg (never fails: there is nowhere to report).
    fn log_line(&mut self, line: &str);
    /// Makes /dev/console the standard input, output and error, and opens /dev/kmsg.
    fn setup_console(&mut self, dev_dir: &str) -> Result<(), SysError>;
    fn getpid(&mut self) -> u32;

    fn mount(&mut self, spec: &MountSpec) -> Result<(), SysError>;
    /// Like [`Sys::mount`] but gives up with `ETIMEDOUT` after `limit` (NFS mounts can block).
    fn mount_bounded(&mut self, spec: &MountSpec, limit: Duration) -> Result<(), SysError> {
        let _ = limit;
        self.mount(spec)
    }
    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), SysError>;
    /// `umount2(target, MNT_DETACH)`.
    fn unmount_detach(&mut self, target: &str) -> Result<(), SysError>;
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), SysError>;
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, SysError>;
    /// Writes to an existing file without creating or truncating it (sysfs attributes).
    fn write_existing(&mut self, path: &str, data: &[u8]) -> Result<(), SysError>;
    /// Creates or replaces a regular file with `mode`.
    fn create_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), SysError>;
    /// Names in a directory, sorted, without `.` and `..`.
    fn read_dir(&mut self, path: &str) -> Result<Vec<String>, SysError>;
    fn lstat(&mut self, path: &str) -> Result<FileStat, SysError>;
    /// `statfs(path).f_type`.
    fn statfs_type(&mut self, path: &str) -> Result<u64, SysError>;
    /// `unlinkat(AT_FDCWD, path, dir ? AT_REMOVEDIR : 0)`.
    fn remove(&mut self, path: &str, dir: bool) -> Result<(), SysError>;
    fn chdir(&mut self, path: &str) -> Result<(), SysError>;
    fn chroot(&mut self, path: &str) -> Result<(), SysError>;
    fn sync(&mut self);

    /// `finit_module(open(path), params, 0)`.
    fn finit_module(&mut self, path: &str, params: &str) -> Result<(), SysError>;

    /// Sets or clears IFF_UP (netlink RTM_NEWLINK).
    fn set_link_up(&mut self, ifname: &str, up: bool) -> Result<(), SysError>;
    fn set_link_mac(&mut self, ifname: &str, mac: [u8; 6]) -> Result<(), SysError>;
    /// Creates the 802.1Q VLAN `name` with `id` on `parent` (netlink RTM_NEWLINK, kind `vlan`);
    /// errors name `name`.
    fn add_vlan(&mut self, parent: &str, name: &str, id: u16) -> Result<(), SysError>;
    fn add_address(&mut self, ifname: &str, addr: Ipv4Addr, prefix_len: u8)
        -> Result<(), SysError>;
    fn add_default_route(&mut self, ifname: &str, gateway: Ipv4Addr) -> Result<(), SysError>;

    /// Opens an AF_PACKET socket for IPv4 frames on `ifname` (one at a time).
    fn packet_open(&mut self, ifname: &str) -> Result<(), SysError>;
    /// Sends one Ethernet frame on the open packet socket.
    fn packet_send(&mut self, frame: &[u8]) -> Result<(), SysError>;
    /// Receives one frame into `buf`, or `None` when `timeout` passes first.
    fn packet_recv(&mut self, buf: &mut [u8], timeout: Duration)
        -> Result<Option<usize>, SysError>;
    fn packet_close(&mut self);

    /// Collects exited children without blocking.
    fn reap_children(&mut self) -> Result<ReapStatus, SysError>;
    /// Reboots or powers off; returns only on failure.
    fn power(&mut self, action: PowerAction) -> SysError;
    /// Replaces this process with `path` (SIGPIPE default, empty signal mask); returns only on failure.
    fn exec(&mut self, path: &str, args: &[String]) -> SysError;
    /// Runs `path` as a child and waits for it (the rescue shell).
    fn run_child(&mut self, path: &str) -> Result<(), SysError>;
}
