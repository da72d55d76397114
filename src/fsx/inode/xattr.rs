//! Reading a node's extended attributes without following a symlink.

use std::collections::BTreeMap;
use std::path::Path;

use rustix::fs as rfs;
use rustix::io::Errno;

use super::*;

/// Every extended attribute of `path` (not following a symlink): name → value. A filesystem
/// without xattr support has none.
pub fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, InodeError> {
    let mut out = BTreeMap::new();
    let len = match rfs::llistxattr_query(path) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP) => return Ok(out),
        Err(e) => return Err(InodeError::sys(Op::ListXattrs)(e)),
    };
    if len == 0 {
        return Ok(out);
    }
    let mut names = vec![0u8; len];
    let n = rfs::llistxattr(path, &mut names[..]).map_err(InodeError::sys(Op::ListXattrs))?;
    for name in names.get(..n).unwrap_or_default().split(|&b| b == 0) {
        if name.is_empty() {
            continue;
        }
        let name_str = std::str::from_utf8(name).map_err(|_| InodeError::XattrName {
            name: String::from_utf8_lossy(name).into_owned(),
        })?;
        let vlen = rfs::lgetxattr_query(path, name_str).map_err(InodeError::sys(Op::GetXattr))?;
        let mut value = vec![0u8; vlen];
        let k = if vlen == 0 {
            0
        } else {
            rfs::lgetxattr(path, name_str, &mut value[..]).map_err(InodeError::sys(Op::GetXattr))?
        };
        value.truncate(k);
        out.insert(name_str.to_string(), value);
    }
    Ok(out)
}
