//! Module aliases (`alias=` patterns such as `pci:v00008086d000010D3sv*sd*bc*sc*i*`) and their lookup.
//!
//! Aliases are fnmatch(3) patterns matched against the request, as modprobe does. They are matched
//! with a small fnmatch here instead of globset: a kernel ships ~25,000 alias patterns and a lookup
//! is one-shot, so compiling each to a regex (what globset does) would cost far more than the single
//! linear scan. Both sides are normalized like kmod's `alias_normalize` (`-` → `_` outside brackets).

use std::collections::{BTreeSet, HashMap};

/// Normalizes an alias or request: `-` becomes `_` except inside `[...]` bracket expressions.
pub fn normalize_alias(alias: &str) -> String {
    let mut out = String::with_capacity(alias.len());
    let mut in_brackets = false;
    for c in alias.chars() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            _ => {}
        }
        out.push(if c == '-' && !in_brackets { '_' } else { c });
    }
    out
}

/// Whether `pattern` has fnmatch metacharacters.
fn is_pattern(pattern: &str) -> bool {
    pattern
        .bytes()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

/// Matches a bracket expression starting after `[` at `pat`; returns (matched, rest of pattern), or
/// `None` when the bracket is not closed (then `[` is an ordinary character, as in fnmatch).
fn match_bracket(pat: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut p) = match pat.first() {
        Some(b'!' | b'^') => (true, &pat[1..]),
        _ => (false, pat),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        let (&lo, rest) = p.split_first()?;
        if lo == b']' && !first {
            return Some((matched != negate, rest));
        }
        first = false;
        match rest {
            [b'-', hi, tail @ ..] if *hi != b']' => {
                matched |= (lo..=*hi).contains(&c);
                p = tail;
            }
            _ => {
                matched |= lo == c;
                p = rest;
            }
        }
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^` negation and ranges), `\` escapes.
pub fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (pattern, text);
    // Where to resume after the last `*`: (pattern after the star, text position it absorbed up to).
    let mut backtrack: Option<(&[u8], &[u8])> = None;
    loop {
        let step = match (p.split_first(), t.split_first()) {
            (Some((b'*', rest)), _) => {
                backtrack = Some((rest, t));
                p = rest;
                continue;
            }
            (Some((b'?', rest)), Some((_, trest))) => Some((rest, trest)),
            (Some((b'[', rest)), Some((c, trest))) => match match_bracket(rest, *c) {
                Some((true, prest)) => Some((prest, trest)),
                Some((false, _)) => None,
                None if *c == b'[' => Some((rest, trest)),
                None => None,
            },
            (Some((b'\\', rest)), Some((c, trest))) => match rest.split_first() {
                Some((e, prest)) if e == c => Some((prest, trest)),
                None if *c == b'\\' => Some((rest, trest)),
                _ => None,
            },
            (Some((pc, rest)), Some((c, trest))) if pc == c => Some((rest, trest)),
            (None, None) => return true,
            _ => None,
        };
        match (step, backtrack) {
            (Some((np, nt)), _) => (p, t) = (np, nt),
            (None, Some((star_rest, absorbed))) => match absorbed.split_first() {
                Some((_, more)) => {
                    backtrack = Some((star_rest, more));
                    (p, t) = (star_rest, more);
                }
                None => return false,
            },
            (None, None) => return false,
        }
    }
}

/// Aliases of a set of modules (all shipped modules, or the built-ins), ready for lookups.
#[derive(Debug, Default)]
pub struct AliasIndex {
    /// Normalized aliases without metacharacters → modules.
    exact: HashMap<String, BTreeSet<String>>,
    /// Normalized patterns with metacharacters, with their literal prefix and module.
    patterns: Vec<(String, usize, String)>,
}

impl AliasIndex {
    /// Adds `alias` (as written in modinfo) of `module`.
    pub fn insert(&mut self, alias: &str, module: &str) {
        let alias = normalize_alias(alias);
        if is_pattern(&alias) {
            let prefix = alias
                .bytes()
                .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
                .unwrap_or(alias.len());
            self.patterns.push((alias, prefix, module.to_owned()));
        } else {
            self.exact
                .entry(alias)
                .or_default()
                .insert(module.to_owned());
        }
    }

    /// Every module with an alias matching `request`, sorted by name.
    pub fn lookup(&self, request: &str) -> BTreeSet<String> {
        let request = normalize_alias(request);
        let mut found = self.exact.get(&request).cloned().unwrap_or_default();
        for (pattern, prefix, module) in &self.patterns {
            let literal = pattern.as_bytes().get(..*prefix).unwrap_or_default();
            if request.as_bytes().starts_with(literal)
                && fnmatch(pattern.as_bytes(), request.as_bytes())
            {
                found.insert(module.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        fnmatch(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn fnmatch_basics() {
        assert!(m("fs-nfs4", "fs-nfs4"));
        assert!(!m("fs-nfs4", "fs-nfs"));
        assert!(m("char-major-4-*", "char-major-4-64"));
        assert!(m("char-major-4-*", "char-major-4-"));
        assert!(!m("char-major-4-*", "char-major-5-1"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("**x", "abx"));
        assert!(!m("", "a"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn fnmatch_real_aliases() {
        let pci = "pci:v00008086d000010D3sv*sd*bc*sc*i*";
        assert!(m(
            pci,
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
        ));
        assert!(!m(
            pci,
            "pci:v00008086d000010D4sv00008086sd0000A01Fbc02sc00i00"
        ));
        let usb = "usb:v1554p5010d400[0-1]dc*dsc*dp*ic*isc*ip*in*";
        assert!(m(usb, "usb:v1554p5010d4001dc00dsc00dp00ic00isc00ip00in00"));
        assert!(!m(usb, "usb:v1554p5010d4002dc00dsc00dp00ic00isc00ip00in00"));
        let dmi = "dmi:*:[bs]vnD[Ee][Ll][Ll]*:*";
        assert!(m(dmi, "dmi:bvnDell Inc.:bvr1.2:svnDELL:"));
        assert!(!m(dmi, "dmi:bvnHP:svnHP:"));
    }

    #[test]
    fn fnmatch_brackets_and_escapes() {
        assert!(m("[!a]x", "bx"));
        assert!(!m("[!a]x", "ax"));
        assert!(m("[^a]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[", "["), "unclosed bracket is literal");
        assert!(!m("[ab", "a"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
    }

    #[test]
    fn normalizes_outside_brackets_only() {
        assert_eq!(normalize_alias("fs-nfs4"), "fs_nfs4");
        assert_eq!(normalize_alias("usb:v1d[0-1]-x"), "usb:v1d[0-1]_x");
    }

    #[test]
    fn index_lookup_exact_and_patterns() {
        let mut index = AliasIndex::default();
        index.insert("fs-nfs4", "nfs");
        index.insert("fs_nfs4", "nfs_alt");
        index.insert("pci:v00008086d000010D3sv*sd*bc*sc*i*", "e1000e");
        index.insert("pci:v00008086d*sv*sd*bc02sc00i*", "generic_intel");
        index.insert("crypto-crc32c", "crc32c_generic");
        index.insert("crypto-crc32c", "crc32c_intel");
        let v = |r: &str| index.lookup(r).into_iter().collect::<Vec<_>>();
        assert_eq!(v("fs-nfs4"), ["nfs", "nfs_alt"]);
        assert_eq!(v("crypto-crc32c"), ["crc32c_generic", "crc32c_intel"]);
        assert_eq!(
            v("pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"),
            ["e1000e", "generic_intel"]
        );
        assert!(v("pci:v000010ECd00008168sv0sd0bc02sc00i00").is_empty());
    }
}
