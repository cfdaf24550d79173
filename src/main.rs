//! The `kiln` binary: parse, run, map the outcome to an exit code. Everything else is the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    kiln::main_entry(std::env::args_os())
}
