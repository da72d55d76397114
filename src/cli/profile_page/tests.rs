//! The drift tests of the reference tables, and the renderings.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// The struct definitions of raw.rs: name → fields as (TOML key, Rust type). Reads both plain
/// `pub struct RawX { pub key: T, }` and the `raw_section!` form `key: T,`; honours
/// `#[serde(rename = "...")]`.
fn raw_structs(src: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut structs = BTreeMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut rename: Option<String> = None;
    for line in src.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub struct Raw") {
            if let Some(name) = rest.strip_suffix('{') {
                current = Some((format!("Raw{}", name.trim()), Vec::new()));
            }
            continue;
        }
        let Some((_, fields)) = current.as_mut() else {
            continue;
        };
        if line == "}" {
            let (name, fields) = current.take().unwrap();
            structs.insert(name, fields);
            continue;
        }
        if let Some(r) = line.strip_prefix("#[serde(rename = \"") {
            rename = r.split('"').next().map(str::to_string);
            continue;
        }
        if line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        let field = line.strip_prefix("pub ").unwrap_or(line);
        let Some((name, ty)) = field.split_once(':') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let key = rename.take().unwrap_or_else(|| name.to_string());
        fields.push((key, ty.trim().trim_end_matches(',').to_string()));
    }
    structs
}

/// The `Raw…` struct a type names (`Option<RawKernel>`, `BTreeMap<String, Val<RawOwner>>`).
fn raw_type(ty: &str) -> Option<String> {
    let at = ty.find("Raw")?;
    let name: String = ty[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(name)
}

/// Tables (name → free-form?) and (table, key) pairs reachable from `RawProfile`.
fn walk(
    structs: &BTreeMap<String, Vec<(String, String)>>,
    name: &str,
    table: &str,
    tables: &mut BTreeMap<String, bool>,
    keys: &mut BTreeSet<(String, String)>,
) {
    let fields = structs
        .get(name)
        .unwrap_or_else(|| panic!("raw.rs: struct {name} not found"));
    tables.insert(table.to_string(), false);
    let join = |k: &str| {
        if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        }
    };
    for (key, ty) in fields {
        match (ty.contains("BTreeMap"), raw_type(ty)) {
            (true, Some(inner)) => walk(
                structs,
                &inner,
                &format!("{}.\"PATH\"", join(key)),
                tables,
                keys,
            ),
            (true, None) => {
                tables.insert(join(key), true);
            }
            (false, Some(inner)) => walk(structs, &inner, &join(key), tables, keys),
            (false, None) => {
                keys.insert((table.to_string(), key.clone()));
            }
        }
    }
}

#[test]
fn every_raw_key_is_documented_and_nothing_else() {
    let structs = raw_structs(include_str!("../../profile/raw.rs"));
    let mut code_tables = BTreeMap::new();
    let mut code_keys = BTreeSet::new();
    walk(&structs, "RawProfile", "", &mut code_tables, &mut code_keys);
    // The parser found the whole file, not a fragment of it.
    assert!(code_tables.len() >= 15, "{code_tables:?}");
    assert!(code_keys.contains(&("".to_string(), "abstract".to_string())));

    let doc_tables: BTreeMap<String, bool> = TABLES
        .iter()
        .map(|t| (t.name.to_string(), t.free_form.is_some()))
        .collect();
    let doc_keys: BTreeSet<(String, String)> = TABLES
        .iter()
        .flat_map(|t| {
            t.keys
                .iter()
                .map(|k| (t.name.to_string(), k.name.to_string()))
        })
        .collect();
    let undocumented: Vec<_> = code_keys.difference(&doc_keys).collect();
    let stale: Vec<_> = doc_keys.difference(&code_keys).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "netroot-profile(5) (src/cli/profile_page.rs) and src/profile/raw.rs disagree: \
         undocumented keys {undocumented:?}, documented keys raw.rs lacks {stale:?}"
    );
    assert_eq!(
        code_tables, doc_tables,
        "tables (name → free-form) of raw.rs vs netroot-profile(5)"
    );
    assert_eq!(
        TABLES.len(),
        doc_tables.len(),
        "a table is documented twice"
    );
}

#[test]
fn the_parser_sees_a_new_key() {
    let src = include_str!("../../profile/raw.rs").replace(
        "        strict: bool,\n",
        "        strict: bool,\n        newkey: u32,\n",
    );
    let structs = raw_structs(&src);
    let firmware = &structs["RawFirmware"];
    assert!(firmware.iter().any(|(k, _)| k == "newkey"), "{firmware:?}");
}

#[test]
fn renders_every_table() {
    let page = String::from_utf8(render().unwrap()).unwrap();
    assert!(page.contains("\n.TH netroot-profile 5 "), "{page}");
    for t in TABLES.iter().filter(|t| !t.name.is_empty()) {
        let heading = format!(".SS [{}]\n", t.name);
        assert!(page.contains(&heading), "{heading} missing");
    }
}

/// The fields of `struct RawNode` in src/nodes/parse.rs.
fn raw_node_fields(src: &str) -> BTreeSet<String> {
    let start = src.find("struct RawNode {").expect("RawNode in parse.rs");
    let body = &src[start..];
    let end = body.find("\n}").expect("end of RawNode");
    body[..end]
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.starts_with("//") && !k.starts_with('#'))
        .collect()
}

#[test]
fn every_nodes_toml_key_is_documented_and_nothing_else() {
    let code = raw_node_fields(include_str!("../../nodes/parse.rs"));
    assert!(code.contains("mac") && code.contains("vars"), "{code:?}");
    let mut doc: BTreeSet<String> = NODE_TABLE.keys.iter().map(|k| k.name.to_string()).collect();
    // [node.vars] is documented as its own free-form table.
    doc.insert("vars".to_string());
    assert_eq!(
        code, doc,
        "nodes.toml keys of src/nodes/parse.rs vs NODE_TABLE"
    );
}

#[test]
fn every_table_says_who_reads_it() {
    for t in TABLES.iter().chain([&NODE_TABLE]) {
        assert!(!t.side.is_empty(), "{}", t.name);
    }
}

/// docs/profiles.md is the rendering of these tables: regenerate it with
/// `cargo run -- --generate profile-doc docs` when a table changes.
#[test]
fn docs_profiles_md_is_the_rendered_reference() {
    let committed = include_str!("../../../docs/profiles.md");
    let rendered = markdown();
    assert!(
        committed == rendered,
        "{DOC_PATH} is stale: regenerate it with `cargo run -- --generate profile-doc docs`"
    );
    for t in TABLES {
        assert!(
            rendered.contains(&format!("### {}\n", heading(t))),
            "{}",
            t.name
        );
        for k in t.keys {
            assert!(
                rendered.contains(&format!("| `{}` |", k.name)),
                "{}",
                k.name
            );
        }
    }
    assert!(rendered.contains("## Nodes (`nodes.toml`)"));
}
