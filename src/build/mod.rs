//! `kiln build`: evaluate, build every target in one `nix build`, verify, optionally rebuild to
//! prove reproducibility and smoke-run, then export `dist/`.
//!
//! The steps, in order:
//! 1. detect nix and its settings (system, store location);
//! 2. `nix flake metadata` for the source identity, and one `nix eval` that resolves each target
//!    to `packages.<system>.<attr>` (drvPath, outPath, pname, version); both start beside
//!    step 1, for the host's system, and the evaluation is redone only if nix's differs;
//! 3. one `nix build --json --no-link` of every target. For a flake kiln has not evaluated
//!    before, of the evaluated derivations (`DRV` on Nix 2.8, `DRV^out` on 2.13 and later), so
//!    the flake is evaluated once; for one it has, of the flake attributes, started in step 1,
//!    so Nix's evaluation cache answers, with the evaluation taken from kiln's memory of evaluations
//!    ([`eval_memo`]) when the locked source is unchanged. Either way results are
//!    matched back by drvPath, never by position (Nix 2.8 reorders them), and targets nix
//!    printed nothing for are checked by output validity (after a `--keep-going` failure Nix
//!    prints no JSON at all);
//! 4. `--check-reproducible`: `nix build --rebuild --keep-failed`; a kept `<out>.check` means the
//!    bytes differed, and kiln names the first differing file;
//! 5. every file in each output's `bin/` is verified against its target's policy ([`verify`]);
//! 6. `--smoke ARGS` runs each binary natively or under qemu-user ([`smoke`]);
//! 7. the release is assembled and exported through a staging directory ([`assemble`], see
//!    [`crate::export`]).
//!
//! The files, one concern each: [`request`] (what was asked: [`BuildRequest`], [`Unit`]),
//! [`pipeline`] (the steps above, [`execute`]), [`verify`], [`smoke`], [`assemble`],
//! [`outcome`] (the report `--json` prints and the human [`summary`]) and [`eval_memo`]. What
//! nix prints (errors, build log lines) is read by [`crate::nix`].

pub mod assemble;
pub mod eval_memo;
pub mod outcome;
pub mod pipeline;
pub mod request;
pub mod smoke;
pub mod verify;

pub use assemble::source_date_epoch;
pub use outcome::{BuildEnd, BuildReport, Status, TargetReport, summary};
pub use pipeline::execute;
pub use request::{BuildRequest, Unit, check_package_name};
pub use smoke::{SmokeRun, smoke_run};
pub use verify::first_difference;
