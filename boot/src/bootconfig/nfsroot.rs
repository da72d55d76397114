//! The NFS root grammars: dracut's `root=` (dracut.cmdline(7), modules.d/95nfs/nfs-lib.sh
//! `nfs_to_var`), the kernel's `nfsroot=` (Documentation/admin-guide/nfs/nfsroot.rst,
//! fs/nfs/nfsroot.c) and the DHCP root-path (option 17), which dracut and the kernel read with
//! the same grammars. Parsing only: what a spec means for the config is `dracut.rs`'s.
//!
//! Where dracut's shell code reads a form in a way that loses what was written, netroot refuses
//! the form by name instead (each case is in the README's grammar table).

use std::net::Ipv4Addr;

use super::model::NfsVersion;
use super::net::parse_host_ipv4;
use super::values::{invalid, ValueError};

/// The kernel's default export, `NFS_ROOT` in fs/nfs/nfsroot.c: also the prefix of an
/// `nfsroot=` value that starts with neither `/`, `,` nor a digit.
const KERNEL_DEFAULT_ROOT: &str = "/tftpboot/%s";

/// The token both dracut and the kernel replace by the node's name.
pub const NODE_TOKEN: &str = "%s";

/// Every form `root=` accepts, for error messages.
const ROOT_FORMS: &str = "nfs:[<server>:]<path>[:<options>], nfs4:[<server>:]<path>[:<options>], nfs://<server>[:<port>]/<path>, [<server>:]/<path>[:<options>], /dev/nfs (with nfsroot=), dhcp";

/// Whose name replaces `%s`: dracut's (the host name as set, else the address) or the
/// kernel's (`utsname()->nodename`: the host name up to its first `.`, else the address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeName {
    Full,
    Short,
}

/// A parsed NFS root: `server` `None` when the spec names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsSpec {
    /// `nfs4:`: only NFSv4 versions may be tried.
    pub v4_only: bool,
    pub server: Option<Ipv4Addr>,
    /// The export; holds [`NODE_TOKEN`] when `node` is set.
    pub path: String,
    /// Mount options as written, in order, empty ones dropped.
    pub options: Vec<String>,
    /// Set when `path` holds `%s`: whose name replaces it.
    pub node: Option<NodeName>,
}

/// A parsed `root=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootArg {
    /// `/dev/nfs`: the kernel's marker that `nfsroot=` holds the root.
    DevNfs,
    /// `dhcp`: the DHCP root-path chooses the root.
    Dhcp,
    Nfs(NfsSpec),
}

fn refuse(kind: &'static str, v: &str, reason: &str) -> ValueError {
    invalid(kind, v, reason)
}

/// Parses `root=`.
pub(crate) fn parse_root(v: &str) -> Result<RootArg, ValueError> {
    match v {
        "/dev/nfs" => return Ok(RootArg::DevNfs),
        "dhcp" => return Ok(RootArg::Dhcp),
        "dhcp6" => return Err(refuse("root", v, "root=dhcp6 (IPv6) is not supported")),
        _ => {}
    }
    if v.starts_with("/dev/") {
        return Err(not_nfs("root", v));
    }
    parse_nfs_form("root", v).map(RootArg::Nfs)
}

fn not_nfs(kind: &'static str, v: &str) -> ValueError {
    ValueError::Unknown {
        kind,
        value: v.to_string(),
        expected: ROOT_FORMS.to_string(),
    }
}

/// Parses a DHCP root-path (option 17) as dracut does (`nfsroot_from_dhcp`): the `root=` NFS
/// forms, where a value without `nfs:`, `nfs4:` or `nfs://` is an `nfs:` one
/// (`[<server>:]<path>[:<options>|,<options>]`, which also covers the kernel's
/// `[<server-ip>:]<root-dir>[,<nfs-options>]`). Surrounding whitespace and NULs are ignored.
pub fn parse_root_path(text: &str) -> Result<NfsSpec, ValueError> {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    let prefixed = ["nfs://", "nfs:", "nfs4:"].iter().any(|p| t.starts_with(p));
    if prefixed {
        parse_nfs_form("root-path", t)
    } else {
        parse_dracut("root-path", t, t, false)
    }
}

