//! A source map over all profile files of one resolution, so that every value can say where it came
//! from as `file:line:col` after profiles have been merged.
//!
//! Each file gets a distinct base offset in one global position space; while a file is being
//! deserialized, [`Val`] adds that base to the span toml reports. A global position then maps back to
//! (file, line, column) without every raw struct having to carry its file.

use std::cell::Cell;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

thread_local! {
    /// Base offset of the file currently being deserialized (see [`SourceMap::parse`]).
    static BASE: Cell<usize> = const { Cell::new(0) };
}

/// A value read from a profile file, with its global position.
#[derive(Debug, Clone, PartialEq)]
pub struct Val<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Val<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<T>::deserialize(d)?;
        let base = BASE.with(Cell::get);
        let span = s.span();
        Ok(Val {
            span: span.start + base..span.end + base,
            value: s.into_inner(),
        })
    }
}

/// One profile file's text, kept for error positions.
#[derive(Debug)]
struct SourceFile {
    /// Path as shown to the user (relative to the project when possible).
    display: PathBuf,
    base: usize,
    text: String,
}

/// All files read for one profile resolution.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    next_base: usize,
}

/// A resolved position: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl Location {
    /// The `file:line:col` of byte `offset` in `text`, the content of `file`.
    pub fn of(file: &std::path::Path, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: file.to_path_buf(),
            line: before.matches('\n').count() + 1,
            col: before.get(line_start..).map_or(0, |s| s.chars().count()) + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

impl SourceMap {
    /// Registers `text` and deserializes it; spans inside the result are global positions.
    /// On a syntax or schema error returns the location and toml's message.
    pub fn parse<T: for<'de> Deserialize<'de>>(
        &mut self,
        display: PathBuf,
        text: String,
    ) -> Result<T, (Location, String)> {
        let base = self.next_base;
        // +1 keeps an end-of-file span of one file from being read as the start of the next.
        self.next_base += text.len() + 1;
        self.files.push(SourceFile {
            display,
            base,
            text,
        });
        let file = self
            .files
            .last()
            .map(|f| f.text.as_str())
            .unwrap_or_default();
        let prev = BASE.with(|b| b.replace(base));
        let result = toml::from_str::<T>(file);
        BASE.with(|b| b.set(prev));
        result.map_err(|e| {
            let pos = e.span().map(|s| s.start + base).unwrap_or(base);
            (
                self.locate(pos),
                e.message().trim_end_matches('.').to_string(),
            )
        })
    }

    /// Maps a global position back to its file, line and column.
    pub fn locate(&self, pos: usize) -> Location {
        let file = self.files.iter().rev().find(|f| f.base <= pos);
        let Some(file) = file else {
            return Location {
                file: PathBuf::from("<unknown>"),
                line: 0,
                col: 0,
            };
        };
        let offset = (pos - file.base).min(file.text.len());
        let before = file.text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before
            .get(line_start..)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Location {
            file: file.display.clone(),
            line,
            col,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct T {
        a: Val<u32>,
    }

    #[test]
    fn spans_are_global_and_map_back_to_file_line_col() {
        let mut sm = SourceMap::default();
        let one: T = sm.parse("one.toml".into(), "a = 1\n".into()).unwrap();
        let two: T = sm
            .parse("two.toml".into(), "\n\n  a = 22\n".into())
            .unwrap();
        assert_eq!(sm.locate(one.a.span.start).to_string(), "one.toml:1:5");
        assert_eq!(sm.locate(two.a.span.start).to_string(), "two.toml:3:7");
        assert_eq!(two.a.value, 22);
    }

    #[test]
    fn syntax_error_has_location() {
        let mut sm = SourceMap::default();
        let err = sm
            .parse::<T>("bad.toml".into(), "a = 1\nb = 2\n".into())
            .unwrap_err();
        assert_eq!(err.0.to_string(), "bad.toml:2:1");
        assert!(err.1.contains("unknown field `b`"), "{}", err.1);
    }
}
