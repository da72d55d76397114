//! Kernel command lines in menus: splitting an entry's command line into parameters as the
//! kernel reads them, and spelling each parameter for a loader so that the kernel receives it
//! unchanged.
//!
//! Accepted quoting is the kernel's own: `key="value with spaces"` or `"key=value with spaces"`
//! (lib/cmdline.c `next_arg` strips those quotes). A double quote anywhere else is refused: the
//! kernel would keep it, and no loader can be trusted to pass it along.

use netroot_boot::bootconfig::{is_kernel_space, split_params};

use super::{Dialect, MenuError};

/// Longest x86 kernel command line, without its NUL (`COMMAND_LINE_SIZE` 2048 in
/// arch/x86/include/asm/setup.h); the boot protocol truncates anything longer.
pub const CMDLINE_MAX: usize = 2047;

/// Characters GRUB takes literally in an unquoted word (everything else is single-quoted:
/// `$` expands, `;|&<>(){}` are syntax, `*?[` are wildcards, `#` starts a comment).
fn grub_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'.' | b',' | b':' | b'/' | b'=' | b'+' | b'@' | b'%' | b'-'
        )
}

/// One kernel parameter as the kernel sees it: `key`, or `key=value`, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub text: String,
}

impl Param {
    /// The kernel spelling: quoted when the parameter holds a space.
    pub fn kernel_form(&self) -> String {
        if !self.text.contains(' ') {
            return self.text.clone();
        }
        match self.text.split_once('=') {
            Some((key, value)) if !key.is_empty() && !key.contains(' ') => {
                format!("{key}=\"{value}\"")
            }
            _ => format!("\"{}\"", self.text),
        }
    }
}

/// Splits a command line into parameters with the kernel's own tokenizer
/// ([`split_params`]); `Err` says why it cannot be carried at all: a control character, a
/// double quote the kernel would keep (anywhere but around a whole value or parameter, or an
/// unterminated one), an empty quoted parameter, or more than [`CMDLINE_MAX`] bytes.
pub(crate) fn parse(cmdline: &str) -> Result<Vec<Param>, String> {
    if let Some(c) = cmdline.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains the control character {c:?} (separate parameters with spaces)"
        ));
    }
    // The kernel's isspace is Latin-1's: byte 0xA0 splits a parameter even inside a UTF-8
    // character (`à` is C3 A0), so such a character would reach the kernel as two broken words.
    let mut buf = [0u8; 4];
    if let Some(c) = cmdline
        .chars()
        .find(|c| !c.is_ascii() && c.encode_utf8(&mut buf).bytes().any(is_kernel_space))
    {
        return Err(format!(
            "contains {c:?}, whose UTF-8 byte 0xA0 the kernel reads as a space"
        ));
    }
    if cmdline.matches('"').count() % 2 == 1 {
        return Err("unterminated double quote".to_string());
    }
    if cmdline.split(' ').any(|w| w == "\"\"") {
        return Err("empty quoted parameter".to_string());
    }
    let quote_inside = || {
        "a double quote inside a parameter cannot be carried (quote as key=\"a b\" or \"key=a b\")"
            .to_string()
    };
    let mut out = Vec::new();
    for (key, value) in split_params(cmdline) {
        if key.contains('"') || value.as_deref().is_some_and(|v| v.contains('"')) {
            return Err(quote_inside());
        }
        let text = match value {
            Some(v) => format!("{key}={v}"),
            None => key,
        };
        out.push(Param { text });
    }
    let len = out
        .iter()
        .map(|p| p.kernel_form().len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    if len > CMDLINE_MAX {
        return Err(format!(
            "is {len} bytes long; the kernel keeps at most {CMDLINE_MAX}"
        ));
    }
    Ok(out)
}

fn unsupported(entry: &str, dialect: Dialect, what: String) -> MenuError {
    MenuError::Unsupported {
        entry: entry.to_string(),
        dialect,
        what,
    }
}

/// GRUB words for the parameters. GRUB re-quotes a word holding a space as `"word"` (which the
/// kernel reads back as the same parameter) but escapes `\`, `'` and `"` with a backslash.
pub(crate) fn grub_words(entry: &str, params: &[Param]) -> Result<Vec<String>, MenuError> {
    params
        .iter()
        .map(|p| {
            if let Some(c) = p.text.chars().find(|c| matches!(c, '\\' | '\'' | '"')) {
                return Err(unsupported(
                    entry,
                    Dialect::Grub,
                    format!(
                        "the parameter {:?}: it passes {c:?} to the kernel with a backslash",
                        p.text
                    ),
                ));
            }
            Ok(if p.text.bytes().all(grub_plain) {
                p.text.clone()
            } else {
                format!("'{}'", p.text)
            })
        })
        .collect()
}

