//! initramfs images: a deterministic newc writer, and a reader that verifies and lists
//! whole images (concatenated, possibly compressed segments) for `netroot inspect`.
//!
//! - [`ImageBuilder`] collects directories, files, symlinks, hardlinks and device nodes
//!   and writes them with [`ImageBuilder::write_cpio`]; compression is
//!   [`crate::compress`]'s job.
//! - [`read_image`] parses an image as the kernel would and checks its integrity.
//! - [`inspect`] renders listings and differences between two images.
//! - [`unpack`] extracts a verified image into a directory, refusing hostile archives.

mod builder;
pub mod diff;
mod error;
pub mod inspect;
pub mod newc;
pub mod path;
mod reader;
pub mod unpack;
mod writer;

pub use builder::{EntryInfo, EntryKind, ImageBuilder, IMPLICIT_DIR_MODE};
pub use error::ImageError;
pub use newc::CpioError;
pub use reader::{read_image, read_image_keeping, Entry, Image, LookupError, ReadError, Segment};
pub use writer::ARCHIVE_BLOCK;
