//! Tests of [`super`]: resolution inside the root, over an in-memory tree.

use super::*;
use std::collections::BTreeMap;

/// An in-memory tree: canonical path (`a/b`) → node.
#[derive(Default)]
struct Fake {
    nodes: BTreeMap<String, Node>,
    created: Vec<String>,
    cursor: Vec<OsString>,
}

impl Fake {
    fn with(entries: &[(&str, Node)]) -> Fake {
        let mut f = Fake::default();
        for (p, n) in entries {
            f.nodes.insert((*p).to_owned(), n.clone());
        }
        f
    }
}

fn key(dir: &[OsString], name: &OsStr) -> String {
    let mut parts: Vec<String> = dir.iter().map(|p| p.to_string_lossy().into()).collect();
    parts.push(name.to_string_lossy().into());
    parts.join("/")
}

impl Lookup for Fake {
    fn to_root(&mut self) {
        self.cursor.clear();
    }
    fn node(&mut self, name: &OsStr) -> io::Result<Node> {
        Ok(self
            .nodes
            .get(&key(&self.cursor, name))
            .cloned()
            .unwrap_or(Node::Missing))
    }
    fn enter(&mut self, name: &OsStr) -> io::Result<()> {
        assert_eq!(self.node(name)?, Node::Dir);
        self.cursor.push(name.to_os_string());
        Ok(())
    }
    fn mkdir(&mut self, name: &OsStr) -> io::Result<()> {
        let k = key(&self.cursor, name);
        self.created.push(k.clone());
        self.nodes.insert(k, Node::Dir);
        self.cursor.push(name.to_os_string());
        Ok(())
    }
    fn up(&mut self) {
        self.cursor.pop();
    }
}

fn link(t: &str) -> Node {
    Node::Symlink(t.as_bytes().to_vec())
}

fn comps(s: &str) -> Vec<OsString> {
    split(s.as_bytes())
}

fn resolve(f: &mut Fake, p: &str, m: Missing) -> Result<String, ResolveError> {
    resolve_dir(f, &comps(p), m, Links::Follow).map(|v| rel_path(&v).to_string_lossy().into_owned())
}

#[test]
fn plain_dirs_resolve_to_themselves() {
    let mut f = Fake::with(&[("usr", Node::Dir), ("usr/lib", Node::Dir)]);
    assert_eq!(
        resolve(&mut f, "usr/lib", Missing::Fail).unwrap(),
        "usr/lib"
    );
    assert_eq!(resolve(&mut f, "", Missing::Fail).unwrap(), "");
}

#[test]
fn absolute_symlink_resolves_inside_root() {
    let mut f = Fake::with(&[
        ("var", Node::Dir),
        ("var/run", link("/run")),
        ("run", Node::Dir),
    ]);
    assert_eq!(resolve(&mut f, "var/run", Missing::Fail).unwrap(), "run");
}

#[test]
fn relative_symlink_climbing_out_is_clamped_at_root() {
    let mut f = Fake::with(&[
        ("a", Node::Dir),
        ("a/up", link("../../../../../etc")),
        ("etc", Node::Dir),
    ]);
    assert_eq!(resolve(&mut f, "a/up", Missing::Fail).unwrap(), "etc");
}

#[test]
fn symlink_chain_stays_inside() {
    let mut f = Fake::with(&[
        ("l1", link("l2/sub")),
        ("l2", link("d/../../..")),
        ("d", Node::Dir),
        ("sub", link("/./x/")),
        ("x", Node::Dir),
    ]);
    assert_eq!(resolve(&mut f, "l1", Missing::Fail).unwrap(), "x");
}

#[test]
fn symlink_loop_is_an_error() {
    let mut f = Fake::with(&[("a", link("b")), ("b", link("a"))]);
    let e = resolve(&mut f, "a/x", Missing::Create).unwrap_err();
    assert_eq!(
        e.to_string(),
        "too many levels of symbolic links (more than 40)"
    );
    assert!(f.created.is_empty());
}

#[test]
fn file_on_the_way_is_not_a_directory() {
    let mut f = Fake::with(&[("etc", Node::Dir), ("etc/passwd", Node::Other)]);
    let e = resolve(&mut f, "etc/passwd/x", Missing::Create).unwrap_err();
    assert_eq!(e.to_string(), "/etc/passwd: not a directory");
}

