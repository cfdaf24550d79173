# The pinned build tools (zig, busybox) as fixed-output derivations.
#
# scripts/setup adds each tool to the Nix store as a fixed-output path
# (nix-store --add-fixed --recursive sha256). A fixed-output derivation with the
# same name and hash has that same output path, so when the path is valid Nix
# uses it as it is and never runs the builder. When it is missing, Nix tries to
# "build" it, and the builder below is a path that does not exist whose name is
# the instruction to follow: the error reads
#   executing '/kiln-tool-missing: zig-0.17.1 is not in this Nix store; run scripts/setup ...'
#
# The pins live in ./hermetic-tools.json, which scripts/setup reads too.
#
# Type: { system ? "x86_64-linux" } -> { zig = drv; busybox = drv; pins = attrs; shDerivation; writeShellScriptBin; }
#
# shDerivation { name, script, ... }: a derivation whose builder is busybox's `sh -c script`,
# as every hermetic build step is; the other attributes go to `derivation` as they are.
# writeShellScriptBin name text: bin/<name>, `text` run by busybox sh (nixpkgs' function of that
# name runs it with bash; the recipe's wrapper texts are plain sh).
{
  system ? "x86_64-linux",
}:
let
  pinFile = builtins.fromJSON (builtins.readFile ./hermetic-tools.json);

  pins =
    pinFile.tools.${system} or (throw (
      "kiln: nix/hermetic-tools.json has no tools pinned for build system '${system}'"
      + " (pinned: ${builtins.concatStringsSep ", " (builtins.attrNames pinFile.tools)})"
    ));

  toolDrv =
    _: tool:
    derivation {
      inherit (tool) name;
      inherit system;
      builder = "/kiln-tool-missing: ${tool.name} is not in this Nix store; run scripts/setup (see docs/hermetic.md)";
      outputHashMode = "recursive";
      outputHashAlgo = "sha256";
      outputHash = tool.narHash;
    };
  tools = builtins.mapAttrs toolDrv pins;

  shDerivation =
    { script, ... }@attrs:
    derivation (
      removeAttrs attrs [ "script" ]
      // {
        inherit system;
        builder = "${tools.busybox}/busybox";
        args = [
          "sh"
          "-c"
          script
        ];
      }
    );

  writeShellScriptBin =
    name: text:
    shDerivation {
      inherit name;
      text = "#!${tools.busybox}/busybox sh\n" + text;
      script = ''
        ${tools.busybox}/busybox mkdir -p "$out/bin"
        ${tools.busybox}/busybox printf '%s' "$text" > "$out/bin/${name}"
        ${tools.busybox}/busybox chmod 555 "$out/bin/${name}"
      '';
    };
in
tools // { inherit pins shDerivation writeShellScriptBin; }
