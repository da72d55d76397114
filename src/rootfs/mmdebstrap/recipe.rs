//! The mmdebstrap recipe of a Debian root tree ([`Recipe`], from a profile's `[root]` section)
//! and what [`validate`] accepts in it: its words become mmdebstrap arguments, so a value that
//! could pass for an option, split a list or break the command line is refused before anything
//! runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::rootfs::error::RootfsError;

/// mmdebstrap variants (mmdebstrap(1) `--variant`).
const VARIANTS: [&str; 11] = [
    "extract",
    "custom",
    "essential",
    "apt",
    "required",
    "minbase",
    "buildd",
    "important",
    "debootstrap",
    "-",
    "standard",
];

/// How to build a Debian root tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    /// Suite or codename (`bookworm`).
    pub suite: String,
    /// mmdebstrap variant (`minbase`, `important`, ...).
    pub variant: String,
    /// Extra packages (`--include`).
    pub packages: Vec<String>,
    /// Mirror URL or sources line; mmdebstrap's default when `None`.
    pub mirror: Option<String>,
    /// Customize hooks: executables (or shell scripts) run with the root directory as `$1`.
    pub hooks: Vec<PathBuf>,
    /// Archive components (`main`, `contrib`...); mmdebstrap's default when empty.
    pub components: Vec<String>,
}

/// A recipe error: `field` holding `value` is refused for `reason`.
pub(super) fn bad(field: &'static str, value: &str, reason: &'static str) -> RootfsError {
    RootfsError::Recipe {
        field,
        value: value.to_owned(),
        reason,
    }
}

/// A word that becomes part of one mmdebstrap argument.
fn check_word(field: &'static str, value: &str) -> Result<(), RootfsError> {
    if value.is_empty() {
        return Err(bad(field, value, "is empty"));
    }
    if value.starts_with('-') {
        return Err(bad(field, value, "must not start with '-'"));
    }
    if value.contains(|c: char| c == ',' || c.is_whitespace() || c.is_control()) {
        return Err(bad(
            field,
            value,
            "must not contain commas, whitespace or control characters",
        ));
    }
    Ok(())
}

/// Checks the recipe's fields before anything runs.
pub fn validate(recipe: &Recipe) -> Result<(), RootfsError> {
    check_word("suite", &recipe.suite)?;
    if !VARIANTS.contains(&recipe.variant.as_str()) {
        return Err(bad(
            "variant",
            &recipe.variant,
            "unknown (expected extract, custom, essential, apt, required, minbase, buildd, \
             important, debootstrap, - or standard)",
        ));
    }
    for p in &recipe.packages {
        check_word("package", p)?;
    }
    for c in &recipe.components {
        check_word("component", c)?;
    }
    if let Some(m) = &recipe.mirror {
        if m.is_empty() || m.starts_with('-') || m.contains(|c: char| c.is_control()) {
            return Err(bad(
                "mirror",
                m,
                "must be non-empty, not start with '-' and have no control characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A recipe with every field set (the mmdebstrap tests use it too).
    pub(in crate::rootfs::mmdebstrap) fn recipe() -> Recipe {
        Recipe {
            suite: "bookworm".into(),
            variant: "minbase".into(),
            packages: vec!["iproute2".into(), "nfs-common".into()],
            mirror: Some("http://deb.debian.org/debian".into()),
            hooks: vec![],
            components: vec!["main".into(), "contrib".into()],
        }
    }

    #[test]
    fn bad_recipes_are_refused() {
        let cases: Vec<(Recipe, &str)> = vec![
            (
                Recipe {
                    suite: "".into(),
                    ..recipe()
                },
                "invalid mmdebstrap recipe: suite \"\": is empty",
            ),
            (
                Recipe {
                    suite: "--help".into(),
                    ..recipe()
                },
                "invalid mmdebstrap recipe: suite \"--help\": must not start with '-'",
            ),
            (
                Recipe {
                    variant: "tiny".into(),
                    ..recipe()
                },
                "invalid mmdebstrap recipe: variant \"tiny\": unknown (expected extract",
            ),
            (
                Recipe {
                    packages: vec!["a,b".into()],
                    ..recipe()
                },
                "invalid mmdebstrap recipe: package \"a,b\": must not contain commas",
            ),
            (
                Recipe {
                    components: vec!["main contrib".into()],
                    ..recipe()
                },
                "invalid mmdebstrap recipe: component \"main contrib\": must not contain commas",
            ),
            (
                Recipe {
                    mirror: Some("-x".into()),
                    ..recipe()
                },
                "invalid mmdebstrap recipe: mirror \"-x\": must be non-empty",
            ),
        ];
        for (r, msg) in cases {
            let e = validate(&r).unwrap_err().to_string();
            assert!(e.starts_with(msg), "{e}");
        }
        validate(&recipe()).unwrap();
    }
}
