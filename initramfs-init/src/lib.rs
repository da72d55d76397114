//! netroot-init: the PID 1 of netroot initramfs images, and the boot-config format that the
//! builder (`netroot build`) renders into every image and the init parses back.

pub mod bootconfig;
