//! The one way a command prints its result: the report's text (`Display`), or with `--json` the
//! report as pretty JSON on stdout; and a failure under `--json` as `{"error": …, "exit": N}`
//! on stdout, so a pipeline reading stdout always gets one JSON document.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

/// Prints `report` as JSON (`json`) or as its text.
pub fn emit<T: Serialize + Display>(
    out: &mut dyn Write,
    json: bool,
    report: &T,
) -> anyhow::Result<()> {
    if json {
        emit_json(out, report)
    } else {
        write!(out, "{report}")?;
        Ok(())
    }
}

/// Prints `value` as pretty JSON and a newline.
pub fn emit_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A failed command under `--json`.
#[derive(Debug, Serialize)]
pub struct JsonError<'a> {
    pub error: &'a str,
    pub exit: u8,
}
