//! Errors of ELF dependency resolution; each names the file, library or
//! directory involved.

use std::io;
use std::path::PathBuf;

/// Errors from resolving binaries and their libraries.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// A binary was given as a relative path.
    #[error("binary {path} is not an absolute path")]
    NotAbsolute {
        /// The path as given.
        path: PathBuf,
    },
    /// A binary path is not valid UTF-8 (image paths are strings).
    #[error("binary path {path:?} is not valid UTF-8")]
    NotUtf8 {
        /// The path as given.
        path: PathBuf,
    },
    /// A binary does not exist in the sysroot.
    #[error("binary {path} not found in {sysroot}")]
    MissingBinary {
        /// The path as given.
        path: PathBuf,
        /// The sysroot searched.
        sysroot: PathBuf,
    },
    /// A file could not be read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A binary is neither ELF nor a script.
    #[error("{path} is not an ELF file")]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// A binary is a `#!` script.
    #[error("{path} is a script for {interpreter}, not an ELF binary; list {interpreter} instead")]
    Script {
        /// The script.
        path: PathBuf,
        /// Its `#!` interpreter.
        interpreter: String,
    },
    /// goblin could not parse an ELF file.
    #[error("{path}: invalid ELF file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// goblin's error.
        #[source]
        source: goblin::error::Error,
    },
    /// The ELF interpreter is missing or unusable.
    #[error("interpreter {interpreter} of {binary} {problem}")]
    BadInterpreter {
        /// PT_INTERP.
        interpreter: String,
        /// The binary naming it.
        binary: PathBuf,
        /// What is wrong, e.g. "not found in /".
        problem: String,
    },
    /// A DT_NEEDED library was not found.
    #[error(
        "library {library} needed by /{needed_by} (for {binary}) not found; searched {}{}",
        .searched.join(", "),
        skipped_note(.skipped)
    )]
    MissingLibrary {
        /// The DT_NEEDED name.
        library: String,
        /// Image path of the object that needs it.
        needed_by: String,
        /// The binary being resolved.
        binary: PathBuf,
        /// Directories searched, in order (image paths).
        searched: Vec<String>,
        /// Candidates skipped, with why (wrong class, not ELF).
        skipped: Vec<String>,
    },
    /// Symlinks loop while resolving a path.
    #[error("too many levels of symbolic links resolving /{path} in {sysroot}")]
    SymlinkLoop {
        /// The image path.
        path: String,
        /// The sysroot.
        sysroot: PathBuf,
    },
    /// An `include` pattern of ld.so.conf is not a valid glob.
    #[error("bad include pattern {pattern} in {conf}: {source}")]
    ConfGlob {
        /// The pattern.
        pattern: String,
        /// The file holding it.
        conf: String,
        /// globset's error.
        #[source]
        source: globset::Error,
    },
}

fn skipped_note(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", skipped.join(", "))
    }
}
