//! Rendering `*.j2` overlay files with minijinja: strict undefined (a missing variable is an
//! error naming file, line, column and variable), no auto-escaping (these are config files, not
//! HTML), the trailing newline kept, no `include`/`extends` (minijinja is built without
//! `multi_template`: a template sees only its variables, never other files).
//! [`Renderer::render_if_defined`] tells a template that needs variables the renderer lacks (a
//! node's) from a broken one.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::{OverlayError, Vars};

/// Suffix that marks a template; the rendered file's name drops it.
pub const TEMPLATE_SUFFIX: &str = ".j2";

/// A template environment holding the variables of one rendering (profile or node).
pub(super) struct Renderer {
    env: Environment<'static>,
    ctx: Value,
}

/// A TOML value as a template value; datetimes render as their TOML text.
fn to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::from(a.iter().map(to_value).collect::<Vec<_>>()),
        toml::Value::Table(t) => Value::from(
            t.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

impl Renderer {
    pub fn new(vars: &Vars) -> Result<Self, OverlayError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Debug info is what names the undefined variable in errors.
        env.set_debug(true);
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| OverlayError::BadSetting {
                what: "template syntax",
                path: String::new(),
                reason: e.to_string(),
            })?;
        env.set_syntax(syntax);
        let ctx = Value::from(
            vars.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<_, _>>(),
        );
        Ok(Renderer { env, ctx })
    }

    /// Renders the template at `rel` (path inside `overlay`) from its bytes.
    pub fn render(&self, overlay: &str, rel: &str, bytes: &[u8]) -> Result<Vec<u8>, OverlayError> {
        self.render_inner(overlay, rel, bytes).map_err(|(_, e)| e)
    }

    /// [`Renderer::render`], but `None` when the template uses a variable these variables do not
    /// define (a node template rendered with the profile's variables alone).
    pub fn render_if_defined(
        &self,
        overlay: &str,
        rel: &str,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, OverlayError> {
        match self.render_inner(overlay, rel, bytes) {
            Ok(out) => Ok(Some(out)),
            Err((Some(ErrorKind::UndefinedError), _)) => Ok(None),
            Err((_, e)) => Err(e),
        }
    }

    /// Renders, or fails with the minijinja error kind (if minijinja failed) and the error.
    fn render_inner(
        &self,
        overlay: &str,
        rel: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, (Option<ErrorKind>, OverlayError)> {
        let err = |location: String, message: String| OverlayError::Template {
            overlay: overlay.to_string(),
            location,
            message,
        };
        let source = std::str::from_utf8(bytes).map_err(|e| {
            let message = format!("template is not valid UTF-8 (at byte {})", e.valid_up_to());
            (None, err(rel.to_string(), message))
        })?;
        let rendered = self
            .env
            .template_from_named_str(rel, source)
            .and_then(|t| t.render(&self.ctx));
        rendered.map(String::into_bytes).map_err(|e| {
            let message = match e.detail() {
                Some(d) => format!("{}: {d}", e.kind()),
                None => e.kind().to_string(),
            };
            (Some(e.kind()), err(location(rel, source, &e), message))
        })
    }
}

/// `rel:line:col` of a minijinja error, as precise as the error allows.
fn location(rel: &str, source: &str, e: &minijinja::Error) -> String {
    let Some(line) = e.line() else {
        return rel.to_string();
    };
    let col = e.range().and_then(|r| {
        let before = source.get(..r.start)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some(before.get(line_start..)?.chars().count() + 1)
    });
    match col {
        Some(col) => format!("{rel}:{line}:{col}"),
        None => format!("{rel}:{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let t: toml::Table = toml::from_str(
            "site = \"lab\"\nrack = 3\nservers = [\"a\", \"b\"]\n[net]\nmtu = 9000\n",
        )
        .unwrap();
        t.into_iter().collect()
    }

    fn render(src: &str) -> Result<String, String> {
        Renderer::new(&vars())
            .unwrap()
            .render("base", "etc/x.j2", src.as_bytes())
            .map(|b| String::from_utf8(b).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn renders_scalars_lists_tables_and_keeps_newline() {
        let out = render("{{ site }} r{{ rack }} {{ servers | join(',') }} {{ net.mtu }}\n");
        assert_eq!(out.unwrap(), "lab r3 a,b 9000\n");
    }

    #[test]
    fn does_not_escape_html() {
        assert_eq!(render("{{ '<a & b>' }}").unwrap(), "<a & b>");
    }

    #[test]
    fn undefined_variable_names_file_line_col_and_variable() {
        let err = render("ok\n  {{ missing }}\n").unwrap_err();
        assert_eq!(
            err,
            "overlay \"base\": etc/x.j2:2:6: undefined value: `missing` is undefined"
        );
        let err = render("{{ net.speed }}").unwrap_err();
        assert!(err.contains("`net.speed` is undefined"), "{err}");
        // Strict: even a test of an undefined name is an error (use `is defined`).
        assert!(render("{% if nope %}x{% endif %}").is_err());
        assert_eq!(
            render("{% if nope is defined %}x{% endif %}y").unwrap(),
            "y"
        );
    }

    #[test]
    fn syntax_errors_and_bad_utf8_are_reported() {
        let err = render("line\n{{ site ").unwrap_err();
        assert!(err.starts_with("overlay \"base\": etc/x.j2:2"), "{err}");
        assert!(err.contains("syntax error"), "{err}");
        let err = Renderer::new(&vars())
            .unwrap()
            .render("base", "etc/x.j2", b"ok\xff")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "overlay \"base\": etc/x.j2: template is not valid UTF-8 (at byte 2)"
        );
    }

    #[test]
    fn render_if_defined_skips_only_undefined_variables() {
        let r = Renderer::new(&vars()).unwrap();
        let shared = |src: &str| r.render_if_defined("base", "etc/x.j2", src.as_bytes());
        assert_eq!(shared("{{ site }}").unwrap(), Some(b"lab".to_vec()));
        assert_eq!(shared("{{ node.name }}").unwrap(), None);
        let err = shared("{{ site ").unwrap_err().to_string();
        assert!(err.contains("syntax error"), "{err}");
        let err = r
            .render_if_defined("base", "etc/x.j2", b"\xff")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn includes_are_not_available() {
        let err = render("{% include 'other' %}").unwrap_err();
        assert!(err.contains("unknown statement include"), "{err}");
    }
}
