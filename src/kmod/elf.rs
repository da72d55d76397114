//! Locates the `.modinfo` section of a kernel module with goblin's header and section-header parsers.
//!
//! Works over [`ReadAt`], so the same code reads a decompressed module held in memory and an
//! uncompressed `.ko` on disk, where only the ELF header, the section header table, the section name
//! table and `.modinfo` itself are read (a few KiB instead of the whole object).

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;

use goblin::container::Ctx;
use goblin::elf::section_header::{SectionHeader, SHN_XINDEX};
use goblin::elf::Elf;

use super::error::ElfError;

/// Largest ELF header (ELF64); ELF32 headers are shorter and fit in a read of this size.
const MAX_ELF_HEADER_LEN: u64 = 64;
/// Name of the section that holds `key=value` module metadata.
const MODINFO_SECTION: &[u8] = b".modinfo";

/// Random access to the bytes of an ELF object.
pub trait ReadAt {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Reads `len` bytes at `offset`; the caller has checked the range against [`ReadAt::len`].
    fn read_range(&self, offset: u64, len: u64) -> Result<Cow<'_, [u8]>, ElfError>;
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_range(&self, offset: u64, len: u64) -> Result<Cow<'_, [u8]>, ElfError> {
        let start = usize::try_from(offset).ok();
        let end = offset
            .checked_add(len)
            .and_then(|e| usize::try_from(e).ok());
        match (start, end) {
            (Some(start), Some(end)) => self.get(start..end).map(Cow::Borrowed),
            _ => None,
        }
        .ok_or(ElfError::OutOfBounds {
            what: "read",
            offset,
            len,
            file_len: ReadAt::len(self),
        })
    }
}

/// An open file with its length, read with positioned reads.
#[derive(Debug)]
pub struct FileAt {
    file: File,
    len: u64,
}

impl FileAt {
    /// Wraps an open file; fails when its metadata cannot be read.
    pub fn new(file: File) -> std::io::Result<FileAt> {
        let len = file.metadata()?.len();
        Ok(FileAt { file, len })
    }
}

impl ReadAt for FileAt {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_range(&self, offset: u64, len: u64) -> Result<Cow<'_, [u8]>, ElfError> {
        let n = usize::try_from(len).map_err(|_| ElfError::OutOfBounds {
            what: "read",
            offset,
            len,
            file_len: self.len,
        })?;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Cow::Owned(buf))
    }
}

/// Reads `len` bytes at `offset` after checking that they lie inside the object.
fn checked_read<'a, R: ReadAt + ?Sized>(
    src: &'a R,
    what: &'static str,
    offset: u64,
    len: u64,
) -> Result<Cow<'a, [u8]>, ElfError> {
    match offset.checked_add(len) {
        Some(end) if end <= src.len() => src.read_range(offset, len),
        _ => Err(ElfError::OutOfBounds {
            what,
            offset,
            len,
            file_len: src.len(),
        }),
    }
}

/// Returns the contents of the `.modinfo` section.
pub fn modinfo_section<R: ReadAt + ?Sized>(src: &R) -> Result<Cow<'_, [u8]>, ElfError> {
    let head = checked_read(src, "elf header", 0, src.len().min(MAX_ELF_HEADER_LEN))?;
    let header = Elf::parse_header(&head)?;
    let ctx = Ctx::new(header.container()?, header.endianness()?);
    if header.e_shoff == 0 {
        return Err(ElfError::NoSections);
    }
    let entsize = SectionHeader::size(ctx) as u64;
    // With more than SHN_LORESERVE sections, e_shnum is 0 and section 0 holds the real count.
    let first_bytes = checked_read(src, "section headers", header.e_shoff, entsize)?;
    let first = SectionHeader::parse_from(&first_bytes, 0, 1, ctx)?;
    let first = first.first().ok_or(ElfError::NoSections)?;
    let count = match header.e_shnum {
        0 => first.sh_size,
        n => u64::from(n),
    };
    let table_len = count.saturating_mul(entsize);
    let table = checked_read(src, "section headers", header.e_shoff, table_len)?;
    let count = usize::try_from(count).map_err(|_| ElfError::NoSections)?;
    let sections = SectionHeader::parse_from(&table, 0, count, ctx)?;
    let strndx = match u32::from(header.e_shstrndx) {
        SHN_XINDEX => first.sh_link as usize,
        n => n as usize,
    };
    let names_sh = sections.get(strndx).ok_or(ElfError::BadShstrndx {
        index: strndx,
        count: sections.len(),
    })?;
    let names = checked_read(
        src,
        "section name table",
        names_sh.sh_offset,
        names_sh.sh_size,
    )?;
    let modinfo = sections
        .iter()
        .find(|sh| section_name(&names, sh.sh_name) == Some(MODINFO_SECTION))
        .ok_or(ElfError::NoModinfo)?;
    checked_read(src, ".modinfo", modinfo.sh_offset, modinfo.sh_size)
}

/// The NUL-terminated name at `offset` in a section name table.
fn section_name(names: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = names.get(offset..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    rest.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmod::test_elf::{elf_with_sections, fake_module, modinfo_bytes};

    #[test]
    fn finds_modinfo_in_memory_and_on_disk() {
        let modinfo = modinfo_bytes(&["name=x", "vermagic=6.1.0 SMP"]);
        let elf = elf_with_sections(&[(".text", b"\x90\x90"), (".modinfo", &modinfo)]);
        assert_eq!(
            &*modinfo_section(elf.as_slice()).unwrap(),
            modinfo.as_slice()
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ko");
        std::fs::write(&path, &elf).unwrap();
        let file = FileAt::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(&*modinfo_section(&file).unwrap(), modinfo.as_slice());
    }

    #[test]
    fn fake_module_round_trips_through_the_parser() {
        let elf = fake_module(&["name=a", "depends=b"]);
        let section = modinfo_section(elf.as_slice()).unwrap();
        let info = crate::kmod::ModInfo::parse(&section).unwrap();
        assert_eq!(info.depends, ["b"]);
    }

    #[test]
    fn missing_modinfo_is_reported() {
        let elf = elf_with_sections(&[(".text", b"\x90")]);
        let err = modinfo_section(elf.as_slice()).unwrap_err();
        assert_eq!(err.to_string(), "no .modinfo section");
    }

    #[test]
    fn not_elf_and_truncated_are_errors_not_panics() {
        assert!(modinfo_section(&b"hello world"[..]).is_err());
        assert!(modinfo_section(&b""[..]).is_err());
        let elf = elf_with_sections(&[(".modinfo", b"name=x\0")]);
        for cut in [10, 63, 64, 100, elf.len() - 1] {
            assert!(modinfo_section(&elf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn section_pointing_outside_the_file_is_an_error() {
        let mut elf = elf_with_sections(&[(".modinfo", b"name=x\0")]);
        // Corrupt e_shoff (offset 0x28 in an ELF64 header) to point far past the end.
        elf[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = modinfo_section(elf.as_slice()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("section headers at offset 18446744073709551615"),
            "{err}"
        );
    }
}