/// The NFS forms of `root=` (and of the DHCP root-path).
fn parse_nfs_form(kind: &'static str, v: &str) -> Result<NfsSpec, ValueError> {
    if let Some(url) = v.strip_prefix("nfs://") {
        return parse_rfc2224(kind, v, url);
    }
    if let Some(rest) = v.strip_prefix("nfs:") {
        return parse_dracut(kind, v, rest, false);
    }
    if let Some(rest) = v.strip_prefix("nfs4:") {
        return parse_dracut(kind, v, rest, true);
    }
    // parse-nfsroot.sh's legacy forms `[0-9]*:/*` and `/*` are `nfs:` ones.
    let legacy_server = v.starts_with(|c: char| c.is_ascii_digit()) && v.contains(":/");
    if legacy_server || v.starts_with('/') {
        return parse_dracut(kind, v, v, false);
    }
    Err(not_nfs(kind, v))
}

/// RFC 2224 `nfs://<server>[:<port>]/<path>` as nfs-lib.sh's `rfc2224_nfs_to_var` reads it: the
/// path is absolute, a trailing `:` after the server is dropped (anaconda), the port becomes
/// the `port=` option. Escapes (`%XX`) are not decoded, as in dracut.
fn parse_rfc2224(kind: &'static str, v: &str, url: &str) -> Result<NfsSpec, ValueError> {
    let (authority, path) = url
        .split_once('/')
        .ok_or_else(|| refuse(kind, v, "nfs:// URL without a path"))?;
    let authority = authority.strip_suffix(':').unwrap_or(authority);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let mut options = Vec::new();
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {
                options.push(format!("port={p}"))
            }
            _ => return Err(invalid("nfs port", port, "expected a port number 1-65535")),
        }
    }
    let path = format!("/{path}");
    nfs_spec(kind, v, false, host, path, options, NodeName::Full)
}

/// `nfs:`/`nfs4:` and the legacy forms, as nfs-lib.sh's `nfs_to_var` reads them.
fn parse_dracut(
    kind: &'static str,
    v: &str,
    rest: &str,
    v4_only: bool,
) -> Result<NfsSpec, ValueError> {
    if !v4_only && v.starts_with("nfs:") && rest.contains('[') {
        return Err(refuse(kind, v, "an IPv6 server ([...]) is not supported"));
    }
    // `nfs:*:*:/*`: anaconda's `nfs:<options>:<server>:/<path>`.
    if !v4_only && v.starts_with("nfs:") {
        if let Some(first) = rest.find(':') {
            if let Some(last) = rest.rfind(":/").filter(|&l| l > first) {
                let options = split_options(&rest[..first]);
                let server = &rest[first + 1..last];
                let path = rest[last + 1..].to_string();
                return nfs_spec(kind, v, false, server, path, options, NodeName::Full);
            }
        }
    }
    // nfsroot_to_var: the server is what precedes the first `:/`, the path starts after the
    // last one; netroot refuses a value where the two differ, which dracut reads oddly.
    let (server, arg) = match (rest.find(":/"), rest.rfind(":/")) {
        (Some(first), Some(last)) if first != last => {
            return Err(refuse(
                kind,
                v,
                "more than one ':/' (server and path are ambiguous)",
            ))
        }
        (Some(at), _) => (&rest[..at], &rest[at + 1..]),
        _ => ("", rest),
    };
    let (path, colon_options) = arg.split_once(':').unwrap_or((arg, ""));
    let (path, options) = match path.split_once(',') {
        // The kernel's `path,options` spelling; dracut then drops options written after `:`.
        Some(_) if !colon_options.is_empty() => {
            return Err(refuse(
                kind,
                v,
                "options both after ',' and after ':' (dracut would drop the ':' ones)",
            ))
        }
        Some((path, comma)) => (path, comma),
        None => (path, colon_options),
    };
    if path.is_empty() {
        return Err(refuse(
            kind,
            v,
            "no path (dracut would take it from DHCP): name the export",
        ));
    }
    let options = split_options(options);
    nfs_spec(
        kind,
        v,
        v4_only,
        server,
        path.to_string(),
        options,
        NodeName::Full,
    )
}

