//! [`FakeSys`]: a recording fake of the [`Sys`] seam for unit tests without root.
//!
//! It keeps an in-memory file tree (a scripted /sys, /proc/cmdline, the config file, the rootfs),
//! a virtual clock that only `sleep` and packet timeouts advance, files that appear at a scripted
//! time (ports, carrier), per-operation scripted errors, and a scripted DHCP server. It emulates
//! the kernel rules the phases must respect: bond mode only while the bond is down and has no
//! ports, `lacp_rate` only in 802.3ad, a port must be down to be enslaved, a mount target must
//! exist, a mount gives its target a new device number, a loaded module shows in /sys/module,
//! and a VLAN link needs 8021q, its parent, a free name and an id below 4095 (`fake/vlan.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use rustix::io::Errno;

use super::{FileKind, FileStat, MountSpec, PowerAction, ReapStatus, Sys, SysError};

mod vlan;

/// Device number of the fake rootfs; each mount gets the next one.
const ROOT_DEV: u64 = 1;
/// `RAMFS_MAGIC`: what the fake rootfs reports to statfs unless told otherwise.
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// One recorded side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    SetupConsole,
    Mount(MountSpec),
    MoveMount {
        from: String,
        to: String,
    },
    UnmountDetach(String),
    Mkdir(String),
    Write {
        path: String,
        data: String,
    },
    Create {
        path: String,
        data: String,
        mode: u32,
    },
    Remove {
        path: String,
        dir: bool,
    },
    Chdir(String),
    Chroot(String),
    Sync,
    FinitModule {
        path: String,
        params: String,
    },
    LinkUp {
        ifname: String,
        up: bool,
    },
    LinkMac {
        ifname: String,
        mac: [u8; 6],
    },
    AddVlan {
        parent: String,
        name: String,
        id: u16,
    },
    AddAddress {
        ifname: String,
        addr: Ipv4Addr,
        prefix_len: u8,
    },
    AddRoute {
        ifname: String,
        gateway: Ipv4Addr,
    },
    PacketOpen(String),
    PacketSend(Vec<u8>),
    PacketClose,
    Sleep(Duration),
    Power(PowerAction),
    Exec {
        path: String,
        args: Vec<String>,
    },
    RunChild(String),
}

/// An error the fake returns for operation `op` when its key contains `matching`.
///
/// The key is the path (file operations), the interface (link operations), the module path
/// (`finit_module`), or `"FSTYPE SOURCE TARGET DATA"` for `mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedError {
    pub op: &'static str,
    pub matching: String,
    pub errno: Errno,
    /// How many more times it fires; `None` = always.
    pub times: Option<u32>,
}

impl ScriptedError {
    pub fn always(op: &'static str, matching: &str, errno: Errno) -> Self {
        Self {
            op,
            matching: matching.to_string(),
            errno,
            times: None,
        }
    }

