//! Decodes a `security.capability` xattr (`struct vfs_cap_data`, linux/capability.h) into the
//! text `getcap` prints, e.g. `cap_net_raw=ep`.

/// `VFS_CAP_REVISION_MASK`: the revision lives in the top byte of `magic_etc`.
const REVISION_MASK: u32 = 0xFF00_0000;
/// Revision 1: one 32-bit permitted/inheritable pair (12 bytes).
const REVISION_1: u32 = 0x0100_0000;
/// Revision 2: two pairs, 64-bit sets (20 bytes).
const REVISION_2: u32 = 0x0200_0000;
/// Revision 3: as revision 2 plus the namespace root uid (24 bytes).
const REVISION_3: u32 = 0x0300_0000;
/// `VFS_CAP_FLAGS_EFFECTIVE`: the permitted set becomes effective at exec.
const FLAG_EFFECTIVE: u32 = 0x0000_0001;

/// Capability names by bit number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40).
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

fn le32(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn names(set: u64) -> String {
    let v: Vec<String> = (0..64u32)
        .filter(|bit| set & (1u64 << bit) != 0)
        .map(
            |bit| match usize::try_from(bit).ok().and_then(|i| NAMES.get(i)) {
                Some(n) => (*n).to_owned(),
                None => format!("cap_{bit}"),
            },
        )
        .collect();
    v.join(",")
}

/// `getcap`-style text for the xattr value; unknown layouts are shown as `raw:<hex>`.
pub fn describe(value: &[u8]) -> String {
    decode(value).unwrap_or_else(|| format!("raw:{}", hex::encode(value)))
}

fn decode(value: &[u8]) -> Option<String> {
    let magic = le32(value, 0)?;
    let (pairs, len) = match magic & REVISION_MASK {
        REVISION_1 => (1, 12),
        REVISION_2 => (2, 20),
        REVISION_3 => (2, 24),
        _ => return None,
    };
    if value.len() != len {
        return None;
    }
    let (mut permitted, mut inheritable) = (0u64, 0u64);
    for i in 0..pairs {
        let shift = 32 * i;
        permitted |= u64::from(le32(value, 4 + 8 * i)?) << shift;
        inheritable |= u64::from(le32(value, 8 + 8 * i)?) << shift;
    }
    let effective = magic & FLAG_EFFECTIVE != 0;
    let mut parts = Vec::new();
    if permitted == inheritable && permitted != 0 {
        parts.push(format!(
            "{}={}ip",
            names(permitted),
            if effective { "e" } else { "" }
        ));
    } else {
        if permitted != 0 {
            parts.push(format!(
                "{}={}p",
                names(permitted),
                if effective { "e" } else { "" }
            ));
        }
        if inheritable != 0 {
            parts.push(format!("{}=i", names(inheritable)));
        }
    }
    if parts.is_empty() {
        parts.push("=".to_owned());
    }
    let mut s = parts.join(" ");
    if magic & REVISION_MASK == REVISION_3 {
        s.push_str(&format!(" [rootid={}]", le32(value, 20)?));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN.
    const NET_RAW: u32 = 13;
    const NET_BIND: u32 = 10;

    /// The xattr value granting `caps` (bit numbers) permitted+effective, revision 2; for tests and
    /// fixtures.
    fn encode_v2(caps: &[u32]) -> Vec<u8> {
        let mut set = 0u64;
        for c in caps {
            set |= 1u64 << (c % 64);
        }
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(&(REVISION_2 | FLAG_EFFECTIVE).to_le_bytes());
        for half in [set & 0xFFFF_FFFF, set >> 32] {
            let w = u32::try_from(half).unwrap_or(u32::MAX);
            v.extend_from_slice(&w.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
        }
        v
    }

    #[test]
    fn v2_ping_style() {
        assert_eq!(describe(&encode_v2(&[NET_RAW])), "cap_net_raw=ep");
        assert_eq!(
            describe(&encode_v2(&[NET_RAW, NET_BIND])),
            "cap_net_bind_service,cap_net_raw=ep"
        );
    }

    #[test]
    fn high_bits_and_unknown_bits() {
        assert_eq!(describe(&encode_v2(&[40])), "cap_checkpoint_restore=ep");
        assert_eq!(describe(&encode_v2(&[45])), "cap_45=ep");
    }

    #[test]
    fn v1_and_v3_layouts() {
        let mut v1 = (REVISION_1).to_le_bytes().to_vec();
        v1.extend_from_slice(&(1u32 << NET_RAW).to_le_bytes());
        v1.extend_from_slice(&(1u32 << NET_RAW).to_le_bytes());
        assert_eq!(describe(&v1), "cap_net_raw=ip");
        let mut v3 = (REVISION_3 | FLAG_EFFECTIVE).to_le_bytes().to_vec();
        v3.extend_from_slice(&1u32.to_le_bytes());
        v3.extend_from_slice(&[0; 12]);
        v3.extend_from_slice(&1000u32.to_le_bytes());
        assert_eq!(describe(&v3), "cap_chown=ep [rootid=1000]");
    }

    #[test]
    fn garbage_is_shown_raw() {
        assert_eq!(describe(b"\x01\x02"), "raw:0102");
        let mut bad_len = encode_v2(&[NET_RAW]);
        bad_len.push(0);
        assert!(describe(&bad_len).starts_with("raw:01000002"));
    }
}
