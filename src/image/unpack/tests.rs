//! Unit tests of the unpacker's refusals that the CLI tests cannot reach as root: a device node
//! when not root, a name with a NUL (which a newc header cannot carry past the reader).

use super::*;
use crate::image::{read_image_keeping, ImageBuilder};

fn image(b: &ImageBuilder) -> Image {
    let mut bytes = Vec::new();
    b.write_cpio(&mut bytes, 0).unwrap();
    read_image_keeping(&bytes, &|_| true).unwrap()
}

#[test]
fn a_device_is_refused_unless_root() {
    let mut b = ImageBuilder::new();
    b.add_char_device("dev/console", 0o600, 5, 1).unwrap();
    let img = image(&b);
    let d = tempfile::tempdir().unwrap();
    let root = rfs::open(
        d.path(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut u = Unpacker::new(&root);
    u.root_user = false;
    u.writer = Writer::new(Chown::Never);
    let e = u.run(&img).unwrap_err();
    assert_eq!(
        e.to_string(),
        "entry \"dev/console\" is a character device: only root can create one"
    );
    assert!(!d.path().join("dev/console").exists());
}

#[test]
fn a_name_with_a_nul_is_refused() {
    let mut b = ImageBuilder::new();
    b.add_file("a", 0o644, b"x".to_vec()).unwrap();
    let img = image(&b);
    let mut e = img.entries().next().unwrap().clone();
    e.path = "a\0b".into();
    assert_eq!(
        checked_name(&e).unwrap_err().to_string(),
        "entry \"a\\0b\": the name contains a NUL byte: refusing to unpack"
    );
    e.path = "./a".into();
    assert_eq!(checked_name(&e).unwrap(), "a");
}
