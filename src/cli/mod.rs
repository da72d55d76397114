//! Command-line interface: one file per subcommand.

use std::process::ExitCode;

/// Entry point of the `netroot` binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
