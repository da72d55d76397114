//! Validation and ordering of paths inside an image.
//!
//! Image paths are relative, `/`-separated, without `.`/`..` or empty components, so each
//! file has exactly one spelling and the kernel unpacks it where the manifest said.

use super::ImageError;

/// Longest path the kernel's unpacker accepts, including the NUL (`PATH_MAX` in
/// `init/initramfs.c`, which skips longer names).
pub const PATH_MAX: usize = 4096;

/// An archive name as the kernel unpacks it: without a leading `./` or `/` (archives made by
/// `find . | cpio` spell names `./x`); the archive root is `.`.
pub fn normalize(name: &str) -> &str {
    let p = name.trim_start_matches("./").trim_start_matches('/');
    if p.is_empty() {
        "."
    } else {
        p
    }
}

/// Checks that `path` is a clean relative image path.
pub fn validate(path: &str) -> Result<(), ImageError> {
    let reason = if path.is_empty() {
        Some("empty path")
    } else if path.starts_with('/') {
        Some("must be relative (no leading /)")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else if path.len() + 1 > PATH_MAX {
        Some("longer than the kernel's PATH_MAX")
    } else if path == "TRAILER!!!" {
        Some("is the cpio end-of-archive marker")
    } else {
        path.split('/').find_map(|c| match c {
            "" => Some("has an empty component"),
            "." => Some("has a . component"),
            ".." => Some("has a .. component"),
            _ => None,
        })
    };
    match reason {
        Some(reason) => Err(ImageError::InvalidPath {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The parent directory of a validated path, `None` at the top level.
pub fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

/// Every proper ancestor of a validated path, outermost first.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Sort key: component-wise, so a directory comes right before its contents
/// (`usr`, `usr/lib`, `usr-x` rather than `usr`, `usr-x`, `usr/lib`).
pub fn sort_key(path: &str) -> Vec<&str> {
    path.split('/').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unclean_paths() {
        for (bad, why) in [
            ("", "empty path"),
            ("/etc", "must be relative (no leading /)"),
            ("a//b", "has an empty component"),
            ("a/", "has an empty component"),
            ("a/../b", "has a .. component"),
            ("./a", "has a . component"),
            ("a\0b", "contains a NUL byte"),
            ("TRAILER!!!", "is the cpio end-of-archive marker"),
        ] {
            let err = validate(bad).unwrap_err().to_string();
            assert_eq!(err, format!("invalid image path {bad:?}: {why}"));
        }
        assert!(validate(&"a".repeat(PATH_MAX)).is_err());
        validate("usr/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        validate("..a/b..").unwrap();
    }

    #[test]
    fn ancestors_and_parent() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parent("a"), None);
    }

    #[test]
    fn directories_sort_before_their_contents() {
        let mut paths = vec!["usr-x", "usr/lib", "usr", "usr/lib/a", "usr.d"];
        paths.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        assert_eq!(paths, ["usr", "usr/lib", "usr/lib/a", "usr-x", "usr.d"]);
    }
}
