//! Pure parsers for what the kernel hands the init as text: sysfs values (MAC addresses, `0`/`1`
//! flags) and `/proc/mounts`. Separate from I/O so they are table-tested.

/// Parses a sysfs `address` value (`52:54:00:12:34:56\n`).
pub fn parse_sysfs_mac(text: &str) -> Option<[u8; 6]> {
    crate::bootconfig::parse_mac(text.trim()).ok()
}

/// A sysfs boolean such as `carrier`: `Some(true)` for `1`, `Some(false)` for `0`.
pub fn parse_flag(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

/// Parses `/proc/mounts`, decoding the octal escapes (`\040` for a space); malformed lines are
/// skipped (the kernel writes this file, a short line would be a kernel bug, not ours to fail on).
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            Some(MountEntry {
                source: unescape(f.next()?),
                target: unescape(f.next()?),
                fstype: unescape(f.next()?),
                options: unescape(f.next()?),
            })
        })
        .collect()
}

/// Decodes `\ooo` octal escapes; anything malformed is kept literally.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_macs() {
        assert_eq!(
            parse_sysfs_mac("52:54:00:12:34:56\n"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_sysfs_mac("52:54:00:12:34"), None);
        assert_eq!(parse_sysfs_mac(""), None);
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("1\n"), Some(true));
        assert_eq!(parse_flag("0"), Some(false));
        assert_eq!(parse_flag(""), None);
        assert_eq!(parse_flag("up"), None);
    }

    #[test]
    fn proc_mounts() {
        let text = "rootfs / rootfs rw 0 0\n\
                    10.0.2.2:/export /run/netroot/nfs nfs4 ro,vers=4.2 0 0\n\
                    overlay /sysroot overlay rw,lowerdir=/a\\040b 0 0\n\
                    short line\n\
                    tmpfs /mnt/x\\134y tmpfs rw 0 0\n";
        let m = parse_mounts(text);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].target, "/run/netroot/nfs");
        assert_eq!(m[1].fstype, "nfs4");
        assert_eq!(m[2].options, "rw,lowerdir=/a b");
        assert_eq!(m[3].target, "/mnt/x\\y");
        assert_eq!(unescape("a\\04"), "a\\04", "truncated escape kept");
        assert_eq!(unescape("a\\999"), "a\\999", "non-octal kept");
    }
}
