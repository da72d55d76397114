//! Listing a verified image: one `ls -l`-like line per entry, one comment line per
//! segment and a summary, or the same as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::reader::{Entry, Image, Segment};

const S_IFMT: u32 = 0o170000;

/// The type letter and name of a mode's file type.
fn file_type(mode: u32) -> (char, &'static str) {
    match mode & S_IFMT {
        0o040000 => ('d', "directory"),
        0o100000 => ('-', "file"),
        0o120000 => ('l', "symlink"),
        0o020000 => ('c', "char-device"),
        0o060000 => ('b', "block-device"),
        0o010000 => ('p', "fifo"),
        0o140000 => ('s', "socket"),
        _ => ('?', "unknown"),
    }
}

/// The entry type name used in JSON (`file`, `directory`, `symlink`, `char-device`…).
pub fn type_name(mode: u32) -> &'static str {
    file_type(mode).1
}

/// `ls -l` style mode, e.g. `-rwxr-xr-x`, `drwxrwxrwt`, `-rwsr-xr-x`.
pub fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(file_type(mode).0);
    // (read, write, exec) bits per class, with the special bit and its letter.
    let classes = [
        (0o400, 0o200, 0o100, 0o4000, 's'),
        (0o40, 0o20, 0o10, 0o2000, 's'),
        (0o4, 0o2, 0o1, 0o1000, 't'),
    ];
    for (r, w, x, special, letter) in classes {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        s.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// One listing line: `MODE UID/GID SIZE PATH[ -> TARGET]` (devices show `MAJOR,MINOR`).
pub fn entry_line(e: &Entry) -> String {
    let size = match e.mode & S_IFMT {
        0o020000 | 0o060000 => format!("{},{}", e.rdev_major, e.rdev_minor),
        _ => e.size.to_string(),
    };
    let mut line = format!(
        "{} {}/{} {:>9} {}",
        mode_string(e.mode),
        e.uid,
        e.gid,
        size,
        e.path
    );
    if let Some(target) = &e.link_target {
        let _ = write!(line, " -> {target}");
    } else if let Some(first) = &e.hardlink_to {
        let _ = write!(line, " => {first}");
    }
    line
}

/// The comment line that introduces a segment.
pub fn segment_line(s: &Segment) -> String {
    let container = match s.compression {
        None => format!("uncompressed ({} bytes)", s.length),
        Some(c) => format!("{c} ({} -> {} bytes)", s.length, s.uncompressed_size),
    };
    let format = if s.crc { "newc+crc" } else { "newc" };
    let archives = if s.archives > 1 {
        format!(", {} archives", s.archives)
    } else {
        String::new()
    };
    format!(
        "# segment {}: offset {}, {container}, {format}, {} entries{archives}",
        s.index,
        s.offset,
        s.entries.len()
    )
}

/// Counts for the summary line.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub segments: usize,
    pub entries: usize,
    pub files: usize,
    pub directories: usize,
    pub symlinks: usize,
    pub other: usize,
    /// Bytes of regular-file data stored (hardlinked content counted once).
    pub file_bytes: u64,
    pub image_bytes: u64,
}

/// Counts an image's entries.
pub fn summary(image: &Image) -> Summary {
    let mut s = Summary {
        segments: image.segments.len(),
        image_bytes: image.size,
        ..Summary::default()
    };
    for e in image.entries() {
        s.entries += 1;
        match type_name(e.mode) {
            "file" => {
                s.files += 1;
                s.file_bytes += e.stored_size;
            }
            "directory" => s.directories += 1,
            "symlink" => s.symlinks += 1,
            _ => s.other += 1,
        }
    }
    s
}

/// The whole text listing; `segments_only` leaves out the entry lines.
pub fn listing(image: &Image, segments_only: bool) -> String {
    let mut out = String::new();
    for seg in &image.segments {
        let _ = writeln!(out, "{}", segment_line(seg));
        for w in &seg.warnings {
            let _ = writeln!(out, "# warning: {w}");
        }
        if !segments_only {
            for e in &seg.entries {
                let _ = writeln!(out, "{}", entry_line(e));
            }
        }
    }
    let s = summary(image);
    let _ = writeln!(
        out,
        "# total: {} segments, {} entries ({} files, {} directories, {} symlinks, {} other), \
         {} bytes of file data, image {} bytes",
        s.segments,
        s.entries,
        s.files,
        s.directories,
        s.symlinks,
        s.other,
        s.file_bytes,
        s.image_bytes
    );
    out
}

/// JSON form of an entry.
#[derive(Debug, Serialize)]
pub struct EntryJson<'a> {
    pub path: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Permission bits in octal, e.g. `"0755"`.
    pub mode: String,
    pub mode_string: String,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub stored_size: u64,
    pub mtime: u32,
    pub nlink: u32,
    pub ino: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdev: Option<[u32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardlink_to: Option<&'a str>,
}

impl<'a> EntryJson<'a> {
    pub fn new(e: &'a Entry) -> Self {
        let device = matches!(e.mode & S_IFMT, 0o020000 | 0o060000);
        Self {
            path: &e.path,
            kind: type_name(e.mode),
            mode: format!("{:04o}", e.mode & 0o7777),
            mode_string: mode_string(e.mode),
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            stored_size: e.stored_size,
            mtime: e.mtime,
            nlink: e.nlink,
            ino: e.ino,
            rdev: device.then_some([e.rdev_major, e.rdev_minor]),
            sha256: e.sha256.as_deref(),
            target: e.link_target.as_deref(),
            hardlink_to: e.hardlink_to.as_deref(),
        }
    }
}

/// JSON form of a segment.
#[derive(Debug, Serialize)]
pub struct SegmentJson<'a> {
    pub index: usize,
    pub offset: u64,
    pub length: u64,
    /// `null` when uncompressed.
    pub compression: Option<&'static str>,
    pub uncompressed_size: u64,
    pub archives: usize,
    pub format: &'static str,
    pub entry_count: usize,
    pub warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryJson<'a>>>,
}

/// JSON form of a listing.
#[derive(Debug, Serialize)]
pub struct ListingJson<'a> {
    pub image: &'a str,
    pub segments: Vec<SegmentJson<'a>>,
    pub summary: Summary,
}

/// Builds the JSON listing; `segments_only` leaves out the entries.
pub fn listing_json<'a>(name: &'a str, image: &'a Image, segments_only: bool) -> ListingJson<'a> {
    let segments = image
        .segments
        .iter()
        .map(|s| SegmentJson {
            index: s.index,
            offset: s.offset,
            length: s.length,
            compression: s.compression.map(|c| c.name()),
            uncompressed_size: s.uncompressed_size,
            archives: s.archives,
            format: if s.crc { "newc+crc" } else { "newc" },
            entry_count: s.entries.len(),
            warnings: &s.warnings,
            entries: (!segments_only).then(|| s.entries.iter().map(EntryJson::new).collect()),
        })
        .collect();
    ListingJson {
        image: name,
        segments,
        summary: summary(image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_ls() {
        assert_eq!(mode_string(0o100755), "-rwxr-xr-x");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o041776), "drwxrwxrwT");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o020600), "crw-------");
        assert_eq!(mode_string(0o060660), "brw-rw----");
        assert_eq!(mode_string(0o010644), "prw-r--r--");
        assert_eq!(mode_string(0o140755), "srwxr-xr-x");
        assert_eq!(mode_string(0o000644), "?rw-r--r--");
    }
}
