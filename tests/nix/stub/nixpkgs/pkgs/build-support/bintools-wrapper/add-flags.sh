# Placeholder for the nixpkgs file of this name: rust-overlay names it
# (mk-component-set.nix); the tests never run it.
