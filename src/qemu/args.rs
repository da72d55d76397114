//! QEMU's command line for one netroot node: virtio-net NICs joined on one hub (fixed MACs,
//! `speed=10000,duplex=full`, without which a bond slave whose link returns never rejoins),
//! uplinked to QEMU user networking (DHCP, TFTP, the host's loopback as 10.0.2.2) or to
//! nothing; the iPXE option ROM on the first NIC only; the serial console in a log file or on
//! the terminal (and logged); a QMP socket, with the VM started paused so link states can be set
//! before the firmware runs; `-no-reboot`.

use std::path::{Path, PathBuf};

use super::servednet::ServedNet;

/// QEMU's x86-64 system emulator, looked up in `PATH`.
pub const QEMU: &str = "qemu-system-x86_64";
/// Guest RAM: the overlay tmpfs takes 50% of it; 1 GiB boots a Debian root comfortably.
pub const MEMORY_MB: u32 = 1024;
/// Kernel parameters every netroot qemu boot gets: the serial console, and an immediate reboot
/// on panic (QEMU's `-no-reboot` turns that into an exit, so a panicked guest ends the run).
pub const CONSOLE_ARGS: &str = "console=ttyS0 panic=-1";
/// Default NIC MACs: locally administered, the ports profiles/qemu.toml bonds, in order.
pub const DEFAULT_MACS: [[u8; 6]; 4] = [
    [0x52, 0x54, 0x00, 0x00, 0x00, 0x01],
    [0x52, 0x54, 0x00, 0x00, 0x00, 0x02],
    [0x52, 0x54, 0x00, 0x00, 0x00, 0x03],
    [0x52, 0x54, 0x00, 0x00, 0x00, 0x04],
];
/// User networking's subnet; the host's loopback is .2 in it, the guest's lease .15.
pub const USER_NET: &str = "10.0.2.0/24";

/// The accelerator QEMU runs the guest with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(format!(
                "unknown accelerator {other:?} (expected kvm or tcg)"
            )),
        }
    }
}

/// The hub's connection to the outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// QEMU user networking: DHCP (10.0.2.15), the host's loopback as 10.0.2.2.
    User,
    /// No uplink: nobody answers DHCP.
    Isolated,
    /// QEMU user networking around the profile's NFS server address, forwarded to a local
    /// nfs-ganesha, everything else unreachable ([`ServedNet`]): for booting published files.
    Served(ServedNet),
    /// No hub: NIC `i` is wired to `links[i]` (a NIC without a link is alone on the hub). The
    /// LACP bed's cables between the node and its partner VM, and the partner's tap uplink.
    Links(Vec<Link>),
}

/// One NIC's own wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A point-to-point cable over UDP on 127.0.0.1: this end receives on `local` and sends to
    /// `remote` (the other VM's NIC has them swapped).
    Socket { local: u16, remote: u16 },
    /// A tap device of the namespace QEMU runs in.
    Tap(String),
}

impl Link {
    /// The `-netdev` value with id `id`.
    fn netdev(&self, id: &str) -> String {
        match self {
            Link::Socket { local, remote } => {
                format!("socket,id={id},udp=127.0.0.1:{remote},localaddr=127.0.0.1:{local}")
            }
            Link::Tap(name) => format!("tap,id={id},ifname={name},script=no,downscript=no"),
        }
    }
}

/// How the VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// `-kernel`/`-initrd`/`-append` with exactly `cmdline`.
    Direct {
        kernel: PathBuf,
        initrd: PathBuf,
        cmdline: String,
    },
    /// PXE from nic0's iPXE ROM via user networking's built-in TFTP (`Uplink::User` only).
    Pxe { tftp_dir: PathBuf, bootfile: String },
}

/// Where the serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// Into the log file only (batch runs, `--check`).
    Capture,
    /// To the terminal (stdin passed through; Ctrl-A x quits QEMU) and into the log file.
    Terminal,
}

/// One VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    pub boot: Boot,
    pub uplink: Uplink,
    pub accel: Accel,
    /// One virtio NIC per MAC, `nic0`, `nic1`, ... in order.
    pub macs: Vec<[u8; 6]>,
    pub memory_mb: u32,
    /// QEMU is killed after this long (`None`: never).
    pub timeout: Option<std::time::Duration>,
    /// NIC ids (`nic0`..) whose link is down when the guest starts (QMP `set_link`).
    pub links_down: Vec<String>,
    pub console: ConsoleMode,
    /// The network namespace (`ip netns` name) QEMU runs in, for [`Uplink::Links`] beds.
    pub netns: Option<String>,
}

