//! Errors of the kernel module resolver, each variant carrying the module, path or value involved.

use std::path::PathBuf;

/// A `.modinfo` section that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModinfoError {
    /// An entry between two NUL bytes has no `=`.
    #[error("modinfo entry {entry:?} has no '='")]
    MissingEquals {
        /// The entry, lossily decoded for display.
        entry: String,
    },
    /// A key the resolver relies on has a value that is not UTF-8.
    #[error("modinfo key {key:?} has a value that is not utf-8: {value:?}")]
    NotUtf8 {
        /// The key (`depends`, `alias`, ...).
        key: String,
        /// The value, lossily decoded for display.
        value: String,
    },
    /// `vermagic=` appears more than once.
    #[error("modinfo has {count} vermagic entries")]
    DuplicateVermagic {
        /// How many were found.
        count: usize,
    },
}

/// A kernel ELF object whose `.modinfo` section cannot be located.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Reading part of the file failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// goblin rejected the header or the section headers.
    #[error("not a valid elf object: {0}")]
    Goblin(#[from] goblin::error::Error),
    /// A header or section points outside the file.
    #[error("{what} at offset {offset} (+{len} bytes) lies outside the {file_len}-byte file")]
    OutOfBounds {
        /// Which structure (section headers, section name table, `.modinfo`).
        what: &'static str,
        /// Start of the structure.
        offset: u64,
        /// Its length.
        len: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// The object has no section headers at all.
    #[error("elf object has no section headers")]
    NoSections,
    /// The section name table index is not a valid section.
    #[error("section name table index {index} is out of range ({count} sections)")]
    BadShstrndx {
        /// `e_shstrndx` (or its extended value).
        index: usize,
        /// Number of sections.
        count: usize,
    },
    /// There is no `.modinfo` section.
    #[error("no .modinfo section")]
    NoModinfo,
}

/// Everything that can go wrong while resolving a module closure.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// A path given as a module file does not end in .ko, .ko.xz, .ko.zst or .ko.gz.
    #[error("{path} is not a kernel module file (.ko, .ko.xz, .ko.zst, .ko.gz)")]
    NotAModule {
        /// The path given.
        path: PathBuf,
    },
    /// The modules directory does not exist or is not a directory.
    #[error("modules directory {path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A compressed module could not be decompressed.
    #[error("cannot decompress {path}: {source}")]
    Decompress {
        /// The compressed module file.
        path: PathBuf,
        /// The decoder error.
        source: std::io::Error,
    },
    /// The module file is not an ELF object with a `.modinfo` section.
    #[error("{path}: {source}")]
    Elf {
        /// The module file.
        path: PathBuf,
        /// What is wrong with it.
        source: ElfError,
    },
    /// The `.modinfo` section cannot be parsed.
    #[error("{path}: {source}")]
    Modinfo {
        /// The module file.
        path: PathBuf,
        /// What is wrong with it.
        source: ModinfoError,
    },
    /// `modules.builtin.modinfo` holds a record that is not `module.key=value`.
    #[error("{path}: malformed record {record:?}")]
    BuiltinModinfo {
        /// The `modules.builtin.modinfo` file.
        path: PathBuf,
        /// The offending record, lossily decoded.
        record: String,
    },
    /// A request names no module, built-in or alias.
    #[error("unknown module {request:?} (closest: {closest})")]
    UnknownModule {
        /// The request text.
        request: String,
        /// Comma-separated names closest to the request.
        closest: String,
    },
    /// A path glob request is not a valid glob.
    #[error("invalid module glob {pattern:?}: {source}")]
    BadGlob {
        /// The request text.
        pattern: String,
        /// globset's explanation.
        source: globset::Error,
    },
    /// A path glob request matched no module file.
    #[error("module glob {pattern:?} matches no module under {modules_dir}")]
    GlobNoMatch {
        /// The request text.
        pattern: String,
        /// Where module files were searched.
        modules_dir: PathBuf,
    },
    /// A module was built for another kernel.
    #[error("module {module} has vermagic {vermagic:?}, which is not for kernel {kernel_version}")]
    VermagicMismatch {
        /// The module name.
        module: String,
        /// Its vermagic (empty when missing).
        vermagic: String,
        /// The kernel version the closure is built for.
        kernel_version: String,
    },
    /// A `depends=` entry names a module that is neither shipped nor built in.
    #[error(
        "module {module} depends on {dependency}, which is neither a module file nor built in"
    )]
    MissingDependency {
        /// The module that declares the dependency.
        module: String,
        /// The missing dependency.
        dependency: String,
    },
    /// The load-order graph has a cycle.
    #[error("module dependency cycle: {cycle}")]
    Cycle {
        /// The cycle, as `a -> b -> a`.
        cycle: String,
    },
    /// Firmware is missing and `firmware_strict` is set.
    #[error("firmware {firmware:?} for module {module} not found in {dirs}")]
    FirmwareMissing {
        /// The `firmware=` name.
        firmware: String,
        /// The module that asks for it.
        module: String,
        /// The searched directories, as a bracketed list.
        dirs: String,
    },
    /// A firmware glob from `firmware=` is not a valid glob.
    #[error("module {module} has an invalid firmware glob {pattern:?}: {source}")]
    BadFirmwareGlob {
        /// The module that asks for it.
        module: String,
        /// The `firmware=` value.
        pattern: String,
        /// globset's explanation.
        source: globset::Error,
    },
}
