//! Test helper: builds minimal ELF64 relocatable objects with chosen sections (e.g. `.modinfo`).
//!
//! Shared by the unit tests and, through `#[path]`, by the `tests/kmod_*.rs` integration tests, so it
//! depends on nothing but std.

/// Size of an ELF64 header.
const EHDR_LEN: usize = 64;
/// Size of an ELF64 section header.
const SHDR_LEN: usize = 64;
/// `SHT_PROGBITS`.
const SHT_PROGBITS: u32 = 1;
/// `SHT_STRTAB`.
const SHT_STRTAB: u32 = 3;
/// `ET_REL`: kernel modules are relocatable objects.
const ET_REL: u16 = 1;
/// `EM_X86_64`.
const EM_X86_64: u16 = 62;

/// Encodes `.modinfo` entries as NUL-terminated strings.
pub fn modinfo_bytes(entries: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        out.extend_from_slice(entry.as_bytes());
        out.push(0);
    }
    out
}

/// Builds a little-endian ELF64 relocatable object holding `sections` plus a `.shstrtab`.
pub fn elf_with_sections(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for (name, _) in sections.iter().copied().chain([(".shstrtab", &[][..])]) {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let mut out = vec![0u8; EHDR_LEN];
    // (name offset, type, file offset, size) of every section after the null one.
    let mut headers = Vec::new();
    for (i, (_, data)) in sections.iter().enumerate() {
        headers.push((
            name_offsets[i],
            SHT_PROGBITS,
            out.len() as u64,
            data.len() as u64,
        ));
        out.extend_from_slice(data);
    }
    headers.push((
        name_offsets[sections.len()],
        SHT_STRTAB,
        out.len() as u64,
        names.len() as u64,
    ));
    out.extend_from_slice(&names);
    out.resize(out.len().next_multiple_of(8), 0);
    let shoff = out.len() as u64;
    out.extend_from_slice(&[0u8; SHDR_LEN]);
    for (name, kind, offset, size) in &headers {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // flags
        out.extend_from_slice(&0u64.to_le_bytes()); // addr
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // link
        out.extend_from_slice(&0u32.to_le_bytes()); // info
        out.extend_from_slice(&1u64.to_le_bytes()); // addralign
        out.extend_from_slice(&0u64.to_le_bytes()); // entsize
    }
    let shnum = (headers.len() + 1) as u16;
    let mut ehdr = Vec::with_capacity(EHDR_LEN);
    ehdr.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    ehdr.extend_from_slice(&[0u8; 8]);
    ehdr.extend_from_slice(&ET_REL.to_le_bytes());
    ehdr.extend_from_slice(&EM_X86_64.to_le_bytes());
    ehdr.extend_from_slice(&1u32.to_le_bytes()); // version
    ehdr.extend_from_slice(&0u64.to_le_bytes()); // entry
    ehdr.extend_from_slice(&0u64.to_le_bytes()); // phoff
    ehdr.extend_from_slice(&shoff.to_le_bytes());
    ehdr.extend_from_slice(&0u32.to_le_bytes()); // flags
    ehdr.extend_from_slice(&(EHDR_LEN as u16).to_le_bytes());
    ehdr.extend_from_slice(&0u16.to_le_bytes()); // phentsize
    ehdr.extend_from_slice(&0u16.to_le_bytes()); // phnum
    ehdr.extend_from_slice(&(SHDR_LEN as u16).to_le_bytes());
    ehdr.extend_from_slice(&shnum.to_le_bytes());
    ehdr.extend_from_slice(&(shnum - 1).to_le_bytes()); // shstrndx: the last section
    out[..EHDR_LEN].copy_from_slice(&ehdr);
    out
}

/// Builds a fake module whose `.modinfo` holds `entries`.
pub fn fake_module(entries: &[&str]) -> Vec<u8> {
    elf_with_sections(&[(".text", b"\xc3"), (".modinfo", &modinfo_bytes(entries))])
}
