//! Compiles the C part of the example for the target and tells the program its triple.

fn main() {
    println!("cargo:rerun-if-changed=src/greeting.c");
    cc::Build::new().file("src/greeting.c").compile("greeting");
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=HELLO_TARGET={target}");
}
