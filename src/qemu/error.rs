//! The error type of `netroot qemu` and its parts: each variant names the path, program, port
//! or setting involved, so a failed run says what to look at.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} path {path} cannot be written into a ganesha config (contains {bad:?})")]
    UnquotablePath {
        what: &'static str,
        path: PathBuf,
        bad: char,
    },
    #[error("{program} exited with {status}: {stderr}")]
    Command {
        program: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{program} not found ({hint})")]
    ToolMissing { program: String, hint: &'static str },
    #[error("ganesha.nfsd gave up after {attempts} attempts; last: {last}")]
    GaneshaStart { attempts: u32, last: String },
    #[error("qmp {path}: {detail}")]
    Qmp { path: PathBuf, detail: String },
    #[error("qmp command {command} failed: {class}: {desc}")]
    QmpCommand {
        command: String,
        class: String,
        desc: String,
    },
    #[error("qemu did not create its qmp socket {path} within {waited:?}")]
    QmpSocket { path: PathBuf, waited: Duration },
    #[error("netroot qemu must run as root: nfs-ganesha needs real root to serve an executable root tree")]
    NotRoot,
    #[error("profile \"{profile}\" has no [root] section: netroot qemu serves the profile's root tree over NFS (add [root] source = \"dir\", path = \"...\")")]
    NoRoot { profile: String },
    #[error("profile \"{profile}\" mounts NFS versions {versions} only: the local nfs-ganesha serves NFSv4 (add 4.2 or 4.1 to [nfs] versions)")]
    NoNfsV4 { profile: String, versions: String },
    #[error("the {loader} loader's entry point {path} is not in the published tftp root")]
    NotPublished { loader: &'static str, path: PathBuf },
    #[error("publishing profile \"{profile}\" into the scratch directories {dir} failed")]
    Publish {
        profile: String,
        dir: PathBuf,
        #[source]
        source: Box<crate::deploy::DeployError>,
    },
    #[error("pxelinux loader needs {path} (Debian packages pxelinux and syslinux-common)")]
    PxelinuxMissing { path: PathBuf },
    #[error("kernel command line {cmdline:?} does not apply to the profile's boot config")]
    Cmdline {
        cmdline: String,
        #[source]
        source: Box<netroot_boot::bootconfig::CmdlineError>,
    },
    #[error("another netroot qemu run of profile \"{profile}\" holds {lock}")]
    Busy { profile: String, lock: PathBuf },
    #[error("invalid {what} {value:?}: {reason}")]
    BadSetting {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("build of profile \"{profile}\" failed")]
    Build {
        profile: String,
        #[source]
        source: Box<crate::pipeline::BuildError>,
    },
    #[error("interrupted")]
    Interrupted,
}

impl QemuError {
    /// An `Io` error for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| QemuError::Io { op, path, source }
    }
}
