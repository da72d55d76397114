//! Paths inside a root tree as manifest strings. File names are bytes; JSON wants UTF-8. A path that
//! is valid UTF-8 is kept as is, except that `\` becomes `\\`; every byte that is not part of valid
//! UTF-8 becomes `\xNN`. The mapping is reversible, so any Linux file name can be published.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Encodes raw path bytes as a manifest string.
pub fn encode(path: &OsStr) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Decodes a manifest string back to the raw path, or `None` when an escape is malformed.
pub fn decode(s: &str) -> Option<OsString> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = s.get(i + 2..i + 4)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_bytes() {
        for raw in [
            &b"usr/bin/ls"[..],
            b"a\\b",
            b"caf\xc3\xa9/x",
            b"bad\xff\xfename",
            b"\\x41",
            b"",
        ] {
            let os = OsStr::from_bytes(raw);
            let enc = encode(os);
            assert_eq!(decode(&enc).unwrap(), os, "{enc}");
        }
        assert_eq!(encode(OsStr::from_bytes(b"bad\xffname")), "bad\\xffname");
        assert_eq!(encode(OsStr::from_bytes(b"a\\b")), "a\\\\b");
    }

    #[test]
    fn rejects_malformed_escapes() {
        assert_eq!(decode("a\\"), None);
        assert_eq!(decode("a\\q"), None);
        assert_eq!(decode("a\\x4"), None);
        assert_eq!(decode("a\\xzz"), None);
    }
}
