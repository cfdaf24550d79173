#!/usr/bin/env python3
"""Writes a small glibc base image as an OCI layout, for kiln's `--base` test.

usage: make_base.py OUT_DIR

Two platforms, each one gzip-compressed layer with the host's glibc loader and libc.so.6
(linux/amd64 from the host, linux/arm64 from Debian's libc6-arm64-cross), a config with a Cmd,
a PATH and a label that kiln must keep or replace, and an image index named `base` in
index.json. Written here, with Python's tarfile/gzip/json, independently of kiln.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

FILES = {
    "amd64": [
        ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"),
        ("/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"),
    ],
    "arm64": [
        ("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", "lib/ld-linux-aarch64.so.1"),
        ("/usr/aarch64-linux-gnu/lib/libc.so.6", "lib/libc.so.6"),
    ],
}


def put(out, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for src, dest in files:
            data = open(src, "rb").read()  # follows symlinks
            info = tarfile.TarInfo(dest)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return tar, gzip.compress(tar, mtime=0)


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for arch, files in FILES.items():
        tar, gz = layer(files)
        ldig, lsize = put(out, gz)
        config = {
            "architecture": arch,
            "os": "linux",
            "created": "2020-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["/bin/sh"],
                       "Labels": {"base.label": "kept"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "make_base.py"}],
        }
        cdig, csize = put(out, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig, "size": csize},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ldig, "size": lsize}],
        }
        mdig, msize = put(out, json.dumps(manifest).encode())
        manifests.append({"mediaType": manifest["mediaType"], "digest": mdig, "size": msize,
                          "platform": {"architecture": arch, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    idig, isize = put(out, json.dumps(index).encode())
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": index["mediaType"], "digest": idig, "size": isize,
             "annotations": {"org.opencontainers.image.ref.name": "base"}}]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


main()
