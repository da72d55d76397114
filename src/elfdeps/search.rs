//! The library search path, as glibc's ld.so builds it (ld.so(8)):
//! DT_RPATH of the requesting object and its loaders (only when the object
//! has no DT_RUNPATH), DT_RUNPATH of the object, the directories of
//! `/etc/ld.so.conf` (standing in for `/etc/ld.so.cache`, which ldconfig
//! builds from it), then the default directories.
//!
//! Not modelled: `LD_LIBRARY_PATH` (environment, not part of an image), the
//! `glibc-hwcaps` subdirectories, and the `$LIB`/`$PLATFORM` tokens, which are
//! left unexpanded (such a directory is never found and shows in the error).

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use globset::GlobBuilder;

use super::root;
use super::ElfError;

/// The loader's configuration file, relative to the sysroot.
const LD_SO_CONF: &str = "etc/ld.so.conf";
/// Nesting limit for `include`; ldconfig has none, but a cycle must end.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Directories ld.so searches last (Debian/x86-64 multiarch first, then the
/// classic ones); wrong-class libraries in them are skipped by the caller.
pub(crate) const DEFAULT_DIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// A directory to search: where to look in the sysroot and where a library
/// found there goes in the image. They differ only for `$ORIGIN` of an
/// executable reached through a symlink: ld.so takes the executable's real
/// directory on the host, but in the image the binary is a plain file at the
/// path it was named by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchDir {
    /// Image path (no leading `/`) to look in.
    pub lookup: String,
    /// Image path (no leading `/`) a hit is placed under.
    pub place: String,
}

impl SearchDir {
    pub(crate) fn same(dir: &str) -> Self {
        let dir = root::normalize(dir);
        SearchDir {
            lookup: dir.clone(),
            place: dir,
        }
    }
}

/// `$ORIGIN` of an object: its directory on the host and in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub lookup: String,
    pub place: String,
}

/// Expands one DT_RPATH/DT_RUNPATH entry. Empty entries (the current
/// directory to ld.so) are dropped; relative ones are taken from `/`, the
/// working directory of an init.
pub(crate) fn expand(entry: &str, origin: &Origin) -> Option<SearchDir> {
    if entry.is_empty() {
        return None;
    }
    let rest = entry
        .strip_prefix("$ORIGIN")
        .or_else(|| entry.strip_prefix("${ORIGIN}"));
    Some(match rest {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => SearchDir {
            lookup: root::join(&origin.lookup, rest.trim_start_matches('/')),
            place: root::join(&origin.place, rest.trim_start_matches('/')),
        },
        _ => SearchDir::same(
            &entry
                .replace("${ORIGIN}", "$ORIGIN")
                .replace("$ORIGIN", &format!("/{}", origin.lookup)),
        ),
    })
}

/// One meaningful line of an ld.so.conf file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConfLine {
    Dir(String),
    Include(Vec<String>),
}

/// Parses ld.so.conf text as ldconfig does: `#` comments, one directory per
/// line (trailing `/` dropped), `include <pattern>...`, `hwcap` lines ignored.
pub(crate) fn parse_conf(text: &str) -> Vec<ConfLine> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("include") => lines.push(ConfLine::Include(words.map(str::to_owned).collect())),
            Some("hwcap") => {}
            _ => {
                let dir = line.trim_end_matches('/');
                lines.push(ConfLine::Dir(
                    if dir.is_empty() { "/" } else { dir }.to_owned(),
                ));
            }
        }
    }
    lines
}

/// Directories listed by `<sysroot>/etc/ld.so.conf` and its includes, in
/// order, without duplicates. A missing ld.so.conf means none.
pub(crate) fn conf_dirs(sysroot: &Path) -> Result<Vec<String>, ElfError> {
    let mut dirs = Vec::new();
    let mut visited = HashSet::new();
    read_conf(sysroot, LD_SO_CONF, 0, &mut visited, &mut dirs)?;
    let mut seen = HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    Ok(dirs)
}