#[test]
fn missing_dirs_are_created_or_reported() {
    let mut f = Fake::with(&[("bin", link("usr/bin"))]);
    let e = resolve(&mut f, "bin/x", Missing::Fail).unwrap_err();
    assert_eq!(e.to_string(), "/usr: no such file or directory");
    // Creation follows the dangling link, inside the root.
    assert_eq!(
        resolve(&mut f, "bin/x", Missing::Create).unwrap(),
        "usr/bin/x"
    );
    assert_eq!(f.created, vec!["usr", "usr/bin", "usr/bin/x"]);
}

#[test]
fn refused_links_name_the_link() {
    let mut f = Fake::with(&[("lib", Node::Dir), ("lib/l", link("/etc"))]);
    let e = resolve_dir(&mut f, &comps("lib/l/x"), Missing::Create, Links::Refuse);
    assert_eq!(
        e.unwrap_err().to_string(),
        "lib/l is a symlink; refusing to write through it"
    );
}

#[test]
fn empty_link_target_is_an_error() {
    let mut f = Fake::with(&[("e", link(""))]);
    let e = resolve(&mut f, "e/x", Missing::Create).unwrap_err();
    assert_eq!(e.to_string(), "/e: symlink with an empty target");
}

#[test]
fn long_but_finite_chain_is_followed() {
    let mut entries: Vec<(String, Node)> = (0..MAX_SYMLINKS)
        .map(|i| (format!("l{i}"), link(&format!("l{}", i + 1))))
        .collect();
    entries.push((format!("l{MAX_SYMLINKS}"), Node::Dir));
    let refs: Vec<(&str, Node)> = entries
        .iter()
        .map(|(k, n)| (k.as_str(), n.clone()))
        .collect();
    let mut f = Fake::with(&refs);
    assert_eq!(resolve(&mut f, "l0", Missing::Fail).unwrap(), "l40");
    f.nodes.insert("l40".into(), link("l41"));
    f.nodes.insert("l41".into(), Node::Dir);
    assert!(matches!(
        resolve(&mut f, "l0", Missing::Fail),
        Err(ResolveError::Loop)
    ));
}

fn resolve_any(f: &mut Fake, p: &str) -> Result<String, ResolveError> {
    resolve_path(f, &comps(p)).map(|v| rel_path(&v).to_string_lossy().into_owned())
}

#[test]
fn resolve_path_ends_at_a_file_through_its_links() {
    let mut f = Fake::with(&[
        ("lib64", Node::Dir),
        ("lib64/ld.so", link("/lib/x/ld.so")),
        ("lib", link("usr/lib")),
        ("usr", Node::Dir),
        ("usr/lib", Node::Dir),
        ("usr/lib/x", Node::Dir),
        ("usr/lib/x/ld.so", Node::Other),
    ]);
    assert_eq!(
        resolve_any(&mut f, "/lib64/ld.so").unwrap(),
        "usr/lib/x/ld.so"
    );
    // A directory is a result too, and the root is the empty path.
    assert_eq!(resolve_any(&mut f, "lib").unwrap(), "usr/lib");
    assert_eq!(resolve_any(&mut f, "/").unwrap(), "");
}

#[test]
fn resolve_path_clamps_dotdot_in_the_path_itself() {
    let mut f = Fake::with(&[("etc", Node::Dir), ("etc/f", Node::Other)]);
    assert_eq!(
        resolve_any(&mut f, "../../etc/../../etc/f").unwrap(),
        "etc/f"
    );
}

#[test]
fn resolve_path_wants_directories_before_the_last_component() {
    let mut f = Fake::with(&[
        ("etc", Node::Dir),
        ("etc/passwd", Node::Other),
        ("slash", link("etc/passwd/")),
    ]);
    for p in ["etc/passwd/x", "etc/passwd/", "slash", "etc/passwd/.."] {
        let e = resolve_any(&mut f, p).unwrap_err();
        assert_eq!(e.to_string(), "/etc/passwd: not a directory", "{p}");
    }
    let e = resolve_any(&mut f, "etc/shadow").unwrap_err();
    assert_eq!(e.to_string(), "/etc/shadow: no such file or directory");
}

#[test]
fn resolve_path_never_creates() {
    let mut f = Fake::with(&[("bin", link("usr/bin"))]);
    let e = resolve_any(&mut f, "bin/sh").unwrap_err();
    assert_eq!(e.to_string(), "/usr: no such file or directory");
    assert!(f.created.is_empty());
}

#[test]
fn split_keeps_what_the_resolver_applies() {
    assert_eq!(
        comps("/a/../b/"),
        ["", "a", "..", "b", ""].map(OsString::from)
    );
}
