//! The kernel's command-line tokenizer, on bytes: `next_arg()` of lib/cmdline.c as called by
//! `parse_args()` of kernel/params.c, with the kernel's own `isspace` (lib/ctype.c `_ctype`).
//!
//! `/proc/cmdline` is bytes, not text: the kernel never checks it for UTF-8, and its `isspace`
//! is the Latin-1 one, so byte 0xA0 separates parameters even inside what would be a UTF-8
//! character. Splitting bytes exactly as the kernel does means a stray byte only ever affects the
//! parameter it is in; callers decide per key whether a value must be UTF-8.

/// Byte 0xA0 (Latin-1 NO-BREAK SPACE): the kernel's `_ctype` marks it `_S|_SP`, so the kernel's
/// `isspace` is true for it although it is not ASCII.
const LATIN1_NBSP: u8 = 0xa0;

/// The kernel's `isspace`: the bytes `_ctype` marks `_S`: `\t \n \v \f \r`, space and 0xA0.
pub fn is_kernel_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | LATIN1_NBSP)
}

/// One parameter as `next_arg` returns it: `param`, and `val` when the parameter has an `=`
/// past its first byte, with the quotes the kernel removes removed. `key` may be empty (the
/// kernel hands such a parameter on as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// Every parameter of `line` in order, exactly as the kernel's `parse_args` loop sees them
/// (including a bare `--` and what follows it). The line ends at its first NUL byte, as the
/// kernel's C string does.
pub fn kernel_params(line: &[u8]) -> Vec<Param<'_>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut out = Vec::new();
    let mut pos = skip_spaces(line, 0);
    while pos < line.len() {
        let (param, next) = next_arg(line, pos);
        out.push(param);
        pos = skip_spaces(line, next);
    }
    out
}

/// The kernel's part of a command line: [`kernel_params`] up to a bare `--` (`parse_args`
/// stops there; what follows is for init).
pub fn kernel_cmdline(line: &[u8]) -> Vec<Param<'_>> {
    let mut params = kernel_params(line);
    if let Some(end) = params
        .iter()
        .position(|p| p.key == b"--" && p.value.is_none())
    {
        params.truncate(end);
    }
    params
}

fn skip_spaces(line: &[u8], mut pos: usize) -> usize {
    while line.get(pos).copied().is_some_and(is_kernel_space) {
        pos += 1;
    }
    pos
}

/// `next_arg` on `line[start..]` (which does not start with a space): the parameter and the
/// index after the byte that ended it.
fn next_arg(line: &[u8], start: usize) -> (Param<'_>, usize) {
    let quoted = line.get(start) == Some(&b'"');
    let args = if quoted { start + 1 } else { start };
    let mut in_quote = quoted;
    // `equals` is an offset from `args`; 0 means none, as in C (an `=` at offset 0 is no split).
    let mut equals = 0;
    let mut i = 0;
    while let Some(&b) = line.get(args + i) {
        if is_kernel_space(b) && !in_quote {
            break;
        }
        if equals == 0 && b == b'=' {
            equals = i;
        }
        if b == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    // The C code writes NULs into the buffer; here each string is a range that ends where C
    // would find the first NUL. Besides the one at `end`, C writes one over a closing quote
    // (the last byte) when the parameter or its value was opened by a quote.
    let end = args + i;
    let value_quoted = equals > 0 && line.get(args + equals + 1) == Some(&b'"');
    let nul_at_last = i > 0 && line.get(end - 1) == Some(&b'"') && (quoted || value_quoted);
    let (key, value) = if equals == 0 {
        let key_end = if nul_at_last { end - 1 } else { end };
        (&line[args..key_end], None)
    } else {
        let eq = args + equals;
        let v_start = eq + 1 + usize::from(value_quoted);
        let v_end = if nul_at_last && end > v_start {
            end - 1
        } else {
            end
        };
        (&line[args..eq], Some(&line[v_start..v_end]))
    };
    let next = if end < line.len() { end + 1 } else { end };
    (Param { key, value }, next)
}
