//! The cache bound `NETROOT_CACHE_MAX`: the one size parser (`20G`, `500M`, `1.5GiB`, plain
//! bytes) and the least-recently-used choice of what to evict, a pure function over the cache's
//! entries so its order can be tested without a cache. [`super::evict`] measures the entries,
//! removes the chosen ones and records use.

use super::BuildError;

/// Environment variable bounding the build cache's size (unset or empty: unbounded).
pub const CACHE_MAX_ENV: &str = "NETROOT_CACHE_MAX";

/// Why a size does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("no number")]
    NoNumber,
    #[error("\"{0}\" is not a number")]
    BadNumber(String),
    #[error("unknown unit \"{0}\" (use K, M, G, T, KiB..TiB, KB..TB or none for bytes)")]
    UnknownUnit(String),
    #[error("too large")]
    TooLarge,
}

/// The multiplier of a unit suffix, case-insensitive. A bare letter (`G`) and the IEC names
/// (`GiB`) are binary, as `du -h` and `ls -h` print sizes; `GB` is decimal, as disks are sold.
fn unit_factor(unit: &str) -> Option<u64> {
    const K: u64 = 1024;
    let u = unit.to_ascii_lowercase();
    Some(match u.as_str() {
        "" | "b" => 1,
        "k" | "kib" => K,
        "m" | "mib" => K * K,
        "g" | "gib" => K * K * K,
        "t" | "tib" => K * K * K * K,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "tb" => 1000 * 1000 * 1000 * 1000,
        _ => return None,
    })
}

/// Parses a size: a non-negative number (a fraction allowed) and an optional unit
/// (K, M, G, T and KiB..TiB binary, KB..TB decimal), blanks around and between them ignored; the result rounds down to bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    if number.is_empty() {
        return Err(SizeError::NoNumber);
    }
    let factor = unit_factor(unit).ok_or_else(|| SizeError::UnknownUnit(unit.to_string()))?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let bad = || SizeError::BadNumber(number.to_string());
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut bytes = whole.checked_mul(factor).ok_or(SizeError::TooLarge)?;
    if !frac.is_empty() {
        // Exact decimal arithmetic on the digits (no float rounding of byte counts).
        let digits = &frac[..frac.len().min(MAX_FRACTION_DIGITS)];
        let num: u128 = digits.parse().map_err(|_| bad())?;
        let den = 10u128.pow(digits.len() as u32);
        let part =
            u64::try_from(num * u128::from(factor) / den).map_err(|_| SizeError::TooLarge)?;
        bytes = bytes.checked_add(part).ok_or(SizeError::TooLarge)?;
    }
    Ok(bytes)
}

/// Fraction digits that count: beyond 12 the part is below a byte of a TiB and 10^12 times a
/// TiB factor still fits in a u128.
const MAX_FRACTION_DIGITS: usize = 12;

/// The bound from [`CACHE_MAX_ENV`], `None` when unset or empty; a bad value is an error naming
/// the variable and the value.
pub fn cache_max() -> Result<Option<u64>, BuildError> {
    let Some(value) = std::env::var_os(CACHE_MAX_ENV) else {
        return Ok(None);
    };
    let value = value.to_string_lossy().into_owned();
    if value.trim().is_empty() {
        return Ok(None);
    }
    parse_size(&value)
        .map(Some)
        .map_err(|reason| BuildError::CacheMax {
            var: CACHE_MAX_ENV,
            value,
            reason,
        })
}

/// One evictable cache entry as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// When a build last used it (nanoseconds since the epoch).
    pub last_used: i128,
    /// The current build uses it, or a profile's output links to it: never evicted.
    pub protected: bool,
}

/// Which candidates to evict, oldest use first (ties: the earlier index), until `total` bytes
/// are at most `max`. `evict(i)` evicts candidate `i` in the caller's accounting and says what
/// that frees, or `None` to keep it because it would free nothing (its files are shared by
/// hardlink with an entry that stays). Returns the chosen indices in order and the total after.
pub fn select_lru(
    candidates: &[Candidate],
    mut total: u64,
    max: u64,
    mut evict: impl FnMut(usize) -> Option<u64>,
) -> (Vec<usize>, u64) {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| !candidates[i].protected)
        .collect();
    order.sort_by_key(|&i| (candidates[i].last_used, i));
    let mut chosen = Vec::new();
    for i in order {
        if total <= max {
            break;
        }
        if let Some(freed) = evict(i) {
            total = total.saturating_sub(freed);
            chosen.push(i);
        }
    }
    (chosen, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_fractions() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size(" 20G "), Ok(20 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("500 mib"), Ok(500 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert_eq!(parse_size(".5k"), Ok(512));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("7b"), Ok(7));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert_eq!(parse_size(""), Err(SizeError::NoNumber));
        assert_eq!(parse_size("G"), Err(SizeError::NoNumber));
        assert_eq!(parse_size("-1"), Err(SizeError::NoNumber));
        assert_eq!(
            parse_size("1.2.3G"),
            Err(SizeError::BadNumber("1.2.3".into()))
        );
        assert_eq!(parse_size("."), Err(SizeError::BadNumber(".".into())));
        assert_eq!(parse_size("12X"), Err(SizeError::UnknownUnit("X".into())));
        assert_eq!(parse_size("1G2"), Err(SizeError::UnknownUnit("G2".into())));
        assert_eq!(parse_size("99999999999T"), Err(SizeError::TooLarge));
    }

    fn cand(last_used: i128, protected: bool) -> Candidate {
        Candidate {
            last_used,
            protected,
        }
    }

    #[test]
    fn least_recently_used_goes_first_until_under_the_bound() {
        // A used at 1, B at 2, A again at 3: B is the oldest use.
        let c = [cand(3, false), cand(2, false), cand(5, false)];
        let bytes = [10, 10, 10];
        let (chosen, after) = select_lru(&c, 30, 25, |i| Some(bytes[i]));
        assert_eq!(chosen, vec![1]);
        assert_eq!(after, 20);
        let (chosen, after) = select_lru(&c, 30, 5, |i| Some(bytes[i]));
        assert_eq!(chosen, vec![1, 0, 2]);
        assert_eq!(after, 0);
        // Under the bound: nothing goes.
        assert_eq!(
            select_lru(&c, 30, 30, |i| Some(bytes[i])).0,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn protected_and_shared_entries_stay_even_over_the_bound() {
        let c = [cand(1, true), cand(2, false), cand(3, false)];
        // Candidate 1 frees nothing (a base its variants still link to): kept, 2 goes.
        let freed = [100, 0, 10];
        let (chosen, after) = select_lru(&c, 110, 0, |i| (freed[i] > 0).then_some(freed[i]));
        assert_eq!(chosen, vec![2]);
        assert_eq!(after, 100, "what the build uses stays, over the bound");
    }
}
