//! The `netroot` command: parse arguments, run the library, map errors to exit codes.

fn main() -> std::process::ExitCode {
    netroot::cli::main()
}
