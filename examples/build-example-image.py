#!/usr/bin/env python3
"""Rebuild the example OCI image layouts shipped with skiff, byte for byte.

Usage:
    build-example-image.py [OUTDIR]                 # single-arch image -> examples/hello-oci
    build-example-image.py --multi-arch [OUTDIR]    # 3-platform index  -> examples/multiarch-oci
    build-example-image.py --all                    # both, into their default directories
    build-example-image.py --check [--multi-arch | --all] [OUTDIR]
        rebuild into a temporary directory and compare with the existing
        layout; exit status 1 if anything differs.

Only the Python standard library is used.  Every byte of output is a pure
function of this file, so the result is identical on every machine:

  * Tar streams are written by hand (POSIX ustar, not PAX: every name fits
    in 100 bytes, so no extended headers are needed and the format is the one
    every tool reads).  Entries are sorted by path components, uid/gid 0,
    uname/gname "root", mtime fixed, end of archive = two zero blocks (no
    padding to a 10 KiB record).
  * Gzip streams are produced by a small pure-Python DEFLATE encoder (one
    fixed-Huffman block, greedy LZ77), NOT by zlib: zlib's output is not
    guaranteed to be identical across zlib versions/forks (e.g. zlib-ng is
    the system zlib on some distributions), which would change the blob
    digests.  The gzip header has mtime 0, no file name, XFL 0, OS 255.
    Every stream is round-tripped through zlib/gzip decompression as a check.
  * "Random" content comes from SHA-256 in counter mode, not from `random`.
  * JSON is serialised compactly (separators ',' ':') with the key order
    fixed by the code, ASCII only, no trailing newline.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SINGLE = os.path.join(HERE, "hello-oci")
DEFAULT_MULTI = os.path.join(HERE, "multiarch-oci")

# 2024-01-01T00:00:00Z
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


# --------------------------------------------------------------------------
# JSON / digests
# --------------------------------------------------------------------------

def jdump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True,
                      sort_keys=False).encode("ascii")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# Deterministic pseudo-random bytes (SHA-256 counter mode)
# --------------------------------------------------------------------------

def prng_bytes(seed, n):
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + struct.pack(">Q", counter)).digest()
        counter += 1
    return bytes(out[:n])


WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu skiff skopeo image layer blob digest manifest index "
    "config registry copy oci docker tar gzip sha256 platform arm64 amd64"
).split()


def prng_text(seed, n_lines):
    """Text lines of words picked by a SHA-256 stream."""
    stream = prng_bytes(seed, n_lines * 16)
    lines = []
    for i in range(n_lines):
        chunk = stream[i * 16:(i + 1) * 16]
        nwords = 4 + chunk[0] % 9
        words = [WORDS[b % len(WORDS)] for b in chunk[1:1 + nwords]]
        lines.append("%05d %s." % (i, " ".join(words)))
    return ("\n".join(lines) + "\n").encode("ascii")


# --------------------------------------------------------------------------
# ustar writer
# --------------------------------------------------------------------------

def _octal(value, width):
    """NUL-terminated zero-padded octal field of `width` bytes."""
    s = "%0*o" % (width - 1, value)
    if len(s) != width - 1:
        raise ValueError("value %r does not fit in %d bytes" % (value, width))
    return s.encode("ascii") + b"\0"


def _str(value, width):
    b = value.encode("utf-8")
    if len(b) > width:
        raise ValueError("%r longer than %d bytes" % (value, width))
    return b + b"\0" * (width - len(b))


def tar_header(name, mode, typeflag, size=0, linkname=""):
    h = b"".join([
        _str(name, 100),
        _octal(mode, 8),
        _octal(0, 8),            # uid
        _octal(0, 8),            # gid
        _octal(size, 12),
        _octal(EPOCH, 12),       # mtime
        b" " * 8,                # checksum placeholder
        typeflag,
        _str(linkname, 100),
        b"ustar\x0000",          # magic + version
        _str("root", 32),        # uname
        _str("root", 32),        # gname
        _octal(0, 8),            # devmajor
        _octal(0, 8),            # devminor
        _str("", 155),           # prefix (unused, all names fit in 100)
        b"\0" * 12,
    ])
    assert len(h) == 512
    chk = sum(h)
    return h[:148] + ("%06o\0 " % chk).encode("ascii") + h[156:]


def D(path, mode=0o755):
    return (path.rstrip("/") + "/", "dir", mode, None)


def F(path, data, mode=0o644):
    return (path, "file", mode, data)


def L(path, target):
    return (path, "symlink", 0o777, target)


def H(path, target):
    return (path, "hardlink", 0o644, target)


def make_tar(entries):
    def key(e):
        return e[0].rstrip("/").split("/")
    entries = sorted(entries, key=key)
    names = [e[0] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate tar entries")
    out = io.BytesIO()
    seen = set()
    for name, kind, mode, payload in entries:
        parent = name.rstrip("/").rpartition("/")[0]
        if parent and parent + "/" not in seen:
            raise ValueError("parent directory of %s missing" % name)
        if kind == "dir":
            out.write(tar_header(name, mode, b"5"))
        elif kind == "file":
            out.write(tar_header(name, mode, b"0", size=len(payload)))
            out.write(payload)
            out.write(b"\0" * (-len(payload) % 512))
        elif kind == "symlink":
            out.write(tar_header(name, mode, b"2", linkname=payload))
        elif kind == "hardlink":
            if payload not in seen:
                raise ValueError("hardlink %s before its target" % name)
            out.write(tar_header(name, mode, b"1", linkname=payload))
        seen.add(name)
    out.write(b"\0" * 1024)
    return out.getvalue()


# --------------------------------------------------------------------------
# Pure-Python DEFLATE (RFC 1951, one fixed-Huffman block) + gzip (RFC 1952)
# --------------------------------------------------------------------------

_LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43,
          51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
_LEXT = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257,
          385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289,
          16385, 24577]
_DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9,
         10, 10, 11, 11, 12, 12, 13, 13]

_LEN_CODE = {}
for _i, _b in enumerate(_LBASE):
    for _l in range(_b, min(_b + (1 << _LEXT[_i]), 259)):
        _LEN_CODE.setdefault(_l, _i)


def _dist_code(d):
    for i in range(len(_DBASE) - 1, -1, -1):
        if d >= _DBASE[i]:
            return i
    raise ValueError(d)


def _rev(code, n):
    r = 0
    for _ in range(n):
        r = (r << 1) | (code & 1)
        code >>= 1
    return r


def _fixed_lit(sym):
    if sym < 144:
        return 0x30 + sym, 8
    if sym < 256:
        return 0x190 + sym - 144, 9
    if sym < 280:
        return sym - 256, 7
    return 0xC0 + sym - 280, 8


_LIT_BITS = [(_rev(c, n), n) for c, n in map(_fixed_lit, range(288))]


class _BitWriter:
    def __init__(self):
        self.buf = bytearray()
        self.acc = 0
        self.n = 0

    def bits(self, value, n):
        self.acc |= value << self.n
        self.n += n
        while self.n >= 8:
            self.buf.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def finish(self):
        if self.n:
            self.buf.append(self.acc & 0xFF)
        return bytes(self.buf)


def deflate(data, max_chain=64, window=32768):
    w = _BitWriter()
    w.bits(1, 1)  # BFINAL
    w.bits(1, 2)  # BTYPE = 01, fixed Huffman
    chains = {}
    n = len(data)
    pos = 0

    def insert(p):
        if p + 3 <= n:
            chains.setdefault(data[p:p + 3], []).append(p)

    while pos < n:
        best_len, best_dist = 0, 0
        if pos + 3 <= n:
            cands = chains.get(data[pos:pos + 3], ())
            limit = min(258, n - pos)
            for cand in reversed(cands[-max_chain:]):
                dist = pos - cand
                if dist > window:
                    break
                l = 3
                while l < limit and data[cand + l] == data[pos + l]:
                    l += 1
                if l > best_len:
                    best_len, best_dist = l, dist
                    if l == limit:
                        break
        if best_len >= 3:
            li = _LEN_CODE[best_len]
            w.bits(*_LIT_BITS[257 + li])
            w.bits(best_len - _LBASE[li], _LEXT[li])
            di = _dist_code(best_dist)
            w.bits(_rev(di, 5), 5)
            w.bits(best_dist - _DBASE[di], _DEXT[di])
            for p in range(pos, pos + best_len):
                insert(p)
            pos += best_len
        else:
            w.bits(*_LIT_BITS[data[pos]])
            insert(pos)
            pos += 1
    w.bits(*_LIT_BITS[256])  # end of block
    return w.finish()


def gzip_bytes(data):
    body = deflate(data)
    out = (b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff" + body +
           struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF,
                       len(data) & 0xFFFFFFFF))
    # Round-trip through two independent decoders as a self-check.
    if zlib.decompress(body, -15) != data or gzip.decompress(out) != data:
        raise AssertionError("deflate encoder produced a bad stream")
    return out


# --------------------------------------------------------------------------
# Image contents
# --------------------------------------------------------------------------

HELLO_TXT = b"Hello from skiff!\nThis file lives in layer 1 of the example image.\n"
README = b"""skiff example image
===================

