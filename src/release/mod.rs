//! A release as a directory: reading a `dist/` back and verifying it.
//!
//! [`crate::export`] writes a dist; everything that reads one goes through [`read`] (its
//! documents parsed into the writer's own types), and [`verify`](mod@verify) is
//! `kiln verify-release`, which checks the whole dist with it.

pub mod read;
pub mod verify;

pub use verify::{ReleaseReport, render, verify};
