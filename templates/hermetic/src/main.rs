//! Says which architecture and C library it runs with: run each of the four builds (the
//! aarch64 ones under qemu) to see that each is the binary its name promises.

fn main() {
    let env = if cfg!(target_env = "musl") { "musl" } else { "gnu" };
    println!(
        "{} {} {}-{env}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
}
