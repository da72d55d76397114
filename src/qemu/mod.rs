//! `netroot qemu`: boots a profile under QEMU the way a node boots on the cluster network, as a
//! local test and demo. The profile is published with the real publish engine into scratch
//! TFTP and NFS directories ([`serve`]) and the VM boots exactly that: four virtio NICs with
//! fixed MACs on one QEMU hub, QEMU user networking laid out around the profile's NFS server
//! address ([`servednet`]) for DHCP and TFTP (PXE through the iPXE ROM of the first NIC, then
//! GRUB, an iPXE script or PXELINUX reading the published menus; or QEMU's direct kernel boot of
//! the published generation), the root tree over NFSv4 from an nfs-ganesha the run starts and
//! stops itself on a free loopback port, the serial console to the terminal or, with a check,
//! to a log watched for the init's OK line and the real root's success marker.
//!
//! Parts: [`ganesha`] (server config and guard), [`args`] (QEMU's command line), [`runner`]
//! (process, console capture, kill on every path), [`qmp`] (monitor client), [`console`] (the
//! init's line formats), [`timeline`] (boot stages), [`check`] (verdict), [`accel`] (KVM probe),
//! [`loader`] (loader binaries and entry points), [`guest`] (extra kernel parameters, NICs),
//! [`session`] (one run), [`outcome`] (its summary line and JSON report). The VM test suites in `tests/` use the same parts.

pub mod accel;
pub mod args;
pub mod check;
pub mod console;
pub mod dnsmasq;
mod error;
pub mod ganesha;
pub mod guest;
pub mod lacp;
pub mod lacpbed;
pub mod loader;
pub mod netns;
pub mod outcome;
pub mod partner;
pub mod qmp;
pub mod runner;
pub mod serve;
pub mod servednet;
pub mod session;
pub mod timeline;

pub use accel::{AccelChoice, KvmProbe, KVM_PROBE_TIMEOUT};
pub use args::{Accel, Boot, ConsoleMode, Uplink, VmSpec};
pub use check::{Verdict, DEFAULT_MARKER};
pub use error::QemuError;
pub use loader::Loader;
pub use outcome::{Outcome, Report};
pub use runner::{Exit, TimedLine, VmRun, Watch};
pub use session::{run, Events, Network, QemuOptions, Silent, Tools};
pub use timeline::{Stage, Timeline};