/// iPXE words for the parameters: iPXE splits on whitespace and joins the words of `kernel`
/// with single spaces, so the kernel spelling passes through if no word is special to iPXE.
pub(crate) fn ipxe_words(entry: &str, params: &[Param]) -> Result<Vec<String>, MenuError> {
    params
        .iter()
        .map(|p| {
            let form = p.kernel_form();
            ipxe_text_check(&form).map_err(|why| {
                unsupported(
                    entry,
                    Dialect::Ipxe,
                    format!("the parameter {:?}: {why}", p.text),
                )
            })?;
            Ok(form)
        })
        .collect()
}

/// Why iPXE would not pass `text` through unchanged as a run of words, if it would not.
pub(crate) fn ipxe_text_check(text: &str) -> Result<(), &'static str> {
    if text.contains("${") {
        return Err("iPXE expands ${...} in every word");
    }
    if text.contains("  ") {
        return Err("iPXE joins words with a single space");
    }
    for word in text.split(' ') {
        if word.starts_with('#') {
            return Err("a word starting with # is an iPXE comment");
        }
        if matches!(word, "||" | "&&" | ";") {
            return Err("||, && and ; are iPXE command separators");
        }
    }
    Ok(())
}

/// The PXELINUX `APPEND` text: the kernel spelling, passed verbatim.
pub(crate) fn kernel_text(params: &[Param]) -> String {
    params
        .iter()
        .map(Param::kernel_form)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Result<Vec<String>, String> {
        parse(s).map(|ps| ps.into_iter().map(|p| p.text).collect())
    }

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            texts("  root=10.0.2.2:/export  ro a=\"x y\" \"b=c d\" quiet").unwrap(),
            ["root=10.0.2.2:/export", "ro", "a=x y", "b=c d", "quiet"]
        );
        assert_eq!(texts("").unwrap(), Vec::<String>::new());
        assert_eq!(texts("a=\"\"").unwrap(), ["a="]);
    }

    #[test]
    fn kernel_form_round_trips_through_the_init_parser() {
        let line = "a=\"x y\" \"b c\" d=e \"f g=h\"";
        let params = parse(line).unwrap();
        let rendered = kernel_text(&params);
        assert_eq!(rendered, "a=\"x y\" \"b c\" d=e \"f g=h\"");
        let want = netroot_boot::bootconfig::split_cmdline(line);
        assert_eq!(netroot_boot::bootconfig::split_cmdline(&rendered), want);
    }

    #[test]
    fn refuses_what_cannot_be_carried() {
        let q = "a double quote inside a parameter cannot be carried (quote as key=\"a b\" or \"key=a b\")";
        for (line, why) in [
            ("a=\"b", "unterminated double quote"),
            ("\"ab", "unterminated double quote"),
            ("a\"b\"", q),
            ("a=b\"c\"", q),
            ("a=\"b\"c", q),
            ("\"\"", "empty quoted parameter"),
        ] {
            assert_eq!(texts(line).unwrap_err(), why, "for {line:?}");
        }
        assert_eq!(
            texts("a\tb").unwrap_err(),
            "contains the control character '\\t' (separate parameters with spaces)"
        );
        assert_eq!(
            texts("lang=fr_à").unwrap_err(),
            "contains 'à', whose UTF-8 byte 0xA0 the kernel reads as a space"
        );
        texts("k=ünï").unwrap();
        let long = "x".repeat(CMDLINE_MAX + 1);
        assert_eq!(
            texts(&long).unwrap_err(),
            "is 2048 bytes long; the kernel keeps at most 2047"
        );
        texts(&"x".repeat(CMDLINE_MAX)).unwrap();
    }

    #[test]
    fn grub_quotes_only_when_needed_and_refuses_escapes() {
        let p = parse("root=10.0.2.2:/export a=\"x y\" v=$x").unwrap();
        assert_eq!(
            grub_words("e", &p).unwrap(),
            ["root=10.0.2.2:/export", "'a=x y'", "'v=$x'"]
        );
        let err = grub_words("e", &parse("a=b\\c").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "menu entry \"e\": GRUB cannot carry the parameter \"a=b\\\\c\": it passes '\\\\' \
             to the kernel with a backslash"
        );
    }

    #[test]
    fn ipxe_refuses_expansions_comments_operators_and_double_spaces() {
        assert_eq!(
            ipxe_words("e", &parse("a=\"x y\" b").unwrap()).unwrap(),
            ["a=\"x y\"", "b"]
        );
        for (line, why) in [
            ("a=${x}", "iPXE expands ${...} in every word"),
            ("a=\"x  y\"", "iPXE joins words with a single space"),
            ("#a", "a word starting with # is an iPXE comment"),
            ("a=\"x #y\"", "a word starting with # is an iPXE comment"),
            ("||", "||, && and ; are iPXE command separators"),
            ("a=\"x ; y\"", "||, && and ; are iPXE command separators"),
        ] {
            let err = ipxe_words("e", &parse(line).unwrap()).unwrap_err();
            assert!(err.to_string().ends_with(why), "{line:?}: {err}");
        }
    }
}
