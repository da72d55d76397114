//! Entry names (archive members, copied paths) as component lists for the in-root resolver
//! ([`crate::fsx::inroot`], which resolves them inside the image root).
//!
//! [`entry_components`] turns a name into normal components: a leading `/` is dropped (absolute
//! names are made relative, as GNU tar does), `.` and empty components vanish, and any `..` or NUL
//! byte refuses the name (a well-formed root tree never needs them).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::fsx::inroot::ResolveError;

/// The normal components of an archive name (or hardlink target). An empty list means the
/// image root itself (`./`, `/`).
pub fn entry_components(name: &[u8]) -> Result<Vec<OsString>, ResolveError> {
    if name.contains(&0) {
        return Err(ResolveError::Nul);
    }
    let mut parts = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(ResolveError::DotDot),
            _ => parts.push(OsStr::from_bytes(part).to_os_string()),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(s: &str) -> Vec<OsString> {
        entry_components(s.as_bytes()).unwrap()
    }

    #[test]
    fn names_are_made_relative_and_cleaned() {
        assert_eq!(comps("/etc//passwd"), comps("etc/passwd"));
        assert_eq!(comps("./usr/./bin/"), comps("usr/bin"));
        assert!(comps("./").is_empty());
        assert!(comps("/").is_empty());
        assert_eq!(comps("a\nb"), vec![OsString::from("a\nb")]);
    }

    #[test]
    fn dotdot_and_nul_are_refused() {
        for bad in ["../x", "a/../../x", "a/..", ".."] {
            let e = entry_components(bad.as_bytes()).unwrap_err();
            assert_eq!(e.to_string(), "path contains \"..\"", "{bad}");
        }
        let e = entry_components(b"a\0b").unwrap_err();
        assert_eq!(e.to_string(), "path contains a nul byte");
    }
}