    pub fn times(op: &'static str, matching: &str, errno: Errno, times: u32) -> Self {
        Self {
            times: Some(times),
            ..Self::always(op, matching, errno)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Symlink,
}

/// A scripted DHCP server: gets every frame sent, returns the frames to deliver.
pub type Responder = Box<dyn FnMut(&[u8]) -> Vec<Vec<u8>>>;

/// The recording fake. Fields are public so tests can script and inspect it.
pub struct FakeSys {
    pub clock: Duration,
    pub pid: u32,
    /// Unix time at clock zero, `None` = RTC unset.
    pub unix_base: Option<u64>,
    pub calls: Vec<Call>,
    pub logs: Vec<String>,
    pub errors: Vec<ScriptedError>,
    /// `(when, path, contents)`: files that appear once the clock reaches `when`.
    pub timed: Vec<(Duration, String, Vec<u8>)>,
    /// Frames waiting to be received.
    pub rx: VecDeque<Vec<u8>>,
    pub dhcp: Option<Responder>,
    /// statfs f_type per mount point (longest prefix wins); `/` defaults to ramfs.
    pub fs_types: BTreeMap<String, u64>,
    /// Whether `reap_children` reports live children.
    pub children_left: bool,
    /// Children to report as reaped on the next `reap_children`.
    pub zombies: u32,
    nodes: BTreeMap<String, Node>,
    /// Device numbers of mount points (longest prefix wins).
    devs: BTreeMap<String, u64>,
    next_dev: u64,
    links_up: BTreeSet<String>,
    packet_open: bool,
    /// The `/sys/class/net` directory used to emulate bonding and interface existence.
    net_dir: String,
}

impl fmt::Debug for FakeSys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSys")
            .field("clock", &self.clock)
            .field("calls", &self.calls.len())
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Default for FakeSys {
    fn default() -> Self {
        Self::new()
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

impl FakeSys {
    /// A fake PID 1 with an empty root directory, clock at 1 s.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Dir);
        let mut devs = BTreeMap::new();
        devs.insert("/".to_string(), ROOT_DEV);
        Self {
            clock: Duration::from_secs(1),
            pid: 1,
            unix_base: Some(1_750_000_000),
            calls: Vec::new(),
            logs: Vec::new(),
            errors: Vec::new(),
            timed: Vec::new(),
            rx: VecDeque::new(),
            dhcp: None,
            fs_types: BTreeMap::from([("/".to_string(), RAMFS_MAGIC)]),
            children_left: false,
            zombies: 0,
            nodes,
            devs,
            next_dev: ROOT_DEV + 1,
            links_up: BTreeSet::new(),
            packet_open: false,
            net_dir: "/sys/class/net".to_string(),
        }
    }

    /// Creates a directory and its parents.
    pub fn add_dir(&mut self, path: &str) {
        let mut acc = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            acc.push('/');
            acc.push_str(part);
            self.nodes.entry(acc.clone()).or_insert(Node::Dir);
        }
    }

    /// Creates a file (and its parent directories).
    pub fn add_file(&mut self, path: &str, contents: impl AsRef<[u8]>) {
        self.add_dir(parent(path));
        self.nodes
            .insert(path.to_string(), Node::File(contents.as_ref().to_vec()));
    }

    pub fn add_symlink(&mut self, path: &str) {
        self.add_dir(parent(path));
        self.nodes.insert(path.to_string(), Node::Symlink);
    }

    /// Adds a network interface under the net directory with its MAC address.
    pub fn add_interface(&mut self, name: &str, mac: &str) {
        let dir = format!("{}/{name}", self.net_dir);
        self.add_file(&format!("{dir}/address"), format!("{mac}\n"));
        self.add_file(&format!("{dir}/type"), "1\n");
    }

    /// Schedules a file to appear (or change) when the clock reaches `at`.
    pub fn add_file_at(&mut self, at: Duration, path: &str, contents: impl AsRef<[u8]>) {
        self.timed
            .push((at, path.to_string(), contents.as_ref().to_vec()));
    }

    pub fn exists(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    pub fn file(&self, path: &str) -> Option<String> {
        match self.nodes.get(path) {
            Some(Node::File(data)) => Some(String::from_utf8_lossy(data).into_owned()),
            _ => None,
        }
    }

    pub fn link_is_up(&self, ifname: &str) -> bool {
        self.links_up.contains(ifname)
    }

    /// The calls other than sleeps, for order assertions.
    pub fn effects(&self) -> Vec<&Call> {
        self.calls
            .iter()
            .filter(|c| !matches!(c, Call::Sleep(_)))
            .collect()
    }

    /// Every recorded write as `"path=data"`.
    pub fn writes(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Write { path, data } => Some(format!("{path}={data}")),
                _ => None,
            })
            .collect()
    }

    pub fn mounts(&self) -> Vec<&MountSpec> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn tick(&mut self) {
        let now = self.clock;
        let due: Vec<_> = self.timed.iter().filter(|t| t.0 <= now).cloned().collect();
        self.timed.retain(|t| t.0 > now);
        for (_, path, data) in due {
            self.add_file(&path, data);
        }
    }

    fn scripted(&mut self, op: &'static str, key: &str) -> Result<(), Errno> {
        let hit = self
            .errors
            .iter_mut()
            .find(|e| e.op == op && key.contains(&e.matching) && e.times != Some(0));
        match hit {
            Some(e) => {
                if let Some(n) = &mut e.times {
                    *n -= 1;
                }
                Err(e.errno)
            }
            None => Ok(()),
        }
    }

    fn check(&mut self, op: &'static str, key: &str) -> Result<(), SysError> {
        self.tick();
        self.scripted(op, key)
            .map_err(|e| SysError::new(op, key, e))
    }

    fn dev_of(&self, path: &str) -> u64 {
        self.devs
            .iter()
            .filter(|(m, _)| is_under(path, m))
            .max_by_key(|(m, _)| m.len())
            .map_or(ROOT_DEV, |(_, d)| *d)
    }

    fn iface_exists(&self, ifname: &str) -> bool {
        self.exists(&format!("{}/{ifname}", self.net_dir))
    }

    /// Kernel behaviour behind sysfs bonding writes.
    fn emulate_sysfs(&mut self, path: &str, data: &str) -> Result<(), Errno> {
        if path == format!("{}/bonding_masters", self.net_dir) {
            if let Some(name) = data.trim().strip_prefix('+') {
                let dir = format!("{}/{name}", self.net_dir);
                self.add_file(&format!("{dir}/address"), "00:00:00:00:00:00\n");
                self.add_file(&format!("{dir}/carrier"), "0\n");
                for attr in ["mode", "miimon", "lacp_rate", "xmit_hash_policy", "slaves"] {
                    self.add_file(&format!("{dir}/bonding/{attr}"), "");
                }
            }
            return Ok(());
        }
        let Some(bond_dir) = path
            .strip_suffix("/bonding/mode")
            .or_else(|| path.strip_suffix("/bonding/lacp_rate"))
            .or_else(|| path.strip_suffix("/bonding/slaves"))
            .map(str::to_string)
        else {
            return Ok(());
        };
        let bond = bond_dir.rsplit('/').next().unwrap_or_default().to_string();
        let slaves = self
            .file(&format!("{bond_dir}/bonding/slaves"))
            .unwrap_or_default();
        if path.ends_with("/bonding/mode") && (!slaves.trim().is_empty() || self.link_is_up(&bond))
        {
            return Err(Errno::PERM);
        }
        if path.ends_with("/bonding/lacp_rate") {
            let mode = self
                .file(&format!("{bond_dir}/bonding/mode"))
                .unwrap_or_default();
            if mode.trim() != "802.3ad" {
                return Err(Errno::INVAL);
            }
        }
        if path.ends_with("/bonding/slaves") {
            let port = data.trim().strip_prefix('+').ok_or(Errno::INVAL)?;
            if !self.iface_exists(port) {
                return Err(Errno::NODEV);
            }
            if self.link_is_up(port) {
                return Err(Errno::PERM);
            }
            let new = format!("{} {port}", slaves.trim()).trim().to_string();
            self.add_file(&format!("{bond_dir}/bonding/slaves"), &new);
            let bond_addr = format!("{bond_dir}/address");
            if self.file(&bond_addr).as_deref() == Some("00:00:00:00:00:00\n") {
                let port_addr = self
                    .file(&format!("{}/{port}/address", self.net_dir))
                    .unwrap_or_default();
                self.add_file(&bond_addr, port_addr);
            }
            return Ok(());
        }
        Ok(())
    }
}

/// Whether `path` is `mount` or below it.
fn is_under(path: &str, mount: &str) -> bool {
    mount == "/"
        || path == mount
        || (path.starts_with(mount) && path.as_bytes().get(mount.len()) == Some(&b'/'))
}

fn mac_text(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\n", parts.join(":"))
}

impl Sys for FakeSys {
    fn now(&mut self) -> Duration {
        self.clock
    }

