//! Mounts below a directory, from `/proc/self/mountinfo`, and their detachment: the guard a
//! temporary directory needs before it is removed, since removing a tree through a live
//! `/proc`, `/sys` or bind mount would delete (or fail on) what is mounted there.
//!
//! Parsing (`parse_mount_points`) is separate from reading the file and from unmounting, so the
//! format is unit-tested; the mount point is field 5 of each line, with space, tab, newline and
//! backslash written as octal escapes (`\040`, `\011`, `\012`, `\134`), per proc(5).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::mount::{unmount, UnmountFlags};

/// The mount table of this process's mount namespace.
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Index of the mount point among a mountinfo line's space-separated fields (proc(5)).
const MOUNT_POINT_FIELD: usize = 4;

/// The mount points listed in the mountinfo text `text`, unescaped, in table order.
pub fn parse_mount_points(text: &[u8]) -> Vec<PathBuf> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(MOUNT_POINT_FIELD))
        .map(|field| PathBuf::from(OsString::from_vec(unescape(field))))
        .collect()
}

/// Undoes the kernel's `\NNN` octal escapes; anything else is kept as it is.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal.map(|d| d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'))) {
            Some(v) if v <= u32::from(u8::MAX) => {
                out.push(v as u8);
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// The mount points of `points` at or below `dir` (compared by path components), deepest
/// first: the order they must be unmounted in.
pub fn below(points: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = points
        .iter()
        .filter(|p| p.starts_with(dir))
        .cloned()
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().as_bytes().len()));
    found.dedup();
    found
}

/// The mount points at or below `dir` (an absolute path), deepest first.
pub fn mounts_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(below(&parse_mount_points(&std::fs::read(MOUNTINFO)?), dir))
}

/// Detaches (`umount -l`) every mount at or below `dir`, deepest first, and returns them; the
/// first failure is an error naming the mount point.
pub fn detach_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let points = mounts_below(dir)?;
    for p in &points {
        unmount(p, UnmountFlags::DETACH).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot detach the mount {}: {e}", p.display()),
            )
        })?;
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
36 22 0:5 / /tmp/w/mm.x/proc rw - proc proc rw\n\
37 22 0:6 / /tmp/w/mm.x/dev/pts rw - devpts none rw\n\
38 22 0:7 / /tmp/with\\040space rw - tmpfs tmpfs rw\n\
39 22 0:8 / /tmp/w2 rw - tmpfs tmpfs rw\n";

    #[test]
    fn mount_points_are_field_five_unescaped() {
        let points = parse_mount_points(SAMPLE);
        assert_eq!(points.len(), 5);
        assert_eq!(points[0], Path::new("/"));
        assert_eq!(points[3], Path::new("/tmp/with space"));
    }

    #[test]
    fn escapes_for_tab_newline_and_backslash() {
        assert_eq!(unescape(b"a\\011b\\012c\\134d"), b"a\tb\nc\\d");
        // Not an escape: kept as written.
        assert_eq!(unescape(b"a\\9zz\\"), b"a\\9zz\\");
    }

    #[test]
    fn below_is_by_component_and_deepest_first() {
        let points = parse_mount_points(SAMPLE);
        let found = below(&points, Path::new("/tmp/w"));
        assert_eq!(
            found,
            vec![
                PathBuf::from("/tmp/w/mm.x/dev/pts"),
                PathBuf::from("/tmp/w/mm.x/proc")
            ]
        );
        assert!(below(&points, Path::new("/nowhere")).is_empty());
    }

    #[test]
    fn this_process_has_a_root_mount() {
        let all = mounts_below(Path::new("/")).unwrap();
        assert!(all.iter().any(|p| p == Path::new("/")), "{all:?}");
    }
}
