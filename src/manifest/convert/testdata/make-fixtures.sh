#!/bin/bash
# Regenerates every fixture in this directory with Debian's skopeo 1.9.3.
# Usage: bash make-fixtures.sh [/path/to/skiff/examples]   (default /work/main/examples)
set -euo pipefail
EX=${1:-/work/main/examples}
OUT=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
S="skopeo --insecure-policy copy -q"
cfg() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['config']['digest'].split(':')[1])" "$1"; }
save() { # save NAME DIR: manifest + config blob (if any)
  cp "$2/manifest.json" "$OUT/$1.manifest.json"
  local c; c=$(cfg "$2/manifest.json" 2>/dev/null || true)
  if [ -n "$c" ]; then cp "$2/$c" "$OUT/$1.config.json"; fi
}
HELLO=oci:$EX/hello-oci:latest
# 1. The example OCI image, as skopeo reads it (source of the OCI -> * conversions).
$S $HELLO dir:$W/oci;                       save hello-oci "$W/oci"
# 2. OCI -> v2s2, OCI -> v2s1, v2s2 -> OCI, v2s1 -> v2s2, v2s1 -> OCI.
$S --format v2s2 $HELLO dir:$W/s2;          save oci-to-s2 "$W/s2"
$S --format v2s1 $HELLO dir:$W/s1;          cp "$W/s1/manifest.json" "$OUT/oci-to-s1.manifest.json"
$S --format oci dir:$W/s2 dir:$W/s2oci;     save s2-to-oci "$W/s2oci"
$S --format v2s2 dir:$W/s1 dir:$W/s1s2;     save s1-to-s2 "$W/s1s2"
$S --format oci dir:$W/s1 dir:$W/s1oci;     save s1-to-oci "$W/s1oci"
# 3. Lists: OCI index -> Docker list (--all --format v2s2) and back.
$S --all --format v2s2 oci:$EX/multiarch-oci:latest dir:$W/ma-s2
cp "$W/ma-s2/manifest.json" "$OUT/multiarch-to-s2-list.json"
for f in "$W"/ma-s2/*.manifest.json; do cp "$f" "$OUT/multiarch-s2-$(basename "$f")"; done
$S --all --format oci dir:$W/ma-s2 dir:$W/ma-oci
cp "$W/ma-oci/manifest.json" "$OUT/multiarch-s2-to-oci-list.json"
# 4. A hand-written v2s2 image with an awkward config (Docker-only fields, pretty-printed JSON,
#    HTML characters, time zones, fractional seconds, unsorted maps): v2s2 -> OCI and -> v2s1.
mkdir -p "$W/odd"
L=6aa09347ddfa9f8b0b9eef6b7c0a4c80f1a5c8fa31ec8a8d9f7ac529c18140f9
cp "$EX/hello-oci/blobs/sha256/$L" "$W/odd/$L"
cp "$OUT/odd-s2.config.json" "$W/odd/config.tmp"
C=$(sha256sum "$W/odd/config.tmp" | cut -d' ' -f1); mv "$W/odd/config.tmp" "$W/odd/$C"
CS=$(stat -c %s "$W/odd/$C")
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":200,"digest":"sha256:%s"}]}' "$CS" "$C" "$L" > "$W/odd/manifest.json"
echo "Directory Transport Version: 1.1" > "$W/odd/version"
cp "$W/odd/manifest.json" "$OUT/odd-s2.manifest.json"
$S --format oci dir:$W/odd dir:$W/odd-oci;  save odd-s2-to-oci "$W/odd-oci"
$S --format v2s1 dir:$W/odd dir:$W/odd-s1;  cp "$W/odd-s1/manifest.json" "$OUT/odd-s2-to-s1.manifest.json"
$S --format v2s2 dir:$W/odd-oci dir:$W/odd-oci-s2; save odd-oci-to-s2 "$W/odd-oci-s2"
# 5. Refusals (the error text is recorded).
$S --dest-compress --dest-compress-format zstd --format oci $HELLO dir:$W/zstd
cp "$W/zstd/manifest.json" "$OUT/zstd-oci.manifest.json"
($S --format v2s2 dir:$W/zstd dir:$W/zstd-s2 2>&1 || true) | tail -1 | sed 's/^time="[^"]*" //' > "$OUT/zstd-oci-to-s2.error.txt"
# 6. An OCI artifact (config media type is not an image config) -> v2s2 is refused.
mkdir -p "$W/art"
printf '{}' > "$W/art/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
cp "$EX/hello-oci/blobs/sha256/$L" "$W/art/$L"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.example.thing.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":200}]}' "$L" > "$W/art/manifest.json"
echo "Directory Transport Version: 1.1" > "$W/art/version"
cp "$W/art/manifest.json" "$OUT/artifact-oci.manifest.json"
($S --format v2s2 dir:$W/art dir:$W/art-s2 2>&1 || true) | tail -1 | sed 's/^time="[^"]*" //' > "$OUT/artifact-oci-to-s2.error.txt"
# 7. An encrypted layer -> v2s2 is refused (no key needed: the conversion fails first).
mkdir -p "$W/enc"; cp "$W/art/$L" "$W/enc/$L"; cp "$W/oci/$(cfg "$W/oci/manifest.json")" "$W/enc/"
python3 - "$W/oci/manifest.json" "$L" > "$W/enc/manifest.json" <<'PY'
import json,sys
m=json.load(open(sys.argv[1]))
m.pop("annotations")
m["layers"]=[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip+encrypted","digest":"sha256:"+sys.argv[2],"size":200}]
print(json.dumps(m,separators=(",",":")),end="")
PY
echo "Directory Transport Version: 1.1" > "$W/enc/version"
cp "$W/enc/manifest.json" "$OUT/encrypted-oci.manifest.json"
($S --format v2s2 dir:$W/enc dir:$W/enc-s2 2>&1 || true) | tail -1 | sed 's/^time="[^"]*" //' > "$OUT/encrypted-oci-to-s2.error.txt"
# 8. The multiarch example's image index itself (source of the list conversion test).
$S --all oci:$EX/multiarch-oci:latest dir:$W/ma
cp "$W/ma/manifest.json" "$OUT/multiarch-oci-index.json"
