//! What the dynamic loader needs from one file: its ELF identity (class,
//! byte order, machine) and its dynamic section (PT_INTERP, DT_NEEDED,
//! DT_RPATH, DT_RUNPATH, DT_SONAME), read with goblin.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use goblin::elf::Elf;

use super::ElfError;

/// ELF magic bytes.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// e_ident[EI_CLASS], e_ident[EI_DATA] and the start of e_machine.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const E_MACHINE: usize = 18;
/// Bytes needed to read class, byte order and machine.
const IDENT_LEN: usize = 20;
/// ELFDATA2MSB: big-endian fields.
const ELFDATA2MSB: u8 = 2;
/// Longest `#!` line looked at (the kernel's own BINPRM_BUF_SIZE is 256).
const SHEBANG_MAX: usize = 256;

/// Class, byte order and machine: a library is usable only when these equal
/// the executable's (the check ld.so makes before mapping a candidate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ident {
    class: u8,
    data: u8,
    machine: u16,
}

impl Ident {
    /// Reads the identity from the start of a file; `None` if not ELF.
    pub(crate) fn parse(head: &[u8]) -> Option<Self> {
        if head.get(..ELF_MAGIC.len())? != ELF_MAGIC {
            return None;
        }
        let class = *head.get(EI_CLASS)?;
        let data = *head.get(EI_DATA)?;
        let m = head.get(E_MACHINE..E_MACHINE + 2)?;
        let pair = [*m.first()?, *m.get(1)?];
        let machine = if data == ELFDATA2MSB {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        };
        Some(Ident {
            class,
            data,
            machine,
        })
    }

    /// Reads the identity of the file at `path`.
    pub(crate) fn read(path: &Path) -> Result<Option<Self>, ElfError> {
        let mut head = Vec::with_capacity(IDENT_LEN);
        File::open(path)
            .and_then(|f| f.take(IDENT_LEN as u64).read_to_end(&mut head))
            .map_err(|source| ElfError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self::parse(&head))
    }

    /// Human-readable form for "skipped" notes, e.g. `ELFCLASS32 x86 (3)`.
    pub(crate) fn describe(&self) -> String {
        let class = match self.class {
            1 => "ELFCLASS32",
            2 => "ELFCLASS64",
            _ => "unknown class",
        };
        let order = if self.data == ELFDATA2MSB {
            "big-endian"
        } else {
            "little-endian"
        };
        let machine = goblin::elf::header::machine_to_str(self.machine);
        format!("{class} {order} {machine}")
    }
}

/// The dynamic-linking facts of one ELF object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfInfo {
    pub ident: Ident,
    /// PT_INTERP, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interp: Option<String>,
    /// DT_NEEDED in order.
    pub needed: Vec<String>,
    /// DT_RPATH entries (colon lists split).
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries (colon lists split).
    pub runpath: Vec<String>,
    /// DT_SONAME.
    pub soname: Option<String>,
}

/// What a file given as a binary turned out to be.
#[derive(Debug)]
pub(crate) enum Kind {
    Elf(ElfInfo),
    /// A `#!` script, with its interpreter.
    Script(String),
    NotElf,
}

/// Classifies and parses the file contents `data` read from `path`.
pub(crate) fn parse(path: &Path, data: &[u8]) -> Result<Kind, ElfError> {
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = rest.get(..SHEBANG_MAX).unwrap_or(rest);
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let interpreter = text.split_whitespace().next().unwrap_or_default();
        return Ok(Kind::Script(interpreter.to_owned()));
    }
    let Some(ident) = Ident::parse(data) else {
        return Ok(Kind::NotElf);
    };
    let elf = Elf::parse(data).map_err(|source| ElfError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let split = |lists: &[&str]| -> Vec<String> {
        lists
            .iter()
            .flat_map(|list| list.split(':'))
            .map(str::to_owned)
            .collect()
    };
    Ok(Kind::Elf(ElfInfo {
        ident,
        interp: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
        soname: elf.soname.map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_fields() {
        let mut head = [0u8; IDENT_LEN];
        head[..4].copy_from_slice(ELF_MAGIC);
        head[EI_CLASS] = 2;
        head[EI_DATA] = 1;
        head[E_MACHINE..].copy_from_slice(&62u16.to_le_bytes());
        let x86_64 = Ident::parse(&head).unwrap();
        assert_eq!(x86_64.describe(), "ELFCLASS64 little-endian X86_64");
        head[EI_CLASS] = 1;
        head[E_MACHINE..].copy_from_slice(&3u16.to_le_bytes());
        let i386 = Ident::parse(&head).unwrap();
        assert_ne!(i386, x86_64);
        assert_eq!(i386.describe(), "ELFCLASS32 little-endian 386");
        assert_eq!(Ident::parse(&head[..19]), None);
        assert_eq!(Ident::parse(b"\x7fELX0000000000000000"), None);
    }

    #[test]
    fn scripts_and_junk() {
        let p = Path::new("/x");
        assert!(
            matches!(parse(p, b"#!/bin/sh -e\necho\n").unwrap(), Kind::Script(i) if i == "/bin/sh")
        );
        assert!(
            matches!(parse(p, b"#! /usr/bin/env python3\n").unwrap(), Kind::Script(i) if i == "/usr/bin/env")
        );
        assert!(matches!(parse(p, b"plain text").unwrap(), Kind::NotElf));
        let mut broken = [0u8; 64];
        broken[..4].copy_from_slice(ELF_MAGIC);
        broken[EI_CLASS] = 2;
        broken[EI_DATA] = 1;
        broken[4 + 2] = 1;
        let err = parse(p, &broken[..40]).unwrap_err().to_string();
        assert!(err.starts_with("/x: invalid ELF file: "), "{err}");
    }
}
