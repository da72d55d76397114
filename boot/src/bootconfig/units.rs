//! Durations (`30s`, `500ms`, `2m`, plain seconds) and byte sizes (`512M`, `2G`, and `50%` for
//! tmpfs), parsed and rendered exactly: rendering picks the largest unit that represents the value
//! without rounding, so `parse(format(x)) == x` for every value.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::model::TmpfsSize;
use super::values::{invalid, ValueError};

/// Duration units, largest first, with their length in nanoseconds.
const DURATION_UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Byte-size suffixes, largest first, binary multiples as tmpfs `size=` and the kernel's
/// `memparse` read them.
const SIZE_UNITS: [(char, u64); 4] = [
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
];

/// Splits `123abc` into the digits and the rest; `None` when there is no leading digit.
fn split_number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, rest) = s.split_at(end);
    digits.parse::<u64>().ok().map(|n| (n, rest))
}

/// Parses a duration: an integer with a unit `h`, `m`, `s`, `ms`, `us` or `ns`; a plain integer
/// means seconds (`30s`, `500ms`, `2m`, `30`).
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let (n, unit) = split_number(s).ok_or_else(|| {
        invalid(
            "duration",
            s,
            "expected an integer with an optional unit (h, m, s, ms, us, ns; none means seconds)",
        )
    })?;
    let unit = if unit.is_empty() { "s" } else { unit };
    let per = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, per)| *per)
        .ok_or_else(|| {
            invalid(
                "duration",
                s,
                format!("unknown unit {unit:?} (expected one of: h, m, s, ms, us, ns)"),
            )
        })?;
    // u64 * 3.6e12 fits in u128; only the seconds part can overflow Duration.
    let nanos = u128::from(n) * per;
    let secs =
        u64::try_from(nanos / 1_000_000_000).map_err(|_| invalid("duration", s, "too large"))?;
    let subsec = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

/// Renders a duration in the largest unit that represents it exactly (`120s` → `2m`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    for (name, per) in DURATION_UNITS {
        if nanos % per == 0 {
            return format!("{}{name}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// Parses a byte count with an optional binary suffix `K`, `M`, `G` or `T` (either case).
pub fn parse_byte_size(s: &str) -> Result<u64, ValueError> {
    let (n, suffix) = split_number(s).ok_or_else(|| {
        invalid(
            "byte size",
            s,
            "expected an integer with an optional suffix K, M, G or T",
        )
    })?;
    let mut chars = suffix.chars();
    let per = match (chars.next(), chars.next()) {
        (None, _) => 1,
        (Some(c), None) => SIZE_UNITS
            .iter()
            .find(|(u, _)| *u == c.to_ascii_uppercase())
            .map(|(_, per)| *per)
            .ok_or_else(|| {
                invalid(
                    "byte size",
                    s,
                    format!("unknown suffix {suffix:?} (expected one of: K, M, G, T)"),
                )
            })?,
        _ => {
            return Err(invalid(
                "byte size",
                s,
                format!("unknown suffix {suffix:?} (expected one of: K, M, G, T)"),
            ))
        }
    };
    n.checked_mul(per)
        .ok_or_else(|| invalid("byte size", s, "too large"))
}

/// Renders a byte count with the largest suffix that represents it exactly (`2147483648` → `2G`).
pub fn format_byte_size(bytes: u64) -> String {
    if bytes != 0 {
        for (suffix, per) in SIZE_UNITS {
            if bytes % per == 0 {
                return format!("{}{suffix}", bytes / per);
            }
        }
    }
    bytes.to_string()
}

impl FromStr for TmpfsSize {
    type Err = ValueError;
    /// `N%` of RAM (1-100), or a non-zero byte size (`512M`, `2G`); tmpfs reads `size=0` as
    /// unlimited, which would let the overlay eat all memory.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(pct) = s.strip_suffix('%') {
            return match pct.parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(TmpfsSize::Percent(p)),
                _ => Err(invalid("tmpfs size", s, "a percentage must be 1-100")),
            };
        }
        match parse_byte_size(s) {
            Ok(0) => Err(invalid(
                "tmpfs size",
                s,
                "must not be zero (tmpfs reads 0 as unlimited)",
            )),
            Ok(n) => Ok(TmpfsSize::Bytes(n)),
            Err(_) => Err(invalid(
                "tmpfs size",
                s,
                "expected a percentage of RAM (50%) or a size (512M, 2G)",
            )),
        }
    }
}

impl fmt::Display for TmpfsSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TmpfsSize::Percent(p) => write!(f, "{p}%"),
            TmpfsSize::Bytes(n) => f.write_str(&format_byte_size(*n)),
        }
    }
}
