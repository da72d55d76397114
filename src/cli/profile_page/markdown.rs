//! `docs/profiles.md`: [`TABLES`] and [`NODE_TABLE`] as a Markdown reference, one table per
//! section with each key's type, default and meaning. The committed file must equal
//! [`markdown`] (a test says how to regenerate it).

use super::{heading, Table, DESCRIPTION, EXAMPLE, INHERITANCE, NODE_TABLE, NODE_VARS, TABLES};

/// Where the document lives in the repository.
pub const DOC_PATH: &str = "docs/profiles.md";

/// The whole document.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Profile and nodes.toml reference\n\n\
         <!-- generated from src/cli/profile_page/ (the same tables as netroot-profile(5)); \
         a test keeps it equal: regenerate with `netroot --generate profile-doc docs` -->\n\n",
    );
    s.push_str(&format!("{DESCRIPTION}\n\n`inherits`{INHERITANCE}\n\n"));
    s.push_str("Read by: `build` (the image and the root tree), `init` (the boot config the node's PID 1 applies; the build renders it), `publish` (menus, exports, DHCP files).\n\n");
    s.push_str("## Profiles (`profiles/NAME.toml`)\n\n");
    for t in TABLES {
        section(&mut s, t);
    }
    s.push_str("## Nodes (`nodes.toml`)\n\nOne `[[node]]` table per diskless node, with `[node.vars]` below it.\n\n");
    section(&mut s, &NODE_TABLE);
    s.push_str(&format!("### [node.vars]\n\nKeys: {NODE_VARS}\n\n"));
    s.push_str(&format!("## Example\n\n```toml\n{EXAMPLE}\n```\n"));
    s
}

/// One table's section.
fn section(s: &mut String, t: &Table) {
    s.push_str(&format!(
        "### {}\n\n{} Read by: {}.\n\n",
        heading(t),
        t.about,
        t.side
    ));
    if let Some(form) = t.free_form {
        s.push_str(&format!("Keys: {form}\n\n"));
    }
    if t.keys.is_empty() {
        return;
    }
    s.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
    for k in t.keys {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            k.ty,
            cell(k.default),
            cell(k.about)
        ));
    }
    s.push('\n');
}

/// Text that cannot break a table row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