    fn unix_time(&mut self) -> Option<u64> {
        self.unix_base.map(|b| b + self.clock.as_secs())
    }

    fn sleep(&mut self, duration: Duration) {
        self.calls.push(Call::Sleep(duration));
        self.clock += duration;
        self.tick();
    }

    fn log_line(&mut self, line: &str) {
        self.logs.push(line.to_string());
    }

    fn setup_console(&mut self, dev_dir: &str) -> Result<(), SysError> {
        self.check("open", &format!("{dev_dir}/console"))?;
        self.calls.push(Call::SetupConsole);
        Ok(())
    }

    fn getpid(&mut self) -> u32 {
        self.pid
    }

    fn mount(&mut self, spec: &MountSpec) -> Result<(), SysError> {
        let key = format!(
            "{} {} {} {}",
            spec.fstype, spec.source, spec.target, spec.data
        );
        self.calls.push(Call::Mount(spec.clone()));
        self.tick();
        self.scripted("mount", &key)
            .map_err(|e| SysError::new("mount", spec.target.as_str(), e))?;
        if !matches!(self.nodes.get(&spec.target), Some(Node::Dir)) {
            return Err(SysError::new("mount", spec.target.as_str(), Errno::NOENT));
        }
        self.devs.insert(spec.target.clone(), self.next_dev);
        self.next_dev += 1;
        Ok(())
    }

    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), SysError> {
        self.calls.push(Call::MoveMount {
            from: from.to_string(),
            to: to.to_string(),
        });
        self.check("mount --move", from)?;
        let err = |e| SysError::new("mount --move", format!("{from} -> {to}"), e);
        let dev = self.devs.remove(from).ok_or_else(|| err(Errno::INVAL))?;
        if !self.exists(to) {
            self.devs.insert(from.to_string(), dev);
            return Err(err(Errno::NOENT));
        }
        // The subtree's files move along: re-key everything under `from`.
        let moved: Vec<(String, Node)> = self
            .nodes
            .iter()
            .filter(|(p, _)| p.as_str() != from && is_under(p, from))
            .map(|(p, n)| {
                let rest = &p[from.len()..];
                let dest = if to == "/" {
                    rest.to_string()
                } else {
                    format!("{to}{rest}")
                };
                (dest, n.clone())
            })
            .collect();
        self.nodes
            .retain(|p, _| p.as_str() == from || !is_under(p, from));
        self.nodes.extend(moved);
        self.devs.insert(to.to_string(), dev);
        Ok(())
    }

