#!/usr/bin/env python3
"""Builds a realistic multi-layer OCI image layout from files on this machine.

Each layer is a tar (gzip-compressed, level 6) of one directory tree, so the image has
the mix of binaries, libraries and text a real base image has. Paths are sorted and
metadata normalised, so the same machine always gives the same image.

usage: make-image.py OUTDIR [--mb N]   (N: approximate uncompressed size, default 100)
"""
import gzip, hashlib, io, json, os, sys, tarfile

SOURCES = ["/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/bin", "/usr/lib/python3", "/usr/libexec", "/usr/sbin", "/usr/lib/gcc"]

def files_under(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out

def layer(paths):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for p in paths:
            info = t.gettarinfo(p, arcname=p.lstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            with open(p, "rb") as f:
                t.addfile(info, f)
    data = raw.getvalue()
    comp = io.BytesIO()
    with gzip.GzipFile(fileobj=comp, mode="wb", compresslevel=6, mtime=0, filename="") as g:
        g.write(data)
    return data, comp.getvalue()

def put(outdir, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(outdir, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d

def main():
    out = sys.argv[1]
    mb = int(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 100
    budget = mb * 1024 * 1024
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    per_layer = budget // 4
    layers, diff_ids, taken = [], [], 0
    for src in SOURCES:
        if taken >= budget or len(layers) >= 5:
            break
        paths, size = [], 0
        for p in files_under(src):
            s = os.path.getsize(p)
            if size + s > per_layer:
                continue
            paths.append(p); size += s
        if not paths:
            continue
        raw, comp = layer(paths)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(out, comp), "size": len(comp)})
        taken += len(raw)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": "bench/make-image.py"} for _ in layers]}, separators=(",", ":")).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(out, config), "size": len(config)},
                           "layers": layers}, separators=(",", ":")).encode()
    md = put(out, manifest)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
                   "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f, separators=(",", ":"))
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    print(f"{out}: {len(layers)} layers, {taken/1e6:.0f} MB uncompressed, {sum(l['size'] for l in layers)/1e6:.0f} MB compressed, manifest {md}")

main()
