//! netroot-boot: the boot protocol the builder (`netroot`) and its PID 1 (`netroot-init`) share,
//! each part written and parsed here only: the boot config ([`bootconfig`]: keys, the
//! `boot.conf` text format, the kernel command line and dracut's spellings, the validators), the
//! init's console lines ([`console`]), the boot phases ([`phase`]) and the image layout
//! ([`layout`]). Pure data and parsing: no I/O, no dependencies beyond `thiserror`.

pub mod bootconfig;
pub mod console;
pub mod layout;
pub mod phase;
