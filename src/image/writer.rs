//! Writing an [`ImageBuilder`] as a deterministic newc ("070701") cpio archive.
//!
//! Everything host-specific is fixed: uid/gid 0, one mtime for all entries, inode numbers
//! assigned 1, 2, 3… in output order, dev 0. Hardlinked files share an inode and carry
//! their data only on the last name in the archive, the GNU cpio convention; the kernel
//! (`init/initramfs.c`) creates the first name empty, links later names to it, and
//! writes a body through whichever name carries it, so both conventions unpack alike.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use super::builder::{ImageBuilder, Node};
use super::{path, ImageError};

/// The archive is padded with zeros to a multiple of this, like GNU cpio's 512-byte
/// blocks; the kernel skips zero padding between and after archives.
pub const ARCHIVE_BLOCK: u64 = 512;

/// One entry as it will be written.
struct Planned<'a> {
    path: &'a str,
    node: &'a Node,
    ino: u32,
    nlink: u32,
    /// Whether this name carries the file data (last name of a hardlink group).
    carries_data: bool,
}

/// Counts bytes written through it.
struct Counting<'w, W: Write> {
    inner: &'w mut W,
    count: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl ImageBuilder {
    /// Writes the archive with every entry's mtime set to `mtime` (pass
    /// `SOURCE_DATE_EPOCH`); returns the number of bytes written. The same set of entries
    /// gives the same bytes whatever order they were added in.
    pub fn write_cpio(&self, out: &mut impl Write, mtime: u64) -> Result<u64, ImageError> {
        let mtime32 = u32::try_from(mtime).map_err(|_| ImageError::MtimeOutOfRange { mtime })?;
        let plan = self.plan()?;
        let mut w = Counting {
            inner: out,
            count: 0,
        };
        for entry in &plan {
            let data: &[u8] = match entry.node {
                Node::File { data, .. } if entry.carries_data => data,
                Node::Hardlink { primary } if entry.carries_data => match self.nodes.get(primary) {
                    Some(Node::File { data, .. }) => data,
                    _ => &[],
                },
                Node::Symlink { target } => target.as_bytes(),
                _ => &[],
            };
            let (rdev_major, rdev_minor) = match entry.node {
                Node::CharDevice { major, minor, .. } => (*major, *minor),
                _ => (0, 0),
            };
            // Sizes were checked when the file was added.
            let size = u32::try_from(data.len()).map_err(|_| ImageError::FileTooLarge {
                path: entry.path.to_owned(),
                size: data.len(),
                max: u32::MAX,
            })?;
            let mut writer = cpio::NewcBuilder::new(entry.path)
                .ino(entry.ino)
                .mode(self.full_mode(entry.node))
                .uid(0)
                .gid(0)
                .nlink(entry.nlink)
                .mtime(mtime32)
                .rdev_major(rdev_major)
                .rdev_minor(rdev_minor)
                .write(&mut w, size);
            writer.write_all(data)?;
            writer.finish()?;
        }
        cpio::newc::trailer(&mut w)?;
        let padding = (ARCHIVE_BLOCK - w.count % ARCHIVE_BLOCK) % ARCHIVE_BLOCK;
        io::copy(&mut io::repeat(0).take(padding), &mut w)?;
        w.flush()?;
        Ok(w.count)
    }

    /// Orders entries and assigns inode numbers, link counts and data placement.
    fn plan(&self) -> Result<Vec<Planned<'_>>, ImageError> {
        let ordered = self.ordered();
        let mut subdirs: HashMap<&str, u32> = HashMap::new();
        // Hardlink group (keyed by the primary path) -> (member count, index of last member).
        let mut groups: HashMap<&str, (u32, usize)> = HashMap::new();
        for (index, (path, node)) in ordered.iter().enumerate() {
            match node {
                Node::Dir { .. } => {
                    if let Some(parent) = path::parent(path) {
                        *subdirs.entry(parent).or_default() += 1;
                    }
                }
                Node::File { .. } => bump(&mut groups, path, index),
                Node::Hardlink { primary } => bump(&mut groups, primary, index),
                _ => {}
            }
        }
        let mut next_ino: u32 = 1;
        let mut group_ino: HashMap<&str, u32> = HashMap::new();
        let mut plan = Vec::with_capacity(ordered.len());
        for (index, (path, node)) in ordered.into_iter().enumerate() {
            let group = match node {
                Node::File { .. } => Some(path),
                Node::Hardlink { primary } => Some(primary.as_str()),
                _ => None,
            };
            let fresh = |next: &mut u32| {
                let ino = *next;
                *next = next.checked_add(1).ok_or(ImageError::TooManyInodes)?;
                Ok::<u32, ImageError>(ino)
            };
            let (ino, nlink, carries_data) = match group.and_then(|g| groups.get(g).map(|s| (g, s)))
            {
                Some((g, &(members, last))) => {
                    let ino = match group_ino.get(g) {
                        Some(&ino) => ino,
                        None => {
                            let ino = fresh(&mut next_ino)?;
                            group_ino.insert(g, ino);
                            ino
                        }
                    };
                    (ino, members, index == last)
                }
                None => {
                    let nlink = match node {
                        Node::Dir { .. } => 2 + subdirs.get(path).copied().unwrap_or(0),
                        _ => 1,
                    };
                    (fresh(&mut next_ino)?, nlink, false)
                }
            };
            plan.push(Planned {
                path,
                node,
                ino,
                nlink,
                carries_data,
            });
        }
        Ok(plan)
    }
}

fn bump<'a>(groups: &mut HashMap<&'a str, (u32, usize)>, key: &'a str, index: usize) {
    let slot = groups.entry(key).or_insert((0, index));
    slot.0 += 1;
    slot.1 = index;
}