This image is generated by examples/build-example-image.py in the skiff
repository.  It is tiny and fully reproducible; it exists so that skiff
(a drop-in replacement for `skopeo copy`) can be tested without a network.

Layer 1: this directory tree.
Layer 2: some kilobytes of deterministic text and pseudo-random data.
Layer 3: removes /etc/skiff/obsolete.conf using an OCI whiteout.
"""
HELLO_SH = b"#!/bin/sh\nexec cat /etc/skiff/hello.txt\n"


def layer_base():
    """Layer (a): small directory tree with various entry types and modes."""
    return make_tar([
        D("etc"),
        D("etc/skiff"),
        F("etc/skiff/hello.txt", HELLO_TXT),
        L("etc/skiff/current", "hello.txt"),
        F("etc/skiff/obsolete.conf", b"# removed again by layer 3\nobsolete=true\n"),
        F("etc/skiff/secret.key", prng_bytes(b"skiff-example-secret", 64).hex().encode() + b"\n",
          mode=0o600),
        D("tmp", mode=0o1777),
        D("usr"),
        D("usr/local"),
        D("usr/local/bin"),
        F("usr/local/bin/hello", HELLO_SH, mode=0o755),
        D("usr/share"),
        D("usr/share/skiff"),
        F("usr/share/skiff/README", README),
        H("usr/share/skiff/README.hardlink", "usr/share/skiff/README"),
        D("var"),
        D("var/empty", mode=0o700),
    ])


def layer_data():
    """Layer (b): deterministic text (compressible) + pseudo-random (not)."""
    return make_tar([
        D("usr"),
        D("usr/share"),
        D("usr/share/skiff"),
        D("usr/share/skiff/data"),
        F("usr/share/skiff/data/random.bin", prng_bytes(b"skiff-example-random", 20000)),
        F("usr/share/skiff/data/words.txt", prng_text(b"skiff-example-words", 700)),
    ])


def layer_whiteout():
    """Layer (c): delete /etc/skiff/obsolete.conf, add one small file."""
    return make_tar([
        D("etc"),
        D("etc/skiff"),
        F("etc/skiff/.wh.obsolete.conf", b"", mode=0o600),
        F("etc/skiff/version", b"3\n"),
    ])


def layer_platform(plat):
    """Per-platform layer of the multi-arch image."""
    s = "/".join([plat["os"], plat["architecture"]] + ([plat["variant"]] if "variant" in plat else []))
    return make_tar([
        D("etc"),
        D("etc/skiff"),
        F("etc/skiff/platform", (s + "\n").encode("ascii")),
    ])


# --------------------------------------------------------------------------
# OCI layout assembly
# --------------------------------------------------------------------------

class Layout:
    def __init__(self):
        self.blobs = {}  # hex -> bytes

    def add(self, data, media_type, extra=None):
        digest = sha256(data)
        self.blobs[digest.split(":", 1)[1]] = data
        desc = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if extra:
            desc.update(extra)
        return desc

    def write(self, outdir, index):
        os.makedirs(os.path.join(outdir, "blobs", "sha256"))
        files = {"oci-layout": jdump({"imageLayoutVersion": "1.0.0"}),
                 "index.json": jdump(index)}
        for hexd, data in self.blobs.items():
            files[os.path.join("blobs", "sha256", hexd)] = data
        for rel in sorted(files):
            with open(os.path.join(outdir, rel), "wb") as f:
                f.write(files[rel])


LABELS = {
    "org.opencontainers.image.title": "skiff example image",
    "org.opencontainers.image.description": "Tiny reproducible test image for skiff",
    "org.opencontainers.image.version": "1.0.0",
}


def image(layout, plat, layers, history_layers):
    """Add one platform image (layers + config + manifest); return its descriptor."""
    layer_descs, diff_ids = [], []
    for tar in layers:
        diff_ids.append(sha256(tar))
        layer_descs.append(layout.add(gzip_bytes(tar), MT_LAYER_GZIP))
    history = [{"created": CREATED, "created_by": by, "comment": "skiff example"}
               for by in history_layers]
    history += [
        {"created": CREATED, "created_by": 'LABEL org.opencontainers.image.title="skiff example image"',
         "empty_layer": True},
        {"created": CREATED, "created_by": "ENV SKIFF_EXAMPLE=1", "empty_layer": True},
        {"created": CREATED, "created_by": 'CMD ["/usr/local/bin/hello"]', "empty_layer": True},
    ]
    cfg = {"created": CREATED, "author": "skiff developers",
           "architecture": plat["architecture"], "os": plat["os"]}
    if "variant" in plat:
        cfg["variant"] = plat["variant"]
    cfg["config"] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SKIFF_EXAMPLE=1"],
        "Cmd": ["/usr/local/bin/hello"],
        "WorkingDir": "/",
        "Labels": LABELS,
    }
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    cfg["history"] = history
    config_desc = layout.add(jdump(cfg), MT_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
        "annotations": {"org.opencontainers.image.created": CREATED,
                        "org.opencontainers.image.title": "skiff example image"},
    }
    return layout.add(jdump(manifest), MT_MANIFEST, {"platform": plat})


def build_single(outdir):
    layout = Layout()
    desc = image(layout, {"architecture": "amd64", "os": "linux"},
                 [layer_base(), layer_data(), layer_whiteout()],
                 ["COPY base/ / # etc/skiff, usr/share/skiff",
                  "COPY data/ /usr/share/skiff/data/",
                  "RUN rm /etc/skiff/obsolete.conf"])
    desc.pop("platform")
    desc["annotations"] = {REF_NAME: "latest"}
    layout.write(outdir, {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [desc]})
    return [("manifest (linux/amd64)", desc["digest"], desc["size"])]


PLATFORMS = [
    {"architecture": "amd64", "os": "linux"},
    {"architecture": "arm64", "os": "linux", "variant": "v8"},
    {"architecture": "arm", "os": "linux", "variant": "v7"},
]


def build_multi(outdir):
    layout = Layout()
    base = layer_base()
    report = []
    manifests = []
    for plat in PLATFORMS:
        desc = image(layout, plat, [base, layer_platform(plat)],
                     ["COPY base/ / # etc/skiff, usr/share/skiff",
                      "COPY platform /etc/skiff/platform"])
        manifests.append(desc)
        name = "/".join([plat["os"], plat["architecture"]] + ([plat["variant"]] if "variant" in plat else []))
        report.append(("manifest (%s)" % name, desc["digest"], desc["size"]))
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests,
             "annotations": {"org.opencontainers.image.created": CREATED}}
    idesc = layout.add(jdump(index), MT_INDEX, {"annotations": {REF_NAME: "latest"}})
    layout.write(outdir, {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [idesc]})
    return [("image index", idesc["digest"], idesc["size"])] + report


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def read_tree(root):
    files = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, root)] = f.read()
    return files


def replace_dir(outdir):
    if os.path.lexists(outdir):
        if os.listdir(outdir) and not os.path.exists(os.path.join(outdir, "oci-layout")):
            sys.exit("refusing to overwrite %s: not empty and not an OCI layout" % outdir)
        shutil.rmtree(outdir)


def run(builder, outdir, check):
    outdir = os.path.abspath(outdir)
    if not check:
        replace_dir(outdir)
        report = builder(outdir)
        status = 0
        print("wrote %s (%d bytes in %d files)" % (
            outdir, sum(map(len, read_tree(outdir).values())), len(read_tree(outdir))))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = os.path.join(tmp, "layout")
            report = builder(fresh)
            want = read_tree(fresh)
        have = read_tree(outdir) if os.path.isdir(outdir) else {}
        diffs = sorted(set(want) ^ set(have)) + sorted(
            k for k in set(want) & set(have) if want[k] != have[k])
        for d in diffs:
            print("DIFFERS: %s" % d, file=sys.stderr)
        status = 1 if diffs else 0
        print("%s: %s" % (outdir, "MISMATCH" if diffs else "up to date"))
    for what, digest, size in report:
        print("  %-26s %s  (%d bytes)" % (what, digest, size))
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", nargs="?", help="output directory (default: next to this script)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--multi-arch", action="store_true",
                   help="build the 3-platform image index (default dir: multiarch-oci)")
    g.add_argument("--all", action="store_true",
                   help="build both layouts into their default directories")
    ap.add_argument("--check", action="store_true",
                    help="rebuild in a temp dir and compare; exit 1 on difference")
    a = ap.parse_args()
    if a.all:
        if a.outdir:
            ap.error("--all does not take OUTDIR")
        rc = run(build_single, DEFAULT_SINGLE, a.check)
        rc |= run(build_multi, DEFAULT_MULTI, a.check)
    elif a.multi_arch:
        rc = run(build_multi, a.outdir or DEFAULT_MULTI, a.check)
    else:
        rc = run(build_single, a.outdir or DEFAULT_SINGLE, a.check)
    sys.exit(rc)


if __name__ == "__main__":
    main()
