# nix/toolchain.nix: the Rust toolchain, read from rust-toolchain.toml.
#
# Owns: turning the rustup toolchain file (channel, components, the four
# targets) into one rust-overlay toolchain derivation. rustup users and the
# flake read the same file, so the version is written down once.
{
  # rust-overlay's `rust-bin` set for the build platform.
  rust-bin,
}:
{
  # A rustup toolchain file (TOML form). Its targets must include every
  # target you build; kiln's own file lists all four.
  toolchainFile ? ../rust-toolchain.toml,
}:
rust-bin.fromRustupToolchainFile toolchainFile
