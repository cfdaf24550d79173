//! The `kiln` binary: parse, check, run, map the outcome to an exit code ([`kiln::main_entry`]).
//! Everything else is the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    kiln::main_entry(std::env::args_os())
}
