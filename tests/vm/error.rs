//! The one error type of the VM test support code: each variant names the path or program
//! involved so a failed setup says what to look at; the library's VM errors pass through.

use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
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
    #[error("netroot build of profile {profile} produced no {path}")]
    MissingArtifact { profile: String, path: PathBuf },
    #[error(transparent)]
    Qemu(#[from] netroot::qemu::QemuError),
}

impl VmError {
    /// An `Io` error for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| VmError::Io { op, path, source }
    }
}
