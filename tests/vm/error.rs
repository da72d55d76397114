//! The one error type of the VM test support code: each variant names the path or program
//! involved so a failed setup says what to look at; the library's VM errors pass through.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};

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

/// Runs `cmd` (the program `exe`) to its end: its output when it succeeded, else
/// [`VmError::Command`] naming it `program`, with its stderr.
pub fn output_ok(cmd: &mut Command, exe: &Path, program: String) -> Result<Output, VmError> {
    let out = cmd.output().map_err(VmError::io("run", exe))?;
    if !out.status.success() {
        return Err(VmError::Command {
            program,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

impl VmError {
    /// An `Io` error for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| VmError::Io { op, path, source }
    }
}