    fn unmount_detach(&mut self, target: &str) -> Result<(), SysError> {
        self.calls.push(Call::UnmountDetach(target.to_string()));
        self.check("umount", target)?;
        self.devs
            .remove(target)
            .map(|_| ())
            .ok_or_else(|| SysError::new("umount", target, Errno::INVAL))
    }

    fn mkdir(&mut self, path: &str, _mode: u32) -> Result<(), SysError> {
        self.calls.push(Call::Mkdir(path.to_string()));
        self.check("mkdir", path)?;
        if self.exists(path) {
            return Err(SysError::new("mkdir", path, Errno::EXIST));
        }
        if !matches!(self.nodes.get(parent(path)), Some(Node::Dir)) {
            return Err(SysError::new("mkdir", path, Errno::NOENT));
        }
        self.nodes.insert(path.to_string(), Node::Dir);
        Ok(())
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, SysError> {
        self.check("read", path)?;
        match self.nodes.get(path) {
            Some(Node::File(data)) => Ok(data.clone()),
            Some(_) => Err(SysError::new("read", path, Errno::ISDIR)),
            None => Err(SysError::new("read", path, Errno::NOENT)),
        }
    }

    fn write_existing(&mut self, path: &str, data: &[u8]) -> Result<(), SysError> {
        let text = String::from_utf8_lossy(data).into_owned();
        self.calls.push(Call::Write {
            path: path.to_string(),
            data: text.clone(),
        });
        self.check("write", path)?;
        if !matches!(self.nodes.get(path), Some(Node::File(_))) {
            return Err(SysError::new("write", path, Errno::NOENT));
        }
        self.emulate_sysfs(path, &text)
            .map_err(|e| SysError::new("write", path, e))?;
        let is_emulated_list =
            path.ends_with("/bonding/slaves") || path.ends_with("bonding_masters");
        if !is_emulated_list {
            self.nodes
                .insert(path.to_string(), Node::File(data.to_vec()));
        }
        Ok(())
    }

    fn create_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), SysError> {
        self.calls.push(Call::Create {
            path: path.to_string(),
            data: String::from_utf8_lossy(data).into_owned(),
            mode,
        });
        self.check("write", path)?;
        if !matches!(self.nodes.get(parent(path)), Some(Node::Dir)) {
            return Err(SysError::new("write", path, Errno::NOENT));
        }
        self.nodes
            .insert(path.to_string(), Node::File(data.to_vec()));
        Ok(())
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<String>, SysError> {
        self.check("readdir", path)?;
        if !matches!(self.nodes.get(path), Some(Node::Dir)) {
            return Err(SysError::new("readdir", path, Errno::NOENT));
        }
        let names = self
            .nodes
            .keys()
            .filter(|p| p.as_str() != path && parent(p) == path)
            .map(|p| p.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        Ok(names)
    }

    fn lstat(&mut self, path: &str) -> Result<FileStat, SysError> {
        self.check("lstat", path)?;
        let kind = match self.nodes.get(path) {
            Some(Node::File(_)) => FileKind::File,
            Some(Node::Dir) => FileKind::Dir,
            Some(Node::Symlink) => FileKind::Symlink,
            None => return Err(SysError::new("lstat", path, Errno::NOENT)),
        };
        Ok(FileStat {
            dev: self.dev_of(path),
            kind,
            mode: 0o755,
        })
    }

    fn statfs_type(&mut self, path: &str) -> Result<u64, SysError> {
        self.check("statfs", path)?;
        Ok(self
            .fs_types
            .iter()
            .filter(|(m, _)| is_under(path, m))
            .max_by_key(|(m, _)| m.len())
            .map_or(RAMFS_MAGIC, |(_, t)| *t))
    }

    fn remove(&mut self, path: &str, dir: bool) -> Result<(), SysError> {
        self.calls.push(Call::Remove {
            path: path.to_string(),
            dir,
        });
        self.check("unlink", path)?;
        let err = |e| SysError::new("unlink", path, e);
        match (self.nodes.get(path), dir) {
            (None, _) => return Err(err(Errno::NOENT)),
            (Some(Node::Dir), false) => return Err(err(Errno::ISDIR)),
            (Some(Node::File(_) | Node::Symlink), true) => return Err(err(Errno::NOTDIR)),
            _ => {}
        }
        if dir && self.nodes.keys().any(|p| p != path && parent(p) == path) {
            return Err(err(Errno::NOTEMPTY));
        }
        if self.devs.contains_key(path) {
            return Err(err(Errno::BUSY));
        }
        self.nodes.remove(path);
        Ok(())
    }

    fn chdir(&mut self, path: &str) -> Result<(), SysError> {
        self.calls.push(Call::Chdir(path.to_string()));
        self.check("chdir", path)
    }

    fn chroot(&mut self, path: &str) -> Result<(), SysError> {
        self.calls.push(Call::Chroot(path.to_string()));
        self.check("chroot", path)
    }

    fn sync(&mut self) {
        self.calls.push(Call::Sync);
    }

    fn finit_module(&mut self, path: &str, params: &str) -> Result<(), SysError> {
        self.calls.push(Call::FinitModule {
            path: path.to_string(),
            params: params.to_string(),
        });
        self.check("finit_module", path)?;
        if !self.exists(path) {
            return Err(SysError::new("finit_module", path, Errno::NOENT));
        }
        // The kernel lists a loaded module under /sys/module by its name ('-' read as '_').
        let file = path.rsplit('/').next().unwrap_or(path);
        let name = file.strip_suffix(".ko").unwrap_or(file).replace('-', "_");
        self.add_dir(&format!("{}/{name}", vlan::SYS_MODULE_DIR));
        Ok(())
    }

    fn set_link_up(&mut self, ifname: &str, up: bool) -> Result<(), SysError> {
        self.calls.push(Call::LinkUp {
            ifname: ifname.to_string(),
            up,
        });
        let op = if up { "link up" } else { "link down" };
        self.check(op, ifname)?;
        if ifname != "lo" && !self.iface_exists(ifname) {
            return Err(SysError::new(op, ifname, Errno::NODEV));
        }
        if up {
            self.links_up.insert(ifname.to_string());
        } else {
            self.links_up.remove(ifname);
        }
        Ok(())
    }

    fn set_link_mac(&mut self, ifname: &str, mac: [u8; 6]) -> Result<(), SysError> {
        self.calls.push(Call::LinkMac {
            ifname: ifname.to_string(),
            mac,
        });
        self.check("link address", ifname)?;
        if !self.iface_exists(ifname) {
            return Err(SysError::new("link address", ifname, Errno::NODEV));
        }
        let path = format!("{}/{ifname}/address", self.net_dir);
        self.add_file(&path, mac_text(mac));
        Ok(())
    }

    fn add_vlan(&mut self, parent: &str, name: &str, id: u16) -> Result<(), SysError> {
        self.calls.push(Call::AddVlan {
            parent: parent.to_string(),
            name: name.to_string(),
            id,
        });
        self.check("add vlan", name)?;
        self.emulate_add_vlan(parent, name, id)
            .map_err(|e| SysError::new("add vlan", name, e))
    }

    fn add_address(
        &mut self,
        ifname: &str,
        addr: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), SysError> {
        self.calls.push(Call::AddAddress {
            ifname: ifname.to_string(),
            addr,
            prefix_len,
        });
        self.check("add address", ifname)
    }

    fn add_default_route(&mut self, ifname: &str, gateway: Ipv4Addr) -> Result<(), SysError> {
        self.calls.push(Call::AddRoute {
            ifname: ifname.to_string(),
            gateway,
        });
        self.check("add route", ifname)
    }

    fn packet_open(&mut self, ifname: &str) -> Result<(), SysError> {
        self.calls.push(Call::PacketOpen(ifname.to_string()));
        self.check("packet socket", ifname)?;
        if !self.iface_exists(ifname) {
            return Err(SysError::new("packet socket", ifname, Errno::NODEV));
        }
        self.packet_open = true;
        Ok(())
    }

    fn packet_send(&mut self, frame: &[u8]) -> Result<(), SysError> {
        self.calls.push(Call::PacketSend(frame.to_vec()));
        self.check("packet send", "(packet socket)")?;
        if !self.packet_open {
            return Err(SysError::new("packet send", "(closed)", Errno::BADF));
        }
        if let Some(server) = &mut self.dhcp {
            let replies = server(frame);
            self.rx.extend(replies);
        }
        Ok(())
    }

    fn packet_recv(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<usize>, SysError> {
        self.check("packet recv", "(packet socket)")?;
        match self.rx.pop_front() {
            Some(frame) => {
                let n = frame.len().min(buf.len());
                buf[..n].copy_from_slice(&frame[..n]);
                // Receiving takes a little virtual time, so a flood of junk cannot spin forever.
                self.clock += Duration::from_millis(1);
                Ok(Some(n))
            }
            None => {
                self.clock += timeout;
                self.tick();
                Ok(None)
            }
        }
    }

    fn packet_close(&mut self) {
        self.calls.push(Call::PacketClose);
        self.packet_open = false;
    }

    fn reap_children(&mut self) -> Result<ReapStatus, SysError> {
        self.check("waitpid", "-1")?;
        let reaped = std::mem::take(&mut self.zombies);
        Ok(ReapStatus {
            reaped,
            children_left: self.children_left,
        })
    }

    fn power(&mut self, action: PowerAction) -> SysError {
        self.calls.push(Call::Power(action));
        SysError::new("reboot", "(fake)", Errno::PERM)
    }

    fn exec(&mut self, path: &str, args: &[String]) -> SysError {
        self.calls.push(Call::Exec {
            path: path.to_string(),
            args: args.to_vec(),
        });
        SysError::new("exec", path, Errno::NOENT)
    }

    fn run_child(&mut self, path: &str) -> Result<(), SysError> {
        self.calls.push(Call::RunChild(path.to_string()));
        self.check("spawn", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bonding_emulation_enforces_kernel_rules() {
        let mut sys = FakeSys::new();
        sys.add_file("/sys/class/net/bonding_masters", "");
        sys.add_interface("eth0", "52:54:00:00:00:01");
        sys.write_existing("/sys/class/net/bonding_masters", b"+bond0")
            .expect("create bond");
        let b = "/sys/class/net/bond0/bonding";
        let e = sys
            .write_existing(&format!("{b}/lacp_rate"), b"fast")
            .expect_err("lacp_rate outside 802.3ad");
        assert_eq!(e.errno, Errno::INVAL);
        sys.write_existing(&format!("{b}/mode"), b"802.3ad")
            .expect("mode");
        sys.write_existing(&format!("{b}/lacp_rate"), b"fast")
            .expect("lacp");
        sys.set_link_up("eth0", true).expect("up");
        let e = sys
            .write_existing(&format!("{b}/slaves"), b"+eth0")
            .expect_err("port up");
        assert_eq!(e.errno, Errno::PERM);
        sys.set_link_up("eth0", false).expect("down");
        sys.write_existing(&format!("{b}/slaves"), b"+eth0")
            .expect("enslave");
        assert_eq!(sys.file(&format!("{b}/slaves")).as_deref(), Some("eth0"));
        assert_eq!(
            sys.file("/sys/class/net/bond0/address").as_deref(),
            Some("52:54:00:00:00:01\n")
        );
        let e = sys
            .write_existing(&format!("{b}/mode"), b"balance-rr")
            .expect_err("mode with ports");
        assert_eq!(e.errno, Errno::PERM);
    }

    #[test]
    fn mounts_need_a_directory_and_get_a_new_device() {
        let mut sys = FakeSys::new();
        let spec = MountSpec {
            source: "proc".into(),
            target: "/proc".into(),
            fstype: "proc".into(),
            flags: rustix::mount::MountFlags::empty(),
            data: String::new(),
        };
        assert_eq!(sys.mount(&spec).expect_err("no dir").errno, Errno::NOENT);
        sys.add_dir("/proc");
        sys.mount(&spec).expect("mount");
        assert_ne!(sys.lstat("/proc").expect("stat").dev, ROOT_DEV);
        assert_eq!(sys.lstat("/").expect("stat").dev, ROOT_DEV);
    }

    #[test]
    fn scripted_errors_fire_the_given_number_of_times() {
        let mut sys = FakeSys::new();
        sys.add_file("/m.ko", "");
        sys.errors.push(ScriptedError::times(
            "finit_module",
            "m.ko",
            Errno::NOEXEC,
            1,
        ));
        let e = sys.finit_module("/m.ko", "").expect_err("scripted");
        assert_eq!(e.errno, Errno::NOEXEC);
        sys.finit_module("/m.ko", "").expect("second succeeds");
    }

    #[test]
    fn timed_files_appear_when_the_clock_reaches_them() {
        let mut sys = FakeSys::new();
        sys.add_file_at(Duration::from_secs(3), "/sys/x", "1");
        assert!(sys.read_file("/sys/x").is_err());
        sys.sleep(Duration::from_secs(2));
        assert_eq!(sys.read_file("/sys/x").expect("appeared"), b"1");
    }

    #[test]
    fn directories_list_and_remove_like_unlinkat() {
        let mut sys = FakeSys::new();
        sys.add_file("/a/b", "x");
        assert_eq!(sys.read_dir("/").expect("ls"), ["a"]);
        assert_eq!(
            sys.remove("/a", true).expect_err("full").errno,
            Errno::NOTEMPTY
        );
        sys.remove("/a/b", false).expect("rm");
        sys.remove("/a", true).expect("rmdir");
        assert!(!sys.exists("/a"));
    }
}
