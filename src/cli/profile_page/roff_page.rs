//! netroot-profile(5): [`TABLES`] and [`NODE_TABLE`] as a man page, with the `roff` crate.

use std::io;

use roff::{bold, italic, roman, Roff};

use super::{
    default_text, heading, Table, DESCRIPTION, EXAMPLE, INHERITANCE, MANUAL, NODE_TABLE, NODE_VARS,
    PAGE_NAME, TABLES,
};

/// The page as roff.
pub fn render() -> io::Result<Vec<u8>> {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            PAGE_NAME,
            "5",
            "",
            &format!("netroot {}", env!("CARGO_PKG_VERSION")),
            MANUAL,
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman(format!(
        "{PAGE_NAME} - netroot profile files (profiles/NAME.toml) and nodes.toml"
    ))]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([
        italic("PROJECT"),
        roman("/profiles/"),
        italic("NAME"),
        roman(".toml, "),
        italic("PROJECT"),
        roman("/nodes.toml"),
    ]);
    r.control("SH", ["DESCRIPTION"]);
    r.text([roman(DESCRIPTION)]);
    r.control("PP", []);
    r.text([bold("inherits"), roman(INHERITANCE)]);
    r.control("SH", ["TABLES"]);
    for table in TABLES {
        section(&mut r, table);
    }
    r.control("SH", ["NODES"]);
    r.text([roman(
        "nodes.toml lists the diskless nodes, one [[node]] table each, with [node.vars] below.",
    )]);
    section(&mut r, &NODE_TABLE);
    r.control("SS", ["[node.vars]"]);
    r.text([roman("Keys: "), italic(NODE_VARS)]);
    r.control("SH", ["EXAMPLE"]);
    r.control("nf", []);
    r.control("RS", ["4"]);
    for line in EXAMPLE.lines() {
        r.text([roman(line)]);
    }
    r.control("RE", []);
    r.control("fi", []);
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "netroot(1), netroot-build(1), netroot-profiles(1), netroot-publish(1)",
    )]);
    let mut out = Vec::new();
    r.to_writer(&mut out)?;
    Ok(out)
}

/// One table: heading, what it is, who reads it, its keys.
fn section(r: &mut Roff, table: &Table) {
    r.control("SS", [heading(table).as_str()]);
    r.text([roman(format!("{} Read by: {}.", table.about, table.side))]);
    if let Some(form) = table.free_form {
        r.control("PP", []);
        r.text([roman("Keys: "), italic(form)]);
    }
    for k in table.keys {
        r.control("TP", []);
        r.text([bold(k.name), roman(" = "), italic(k.ty)]);
        r.text([roman(format!("{} {}", k.about, default_text(k)))]);
    }
}
