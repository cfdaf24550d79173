//! kiln's example program: `hello [--version | --help | --json | NAME]`.

use std::ffi::CStr;
use std::os::raw::c_char;

use serde::Serialize;

unsafe extern "C" {
    /// From src/greeting.c, compiled by build.rs.
    fn hello_greeting() -> *const c_char;
}

/// What `--json` prints.
#[derive(Serialize)]
struct Greeting<'a> {
    greeting: &'a str,
    name: &'a str,
    target: &'a str,
}

const NAME: &str = env!("CARGO_PKG_NAME");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const TARGET: &str = env!("HELLO_TARGET");

fn main() {
    // SAFETY: hello_greeting returns a pointer to a NUL-terminated string literal.
    let greeting = unsafe { CStr::from_ptr(hello_greeting()) }
        .to_str()
        .unwrap_or("Hello");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") => println!("{NAME} {VERSION} ({TARGET})"),
        Some("--help") => println!("usage: {NAME} [--version | --help | --json | NAME]"),
        Some("--json") => {
            let name = args.get(1).map_or("world", String::as_str);
            let g = Greeting {
                greeting,
                name,
                target: TARGET,
            };
            println!("{}", serde_json::to_string(&g).expect("a plain struct serializes"));
        }
        name => println!("{greeting}, {}! (from {TARGET})", name.unwrap_or("world")),
    }
}
