//! OCI images of a release: how kiln builds them, adds them to a `dist/`, and pushes them.
//!
//! - [`layout`]: image layouts built in memory and byte-reproducible (blobs, config, manifest,
//!   index, the layout directory and the `oci-archive` tar), and a `--base` layout read back;
//! - [`dist`]: `kiln image`, the images of a `dist/`'s static targets added to it atomically,
//!   from binaries read through [`crate::release::read`];
//! - [`push`]: a layout pushed to a registry on a loopback address (the distribution HTTP API;
//!   not to be confused with a flake registry).

pub mod dist;
pub mod layout;
pub mod push;

pub use layout::{ImageSet, Layout, PlatformImage};
