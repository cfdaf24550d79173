//! A starting point: prints which target it was built for, so you can check
//! each of the four release binaries (under qemu for the foreign ones).

fn main() {
    let libc = if cfg!(target_env = "musl") {
        "musl, static"
    } else {
        "glibc"
    };
    println!(
        "{} {} on {}-linux ({libc})",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
    );
}
