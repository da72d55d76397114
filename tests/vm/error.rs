//! The one error type of the VM test support code: each variant names the path, program or
//! port involved so a failed setup says what to look at.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
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
    #[error(
        "{path} is not a static executable (it has an ELF interpreter): the guest has no libc"
    )]
    NotStatic { path: PathBuf },
    #[error("{path} is not an ELF executable: {detail}")]
    NotElf { path: PathBuf, detail: String },
    #[error("ganesha.nfsd gave up after {attempts} attempts; last: {last}")]
    GaneshaStart { attempts: u32, last: String },
    #[error("netroot build of profile {profile} produced no {path}")]
    MissingArtifact { profile: String, path: PathBuf },
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
}

impl VmError {
    /// An `Io` error for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| VmError::Io { op, path, source }
    }
}
