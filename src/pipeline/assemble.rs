//! The image content: a modules segment (kernel modules and firmware: large, changes only with the
//! kernel or the module list) and an init segment (the init, its boot config, device nodes, extra
//! binaries: small). The kernel unpacks concatenated segments in order, and each is compressed and
//! cached separately, so a config change recompresses only the small one.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use netroot_boot::bootconfig::{BootConfig, ModuleLoad, BOOT_CONFIG_PATH};

use super::BuildError;
use crate::elfdeps::ElfFile;
use crate::image::ImageBuilder;
use crate::init_binary::INIT_BINARY;
use crate::kmod::Closure;

use netroot_boot::layout::BASE_DIRS;
pub use netroot_boot::layout::{module_path, INIT_PATH};
/// `/dev/console` (char 5:1): the kernel opens it for PID 1's stdio before devtmpfs is mounted.
const CONSOLE: (&str, u32, u32) = ("dev/console", 5, 1);

/// The module load list for the boot config, in the closure's topological order.
pub fn module_loads(
    kver: &str,
    closure: &Closure,
    params: &BTreeMap<String, String>,
) -> Vec<ModuleLoad> {
    closure
        .modules
        .iter()
        .map(|m| ModuleLoad {
            name: m.name.clone(),
            path: module_path(kver, &m.rel_path),
            params: params.get(&m.name).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Kernel modules (decompressed) and the firmware they declare.
pub fn modules_segment(kver: &str, closure: &Closure) -> Result<ImageBuilder, BuildError> {
    let mut img = ImageBuilder::new();
    for m in &closure.modules {
        img.add_file(&module_path(kver, &m.rel_path), 0o644, m.data.clone())?;
    }
    for fw in &closure.firmware {
        if let Some(src) = &fw.source {
            let data = fs::read(src).map_err(BuildError::io("cannot read firmware", src))?;
            // Keep the on-disk suffix (.xz/.zst): the kernel loader looks for those names itself.
            let suffix = src
                .extension()
                .and_then(|e| e.to_str())
                .filter(|e| *e == "xz" || *e == "zst");
            let name = match suffix {
                Some(s) if !fw.name.ends_with(s) => format!("{}.{s}", fw.name),
                _ => fw.name.clone(),
            };
            img.add_file(&format!("lib/firmware/{name}"), 0o644, data)?;
        }
    }
    Ok(img)
}

/// The init, its boot config, base directories, `/dev/console`, and extra binaries.
pub fn init_segment(boot: &BootConfig, binaries: &[ElfFile]) -> Result<ImageBuilder, BuildError> {
    let mut img = ImageBuilder::new();
    for d in BASE_DIRS {
        img.add_dir(d, 0o755)?;
    }
    img.add_char_device(CONSOLE.0, 0o600, CONSOLE.1, CONSOLE.2)?;
    img.add_file(INIT_PATH, 0o755, INIT_BINARY.to_vec())?;
    img.add_file(BOOT_CONFIG_PATH, 0o644, boot.render().into_bytes())?;
    for b in binaries {
        let md =
            fs::metadata(&b.source).map_err(BuildError::io("cannot read binary", &b.source))?;
        let data = fs::read(&b.source).map_err(BuildError::io("cannot read binary", &b.source))?;
        // Keep execute bits; drop setuid/setgid (nothing in an initramfs needs them).
        img.add_file(&b.dest, md.permissions().mode() & 0o755, data)?;
    }
    Ok(img)
}

/// Checks that the embedded init is a static executable: an ELF interpreter in the initramfs would
/// be missing and the kernel would report a misleading "No such file or directory".
pub fn check_init_static(data: &[u8]) -> Result<(), BuildError> {
    let elf = goblin::elf::Elf::parse(data)
        .map_err(|e| BuildError::InitNotStatic(format!("not an ELF file: {e}")))?;
    if let Some(interp) = elf.interpreter {
        return Err(BuildError::InitNotStatic(format!(
            "it requests the ELF interpreter {interp}"
        )));
    }
    if elf.header.e_type != goblin::elf::header::ET_DYN
        && elf.header.e_type != goblin::elf::header::ET_EXEC
    {
        return Err(BuildError::InitNotStatic("not an executable".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_init_is_static() {
        check_init_static(INIT_BINARY).unwrap();
    }

    #[test]
    fn dynamic_binary_is_rejected() {
        let ls = fs::read("/bin/ls").unwrap();
        let e = check_init_static(&ls).unwrap_err().to_string();
        assert!(
            e.contains("ELF interpreter /lib64/ld-linux-x86-64.so.2"),
            "{e}"
        );
        let e = check_init_static(b"#!/bin/sh\n").unwrap_err().to_string();
        assert!(
            e.starts_with("embedded init is not a static executable: not an ELF file"),
            "{e}"
        );
    }
}
