#!/usr/bin/env python3
"""Independent OCI image-layout checker for kiln's tests (shares no code with kiln).

usage: check_layout.py LAYOUT_DIR EXPECTED_ARCHS(comma-separated) [on-base]

Checks, against the OCI image spec: the oci-layout file; index.json; every descriptor's
media type, size and sha256 digest against its blob; image index -> manifests (platform
present) -> config and layers; config fields (architecture, os, rootfs.diff_ids equal to the
sha256 of each uncompressed layer, User, Entrypoint inside the layer, labels, created in
RFC 3339); layers are tar archives; every blob in blobs/ is referenced. Prints one line per
problem and exits 1 if there is any; prints a summary and exits 0 otherwise.
"""
import hashlib
import io
import json
import os
import re
import sys
import tarfile

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYERS = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
}
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

problems = []
seen = set()
# With `on-base` the image is built on a base that brings its own files (no /etc/passwd needed).
ON_BASE = len(sys.argv) > 3 and sys.argv[3] == "on-base"


def fail(msg):
    problems.append(msg)


def blob(root, desc, want_types):
    mt, dg, size = desc.get("mediaType"), desc.get("digest", ""), desc.get("size")
    if mt not in want_types:
        fail(f"{dg}: media type {mt!r} not one of {sorted(want_types)}")
    if not DIGEST.match(dg):
        fail(f"malformed digest {dg!r}")
        return None
    path = os.path.join(root, "blobs", "sha256", dg[7:])
    if not os.path.isfile(path):
        fail(f"{dg}: blob missing")
        return None
    data = open(path, "rb").read()
    seen.add(dg[7:])
    if not isinstance(size, int) or size != len(data):
        fail(f"{dg}: descriptor size {size} but blob has {len(data)} bytes")
    if hashlib.sha256(data).hexdigest() != dg[7:]:
        fail(f"{dg}: content does not match its digest")
    return data


def check_manifest(root, desc, archs):
    data = blob(root, desc, {MANIFEST})
    if data is None:
        return
    m = json.loads(data)
    if m.get("schemaVersion") != 2 or m.get("mediaType") != MANIFEST:
        fail(f"{desc['digest']}: schemaVersion/mediaType wrong")
    cfg_raw = blob(root, m["config"], {CONFIG})
    if cfg_raw is None:
        return
    cfg = json.loads(cfg_raw)
    plat = desc.get("platform") or {}
    if cfg.get("architecture") != plat.get("architecture") or cfg.get("os") != "linux":
        fail(f"{desc['digest']}: config platform {cfg.get('architecture')}/{cfg.get('os')} "
             f"differs from the index's {plat}")
    archs.append(cfg.get("architecture"))
    if not RFC3339.match(cfg.get("created", "")):
        fail(f"config created {cfg.get('created')!r} is not RFC 3339")
    c = cfg.get("config", {})
    if c.get("User") != "65532:65532":
        fail(f"config User {c.get('User')!r}")
    labels = c.get("Labels", {})
    for k in ("created", "version", "source"):
        if f"org.opencontainers.image.{k}" not in labels:
            fail(f"label org.opencontainers.image.{k} missing")
    if labels.get("org.opencontainers.image.created") != cfg.get("created"):
        fail("created label differs from config created")
    entry = (c.get("Entrypoint") or [""])[0]
    diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
    if cfg.get("rootfs", {}).get("type") != "layers" or len(diff_ids) != len(m.get("layers", [])):
        fail("rootfs.diff_ids do not match the layers")
    names = {}
    for layer, diff in zip(m.get("layers", []), diff_ids):
        raw = blob(root, layer, LAYERS)
        if raw is None:
            continue
        if layer["mediaType"].endswith("+gzip"):
            import gzip
            raw = gzip.decompress(raw)
        if "sha256:" + hashlib.sha256(raw).hexdigest() != diff:
            fail(f"{layer['digest']}: diff_id {diff} does not match the uncompressed layer")
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as t:
            for mem in t.getmembers():
                names["/" + mem.name.rstrip("/")] = mem
    if entry not in names or not names[entry].isfile() or not names[entry].mode & 0o111:
        fail(f"entrypoint {entry!r} is not an executable file in the layers")
    if not ON_BASE and "/etc/passwd" not in names:
        fail("no /etc/passwd")


def main():
    root, want = sys.argv[1], sorted(sys.argv[2].split(","))
    try:
        if json.load(open(os.path.join(root, "oci-layout"))) != {"imageLayoutVersion": "1.0.0"}:
            fail("oci-layout is not {imageLayoutVersion: 1.0.0}")
        top = json.load(open(os.path.join(root, "index.json")))
    except Exception as e:  # noqa: BLE001
        print(f"cannot read layout: {e}")
        return 1
    if top.get("schemaVersion") != 2:
        fail("index.json schemaVersion is not 2")
    indexes = 0
    for d in top.get("manifests", []):
        if d.get("mediaType") == INDEX:
            indexes += 1
            data = blob(root, d, {INDEX})
            if data is None:
                continue
            idx = json.loads(data)
            if idx.get("schemaVersion") != 2 or idx.get("mediaType") != INDEX:
                fail("image index schemaVersion/mediaType wrong")
            archs = []
            for m in idx.get("manifests", []):
                if not m.get("platform"):
                    fail(f"{m.get('digest')}: no platform in the index")
                check_manifest(root, m, archs)
            if sorted(archs) != want:
                fail(f"index platforms {sorted(archs)}, expected {want}")
        else:
            check_manifest(root, d, [])
    if indexes != 1:
        fail(f"index.json names {indexes} image indexes, expected 1")
    for name in os.listdir(os.path.join(root, "blobs", "sha256")):
        if name not in seen:
            fail(f"blob {name} is not referenced")
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {len(seen)} blobs, platforms {want}")
    return 1 if problems else 0


sys.exit(main())
