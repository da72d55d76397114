//! Diagnostics on stderr: `-v`/`-q` and `NETROOT_LOG` choose which of the library's `tracing`
//! events are shown, and how chatty a command's own stderr (progress, notes) is. stdout stays the
//! command's result alone.
//!
//! Precedence: an explicit flag wins over the environment. `-v` (info: stages, steps, timings,
//! cache size), `-vv` (debug), `-vvv` (trace) and `-q` (errors only) each set the filter for every
//! target; without a flag, `NETROOT_LOG` is a tracing env-filter directive
//! (`NETROOT_LOG=netroot::publish=debug`, `NETROOT_LOG=info,netroot::qemu=trace`); without either,
//! only warnings and errors are logged.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::UsageError;

/// The environment variable holding a tracing env-filter directive.
pub const LOG_ENV: &str = "NETROOT_LOG";
/// The filter without a flag or `NETROOT_LOG`: the library logs nothing below a warning, so a
/// plain command's stderr is its progress and errors as before.
const DEFAULT_FILTER: &str = "warn";

/// How much a command says on stderr besides its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chatter {
    /// `-q`: errors only; no progress, notes or warnings.
    Quiet,
    /// Progress and notes as usual.
    Normal,
    /// `-v` or more: log lines interleave with progress, so progress is plain lines (a spinner
    /// redrawn between log lines would tear them).
    Verbose,
}

impl Chatter {
    /// From the global flags (clap makes `-q` and `-v` exclusive).
    pub fn of(verbose: u8, quiet: bool) -> Chatter {
        match (quiet, verbose) {
            (true, _) => Chatter::Quiet,
            (false, 0) => Chatter::Normal,
            (false, _) => Chatter::Verbose,
        }
    }
}

/// The filter directive the flags and `env` (the value of [`LOG_ENV`]) ask for, and whether it
/// came from the environment (for naming it in an error).
fn directive(verbose: u8, quiet: bool, env: Option<&str>) -> (String, bool) {
    let flag = match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("info"),
        (false, 2) => Some("debug"),
        (false, _) => Some("trace"),
    };
    match (flag, env.map(str::trim).filter(|v| !v.is_empty())) {
        (Some(f), _) => (f.to_string(), false),
        (None, Some(v)) => (v.to_string(), true),
        (None, None) => (DEFAULT_FILTER.to_string(), false),
    }
}

/// The filter for the flags and `env`; a directive tracing cannot parse is a usage error naming
/// the variable and its value.
pub fn filter(verbose: u8, quiet: bool, env: Option<&str>) -> Result<EnvFilter, UsageError> {
    let (spec, from_env) = directive(verbose, quiet, env);
    EnvFilter::builder().parse(&spec).map_err(|e| {
        let origin = if from_env {
            format!("{LOG_ENV}={spec:?}")
        } else {
            format!("log filter {spec:?}")
        };
        UsageError(format!(
            "{origin}: {e} (expected a tracing filter such as \"debug\" or \"netroot::publish=debug\")"
        ))
    })
}

/// Installs the stderr logger for the flags and `NETROOT_LOG`.
pub fn init(verbose: u8, quiet: bool) -> Result<(), UsageError> {
    let env = match std::env::var(LOG_ENV) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(UsageError(format!(
                "{LOG_ENV}={v:?}: not valid UTF-8 (expected a tracing filter)"
            )))
        }
    };
    let filter = filter(verbose, quiet, env.as_deref())?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| UsageError(format!("cannot install the logger: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_environment() {
        let d = |v, q, env| directive(v, q, env).0;
        assert_eq!(d(0, false, None), DEFAULT_FILTER);
        assert_eq!(d(0, false, Some("  ")), DEFAULT_FILTER);
        assert_eq!(
            d(0, false, Some("netroot::publish=debug")),
            "netroot::publish=debug"
        );
        assert_eq!(d(1, false, Some("netroot::publish=debug")), "info");
        assert_eq!(d(2, false, None), "debug");
        assert_eq!(d(7, false, None), "trace");
        assert_eq!(d(0, true, Some("trace")), "error");
        assert_eq!(Chatter::of(0, true), Chatter::Quiet);
        assert_eq!(Chatter::of(2, false), Chatter::Verbose);
        assert_eq!(Chatter::of(0, false), Chatter::Normal);
    }

    #[test]
    fn a_bad_directive_names_the_variable_and_its_value() {
        let e = filter(0, false, Some("netroot=loud")).unwrap_err().0;
        assert!(e.starts_with("NETROOT_LOG=\"netroot=loud\": "), "{e}");
        // Ignored when a flag decides.
        filter(1, false, Some("netroot=loud")).unwrap();
        filter(0, false, Some("info,netroot::qemu=trace")).unwrap();
    }
}
