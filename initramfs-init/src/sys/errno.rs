//! Symbolic names for the errno values the init reports, so a failure line says `ENOENT` rather
//! than a bare number.

use rustix::io::Errno;

/// The errnos that boot phases meet, with their symbolic names.
const NAMES: &[(Errno, &str)] = &[
    (Errno::PERM, "EPERM"),
    (Errno::NOENT, "ENOENT"),
    (Errno::INTR, "EINTR"),
    (Errno::IO, "EIO"),
    (Errno::NXIO, "ENXIO"),
    (Errno::NOEXEC, "ENOEXEC"),
    (Errno::BADF, "EBADF"),
    (Errno::CHILD, "ECHILD"),
    (Errno::AGAIN, "EAGAIN"),
    (Errno::NOMEM, "ENOMEM"),
    (Errno::ACCESS, "EACCES"),
    (Errno::BUSY, "EBUSY"),
    (Errno::EXIST, "EEXIST"),
    (Errno::XDEV, "EXDEV"),
    (Errno::NODEV, "ENODEV"),
    (Errno::NOTDIR, "ENOTDIR"),
    (Errno::ISDIR, "EISDIR"),
    (Errno::INVAL, "EINVAL"),
    (Errno::NOSPC, "ENOSPC"),
    (Errno::ROFS, "EROFS"),
    (Errno::NOSYS, "ENOSYS"),
    (Errno::NOTEMPTY, "ENOTEMPTY"),
    (Errno::NOPKG, "ENOPKG"),
    (Errno::BADMSG, "EBADMSG"),
    (Errno::PROTO, "EPROTO"),
    (Errno::KEYREJECTED, "EKEYREJECTED"),
    (Errno::PROTONOSUPPORT, "EPROTONOSUPPORT"),
    (Errno::OPNOTSUPP, "EOPNOTSUPP"),
    (Errno::ADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (Errno::NETDOWN, "ENETDOWN"),
    (Errno::NOBUFS, "ENOBUFS"),
    (Errno::NETUNREACH, "ENETUNREACH"),
    (Errno::CONNRESET, "ECONNRESET"),
    (Errno::TIMEDOUT, "ETIMEDOUT"),
    (Errno::CONNREFUSED, "ECONNREFUSED"),
    (Errno::HOSTDOWN, "EHOSTDOWN"),
    (Errno::HOSTUNREACH, "EHOSTUNREACH"),
    (Errno::STALE, "ESTALE"),
    (Errno::TXTBSY, "ETXTBSY"),
];

/// The symbolic name of `errno`, or `errno<N>` for one outside the table.
pub fn errno_name(errno: Errno) -> String {
    NAMES
        .iter()
        .find(|(e, _)| *e == errno)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_else(|| format!("errno{}", errno.raw_os_error()))
}

/// `ENOENT (No such file or directory, errno 2)`: name, description and number.
pub fn errno_text(errno: Errno) -> String {
    let raw = errno.raw_os_error();
    let description = std::io::Error::from_raw_os_error(raw).to_string();
    // std appends " (os error N)"; keep only the description.
    let description = description
        .split(" (os error")
        .next()
        .unwrap_or(description.as_str());
    format!("{} ({description}, errno {raw})", errno_name(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_errnos() {
        assert_eq!(errno_name(Errno::EXIST), "EEXIST");
        assert_eq!(errno_name(Errno::from_raw_os_error(4000)), "errno4000");
        assert_eq!(
            errno_text(Errno::NOENT),
            "ENOENT (No such file or directory, errno 2)"
        );
    }
}
