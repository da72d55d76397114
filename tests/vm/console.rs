//! Parsing of the guest checker's lines (`tests/vm/rootfs.rs`): `vmcheck: CHECK <name> ok|FAIL
//! <detail>` and the summary `vmcheck: <n> passed, <m> failed`. Strict: a line with the prefix
//! but the wrong shape is an error, not a miss. The init's lines are parsed by
//! `netroot::qemu::console`, re-exported here.

pub use netroot::qemu::console::*;

use super::rootfs;

/// `vmcheck: CHECK <name> ok` or `vmcheck: CHECK <name> FAIL <detail>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: String,
    pub result: Result<(), String>,
}

/// `vmcheck: <passed> passed, <failed> failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
}

pub fn parse_check_line(line: &str) -> Option<Result<CheckLine, String>> {
    let rest = line.strip_prefix(rootfs::PREFIX)?.strip_prefix(" CHECK ")?;
    let (name, verdict) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(match verdict.split_once(' ').unwrap_or((verdict, "")) {
        ("ok", "") => Ok(CheckLine {
            name: name.to_string(),
            result: Ok(()),
        }),
        ("FAIL", detail) => Ok(CheckLine {
            name: name.to_string(),
            result: Err(detail.to_string()),
        }),
        _ => Err(format!("bad check line {line:?}")),
    })
}

pub fn parse_summary_line(line: &str) -> Option<Result<Summary, String>> {
    let rest = line.strip_prefix(rootfs::PREFIX)?.strip_prefix(' ')?;
    let (passed, failed) = rest.strip_suffix(" failed")?.split_once(" passed, ")?;
    Some(match (passed.parse(), failed.parse()) {
        (Ok(passed), Ok(failed)) => Ok(Summary { passed, failed }),
        _ => Err(format!("bad summary {line:?}")),
    })
}

/// The summary line a fully passing checker prints: the marker of `netroot qemu --check`.
pub fn all_passed_line() -> String {
    format!(
        "{} {} passed, 0 failed",
        rootfs::PREFIX,
        rootfs::CHECKS.len()
    )
}

/// The checker's lines in a console.
pub trait GuestChecks {
    fn checks(&self) -> Result<Vec<CheckLine>, String>;
    fn summaries(&self) -> Result<Vec<Summary>, String>;
}

impl GuestChecks for Console {
    fn checks(&self) -> Result<Vec<CheckLine>, String> {
        self.parsed(parse_check_line)
    }

    fn summaries(&self) -> Result<Vec<Summary>, String> {
        self.parsed(parse_summary_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_summaries() {
        let c = Console::new(vec![
            "vmcheck: CHECK pid1 ok".into(),
            "vmcheck: CHECK bond_mode FAIL mode: balance-rr 0 (expected 802.3ad)".into(),
            "vmcheck: 1 passed, 1 failed".into(),
            "[    9.1] unrelated".into(),
        ]);
        let checks = c.checks().expect("checks");
        assert_eq!(checks[0].result, Ok(()));
        assert_eq!(
            checks[1].result,
            Err("mode: balance-rr 0 (expected 802.3ad)".into())
        );
        assert_eq!(
            c.summaries(),
            Ok(vec![Summary {
                passed: 1,
                failed: 1
            }])
        );
        let bad = Console::new(vec!["vmcheck: CHECK pid1 maybe".into()]);
        assert_eq!(
            bad.checks(),
            Err("bad check line \"vmcheck: CHECK pid1 maybe\"".into())
        );
        assert_eq!(
            Console::new(vec!["vmcheck: x passed, 0 failed".into()]).summaries(),
            Err("bad summary \"vmcheck: x passed, 0 failed\"".into())
        );
        let all = all_passed_line();
        assert_eq!(
            parse_summary_line(&all),
            Some(Ok(Summary {
                passed: rootfs::CHECKS.len() as u32,
                failed: 0
            }))
        );
    }
}
