//! A log of the publisher's mutating filesystem operations, for tests that model power loss
//! ([`super::durable`]): every primitive of [`super::Fs`], every step the inode writer makes for
//! the tree stager and repair ([`super::InodeSteps`]) and every syscall they make directly is
//! recorded, in completion order, when a log is installed for the publishing thread
//! ([`record_ops`]). Without one, recording costs one branch per operation.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One mutating operation, with absolute paths as the publisher named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// mkdir: a new, empty directory.
    Mkdir {
        path: PathBuf,
    },
    /// A new, empty regular file (O_CREAT|O_EXCL).
    Create {
        path: PathBuf,
    },
    /// The file's complete content after a sequence of writes (length and blake3).
    Write {
        path: PathBuf,
        len: u64,
        blake3: String,
    },
    /// chmod, chown, utimes or setxattr of the inode at `path`.
    Meta {
        path: PathBuf,
        change: MetaChange,
    },
    /// fsync of a regular file: its data and metadata are durable.
    FsyncFile {
        path: PathBuf,
    },
    /// fsync of a directory: its entries and metadata are durable.
    FsyncDir {
        path: PathBuf,
    },
    /// syncfs: everything on the filesystem holding `path` is durable.
    Syncfs {
        path: PathBuf,
    },
    /// rename(2); with `noreplace`, RENAME_NOREPLACE.
    Rename {
        from: PathBuf,
        to: PathBuf,
        noreplace: bool,
    },
    /// A new hard link `to` of the inode at `from` (any type but a directory).
    Link {
        from: PathBuf,
        to: PathBuf,
    },
    Symlink {
        target: PathBuf,
        path: PathBuf,
    },
    /// mknod: a device node, fifo or socket.
    Mknod {
        path: PathBuf,
    },
    /// unlink of a file or symlink, or removal of a whole (already unreachable) tree.
    Remove {
        path: PathBuf,
    },
}

/// What a [`FsOp::Meta`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaChange {
    Mode(u32),
    Owner(u32, u32),
    /// mtime (seconds, nanoseconds); atime is set to the same value.
    Times(i64, u32),
    Xattr(String),
}

/// A shared, append-only operation log.
#[derive(Debug, Default)]
pub struct OpLog {
    ops: Mutex<Vec<FsOp>>,
}

impl OpLog {
    pub fn push(&self, op: FsOp) {
        // A poisoned lock means a recording thread panicked; the test fails on that panic.
        if let Ok(mut v) = self.ops.lock() {
            v.push(op);
        }
    }

    /// The operations so far.
    #[cfg(test)]
    pub fn take(&self) -> Vec<FsOp> {
        self.ops
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

thread_local! {
    static INSTALLED: RefCell<Option<Arc<OpLog>>> = const { RefCell::new(None) };
}

/// The log installed for this thread, if any (taken by `Fs::new`).
pub(crate) fn installed() -> Option<Arc<OpLog>> {
    INSTALLED.with(|l| l.borrow().clone())
}

/// Runs `f` with every `Fs` created on this thread recording into a fresh log; returns `f`'s
/// result and the operations in completion order.
#[cfg(test)]
pub fn record_ops<R>(f: impl FnOnce() -> R) -> (R, Vec<FsOp>) {
    let log = Arc::new(OpLog::default());
    let before = INSTALLED.with(|l| l.replace(Some(log.clone())));
    let r = f();
    INSTALLED.with(|l| *l.borrow_mut() = before);
    (r, log.take())
}
