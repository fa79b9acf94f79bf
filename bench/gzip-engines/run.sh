#!/usr/bin/env bash
# Which gzip engine could compress the bench image's layers faster than skiff does, and
# at what size: the question behind the containers-storage->registry target
# (bench/RESULTS.md). Not part of the test suite.
#
#   bench/gzip-engines/run.sh [MB]
#
# Needs what bench/run.sh needs, plus nasm, autoconf, automake, libtool (to build ISA-L
# from source) and libdeflate-tools.
set -euo pipefail
cd "$(dirname "$0")"
MB=${1:-300}
SKIFF=${SKIFF:-../../target/release/skiff}
W=$(mktemp -d /var/tmp/gzip-engines.XXXXXX)
trap 'rm -rf "$W"' EXIT
cargo build --release --quiet
python3 ../make-image.py "$W/big" --mb "$MB" >&2
# Uncompressed layers, as `docker save` writes them, and all of them in one file.
"$SKIFF" --insecure-policy copy -q "oci:$W/big:latest" "docker-archive:$W/big.tar:bench/big:latest"
for b in "$W"/big/blobs/sha256/*; do
  if gzip -t "$b" 2>/dev/null; then gzip -dc "$b"; fi
done > "$W/layers.tar"
echo "input: $(stat -c %s "$W/layers.tar") bytes of layer tars"
echo
./target/release/gzip-engines "$W/layers.tar"
for l in 1 2 3 4 6; do
  /usr/bin/time -f "%U" -o "$W/t" libdeflate-gzip -"$l" -c "$W/layers.tar" > "$W/out.gz"
  echo "| libdeflate $l (whole file in memory, one member) | $(stat -c %s "$W/out.gz") | $(cat "$W/t") |"
done
echo
echo "| tool, docker-archive -> oci (gzip every layer, both cores) | bytes | CPU s (user+sys) | wall s |"
echo "|---|---|---|---|"
for tool in "$SKIFF" skopeo; do
  rm -rf "$W/out"
  /usr/bin/time -f "%U %S %e" -o "$W/t" "$tool" --insecure-policy copy -q "docker-archive:$W/big.tar" "oci:$W/out:latest"
  read -r u s e < "$W/t"
  bytes=$(find "$W/out/blobs" -type f -size +1M -printf '%s\n' | awk '{n += $1} END {print n}')
  echo "| $(basename "$tool") | $bytes | $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') | $e |"
done
