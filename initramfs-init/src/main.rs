//! Placeholder PID 1: prints its version and powers off (replaced by the real init).

fn main() {
    println!("netroot-init {}", env!("CARGO_PKG_VERSION"));
}