fn read_conf(
    sysroot: &Path,
    file: &str,
    depth: usize,
    visited: &mut HashSet<String>,
    dirs: &mut Vec<String>,
) -> Result<(), ElfError> {
    let Some(resolved) = root::resolve(sysroot, file)? else {
        return Ok(());
    };
    if depth > MAX_INCLUDE_DEPTH || !visited.insert(resolved.image.clone()) {
        return Ok(());
    }
    let text = match fs::read_to_string(&resolved.host) {
        Ok(text) => text,
        // A directory or unreadable leftover matched by a glob: ldconfig warns and goes on.
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => return Ok(()),
        Err(source) => {
            return Err(ElfError::Io {
                action: "reading",
                path: resolved.host,
                source,
            })
        }
    };
    for line in parse_conf(&text) {
        match line {
            ConfLine::Dir(dir) => dirs.push(root::normalize(&dir)),
            ConfLine::Include(patterns) => {
                for pattern in patterns {
                    // Relative patterns are relative to the including file's directory.
                    let pattern = root::join(root::parent(file), &pattern);
                    for included in glob(sysroot, &pattern, file)? {
                        read_conf(sysroot, &included, depth + 1, visited, dirs)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Expands a glob(3) pattern (an image path) below the sysroot; sorted, and
/// hidden names match only a pattern that starts with a dot.
fn glob(sysroot: &Path, pattern: &str, conf: &str) -> Result<Vec<String>, ElfError> {
    let mut found = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        if !part.contains(['*', '?', '[']) {
            for path in &mut found {
                *path = root::join(path, part);
            }
            continue;
        }
        let matcher = GlobBuilder::new(part)
            .literal_separator(true)
            .build()
            .map_err(|source| ElfError::ConfGlob {
                pattern: pattern.to_owned(),
                conf: conf.to_owned(),
                source,
            })?
            .compile_matcher();
        let mut next = Vec::new();
        for dir in &found {
            let Some(resolved) = root::resolve(sysroot, dir)? else {
                continue;
            };
            let Ok(entries) = fs::read_dir(&resolved.host) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|source| ElfError::Io {
                    action: "listing",
                    path: resolved.host.clone(),
                    source,
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if matcher.is_match(&name) {
                    next.push(root::join(dir, &name));
                }
            }
        }
        next.sort();
        found = next;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_syntax() {
        let text = "# comment\ninclude /etc/ld.so.conf.d/*.conf  other.conf\n\n/usr/local/lib/ # trailing\nhwcap 0 nosegneg\n  /opt/x  \n";
        assert_eq!(
            parse_conf(text),
            vec![
                ConfLine::Include(vec!["/etc/ld.so.conf.d/*.conf".into(), "other.conf".into()]),
                ConfLine::Dir("/usr/local/lib".into()),
                ConfLine::Dir("/opt/x".into()),
            ]
        );
    }

    #[test]
    fn origin_expansion() {
        let origin = Origin {
            lookup: "opt/tool/bin".into(),
            place: "usr/local/bin".into(),
        };
        let dir = expand("$ORIGIN/../lib", &origin).unwrap();
        assert_eq!(dir.lookup, "opt/tool/lib");
        assert_eq!(dir.place, "usr/local/lib");
        let dir = expand("${ORIGIN}", &origin).unwrap();
        assert_eq!(
            (dir.lookup.as_str(), dir.place.as_str()),
            ("opt/tool/bin", "usr/local/bin")
        );
        assert_eq!(
            expand("/usr/lib/x", &origin),
            Some(SearchDir::same("usr/lib/x"))
        );
        assert_eq!(expand("rel/dir", &origin), Some(SearchDir::same("rel/dir")));
        assert_eq!(expand("", &origin), None);
        // $LIB stays literal: never found, but visible in the error.
        assert_eq!(
            expand("/opt/$LIB", &origin),
            Some(SearchDir::same("opt/$LIB"))
        );
    }

    #[test]
    fn includes_globs_and_cycles() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        fs::write(
            r.join("etc/ld.so.conf"),
            "include ld.so.conf.d/*.conf\n/usr/local/lib\n",
        )
        .unwrap();
        fs::write(
            r.join("etc/ld.so.conf.d/b.conf"),
            "/opt/b\n/usr/local/lib\n",
        )
        .unwrap();
        fs::write(
            r.join("etc/ld.so.conf.d/a.conf"),
            "/opt/a\ninclude /etc/ld.so.conf\n",
        )
        .unwrap();
        fs::write(r.join("etc/ld.so.conf.d/.hidden.conf"), "/opt/hidden\n").unwrap();
        fs::write(r.join("etc/ld.so.conf.d/c.conf.disabled"), "/opt/c\n").unwrap();
        assert_eq!(conf_dirs(r).unwrap(), ["opt/a", "opt/b", "usr/local/lib"]);
        fs::write(r.join("etc/ld.so.conf"), "include /etc/[z\n").unwrap();
        let err = conf_dirs(r).unwrap_err().to_string();
        assert!(
            err.starts_with("bad include pattern etc/[z in etc/ld.so.conf: "),
            "{err}"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(conf_dirs(empty.path()).unwrap().is_empty());
    }
}
