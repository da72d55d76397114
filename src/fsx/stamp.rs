//! The stat fingerprint the content-hash memo ([`super::memo`]: the build's hash cache and
//! publish's memos) keys on, like git's index: size, mtime, ctime, inode and device. ctime
//! cannot be set from user space, so a rewritten file always gets a new stamp, except within one
//! timestamp tick: an entry changed within [`RACY_WINDOW`] of now is hashed but must not be
//! remembered ([`Stamp::is_racy`]), or a second write in the same tick would keep the first
//! write's hash.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Files changed this recently are hashed but not memoized (timestamps are only as fine as the
/// kernel tick; two writes in one tick leave ctime unchanged).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What a memo remembers per file; any change of these forces a re-hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl Stamp {
    pub fn of(md: &fs::Metadata) -> Stamp {
        Stamp {
            size: md.len(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
            ino: md.ino(),
            dev: md.dev(),
        }
    }

    /// The stamp of a rustix lstat (what the tree walker gives): the same values as [`Stamp::of`].
    pub fn of_stat(st: &rustix::fs::Stat) -> Stamp {
        Stamp {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
            ino: st.st_ino,
            dev: st.st_dev,
        }
    }

    /// Whether the entry changed (ctime) within [`RACY_WINDOW`] of now: its hash may not be
    /// remembered under this stamp.
    pub fn is_racy(&self) -> bool {
        self.ctime_ns + RACY_WINDOW.as_nanos() as i128 >= now_ns()
    }
}

/// Nanoseconds since the epoch (0 if the clock is before it).
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_just_written_file_is_racy_and_an_old_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"x").unwrap();
        let mut s = Stamp::of(&fs::metadata(&p).unwrap());
        assert!(s.is_racy());
        s.ctime_ns -= 2 * RACY_WINDOW.as_nanos() as i128;
        assert!(!s.is_racy());
    }

    #[test]
    fn both_stat_forms_give_the_same_stamp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"xyz").unwrap();
        let st = rustix::fs::lstat(&p).unwrap();
        assert_eq!(
            Stamp::of_stat(&st),
            Stamp::of(&fs::symlink_metadata(&p).unwrap())
        );
    }
}