impl VmSpec {
    /// A VM with the default four NICs and memory, console captured.
    pub fn new(boot: Boot, uplink: Uplink, accel: Accel) -> Self {
        VmSpec {
            boot,
            uplink,
            accel,
            macs: DEFAULT_MACS.to_vec(),
            memory_mb: MEMORY_MB,
            timeout: None,
            links_down: Vec::new(),
            console: ConsoleMode::Capture,
            netns: None,
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &[u8; 6]) -> String {
    let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

/// A value inside a QEMU `-opt key=value,...` list: commas are doubled.
fn opt_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// QEMU's arguments for `spec`, with the serial log and QMP socket at the given paths.
pub fn qemu_args(spec: &VmSpec, serial: &Path, qmp: &Path) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&["-accel", spec.accel.as_str()]);
    push(&["-m", &spec.memory_mb.to_string()]);
    // -nographic also makes SeaBIOS and iPXE mirror their text to the serial port.
    push(&["-nographic", "-no-reboot", "-S", "-monitor", "none"]);
    match spec.console {
        ConsoleMode::Capture => {
            push(&[
                "-chardev",
                &format!("file,id=ser0,path={}", opt_value(serial)),
            ]);
            push(&["-serial", "chardev:ser0"]);
        }
        ConsoleMode::Terminal => {
            // mux=on: Ctrl-A x quits, Ctrl-A c reaches the monitor; signal=off: Ctrl-C goes to
            // the guest instead of killing QEMU.
            push(&[
                "-chardev",
                &format!(
                    "stdio,id=ser0,mux=on,signal=off,logfile={}",
                    opt_value(serial)
                ),
            ]);
            push(&[
                "-serial",
                "chardev:ser0",
                "-mon",
                "chardev=ser0,mode=readline",
            ]);
        }
    }
    push(&[
        "-chardev",
        &format!("socket,id=qmp0,path={},server=on,wait=off", opt_value(qmp)),
    ]);
    push(&["-mon", "chardev=qmp0,mode=control"]);
    let mut pxe_files = String::new();
    match &spec.boot {
        Boot::Direct {
            kernel,
            initrd,
            cmdline,
        } => {
            push(&["-kernel", &kernel.to_string_lossy()]);
            push(&["-initrd", &initrd.to_string_lossy()]);
            push(&["-append", cmdline]);
        }
        Boot::Pxe { tftp_dir, bootfile } => {
            push(&["-boot", "n"]);
            pxe_files.push_str(&format!(
                ",tftp={},bootfile={}",
                opt_value(tftp_dir),
                bootfile.replace(',', ",,")
            ));
        }
    }
    let user = match &spec.uplink {
        Uplink::User => Some(format!("user,id=u0,net={USER_NET}{pxe_files}")),
        Uplink::Served(net) => Some(net.netdev("u0", &pxe_files)),
        Uplink::Isolated | Uplink::Links(_) => None,
    };
    if let Some(user) = user {
        push(&["-netdev", &user]);
        push(&["-netdev", "hubport,id=hp0,hubid=0,netdev=u0"]);
    }
    let pxe = matches!(spec.boot, Boot::Pxe { .. });
    let links = match &spec.uplink {
        Uplink::Links(links) => links.as_slice(),
        _ => &[],
    };
    for (i, mac) in spec.macs.iter().enumerate() {
        let port = i + 1;
        let netdev = match links.get(i) {
            Some(link) => {
                let id = format!("l{i}");
                push(&["-netdev", &link.netdev(&id)]);
                id
            }
            None => {
                push(&["-netdev", &format!("hubport,id=hp{port},hubid=0")]);
                format!("hp{port}")
            }
        };
        // Only nic0 carries the iPXE ROM when booting from the network; none otherwise.
        let rom = if pxe && i == 0 { "" } else { ",romfile=" };
        push(&[
            "-device",
            &format!(
                "virtio-net-pci,netdev={netdev},id=nic{i},mac={},speed=10000,duplex=full{rom}",
                mac_text(mac)
            ),
        ]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(uplink: Uplink) -> VmSpec {
        VmSpec::new(
            Boot::Direct {
                kernel: "/k/vmlinuz".into(),
                initrd: "/k/initramfs.img".into(),
                cmdline: "console=ttyS0 netroot.debug".into(),
            },
            uplink,
            Accel::Tcg,
        )
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
            .and_then(|i| a.get(i + 1));
        assert_eq!(
            append.map(String::as_str),
            Some("console=ttyS0 netroot.debug")
        );
    }

    #[test]
    fn isolated_hub_has_no_user_netdev_and_macs_are_configurable() {
        let mut spec = direct(Uplink::Isolated);
        spec.macs = vec![[0x02, 0, 0, 0, 0xab, 0x01], [0x02, 0, 0, 0, 0xab, 0x02]];
        let a = qemu_args(&spec, Path::new("/s"), Path::new("/q"));
        assert!(!a.iter().any(|x| x.starts_with("user,")));
        assert!(!a.iter().any(|x| x.contains("netdev=u0")));
        let nics: Vec<&String> = a
            .iter()
            .filter(|x| x.starts_with("virtio-net-pci"))
            .collect();
        assert_eq!(nics.len(), 2);
        assert!(
            nics[1].contains("id=nic1,mac=02:00:00:00:ab:02,"),
            "{}",
            nics[1]
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
    fn a_served_uplink_pretends_to_be_the_profiles_nfs_server() {
        let net = ServedNet::plan("10.0.2.2".parse().expect("ip"), 2049, 40001).expect("plan");
        let mut spec = direct(Uplink::Served(net));
        spec.boot = Boot::Pxe {
            tftp_dir: "/tftp".into(),
            bootfile: "netroot.ipxe".into(),
        };
        let joined = qemu_args(&spec, Path::new("/s"), Path::new("/q")).join(" ");
        assert!(joined.contains(
            "-netdev user,id=u0,net=10.0.2.0/24,host=10.0.2.254,dns=10.0.2.3,dhcpstart=10.0.2.15,restrict=on,guestfwd=tcp:10.0.2.2:2049-cmd:busybox nc 127.0.0.1 40001,tftp=/tftp,bootfile=netroot.ipxe -netdev hubport,id=hp0,hubid=0,netdev=u0"
        ), "{joined}");
    }

    #[test]
    fn wired_nics_have_their_own_links_and_no_hub() {
        let mut spec = direct(Uplink::Links(vec![
            Link::Socket {
                local: 3000,
                remote: 3100,
            },
            Link::Tap("up0".into()),
        ]));
        spec.macs.truncate(3);
        let joined = qemu_args(&spec, Path::new("/s"), Path::new("/q")).join(" ");
        assert!(joined.contains(
            "-netdev socket,id=l0,udp=127.0.0.1:3100,localaddr=127.0.0.1:3000 -device virtio-net-pci,netdev=l0,id=nic0,mac=52:54:00:00:00:01,"
        ), "{joined}");
        assert!(joined.contains(
            "-netdev tap,id=l1,ifname=up0,script=no,downscript=no -device virtio-net-pci,netdev=l1,id=nic1,"
        ), "{joined}");
        // A NIC beyond the links is alone on the hub; no user networking.
        assert!(
            joined.contains(
                "-netdev hubport,id=hp3,hubid=0 -device virtio-net-pci,netdev=hp3,id=nic2,"
            ),
            "{joined}"
        );
        assert!(!joined.contains("user,"), "{joined}");
    }

    #[test]
    fn terminal_console_is_muxed_with_a_monitor_and_logged() {
        let mut spec = direct(Uplink::User);
        spec.console = ConsoleMode::Terminal;
        let joined = qemu_args(&spec, Path::new("/w/console.log"), Path::new("/q")).join(" ");
        assert!(joined.contains(
            "-chardev stdio,id=ser0,mux=on,signal=off,logfile=/w/console.log -serial chardev:ser0 -mon chardev=ser0,mode=readline"
        ), "{joined}");
        assert!(!joined.contains("file,id=ser0"));
    }

    #[test]
    fn accelerators_parse() {
        assert_eq!("kvm".parse::<Accel>(), Ok(Accel::Kvm));
        assert_eq!("tcg".parse::<Accel>(), Ok(Accel::Tcg));
        assert_eq!(
            "hvf".parse::<Accel>(),
            Err("unknown accelerator \"hvf\" (expected kvm or tcg)".into())
        );
    }
}
