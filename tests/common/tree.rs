//! Trees shared by the tests that build and compare them: making device nodes, the name of a
//! node's kind.
#![allow(dead_code)]

use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Makes the node `p` of kind `ft` (a device, fifo or socket) with `mode` (before the umask)
/// and device number `major:minor`.
pub fn mknod(p: &Path, ft: rustix::fs::FileType, mode: u32, major: u32, minor: u32) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        ft,
        rustix::fs::Mode::from_bits_retain(mode),
        rustix::fs::makedev(major, minor),
    )
    .unwrap();
}

/// The kind of a node, as the tree comparisons name it: `dir`, `file`, `symlink`, `char`,
/// `block`, `fifo`, `socket` (or `other`).
pub fn kind_name(ft: FileType) -> &'static str {
    type Is = fn(&FileType) -> bool;
    let kinds: [(Is, &str); 7] = [
        (FileType::is_dir, "dir"),
        (FileType::is_file, "file"),
        (FileType::is_symlink, "symlink"),
        (FileTypeExt::is_char_device, "char"),
        (FileTypeExt::is_block_device, "block"),
        (FileTypeExt::is_fifo, "fifo"),
        (FileTypeExt::is_socket, "socket"),
    ];
    kinds
        .iter()
        .find(|(is, _)| is(&ft))
        .map_or("other", |(_, name)| name)
}