/// The kernel's `nfsroot=[<server-ip>:]<root-dir>[,<nfs-options>]` as fs/nfs/nfsroot.c reads it:
/// a value starting with neither `/`, `,` nor a digit is a name under `/tftpboot/`; the server is
/// a leading dotted quad followed by `:` or the end (`root_nfs_parse_addr`); an empty path or
/// `default` is `/tftpboot/%s`.
pub(crate) fn parse_nfsroot(v: &str) -> Result<NfsSpec, ValueError> {
    if v.is_empty() {
        return Err(refuse(
            "nfsroot",
            v,
            "empty (the kernel would mount /tftpboot/)",
        ));
    }
    let line = if v.starts_with(|c: char| c == '/' || c == ',' || c.is_ascii_digit()) {
        v.to_string()
    } else {
        KERNEL_DEFAULT_ROOT.replacen(NODE_TOKEN, v, 1)
    };
    let (server, rest) = match kernel_addr_prefix(&line) {
        Some(end) => (&line[..end], line.get(end + 1..).unwrap_or_default()),
        None => ("", line.as_str()),
    };
    let (path, options) = rest.split_once(',').unwrap_or((rest, ""));
    let path = if path.is_empty() || path == "default" {
        KERNEL_DEFAULT_ROOT
    } else {
        path
    };
    // The path is a printf format with one string argument: one `%s` is all it may hold.
    if path.matches('%').count() > usize::from(path.contains(NODE_TOKEN)) {
        return Err(refuse(
            "nfsroot",
            v,
            "a '%' other than one %s (the kernel's path is a printf format)",
        ));
    }
    let options = split_options(options);
    nfs_spec(
        "nfsroot",
        v,
        false,
        server,
        path.to_string(),
        options,
        NodeName::Short,
    )
}

/// `root_nfs_parse_addr`: the length of a leading dotted quad of 1-3 digit octets that is
/// followed by `:` or the end of `s`.
fn kernel_addr_prefix(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut pos = 0;
    for octet in 0..4 {
        let digits = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        pos += digits;
        if octet < 3 {
            if b.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
    }
    matches!(b.get(pos), None | Some(b':')).then_some(pos)
}

fn split_options(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

fn nfs_spec(
    kind: &'static str,
    v: &str,
    v4_only: bool,
    server: &str,
    path: String,
    options: Vec<String>,
    style: NodeName,
) -> Result<NfsSpec, ValueError> {
    let server = if server.is_empty() {
        None
    } else {
        Some(parse_host_ipv4(server)?)
    };
    if !path.starts_with('/') {
        return Err(invalid("nfs export", &path, "must be an absolute path"));
    }
    if let Some(o) = options.iter().find(|o| o.contains(':')) {
        return Err(refuse(
            kind,
            v,
            &format!("option {o:?} holds ':' (options are separated by ',')"),
        ));
    }
    let node = path.contains(NODE_TOKEN).then_some(style);
    Ok(NfsSpec {
        v4_only,
        server,
        path,
        options,
        node,
    })
}

/// Replaces the first `%s` of `path` by `node` (as both dracut and the kernel do).
pub fn substitute_node(path: &str, node: &str) -> String {
    path.replacen(NODE_TOKEN, node, 1)
}

/// The name `%s` stands for: the host name (up to its first `.` for [`NodeName::Short`]) when
/// one is set, else the address.
pub fn node_name(style: NodeName, hostname: Option<&str>, address: Ipv4Addr) -> String {
    match (hostname.filter(|h| !h.is_empty()), style) {
        (Some(h), NodeName::Full) => h.to_string(),
        (Some(h), NodeName::Short) => h.split('.').next().unwrap_or(h).to_string(),
        (None, _) => address.to_string(),
    }
}

/// Every NFSv4 minor version, newest first: what `vers=4` (as for mount) and a bare `nfs4:` mean.
pub(crate) fn any_v4() -> Vec<NfsVersion> {
    NfsVersion::ALL.into_iter().filter(|v| v.is_v4()).collect()
}

/// The NFS versions an option selects (`vers=`, `nfsvers=`, `v3`, `v4.1`, ...), `Ok(None)` for
/// an option that selects none. NFSv2 and `minorversion=` are refused by name.
pub(crate) fn version_option(opt: &str) -> Result<Option<Vec<NfsVersion>>, ValueError> {
    let vers = match opt.split_once('=') {
        Some(("vers" | "nfsvers", v)) => v,
        Some(("minorversion", _)) => {
            return Err(invalid(
                "nfs option",
                opt,
                "minorversion= is not supported: use vers=4.<minor>",
            ))
        }
        None => match opt.strip_prefix('v') {
            Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => v,
            _ => return Ok(None),
        },
        Some(_) => return Ok(None),
    };
    match vers {
        "4" => Ok(Some(any_v4())),
        "2" => Err(invalid("nfs option", opt, "NFSv2 is not supported")),
        v => Ok(Some(vec![v.parse::<NfsVersion>()?])),
    }
}
